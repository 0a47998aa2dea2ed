"""End-to-end check with the real MLflow client, run inside a test container
(or on the host against a published port):

    python mlflow_client_check.py [ARTIFACT_MB [LOOP_METRICS]]

Uses MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_USERNAME/PASSWORD when set).
Creates an experiment, logs params, metrics, tags and an artifact of
ARTIFACT_MB megabytes (default 10), reads everything back, downloads the
artifact and compares its bytes. With LOOP_METRICS, it then logs that many
metric points to a new run as fast as it can without retries (one 429 from
a rate limit fails it) and reads them back (the same process: one import of
MLflow for both checks). Prints one JSON line with the run id and what was
checked; exits non-zero on any mismatch."""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid

# Before MLflow is imported: its client telemetry off (offline, its thread unsets a
# variable while requests reads the environment: a KeyError at random).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def main():
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    client = MlflowClient()
    name = f"check-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name)
    workdir = tempfile.mkdtemp(dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    payload = os.path.join(workdir, "payload.bin")
    digest = hashlib.sha256()
    with open(payload, "wb") as out:
        for _ in range(size_mb):
            chunk = os.urandom(1024 * 1024)
            digest.update(chunk)
            out.write(chunk)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({"alpha": "0.5", "layers": "3"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.set_tag("purpose", "molecule")
        mlflow.log_artifact(payload, artifact_path="data")
    fetched = client.get_run(run.info.run_id)
    assert fetched.data.params == {"alpha": "0.5", "layers": "3"}, fetched.data.params
    assert fetched.data.tags["purpose"] == "molecule"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(5)), history
    found = client.search_runs([experiment_id], filter_string="params.alpha = '0.5'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    downloaded = client.download_artifacts(run.info.run_id, "data/payload.bin", workdir + "/dl")
    with open(downloaded, "rb") as stream:
        got = hashlib.file_digest(stream, "sha256").hexdigest()
    assert got == digest.hexdigest(), "artifact bytes differ"
    # The payload and its download (on this machine when run from the controller).
    shutil.rmtree(workdir, ignore_errors=True)
    result = {"run_id": run.info.run_id, "experiment": name, "artifact_mb": size_mb, "sha256": got}
    if len(sys.argv) > 2:
        # No retries from here on: a single 429 must fail this check.
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        loop = client.create_run(client.create_experiment(f"loop-{uuid.uuid4().hex[:8]}"))
        for i in range(int(sys.argv[2])):
            client.log_metric(loop.info.run_id, "m", float(i), step=i)
        result["loop_metrics"] = len(client.get_metric_history(loop.info.run_id, "m"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
