"""Runs inside a benchmark container with MLflow's venv: uploads a file as an
artifact of a new run with the real MLflow client, downloads it again, checks
its digest, and prints {"up_s", "down_s", "bytes"} as JSON. The tracking URI
and credentials come from the environment (MLFLOW_TRACKING_*)."""
import hashlib
import json
import os
import sys
import tempfile
import time

# Before MLflow is imported: its client telemetry off (offline, its thread unsets a
# variable while requests reads the environment: a KeyError at random).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def main() -> None:
    source = sys.argv[1]
    want = sys.argv[2]
    client = MlflowClient()
    experiment = client.create_experiment("artifact-io-" + os.urandom(4).hex())
    run = client.create_run(experiment)
    start = time.monotonic()
    client.log_artifact(run.info.run_id, source, "big")
    up = time.monotonic() - start
    target = tempfile.mkdtemp(dir="/var/tmp")
    start = time.monotonic()
    path = client.download_artifacts(run.info.run_id, "big/" + os.path.basename(source), target)
    down = time.monotonic() - start
    if digest(path) != want:
        raise SystemExit("the downloaded artifact differs from the upload")
    size = os.path.getsize(path)
    os.remove(path)
    print(json.dumps({"up_s": up, "down_s": down, "bytes": size}))


if __name__ == "__main__":
    main()
