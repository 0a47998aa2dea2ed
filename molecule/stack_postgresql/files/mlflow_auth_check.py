"""What each user of MLflow's basic-auth app may do, asked with the real
MLflow client through the host's nginx (server_auth mlflow), in one process
(importing MLflow costs seconds):

    python mlflow_auth_check.py < settings.json

(with molecule/_shared/files/mlflow_auth_client.py next to it: the client as
each user).

settings (standard input, it holds passwords): url, passwords {user: password}
(admin, alice, trainer, bob, carol, ops), experiment and registered_model (the
names server_auth_grants grants), admin (the admin's name), and optionally
artifact_mb (log a run with an artifact of that size as trainer and read it
back as alice), read_run {run_id, sha256} (a run logged through another host:
read it and its artifact as alice), seed {run_id, sha256} (the run the previous
MLflow logged: read it as the admin), metrics (log that many metric points one
request each, no retries: a client logging normally never meets the
failed-login limit).

Prints one JSON line: matrix {check: HTTP status}, run {run_id, sha256},
version (what /version answers the admin), users (the users MLflow lists).
Every check records a status instead of failing, so that the caller compares
whole answers (and the two hosts' answers with each other)."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import uuid

# Turns MLflow's retries off (a 401, 403 or 429 must show as it is, at once)
# before MLflow is imported; copied next to this file.
from mlflow_auth_client import AuthClient, log_small_run, read_experiment

import mlflow
from mlflow.tracking import MlflowClient

settings = json.load(sys.stdin)
URL = settings["url"]
ADMIN = settings["admin"]
WORKDIR = tempfile.mkdtemp(dir="/var/tmp")
mlflow.set_tracking_uri(URL)
auth = AuthClient(URL, settings["passwords"])
login, status, rest = auth.login, auth.status, auth.rest


def sha256(path: str) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


experiment_id = login(ADMIN).get_experiment_by_name(settings["experiment"]).experiment_id
model = settings["registered_model"]
matrix: dict[str, int] = {}
out: dict = {}


def log_to_a(client: MlflowClient) -> None:
    log_small_run(client, experiment_id)


def read_a(client: MlflowClient) -> None:
    read_experiment(client, experiment_id)


matrix["alice reads A"] = status("alice", read_a)
matrix["alice reads A by name"] = status("alice", lambda c: c.get_experiment_by_name(settings["experiment"]))
matrix["alice logs to A"] = status("alice", log_to_a)
matrix["carol reads A"] = status("carol", read_a)
matrix["trainer logs to A"] = status("trainer", log_to_a)
matrix["bob reads A"] = status("bob", read_a)
matrix["bob logs to A"] = status("bob", log_to_a)
matrix["alice wrong password"] = status("alice", read_a, password="not-alices-password-0000")
matrix["nobody"] = status("nobody-" + uuid.uuid4().hex[:6], read_a, password="not-a-password-00000")
matrix["trainer edits the model"] = status(
    "trainer", lambda c: c.set_registered_model_tag(model, "checked-by", "trainer"))
matrix["alice reads the model"] = status("alice", lambda c: c.get_registered_model(model))
# The admin manages: any experiment, and the users.
matrix["admin tags A"] = status(ADMIN, lambda c: c.set_experiment_tag(experiment_id, "managed-by", ADMIN))
for user in (ADMIN, "ops", "alice"):
    # Another user's account and grants: an admin's business only (MLflow lists user names to everyone).
    matrix[f"{user} reads bob's account"] = rest(user, "GET", "/api/2.0/mlflow/users/get", params={"username": "bob"}).status_code
    matrix[f"{user} reads bob's grants"] = rest(
        user, "GET", "/api/3.0/mlflow/users/permissions/list", params={"username": "bob"}).status_code
out["users"] = sorted(u["username"] for u in rest(ADMIN, "GET", "/api/2.0/mlflow/users/list").json()["users"])
out["version"] = rest(ADMIN, "GET", "/version").text.strip()

if settings.get("artifact_mb"):
    # trainer (EDIT on A) logs a run with an artifact through nginx; alice (READ) reads it back.
    payload = os.path.join(WORKDIR, "payload.bin")
    with open(payload, "wb") as stream:
        for _ in range(int(settings["artifact_mb"])):
            stream.write(os.urandom(1024 * 1024))
    login("trainer")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({"alpha": "0.5", "layers": "3"})
        mlflow.log_artifact(payload, artifact_path="data")
    out["run"] = {"run_id": run.info.run_id, "sha256": sha256(payload)}
    alice = login("alice")
    got = alice.download_artifacts(run.info.run_id, "data/payload.bin", os.path.join(WORKDIR, "alice"))
    matrix["alice reads the artifact"] = 200 if sha256(got) == out["run"]["sha256"] else 0

if settings.get("read_run"):
    # A run logged through another host: the same database and bucket.
    seen = settings["read_run"]
    alice = login("alice")
    assert alice.get_run(seen["run_id"]).data.params == {"alpha": "0.5", "layers": "3"}
    got = alice.download_artifacts(seen["run_id"], "data/payload.bin", os.path.join(WORKDIR, "other"))
    matrix["alice reads the other host's run"] = 200 if sha256(got) == seen["sha256"] else 0

if settings.get("seed"):
    # The run the previous MLflow logged (as the admin) before the upgrade.
    seed = settings["seed"]
    admin = login(ADMIN)
    assert admin.get_run(seed["run_id"]).data.params == {"alpha": "0.5", "layers": "3"}
    got = admin.download_artifacts(seed["run_id"], "data/payload.bin", os.path.join(WORKDIR, "seed"))
    matrix["admin reads the seeded run"] = 200 if sha256(got) == seed["sha256"] else 0

if settings.get("metrics"):
    def metric_loop(client: MlflowClient) -> None:
        run = client.create_run(experiment_id)
        for step in range(int(settings["metrics"])):
            client.log_metric(run.info.run_id, "m", float(step), step=step)
        assert len(client.get_metric_history(run.info.run_id, "m")) == int(settings["metrics"])

    matrix["trainer logs metrics one by one"] = status("trainer", metric_loop)

print(json.dumps({"matrix": matrix, **out}, sort_keys=True))
