"""End to end, the path of `make up`: playbooks/site.yml with the local
inventory deploys the whole stack into a container published on 127.0.0.1,
writes the client settings file, and then the real MLflow client on this
machine logs, searches and downloads through nginx with basic auth. A second
run of site.yml changes nothing; playbooks/users.yml adds, rotates and removes
a user and changes nothing else; `make up`'s switch to MLflow's own auth
(`-e server_auth=mlflow`) keeps the user's login and changes nothing when run
again; teardown (`make down`) removes the container and keeps the data volume
unless asked to purge it.

It uses its own deployment name, port, password directory and env file, so
it never touches what `make up` made."""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
NAME = "mlflow-e2e"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _playbook(path: str, extra: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / path), "-e", f"@{extra}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    pip_cache = os.environ.get("MOLECULE_PIP_CACHE") or str(Path.home() / ".cache/mlops-mlflow/pip")
    uv_cache = os.environ.get("MOLECULE_UV_CACHE") or str(Path.home() / ".cache/mlops-mlflow/uv")
    for cache in (pip_cache, uv_cache):
        Path(cache).mkdir(parents=True, exist_ok=True)
    extra = tmp / "vars.json"
    extra.write_text(json.dumps({
        "mlflow_deployment_name": NAME,
        "local_infra_http_port": _free_port(),
        # The caches the Molecule scenarios share (MLflow is installed with uv).
        "local_infra_volumes": [f"{pip_cache}:/root/.cache/pip", f"{uv_cache}:/root/.cache/uv"],
        "nginx_proxy_password_dir": str(tmp / "credentials"),
        "mlflow_local_env_file": str(tmp / "local" / "mlflow.env"),
    }))
    state = {"tmp": tmp, "extra": extra, "purged": False}
    try:
        state["first"] = _playbook("playbooks/site.yml", extra)
        yield state
    finally:
        # test_teardown_keeps_the_data_volume_unless_purged ends with this very
        # run (and checks it): no second one when it got there.
        if not state["purged"]:
            _playbook("playbooks/teardown_local.yml", extra, "-e", "local_infra_purge=true")


def _client_env(tmp: Path) -> dict[str, str]:
    # The file is for `set -a; . file`: values are shell-quoted where needed.
    text = (tmp / "local" / "mlflow.env").read_text()
    settings = dict(word.split("=", 1) for word in shlex.split(text))
    return dict(os.environ, **settings)


def _docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)


def _with_vars(deployment, name: str, **variables) -> Path:
    path = deployment["tmp"] / name
    path.write_text(json.dumps({**json.loads(deployment["extra"].read_text()), **variables}))
    return path


def test_env_file_is_private_and_complete(deployment):
    env_file = deployment["tmp"] / "local" / "mlflow.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    settings = _client_env(deployment["tmp"])
    assert re.fullmatch(r"http://localhost:\d+", settings["MLFLOW_TRACKING_URI"])
    assert settings["MLFLOW_TRACKING_USERNAME"] == "mlflow"
    assert len(settings["MLFLOW_TRACKING_PASSWORD"]) >= 20
    # The password is only in the 0600 files, never in the playbook's output.
    assert settings["MLFLOW_TRACKING_PASSWORD"] not in deployment["first"].stdout
    assert "MLflow is up: http://localhost:" in deployment["first"].stdout


def test_real_client_through_nginx_with_a_50mb_artifact(deployment):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "molecule/_shared/files/mlflow_client_check.py"), "50"],
        env=_client_env(deployment["tmp"]), capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["artifact_mb"] == 50


def test_no_credentials_get_401(deployment):
    uri = _client_env(deployment["tmp"])["MLFLOW_TRACKING_URI"]
    assert requests.get(uri + "/health", timeout=10).status_code == 200
    for path in ("/", "/version", "/api/2.0/mlflow/experiments/search?max_results=1"):
        assert requests.get(uri + path, timeout=10).status_code == 401, path
    wrong = requests.get(uri + "/version", auth=("mlflow", "wrong"), timeout=10)
    assert wrong.status_code == 401


