"""What MLflow's basic-auth app lets each user do (server_auth mlflow), asked
with the real MLflow client through the host's nginx, and straight over
MLflow's Unix socket as the admin, in one process (importing MLflow costs
seconds):

    python mlflow_auth_check.py < settings.json

(with molecule/_shared/files/mlflow_auth_client.py next to it: the client as
each user).

settings (standard input, it holds passwords): url (through nginx), ca (the
CA file the client trusts), socket and public_name (MLflow's Unix socket and
the name it serves), admin (the admin's name), passwords {user: password}
(the admin, reader), experiment (the one reader has READ on).

Prints one JSON line: matrix {check: HTTP status}, users (the users MLflow
lists), reader_grants (reader's grants as MLflow lists them). Every check
records a status instead of failing: the caller compares whole answers."""
from __future__ import annotations

import base64
import json
import socket
import sys
import uuid

# Turns MLflow's retries off before MLflow is imported; copied next to this file.
from mlflow_auth_client import AuthClient, log_small_run, read_experiment

settings = json.load(sys.stdin)
ADMIN, PASSWORDS = settings["admin"], settings["passwords"]
auth = AuthClient(settings["url"], PASSWORDS, ca=settings["ca"])
status, rest = auth.status, auth.rest


def on_socket(method: str, path: str, host: str, headers=()) -> int:
    """One request straight to MLflow over its Unix socket, as the admin."""
    token = base64.b64encode(f"{ADMIN}:{PASSWORDS[ADMIN]}".encode()).decode()
    head = [f"{method} {path} HTTP/1.0", f"Host: {host}", f"Authorization: Basic {token}", "Content-Length: 0",
            *headers, "", ""]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(settings["socket"])
        sock.sendall("\r\n".join(head).encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


experiment_id = auth.login(ADMIN).get_experiment_by_name(settings["experiment"]).experiment_id
matrix: dict[str, int] = {}


def log_to_a(client) -> None:
    log_small_run(client, experiment_id)


def read_a(client) -> None:
    read_experiment(client, experiment_id)


matrix["reader reads A"] = status("reader", read_a)
matrix["reader logs to A"] = status("reader", log_to_a)
matrix["reader wrong password"] = status("reader", read_a, password="not-the-readers-password-0")
matrix["nobody"] = status("nobody-" + uuid.uuid4().hex[:6], read_a, password="not-a-password-00000")
matrix["reader reads the admin's grants"] = rest(
    "reader", "GET", "/api/3.0/mlflow/users/permissions/list", params={"username": ADMIN}).status_code

# The admin manages: tags the experiment, reads reader's grants, makes a user
# with EDIT on the experiment (who then logs to it) and deletes that user again.
matrix["admin tags A"] = status(ADMIN, lambda c: c.set_experiment_tag(experiment_id, "managed-by", ADMIN))
grants = rest(ADMIN, "GET", "/api/3.0/mlflow/users/permissions/list", params={"username": "reader"})
matrix["admin reads reader's grants"] = grants.status_code
temp = "temp-" + uuid.uuid4().hex[:6]
PASSWORDS[temp] = uuid.uuid4().hex
matrix["admin creates a user"] = rest(
    ADMIN, "POST", "/api/2.0/mlflow/users/create", json={"username": temp, "password": PASSWORDS[temp]}).status_code
matrix["admin grants EDIT on A"] = rest(ADMIN, "POST", "/api/3.0/mlflow/users/permissions/grant", json={
    "username": temp, "resource_type": "experiment", "resource_id": experiment_id, "permission": "EDIT"}).status_code
matrix["new user logs to A"] = status(temp, log_to_a)
matrix["admin deletes the user"] = rest(
    ADMIN, "DELETE", "/api/2.0/mlflow/users/delete", json={"username": temp}).status_code
matrix["deleted user"] = status(temp, read_a)

# Straight to MLflow on its socket: the admin's login passes, the Host check
# and the assistant's refusal of a forged local address still hold.
search = "/api/2.0/mlflow/experiments/search?max_results=1"
matrix["socket admin public name"] = on_socket("GET", search, settings["public_name"])
matrix["socket admin bogus host"] = on_socket("GET", search, "evil.example")
matrix["socket admin assistant"] = on_socket(
    "POST", "/ajax-api/3.0/mlflow/assistant/message", settings["public_name"], ["X-Forwarded-For: 127.0.0.1"])

out = {
    "matrix": matrix,
    "users": sorted(u["username"] for u in rest(ADMIN, "GET", "/api/2.0/mlflow/users/list").json()["users"]),
    "reader_grants": grants.json() if grants.status_code == 200 else None,
}
print(json.dumps(out, sort_keys=True))
