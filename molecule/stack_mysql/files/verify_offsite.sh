#!/bin/bash
# The off-site copies of the dumps (mlops.mlflow.db_client, db_client_offsite_uri
# s3://mlflow-artifacts/db-dumps, db_client_offsite_keep 1), on the MLflow host:
# the timer is on; two passes of its service (each dumps MLflow's database and
# its auth database and uploads them) leave one copy of each, the newest, in the
# bucket (listed through the uploader, MLflow's S3 code against the moto
# server); the journal has each pass; the unit does not name the bucket's
# secret; a restore from the bucket into the empty scratch database
# mlflow_extra (made by verify_db.yml) gives the live database's run count.
set -euo pipefail
fail() { echo "FAILED: $*" >&2; exit 1; }

[[ $(systemctl is-enabled mlflow-db-offsite.timer) == enabled ]] || fail "mlflow-db-offsite.timer is not enabled"
[[ $(systemctl is-active mlflow-db-offsite.timer) == active ]] || fail "mlflow-db-offsite.timer is not active"

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
[[ "$newest" == *.sql.gz ]] || fail "unexpected dump name $newest"

# No secret in the unit (it reads them from the server's 0600 env file).
if grep -qi 'AWS_SECRET\|password' /etc/systemd/system/mlflow-db-offsite.service; then
  fail "the unit names a secret"
fi
[[ -f /var/lib/prometheus/node-exporter/mlflow_db_offsite.prom || ! -d /var/lib/prometheus/node-exporter ]] ||
  fail "no mlflow_db_offsite.prom after a successful pass"

sql() { mysql --defaults-extra-file=/root/.mlflow-db.my.cnf --batch --skip-column-names --execute="$1" "$2"; }
[[ $(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'mlflow_extra'" mlflow) -eq 0 ]] ||
  fail "the scratch database mlflow_extra is not empty before the restore"
live=$(sql "SELECT COUNT(*) FROM runs" mlflow)
[[ $live -gt 0 ]] || fail "the live database has no run to compare"

# Without the local dump of the same name: the restore must download it.
rm -f -- "/var/backups/mlflow-db/$newest"
mlflow-db-restore --into mlflow_extra --from-bucket latest 2>/var/tmp/verify-offsite-restore.log ||
  { cat /var/tmp/verify-offsite-restore.log >&2; fail "mlflow-db-restore --from-bucket latest failed"; }
grep -q "fetched /var/backups/mlflow-db/$newest " /var/tmp/verify-offsite-restore.log ||
  fail "the restore did not fetch $newest: $(cat /var/tmp/verify-offsite-restore.log)"
[[ $(stat -c %a "/var/backups/mlflow-db/$newest") == 600 ]] || fail "the fetched dump is not 0600"
restored=$(sql "SELECT COUNT(*) FROM runs" mlflow_extra)
[[ $restored -eq $live ]] || fail "the restored database has $restored runs, the live one $live"

# A name that is not in the bucket is refused, and nothing is restored.
if mlflow-db-restore --into mlflow_extra --from-bucket mlflow-20000101T000000.000Z.sql.gz 2>/dev/null; then
  fail "a copy that does not exist was restored"
fi
echo "off-site: $uploaded uploads, kept $newest and $newest_auth, restored $restored runs (live $live)"
