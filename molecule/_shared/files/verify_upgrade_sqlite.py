#!/opt/mlflow/venv/bin/python
"""The checks of an upgrade with a SQLite backend on one MLflow host, run
as root with MLflow's venv in one process (molecule/_shared/verify_upgrade_sqlite.yml):
one module call instead of one per check. Prints one JSON object of what it
found; the play asserts on it.

    verify_upgrade_sqlite.py <previous MLflow version>
"""
import glob
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile

# Before MLflow is imported: its client telemetry off (offline, its thread unsets a
# variable while requests reads the environment: a KeyError at random).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.tracking import MlflowClient  # noqa: E402

FROM = sys.argv[1]
out = {}
with open("/var/lib/mlflow-seed/run.json", encoding="utf-8") as stream:
    seed = json.load(stream)
out["version"] = importlib.metadata.version("mlflow")
schema = subprocess.run(
    ["runuser", "-u", "mlflow", "--", "/opt/mlflow/venv/bin/python", "/usr/local/libexec/mlops-mlflow/mlflow-schema", "status"],
    capture_output=True, text=True, check=False,
    env=dict(os.environ, MLFLOW_BACKEND_STORE_URI="sqlite:////var/lib/mlflow/mlflow.db"))
out["schema"] = {"rc": schema.returncode, "stdout": schema.stdout.strip(), "stderr": schema.stderr.strip()[-1000:]}
with open("/var/lib/mlflow/migrations.log", encoding="utf-8") as stream:
    out["migrations"] = stream.read()
out["backups"] = [{"path": p, "mode": "%04o" % (os.stat(p).st_mode & 0o7777)}
                  for p in sorted(glob.glob(f"/var/backups/mlflow/mlflow-{glob.escape(FROM)}-*.db"))]
# The run logged by the old version: its params, and its artifact's digest.
client = MlflowClient("http://127.0.0.1:5000")
out["params"] = client.get_run(seed["run_id"]).data.params
path = client.download_artifacts(seed["run_id"], "data/payload.bin", tempfile.mkdtemp(dir="/var/tmp"))
with open(path, "rb") as stream:
    out["artifact_intact"] = hashlib.sha256(stream.read()).hexdigest() == seed["sha256"]
print(json.dumps(out))
