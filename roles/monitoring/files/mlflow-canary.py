"""mlflow-canary EXPERIMENT

Run by mlflow-canary.service (mlops.mlflow.monitoring) with the MLflow client
of the server's venv: logs a small run (a parameter with a random token and
a metric) to EXPERIMENT through the tracking URI of the environment (nginx's
public name; the user and password come from the unit's root-only env file)
and reads it back. Exits 0 when the run is FINISHED with the token and the
metric, else non-zero (the unit fails: its ExecStopPost= writes the metric 0,
its OnFailure= hook posts one message). Prints no secret."""
import sys
import time
import uuid

import mlflow
from mlflow.tracking import MlflowClient


def main(experiment):
    started = time.monotonic()
    token = uuid.uuid4().hex
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="canary") as run:
        mlflow.log_param("canary_token", token)
        mlflow.log_metric("canary", 1.0)
    back = MlflowClient().get_run(run.info.run_id)
    problems = []
    if back.info.status != "FINISHED":
        problems.append(f"status {back.info.status}")
    if back.data.params.get("canary_token") != token:
        problems.append("the token read back differs")
    if back.data.metrics.get("canary") != 1.0:
        problems.append(f"metric canary {back.data.metrics.get('canary')!r}")
    if problems:
        print(f"canary run {run.info.run_id} read back wrong: {'; '.join(problems)}", file=sys.stderr)
        return 1
    print(f"canary run {run.info.run_id} logged and read back in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
