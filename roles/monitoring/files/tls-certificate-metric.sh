#!/bin/sh
# The expiry time of each certificate, for node exporter's textfile collector
# (mlops.mlflow.monitoring; its TLSCertificateExpiring alert):
#     tls-certificate-metric <textfile directory> <certificate file>...
# A file that cannot be read is left out of the metric (and named on stderr).
set -eu
dir=$1
shift
metric=mlflow_tls_certificate_not_after_timestamp_seconds
tmp="$dir/.mlflow_tls_certificates.prom.$$"
trap 'rm -f "$tmp"' EXIT
{
  echo "# HELP $metric Expiry time (notAfter) of a TLS certificate of the MLflow server, in seconds since the epoch."
  echo "# TYPE $metric gauge"
  for cert in "$@"; do
    if end=$(openssl x509 -noout -enddate -in "$cert" 2>/dev/null); then
      printf '%s{path="%s"} %s\n' "$metric" "$cert" "$(date -d "${end#notAfter=}" +%s)"
    else
      echo "cannot read the certificate $cert" >&2
    fi
  done
} > "$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$dir/mlflow_tls_certificates.prom"
trap - EXIT
