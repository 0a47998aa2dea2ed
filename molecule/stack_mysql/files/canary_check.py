"""The canary of mlops.mlflow.monitoring with server_auth mlflow (MLflow's
basic-auth app checks its login, nginx passes it through), in one process
(importing MLflow costs seconds), as root on the MLflow host:

    python canary_check.py < settings.json

settings (standard input, it holds passwords): url (through nginx), ca (the CA
file the client trusts), admin and admin_password (MLflow's admin), user and
password (the canary's MLflow user, as the inventory has it), experiment,
unit (the canary's systemd unit), metrics (node exporter's /metrics on
loopback), access_log (nginx's).

`systemctl start <unit>` (oneshot: it returns with the run's result) passes;
node exporter's textfile collector then serves mlflow_canary_success 1; the
admin finds the canary's run in its experiment, FINISHED with its token,
created through nginx by the canary's MLflow user. Then the admin gives the
canary's user another password in MLflow (as if it were rotated there and not
in the inventory): the unit fails, with MLflow's 401 in its journal, and the
metric turns 0. The admin puts the inventory's password back (always), and
the canary passes again with the metric 1.

Prints one JSON line: checks {name: bool} and, when one is false, what was
seen (no secret: statuses, run fields, journal lines without the password)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid

os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.utils.rest_utils import MlflowHostCreds, http_request  # noqa: E402

S = json.load(sys.stdin)
os.environ.update({"MLFLOW_TRACKING_SERVER_CERT_PATH": S["ca"], "MLFLOW_TRACKING_USERNAME": S["admin"],
                   "MLFLOW_TRACKING_PASSWORD": S["admin_password"]})
ADMIN = MlflowClient(S["url"])
CREDS = MlflowHostCreds(S["url"], username=S["admin"], password=S["admin_password"], server_cert_path=S["ca"])
LOG = re.compile(r'^(\S+) - (\S+) \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) ')


def canary() -> int:
    return subprocess.run(["systemctl", "start", S["unit"]], capture_output=True, check=False).returncode


def metric(expected: str) -> bool:
    """Whether node exporter serves mlflow_canary_success `expected` within 30 s (the unit's
    ExecStopPost= writes it: it may finish just after `systemctl start` returns)."""
    for _ in range(30):
        with urllib.request.urlopen(S["metrics"], timeout=30) as answer:
            found = re.search(r"^mlflow_canary_success (\S+)$", answer.read().decode(), re.M)
        if found and found.group(1) == expected:
            return True
        time.sleep(1)
    return False


def set_password(password: str) -> int:
    return http_request(CREDS, "/api/2.0/mlflow/users/update-password", "PATCH", max_retries=0,
                        json={"username": S["user"], "password": password}).status_code


def journal(since: float) -> str:
    return subprocess.run(["journalctl", "--no-pager", "--output=cat", "-u", S["unit"],
                           "--since", f"@{int(since)}"], capture_output=True, text=True, check=False).stdout


def run_creations() -> list[tuple[str, str]]:
    """(user, status) of every run creation in nginx's access log."""
    with open(S["access_log"], encoding="utf-8", errors="replace") as stream:
        return [(m.group(2), m.group(5)) for m in map(LOG.match, stream) if m and "/runs/create" in m.group(4)]


checks: dict[str, bool] = {}
seen: dict[str, object] = {}

started = time.time()
checks["unit passes"] = canary() == 0
checks["metric 1"] = metric("1")
experiment = ADMIN.get_experiment_by_name(S["experiment"])
runs = ADMIN.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                         max_results=1) if experiment else []
run = runs[0] if runs else None
checks["run read back by the admin"] = bool(
    run and run.info.start_time >= started * 1000 - 5000 and run.info.status == "FINISHED"
    and len(run.data.params.get("canary_token", "")) == 32 and run.data.metrics.get("canary") == 1.0)
creations = run_creations()
checks["run created through nginx by the canary's user"] = bool(creations) and creations[-1] == (S["user"], "200")
seen["run"] = run and {"status": run.info.status, "start_time": run.info.start_time, "params": sorted(run.data.params)}
seen["last run creation"] = creations[-1:]

# The password rotated in MLflow, not in the inventory.
failed_at = time.time()
checks["admin changes the canary's password"] = set_password("wrong-" + uuid.uuid4().hex) == 200
try:
    checks["unit fails with the wrong password"] = canary() != 0
    checks["metric 0"] = metric("0")
    failure_log = journal(failed_at)
    checks["MLflow's 401 in the journal"] = "401" in failure_log
finally:
    checks["admin puts the password back"] = set_password(S["password"]) == 200
checks["unit passes again"] = canary() == 0
checks["metric 1 again"] = metric("1")

unit_text = subprocess.run(["systemctl", "cat", S["unit"], f"{S['unit']}.timer"],
                           capture_output=True, text=True, check=False).stdout
whole_journal = journal(started)
checks["no password in the units or the journal"] = S["password"] not in unit_text + whole_journal
if not all(checks.values()):
    seen["journal"] = whole_journal.replace(S["password"], "****").splitlines()[-30:]
print(json.dumps({"checks": checks, "seen": seen}, sort_keys=True, default=str))
