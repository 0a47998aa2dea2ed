#!/bin/sh
# The canary's result, for node exporter's textfile collector
# (mlops.mlflow.monitoring; its MLflowCanaryFailing alert): run as root by
# mlflow-canary.service's ExecStopPost=, which sets $SERVICE_RESULT.
#     canary-metric <textfile directory>
# mlflow_canary_success is 1 after a successful run, 0 otherwise;
# mlflow_canary_last_success_timestamp_seconds keeps the time of the last
# success (absent until the first). Written atomically (rename).
set -eu
dir=$1
file="$dir/mlflow_canary.prom"
now=$(date +%s)
if [ "${SERVICE_RESULT:-}" = success ]; then
  ok=1
  last=$now
else
  ok=0
  last=$(sed -n 's/^mlflow_canary_last_success_timestamp_seconds \([0-9][0-9]*\)$/\1/p' "$file" 2>/dev/null || true)
fi
tmp="$dir/.mlflow_canary.prom.$$"
trap 'rm -f "$tmp"' EXIT
{
  echo "# HELP mlflow_canary_success 1 if the last canary run logged and read back a run through nginx, else 0."
  echo "# TYPE mlflow_canary_success gauge"
  echo "mlflow_canary_success $ok"
  if [ -n "$last" ]; then
    echo "# HELP mlflow_canary_last_success_timestamp_seconds Time of the last successful canary run, in seconds since the epoch."
    echo "# TYPE mlflow_canary_last_success_timestamp_seconds gauge"
    echo "mlflow_canary_last_success_timestamp_seconds $last"
  fi
} > "$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$file"
trap - EXIT
echo "canary result ${SERVICE_RESULT:-unknown}: mlflow_canary_success $ok"
