#!/bin/bash
# The off-site copies of the dumps (mlops.mlflow.db_client, db_client_offsite_uri
# beside MLflow's artifacts in the scenario's bucket, db_client_offsite_keep 1),
# on the MLflow host that runs the timer:
#   verify_offsite.sh [ENGINE [SCRATCH]]   ENGINE mysql (default) or postgresql,
#                                          SCRATCH the empty scratch database (default mlflow_extra)
# stack_mysql: S3 (moto) and MariaDB; stack_postgresql: GCS (the emulator) and
# PostgreSQL through the Cloud SQL Auth Proxy on 127.0.0.1, over TLS.
# The timer is on; two passes of its service (each dumps MLflow's database and
# its auth database and uploads them) leave one copy of each, the newest, in the
# bucket (listed through the uploader, MLflow's artifact repository code against
# the emulator); the journal has each pass; the unit does not name the bucket's
# secret; a restore from the bucket into the empty scratch database (made and
# granted to MLflow's user by the scenario's verify) gives the live database's
# run count.
set -euo pipefail
fail() { echo "FAILED: $*" >&2; exit 1; }

engine=${1:-mysql}
scratch=${2:-mlflow_extra}
[[ "$scratch" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || fail "bad scratch database name '$scratch'"
case "$engine" in
  mysql)
    ext=sql.gz
    sql() { mysql --defaults-extra-file=/root/.mlflow-db.my.cnf --batch --skip-column-names --execute="$1" "$2"; }
    scratch_tables() { sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$scratch'" mlflow; }
    ;;
  postgresql)
    ext=dump
    # As the host's own mlflow-db-restore reaches the database: its PGPASSFILE,
    # PGSSLMODE (and PGSSLROOTCERT) exports, host, port and user (the Cloud SQL
    # Auth Proxy on 127.0.0.1 in stack_postgresql), read from the script itself.
    restore_script=$(command -v mlflow-db-restore)
    eval "$(grep -E '^export PG[A-Z]+=' "$restore_script")"
    eval "pg_conn=($(grep -oE -- "--(host|port|username)=('[^']*'|[^ ]+)" "$restore_script" | sort -u | tr '\n' ' '))"
    [[ ${#pg_conn[@]} -eq 3 && -n "${PGPASSFILE:-}" && -n "${PGSSLMODE:-}" ]] ||
      fail "could not read how $restore_script connects: ${pg_conn[*]:-}"
    sql() { psql --no-psqlrc --no-password --tuples-only --no-align --set=ON_ERROR_STOP=1 "${pg_conn[@]}" --dbname="$2" --command="$1"; }
    scratch_tables() { sql "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')" "$scratch"; }
    ;;
  *) fail "unknown engine '$engine' (mysql or postgresql)" ;;
esac

[[ $(systemctl is-enabled mlflow-db-offsite.timer) == enabled ]] || fail "mlflow-db-offsite.timer is not enabled"
[[ $(systemctl is-active mlflow-db-offsite.timer) == active ]] || fail "mlflow-db-offsite.timer is not active"
# MLflow's client telemetry off (offline, its thread unsets a variable while the uploader reads the environment).
[[ " $(systemctl show --property=Environment --value mlflow-db-offsite.service) " == *" MLFLOW_DISABLE_TELEMETRY=true "* ]] ||
  fail "MLflow's telemetry is not off in mlflow-db-offsite.service's environment"

since=$(date '+%Y-%m-%d %H:%M:%S')
for pass in 1 2; do
  systemctl start mlflow-db-offsite.service ||
    { journalctl -u mlflow-db-offsite --since "$since" --no-pager -o cat | tail -20 >&2; fail "pass $pass failed"; }
done
log=$(journalctl -u mlflow-db-offsite --since "$since" --no-pager -o cat)
uploaded=$(grep -c '^offsite: uploaded ' <<<"$log" || true)
[[ $uploaded -eq 4 ]] || fail "expected 4 uploads in the journal (2 passes x 2 databases), saw $uploaded: $log"
grep -q '^offsite: deleted mlflow-' <<<"$log" || fail "the second pass deleted no older copy of mlflow: $log"
grep -q '^offsite: deleted mlflow_auth-' <<<"$log" || fail "the second pass deleted no older copy of mlflow_auth: $log"
newest=$(grep '^offsite: uploaded mlflow-' <<<"$log" | tail -n 1 | cut -d' ' -f3)
newest_auth=$(grep '^offsite: uploaded mlflow_auth-' <<<"$log" | tail -n 1 | cut -d' ' -f3)

listed=$(mlflow-db-restore --list-bucket)
listed_auth=$(mlflow-db-restore --auth --list-bucket)
[[ "$listed" == "$newest" ]] || fail "the bucket holds [$listed] of mlflow, not just the newest $newest"
[[ "$listed_auth" == "$newest_auth" ]] || fail "the bucket holds [$listed_auth] of mlflow_auth, not just the newest $newest_auth"
[[ "$newest" == *."$ext" ]] || fail "unexpected dump name $newest (a $engine dump ends in .$ext)"

# No secret in the unit (it reads them from the server's 0600 env file).
if grep -qi 'AWS_SECRET\|password' /etc/systemd/system/mlflow-db-offsite.service; then
  fail "the unit names a secret"
fi
[[ -f /var/lib/prometheus/node-exporter/mlflow_db_offsite.prom || ! -d /var/lib/prometheus/node-exporter ]] ||
  fail "no mlflow_db_offsite.prom after a successful pass"

[[ $(scratch_tables) -eq 0 ]] || fail "the scratch database $scratch is not empty before the restore"
live=$(sql "SELECT COUNT(*) FROM runs" mlflow)
[[ $live -gt 0 ]] || fail "the live database has no run to compare"

# Without the local dump of the same name: the restore must download it.
rm -f -- "/var/backups/mlflow-db/$newest"
mlflow-db-restore --into "$scratch" --from-bucket latest 2>/var/tmp/verify-offsite-restore.log ||
  { cat /var/tmp/verify-offsite-restore.log >&2; fail "mlflow-db-restore --from-bucket latest failed"; }
grep -q "fetched /var/backups/mlflow-db/$newest " /var/tmp/verify-offsite-restore.log ||
  fail "the restore did not fetch $newest: $(cat /var/tmp/verify-offsite-restore.log)"
[[ $(stat -c %a "/var/backups/mlflow-db/$newest") == 600 ]] || fail "the fetched dump is not 0600"
restored=$(sql "SELECT COUNT(*) FROM runs" "$scratch")
[[ $restored -eq $live ]] || fail "the restored database has $restored runs, the live one $live"

# A name that is not in the bucket is refused, and nothing is restored.
if mlflow-db-restore --into "$scratch" --from-bucket "mlflow-20000101T000000.000Z.$ext" 2>/dev/null; then
  fail "a copy that does not exist was restored"
fi
echo "off-site ($engine): $uploaded uploads, kept $newest and $newest_auth, restored $restored runs (live $live)"