def test_no_crafted_request_reaches_mlflow_without_a_password(deployment):
    """The auth-boundary probe against the published port, as an attacker on
    this machine would send it (raw dot-segments, encoded / ? # ., //), and its
    self-test straight against MLflow inside the container: there the same
    requests must reach MLflow's handlers, or the oracle would prove nothing."""
    probe = ROOT / "molecule/_shared/files/auth_boundary_probe.py"
    uri = _client_env(deployment["tmp"])["MLFLOW_TRACKING_URI"]
    port = uri.rsplit(":", 1)[1]
    boundary = subprocess.run(
        # --no-controls: its plain requests without a password would count as
        # failed logins of 127.0.0.1 and rate-limit the wrong-password checks below.
        [sys.executable, str(probe), "--url", f"http://127.0.0.1:{port}", "--host", "localhost", "--no-controls"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert boundary.returncode == 0, boundary.stdout[-4000:] + boundary.stderr[-2000:]
    copied = _docker("cp", str(probe), f"{NAME}:/var/tmp/auth_boundary_probe.py")
    assert copied.returncode == 0, copied.stderr
    direct = subprocess.run(
        ["docker", "exec", NAME, "python3", "/var/tmp/auth_boundary_probe.py",
         "--url", "http://127.0.0.1:5000", "--host", "localhost", "--direct"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert direct.returncode == 0, direct.stdout[-4000:] + direct.stderr[-2000:]


def test_site_yml_again_changes_nothing(deployment):
    again = _playbook("playbooks/site.yml", deployment["extra"])
    changed = [int(n) for n in re.findall(r"changed=(\d+)", again.stdout)]
    assert changed and sum(changed) == 0, again.stdout[-3000:]


def test_users_playbook_adds_rotates_and_removes_a_user(deployment):
    uri = _client_env(deployment["tmp"])["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/experiments/search?max_results=1"
    owner = [{"name": "mlflow"}]

    def users(name: str, entries: list[dict]) -> subprocess.CompletedProcess:
        return _playbook("playbooks/users.yml", _with_vars(deployment, name, nginx_proxy_users=owner + entries))

    added = users("add.json", [{"name": "alice", "password": "alice-first-Password-1"}])
    assert "changed=0" not in re.search(r"mlflow-e2e\s*:.*", added.stdout).group(0), added.stdout[-3000:]
    assert requests.get(uri, auth=("alice", "alice-first-Password-1"), timeout=10).status_code == 200
    assert "alice-first-Password-1" not in added.stdout

    users("rotate.json", [{"name": "alice", "password": "alice-second-Password-2"}])
    assert requests.get(uri, auth=("alice", "alice-second-Password-2"), timeout=10).status_code == 200
    assert requests.get(uri, auth=("alice", "alice-first-Password-1"), timeout=10).status_code == 401

    removed = users("remove.json", [{"name": "alice", "state": "absent"}])
    assert requests.get(uri, auth=("alice", "alice-second-Password-2"), timeout=10).status_code == 401
    # The owner's login still works, and only the htpasswd tasks ran on the host.
    env = _client_env(deployment["tmp"])
    assert requests.get(uri, auth=(env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]),
                        timeout=10).status_code == 200
    assert "Install nginx" not in removed.stdout and "mlops.mlflow.server" not in removed.stdout


def test_users_playbook_fails_clearly_without_the_container(deployment):
    gone = _with_vars(deployment, "gone.json", mlflow_deployment_name="mlflow-e2e-absent")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks/users.yml"), "-e", f"@{gone}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode != 0
    assert "mlflow-e2e-absent" in proc.stdout and "run `make up` first" in proc.stdout, proc.stdout[-2000:]


def test_traces_through_nginx(deployment):
    """MLflow 3 tracing through nginx and its login, with the real client: a
    function under @mlflow.trace and a span that OpenTelemetry's OTLP/HTTP
    exporter sends to /v1/traces (the published 127.0.0.1:port, so the Host
    nginx passes on is the public name, which MLflow's allowed hosts accept)
    are both found by mlflow.search_traces; /v1/traces without a login is
    nginx's 401."""
    env = _client_env(deployment["tmp"])
    proc = subprocess.run(
        [sys.executable, str(ROOT / "molecule/_shared/files/mlflow_trace_check.py")],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["otlp_spans_sent"] == 1 and result["decorated_trace"] != result["otlp_trace"]
    anonymous = requests.post(env["MLFLOW_TRACKING_URI"].rstrip("/") + "/v1/traces", data=b"",
                              headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": "0"},
                              timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers.get("WWW-Authenticate") == 'Basic realm="MLflow"'


def test_site_yml_switches_to_mlflow_auth(deployment):
    """`make up`'s documented switch, `-e server_auth=mlflow`, on the running
    deployment: one more site.yml run, after which MLflow's basic-auth app
    checks the logins. The same user logs in with the real MLflow client
    through nginx, the admin's settings that the connection block writes
    (mlflow-admin.env, 0600) work for an admin-only call, a wrong password
    gets MLflow's 401; the auth database is SQLite beside the tracking store,
    MLflow's user's; a run again changes nothing."""
    tmp = deployment["tmp"]
    # The same lock, one more extra ([auth]): the switch adds Flask-WTF and the rest of the extra and
    # leaves the installed packages alone (a reinstall would put new files in place: new inodes).
    mlflow_init = "/opt/mlflow/venv/lib/python3*/site-packages/mlflow/__init__.py"
    before = _docker("exec", NAME, "sh", "-c", f"stat -c %i {mlflow_init}")
    assert before.returncode == 0 and before.stdout.strip(), before.stderr
    switched = _playbook("playbooks/site.yml", deployment["extra"], "-e", "server_auth=mlflow")
    after = _docker("exec", NAME, "sh", "-c", f"stat -c %i {mlflow_init} && /opt/mlflow/venv/bin/python -c 'import flask_wtf'")
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == before.stdout.strip(), "the switch reinstalled MLflow's packages"
    admin_file = tmp / "local" / "mlflow-admin.env"
    assert oct(admin_file.stat().st_mode & 0o777) == "0o600"
    admin = dict(word.split("=", 1) for word in shlex.split(admin_file.read_text()))
    user = _client_env(tmp)
    assert admin["MLFLOW_TRACKING_USERNAME"] == "admin" and len(admin["MLFLOW_TRACKING_PASSWORD"]) >= 16
    assert admin["MLFLOW_TRACKING_URI"] == user["MLFLOW_TRACKING_URI"]
    assert admin["MLFLOW_TRACKING_PASSWORD"] not in switched.stdout
    assert user["MLFLOW_TRACKING_PASSWORD"] not in switched.stdout

    # The same user, the same password: now MLflow checks it (and makes them the owner of what they create).
    proc = subprocess.run(
        [sys.executable, str(ROOT / "molecule/_shared/files/mlflow_client_check.py"), "1"],
        env=user, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    uri = user["MLFLOW_TRACKING_URI"]
    as_admin = (admin["MLFLOW_TRACKING_USERNAME"], admin["MLFLOW_TRACKING_PASSWORD"])
    as_user = (user["MLFLOW_TRACKING_USERNAME"], user["MLFLOW_TRACKING_PASSWORD"])

    def account(name: str, auth: tuple[str, str]) -> int:
        # The status only: an assertion on the call would print the password.
        return requests.get(f"{uri}/api/2.0/mlflow/users/get?username={name}", auth=auth, timeout=10).status_code

    # Another user's account is the admin's business only; one's own is one's own.
    assert account(user["MLFLOW_TRACKING_USERNAME"], as_admin) == 200
    assert account(admin["MLFLOW_TRACKING_USERNAME"], as_user) == 403
    assert account(user["MLFLOW_TRACKING_USERNAME"], as_user) == 200

    inside = _docker("exec", NAME, "sh", "-c",
                     "stat -c '%n %U %a' /var/lib/mlflow/mlflow.db /var/lib/mlflow/mlflow-auth.db"
                     " /etc/mlops-mlflow/auth/basic_auth.ini && grep '^database_uri' /etc/mlops-mlflow/auth/basic_auth.ini")
    assert inside.returncode == 0, inside.stderr
    lines = inside.stdout.splitlines()
    assert lines[0].startswith("/var/lib/mlflow/mlflow.db mlflow ")
    assert lines[1] == "/var/lib/mlflow/mlflow-auth.db mlflow 600", lines
    assert lines[2] == "/etc/mlops-mlflow/auth/basic_auth.ini mlflow 600", lines
    assert lines[3] == "database_uri = sqlite:////var/lib/mlflow/mlflow-auth.db", lines

    again = _playbook("playbooks/site.yml", deployment["extra"], "-e", "server_auth=mlflow")
    changed = [int(n) for n in re.findall(r"changed=(\d+)", again.stdout)]
    changed_tasks = [block.split("]", 1)[0] for block in re.split(r"^TASK \[", again.stdout, flags=re.M)[1:]
                     if "\nchanged: " in block]
    assert changed and sum(changed) == 0, (changed_tasks, re.findall(r"MLflow users:.*?revoked[^\n]*", again.stdout, flags=re.S))
    wrong = requests.get(uri + "/version", auth=(as_user[0], "not-the-Password-0000"), timeout=10)
    assert wrong.status_code == 401
    assert wrong.headers.get("WWW-Authenticate") == 'Basic realm="mlflow"'  # MLflow's answer, not nginx's


def test_teardown_keeps_the_data_volume_unless_purged(deployment):
    volume = f"{NAME}-data"
    _playbook("playbooks/teardown_local.yml", deployment["extra"])
    assert _docker("container", "inspect", NAME).returncode != 0, "the container is still there"
    assert _docker("volume", "inspect", volume).returncode == 0, "the data volume went without PURGE"
    _playbook("playbooks/teardown_local.yml", deployment["extra"], "-e", "local_infra_purge=true")
    assert _docker("volume", "inspect", volume).returncode != 0, "the data volume is still there after PURGE"
    deployment["purged"] = True
