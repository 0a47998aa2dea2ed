"""The MLflow client as one user or another of MLflow's basic-auth app
(server_auth mlflow), for the scenarios' auth checks (stack_mysql's and
stack_postgresql's files/mlflow_auth_check.py). The verify playbook copies
this file next to the check in /var/tmp; the check imports it before MLflow:

    from mlflow_auth_client import AuthClient, log_small_run, read_experiment

    auth = AuthClient(url, passwords, ca=None)   # ca: the CA file the client trusts
    auth.status("alice", lambda c: read_experiment(c, experiment_id))  # 200, or the refusal's HTTP status
    auth.rest(admin, "GET", "/api/2.0/mlflow/users/list")              # a requests.Response

Importing it turns MLflow's HTTP retries off: a 401, 403 or 429 must show as
it is, at once. It holds no secret: the passwords come from the caller."""
from __future__ import annotations

import os

# Before MLflow reads its environment (telemetry off: offline, its thread unsets a
# variable while requests reads the environment, a KeyError at random).
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.utils.rest_utils import MlflowHostCreds, http_request  # noqa: E402


class AuthClient:
    """MLflow at `url` (through nginx), asked as the users of `passwords`
    {user: password}; `ca` is the CA file the client trusts (None: the
    client's own bundle, or plain HTTP)."""

    def __init__(self, url: str, passwords: dict[str, str], ca: str | None = None) -> None:
        self.url, self.passwords, self.ca = url, passwords, ca
        if ca:
            os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"] = ca

    def login(self, user: str, password: str | None = None) -> MlflowClient:
        """The MLflow client as `user` (the client, and MLflow's fluent API,
        read the credentials from the environment at every request)."""
        os.environ["MLFLOW_TRACKING_USERNAME"] = user
        os.environ["MLFLOW_TRACKING_PASSWORD"] = self.passwords[user] if password is None else password
        return MlflowClient(self.url)

    def status(self, user: str, action, password: str | None = None) -> int:
        """200 when `action(client)` succeeds as `user`, else the HTTP status
        of MLflow's (or nginx's) refusal."""
        try:
            action(self.login(user, password))
            return 200
        except MlflowException as err:
            return err.get_http_status_code()

    def rest(self, user: str, method: str, endpoint: str, **kwargs):
        """One request to MLflow's REST API as `user`, no retries (kwargs: params, json)."""
        creds = MlflowHostCreds(self.url, username=user, password=self.passwords[user], server_cert_path=self.ca)
        return http_request(creds, endpoint, method, max_retries=0, **kwargs)


def log_small_run(client: MlflowClient, experiment_id: str) -> None:
    """A run with a param and a metric in `experiment_id` (EDIT needed)."""
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "p", "1")
    client.log_metric(run.info.run_id, "m", 1.0)
    client.set_terminated(run.info.run_id)


def read_experiment(client: MlflowClient, experiment_id: str) -> None:
    """The experiment and its latest runs (READ needed)."""
    client.get_experiment(experiment_id)
    client.search_runs([experiment_id], max_results=5)
