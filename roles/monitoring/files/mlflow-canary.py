"""mlflow-canary EXPERIMENT

Run by mlflow-canary.service (mlops.mlflow.monitoring) with the MLflow client
of the server's venv: logs a small run (a parameter with a random token and
a metric) to EXPERIMENT through the tracking URI of the environment (nginx's
public name; the user and password come from the unit's root-only env file)
and reads it back. Exits 0 when the run is FINISHED with the token and the
metric, else non-zero (the unit fails: its ExecStopPost= writes the metric 0,
its OnFailure= hook posts one message). An error of MLflow's client ends it
with one line (the request, the HTTP status and what a 401 or 403 means)
instead of a traceback. Prints no secret."""
import sys
import time
import uuid

import mlflow
from mlflow.exceptions import MlflowException
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


# What a refusal usually means, for the journal and the failure message.
HINTS = {
    401: "the login was refused: the canary's user or password is not the one nginx (htpasswd mode) or MLflow "
         "(mlflow mode, server_auth_users) has",
    403: "the user may not do this: in mlflow mode it needs EDIT on the experiment (server_auth_grants)",
}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        sys.exit(main(sys.argv[1]))
    except MlflowException as err:
        # One line instead of a traceback (the hook posts the last lines of the journal): the
        # request and MLflow's (or nginx's) status, without the answer's HTML body.
        status = err.get_http_status_code()
        what = str(err).split(" Response body:", 1)[0].splitlines()[0][:300]
        sys.exit(f"canary failed, HTTP {status}: {what}" + (f" ({HINTS[status]})" if status in HINTS else ""))
