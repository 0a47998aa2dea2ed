"""server_auth mlflow (MLflow's basic-auth app): bad input to mlops.mlflow.server,
mlops.mlflow.db_client and mlops.mlflow.nginx_proxy fails in preflight (or in
the argument spec), naming the variable and what is allowed, before anything on
the host changes, and never shows a password; htpasswd mode (the default)
generates no secret of MLflow's auth on the controller."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "service_mgr": "systemd",
}
ADMIN = "adm-Secret-never-shown-4711"
USER_PW = "usr-Secret-never-shown-0815"
MLFLOW = {"server_auth": "mlflow", "server_auth_admin_password": ADMIN}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"server_auth": "mlflow"},
            ["server_auth=mlflow needs server_auth_admin_password", "got an empty value",
             "inventories/local generates one"],
        ),
        (
            {"server_auth": "mlflow", "server_auth_admin_password": "password1234"},
            ["server_auth_admin_password", "never MLflow's former default password 'password1234'", "got that default"],
        ),
        (
            {"server_auth": "mlflow", "server_auth_admin_password": "short-4711"},
            ["server_auth_admin_password", "at least 16 characters", "got one of 10 characters"],
        ),
        (
            {"server_auth": "mlflow", "server_auth_admin_username": "administrator-0815",
             "server_auth_admin_password": "administrator-0815"},
            ["server_auth_admin_password", "got the user name"],
        ),
        (
            dict(MLFLOW, server_auth_admin_username="ad:min"),
            ["server_auth_admin_username must be a user name without ':' or blanks", "got 'ad:min'"],
        ),
        (
            dict(MLFLOW, server_auth_admin_previous_password=ADMIN),
            ["server_auth_admin_previous_password is the admin's current password while it is rotated"],
        ),
        (
            dict(MLFLOW, server_auth_secret_key="too-short"),
            ["server_auth_secret_key (MLFLOW_FLASK_SERVER_SECRET_KEY) must be empty", "got one of 9 characters"],
        ),
        (
            dict(MLFLOW, server_auth_database_uri="oracle://auth:pw-4711@db/auth"),
            ["server_auth_database_uri must be a SQLAlchemy URI of a database of its own", "oracle://auth:****@db/auth"],
        ),
        (
            dict(MLFLOW, server_auth_database_uri="sqlite:////var/lib/mlflow/mlflow.db"),
            ["a database of its own", "the same as server_backend_store_uri"],
        ),
        (
            dict(MLFLOW, server_auth_users=[{"name": "admin", "password": USER_PW}]),
            ["entry 0 of server_auth_users needs a name without ':' or blanks", "is not the admin", "got name='admin'"],
        ),
        (
            dict(MLFLOW, server_auth_users=[{"name": "alice", "password": USER_PW}, {"name": "alice"}]),
            ["each user may appear once in server_auth_users", '["alice"]'],
        ),
        (
            dict(MLFLOW, server_auth_users=[{"name": "alice", "password": "short-0815"}]),
            ["server_auth_users: the password given for user 'alice' (entry 0) is shorter than 16 characters"],
        ),
        (
            dict(MLFLOW, server_auth_users=[{"name": "alice"}],
                 server_auth_grants=[{"user": "alice", "experiment": "churn", "registered_model": "m",
                                      "permission": "READ"}]),
            ["each entry of server_auth_grants needs a user, one of experiment and registered_model"],
        ),
        (
            dict(MLFLOW, server_auth_users=[{"name": "alice"}, {"name": "bob", "state": "absent"}],
                 server_auth_grants=[{"user": "bob", "experiment": "churn", "permission": "READ"}]),
            ["for a user that server_auth_users has present", '"user": "bob"'],
        ),
        (
            dict(MLFLOW, server_auth_grants=[{"user": "mlflow", "experiment": "churn"}]),
            ["with state present a permission (READ, USE, EDIT, MANAGE, DENY)"],
        ),
        (
            dict(MLFLOW, server_auth_default_permission="ALL"),
            ["server_auth_default_permission", "NO_PERMISSIONS, READ, USE, EDIT, MANAGE"],
        ),
        (
            dict(MLFLOW, server_auth_grants=[{"user": "mlflow", "experiment": "churn", "permission": "OWNER"}]),
            ["permission", "READ, USE, EDIT, MANAGE, DENY"],
        ),
        ({"server_auth": "kerberos"}, ["server_auth", "htpasswd, mlflow"]),
    ],
)
def test_server_auth_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("server", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Create the user", ADMIN, USER_PW, "pw-4711"])


def test_the_lock_must_hold_the_auth_extra(run_role, refused, tmp_path):
    """server_auth mlflow installs mlflow[auth]: a lock without Flask-WTF is refused before the install."""
    import re

    good = (ROOT / "roles/server/files/locks/mlflow-3.17.2.txt").read_text()
    lock = tmp_path / "no-flask-wtf.txt"
    lock.write_text(re.sub(r"^flask-wtf==.*?(?=^[a-z])", "", good, flags=re.M | re.S))
    # The lock is checked past preflight: the whole role in check mode, but the python role
    # (its apt check: most of a run's CPU; the lock check reads nothing of it).
    result = run_role("server", dict(MLFLOW, server_pip_lock=str(lock)), facts=DEBIAN_FACTS, whole=True, skip=("python",))
    refused(result, [f"The lock '{lock}' lacks Flask-WTF (mlflow[auth], for server_auth=mlflow)"],
            not_shown=["Create the venv", ADMIN])


def test_htpasswd_mode_generates_no_auth_secret(run_role, tmp_path):
    """The argument spec check renders every default: none of server_auth's
    may make a file (a generated password or key) in htpasswd mode."""
    # The preflight only (run_role); the argument spec check is tagged always.
    result = run_role("server", {}, facts=DEBIAN_FACTS)
    assert result.rc == 0, result.output
    assert "Validating arguments against arg spec" in result.output, result.output
    made = sorted(p.name for p in tmp_path.rglob("*") if "admin" in p.name or "secret" in p.name)
    assert made == [], made


def test_db_client_auth_database_is_a_database_of_its_own(run_role, refused):
    base = {"db_client_engine": "postgresql", "db_client_password": "db-pw-never-shown-1"}
    result = run_role("db_client", dict(base, db_client_auth_database="mlflow"), facts=DEBIAN_FACTS)
    refused(result, ["db_client_auth_database (MLflow's users and permissions) must name another database",
                     "both are 'mlflow'"], not_shown=["db-pw-never-shown-1", "Wait for the port"])
    result = run_role("db_client", dict(base, db_client_auth_database="mlflow-auth"), facts=DEBIAN_FACTS)
    refused(result, ["db_client_auth_database must be a name of 1 to 63 letters", "'mlflow-auth'"],
            not_shown=["db-pw-never-shown-1", "Wait for the port"])


def test_db_server_auth_database_is_a_database_of_its_own(run_role, refused):
    base = {"db_server_engine": "postgresql", "db_server_password": "db-pw-never-shown-1"}
    for name, expected in (("mlflow", "not db_server_database"), ("mlflow-auth", "letters, digits and underscores")):
        result = run_role("db_server", dict(base, db_server_auth_database=name), facts=DEBIAN_FACTS)
        refused(result, ["db_server_auth_database must be a name", expected, f"got '{name}'"],
                not_shown=["db-pw-never-shown-1", "Install the server"])


def test_nginx_proxy_auth_choices(run_role, refused):
    result = run_role("nginx_proxy", {"nginx_proxy_auth": "ldap"}, facts=DEBIAN_FACTS)
    refused(result, ["nginx_proxy_auth", "htpasswd, mlflow"], not_shown=["Install nginx"])


def _fleet(tmp_path: Path, hosts: dict, play_vars: dict) -> subprocess.CompletedProcess:
    """The server role's preflight on several local hosts (a fleet), in check mode."""
    base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {name: dict(base, **v) for name, v in hosts.items()}}}))
    playbook = tmp_path / "fleet_play.yml"
    playbook.write_text(json.dumps([{
        "name": "Preflight of a fleet", "hosts": "all", "gather_facts": False, "vars": play_vars,
        "pre_tasks": [{"name": "Fake facts", "fake_facts": {"facts": DEBIAN_FACTS}}],
        "tasks": [{"name": "Preflight", "ansible.builtin.include_role": {
            "name": "mlops.mlflow.server", "tasks_from": "preflight"}}],
    }]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
               ANSIBLE_LIBRARY=str(ROOT / "tests" / "library"))
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--check", "-i", str(inventory), str(playbook)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_fleet_on_a_shared_database_needs_a_shared_auth_database(tmp_path):
    shared = {"server_backend_store_uri": "postgresql://mlflow:db-pw-4711@db.example/mlflow"}
    sqlite_auth = _fleet(tmp_path, {"web1": {}, "web2": {}}, dict(MLFLOW, **shared))
    output = sqlite_auth.stdout + sqlite_auth.stderr
    assert sqlite_auth.returncode != 0, output
    assert "The 2 hosts of this play share the tracking store postgresql://mlflow:****@db.example/mlflow" in output
    assert "every host would have users of its own" in output
    shared_auth = _fleet(tmp_path, {"web1": {}, "web2": {}}, dict(
        MLFLOW, server_auth_database_uri="postgresql://mlflow:db-pw-4711@db.example/mlflow_auth", **shared))
    output = shared_auth.stdout + shared_auth.stderr
    assert shared_auth.returncode == 0, output
    for secret in (ADMIN, "db-pw-4711"):
        assert secret not in output
