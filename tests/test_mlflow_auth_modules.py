"""The modules of MLflow's basic-auth app (mlops.mlflow.mlflow_user,
mlflow_permission, mlflow_auth_sync) against a real MLflow server: the dev
venv's `mlflow server --app-name basic-auth` on 127.0.0.1, a free port, a
SQLite tracking store and a SQLite auth database in a temporary directory,
default_permission NO_PERMISSIONS, an admin password of the test's own.

Three playbooks run the modules (first run, re-run, check mode, diff,
refusals); between them the real MLflow client, logged in as the users,
says what each user can do: 200, 403 (no permission) or 401 (no such user
or wrong password). The server starts once for the file (the slow part:
MLflow's imports and the auth database's migrations) and is stopped at the
end; every wait is bounded. The last test compares each module's
DOCUMENTATION with its argument spec, without the server."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT, _ansible_playbook, _env

VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "adm-0ld-Secret-4711"
ADMIN_NEW_PASSWORD = "adm-n3w-Secret-0815"
PASSWORDS = {
    "alice": "alice-Secret-1111",
    "alice2": "alice-Secret-2222",
    "bob": "bob-Secret-33333",
    "dave": "dave-Secret-55555",
    "frank": "frank-Secret-6666",
    "erin": "erin-Secret-77777",
}
# Every password: none may appear in any output of the playbooks.
SECRETS = [ADMIN_PASSWORD, ADMIN_NEW_PASSWORD, *PASSWORDS.values()]

# Connection options of every task (module_defaults for the three modules).
DEFAULTS = """
  module_defaults:
    mlops.mlflow.mlflow_user: &conn
      tracking_uri: "{{ url }}"
      admin_username: admin
      admin_password: "{{ admin_password }}"
      timeout: 20
    mlops.mlflow.mlflow_permission: *conn
    mlops.mlflow.mlflow_auth_sync: *conn
"""

# The registered results, read back from the JSON output (debug runs no
# module on the host: cheaper than writing a file).
RECORD = """
    - name: Record the results
      ansible.builtin.debug:
        msg: "{{ dict(names | zip(names | map('extract', vars))) }}"
      vars:
        names: %s
"""

# Users (create, re-run, check mode, password, admin flag, delete, refusals)
# and first grants.
PLAY_1 = """
- hosts: localhost
  connection: local
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - {name: alice created, mlops.mlflow.mlflow_user: {username: alice, password: "{{ pw.alice }}"}, register: u_create, diff: true}
    - {name: alice again, mlops.mlflow.mlflow_user: {username: alice, password: "{{ pw.alice }}"}, register: u_again}
    - name: alice's new password, in check mode
      mlops.mlflow.mlflow_user: {username: alice, password: "{{ pw.alice2 }}"}
      check_mode: true
      diff: true
      register: u_check
    - name: alice's new password, for real
      mlops.mlflow.mlflow_user: {username: alice, password: "{{ pw.alice2 }}"}
      register: u_password
    - {name: alice's new password again, mlops.mlflow.mlflow_user: {username: alice, password: "{{ pw.alice2 }}"}, register: u_password_again}
    - name: on_create leaves an existing password alone
      mlops.mlflow.mlflow_user: {username: alice, password: "{{ pw.alice }}", update_password: on_create}
      register: u_on_create
    - {name: bob as an admin, mlops.mlflow.mlflow_user: {username: bob, password: "{{ pw.bob }}", admin: true}, register: u_admin_new}
    - name: bob no longer an admin
      mlops.mlflow.mlflow_user: {username: bob, admin: false}
      diff: true
      register: u_admin_off
    - name: a new user without a password
      mlops.mlflow.mlflow_user: {username: nopass}
      register: u_nopass
      ignore_errors: true
    - name: the admin cannot delete itself
      mlops.mlflow.mlflow_user: {username: admin, state: absent}
      register: u_self_delete
      ignore_errors: true
    - name: a wrong admin password
      mlops.mlflow.mlflow_user: {username: alice, password: "{{ pw.alice2 }}", admin_password: "{{ pw.bob }}"}
      register: u_bad_admin
      ignore_errors: true
    - name: alice reads experiment A
      mlops.mlflow.mlflow_permission: {username: alice, experiment: "{{ exp_a }}", permission: READ}
      diff: true
      register: p_grant
    - {name: alice reads A again, mlops.mlflow.mlflow_permission: {username: alice, experiment: "{{ exp_a }}", permission: READ}, register: p_again}
    - name: alice edits A, in check mode
      mlops.mlflow.mlflow_permission: {username: alice, experiment: "{{ exp_a }}", permission: EDIT}
      check_mode: true
      diff: true
      register: p_check
    - {name: bob reads A, mlops.mlflow.mlflow_permission: {username: bob, experiment: "{{ exp_a }}", permission: READ}}
    - name: bob edits the registered model
      mlops.mlflow.mlflow_permission: {username: bob, registered_model: "{{ model }}", permission: EDIT}
      register: p_model
    - name: an experiment that does not exist
      mlops.mlflow.mlflow_permission: {username: alice, experiment: no-such-experiment, permission: READ}
      register: p_missing
      ignore_errors: true
    - name: an experiment that does not exist, skipped
      mlops.mlflow.mlflow_permission: {username: alice, experiment: no-such-experiment, permission: READ, on_missing_resource: skip}
      register: p_skip
""" + RECORD % ["u_create", "u_again", "u_check", "u_password", "u_password_again", "u_on_create",
                "u_admin_new", "u_admin_off", "u_nopass",
                "u_self_delete", "u_bad_admin", "p_grant", "p_again", "p_check", "p_model", "p_missing",
                "p_skip"]

# EDIT for alice, bob's grant revoked, two users (dave, frank) made by hand
# for the sync to find.
PLAY_2 = """
- hosts: localhost
  connection: local
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - {name: alice edits A, mlops.mlflow.mlflow_permission: {username: alice, experiment: "{{ exp_a }}", permission: EDIT}, register: p_edit, diff: true}
    - {name: alice edits A again, mlops.mlflow.mlflow_permission: {username: alice, experiment: "{{ exp_a }}", permission: EDIT}, register: p_edit_again}
    - name: bob no longer reads A
      mlops.mlflow.mlflow_permission: {username: bob, experiment: "{{ exp_a }}", state: absent}
      diff: true
      register: p_revoke
    - {name: bob's grant revoked again, mlops.mlflow.mlflow_permission: {username: bob, experiment: "{{ exp_a }}", state: absent}, register: p_revoke_again}
    - {name: dave, mlops.mlflow.mlflow_user: {username: dave, password: "{{ pw.dave }}"}}
    - {name: dave edits B, mlops.mlflow.mlflow_permission: {username: dave, experiment: "{{ exp_b }}", permission: EDIT}}
    - {name: frank, mlops.mlflow.mlflow_user: {username: frank, password: "{{ pw.frank }}"}}
""" + RECORD % ["p_edit", "p_edit_again", "p_revoke", "p_revoke_again"]

SYNC = """
        users:
          - {username: dave, password: "{{ pw.dave }}"}
          - {username: erin, password: "{{ pw.erin }}"}
        grants:
          - {user: dave, experiment: "{{ exp_a }}", permission: READ}
          - {user: erin, registered_model: "{{ model }}", permission: EDIT}
          - {user: erin, experiment: "{{ exp_b }}", permission: READ}
"""

# alice deleted; the lists applied authoritatively (check mode first, then
# for real, again, and check mode again); the admin's password rotated.
PLAY_3 = """
- hosts: localhost
  connection: local
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: alice deleted, in check mode
      mlops.mlflow.mlflow_user: {username: alice, state: absent}
      check_mode: true
      register: u_delete_check
    - {name: alice deleted, mlops.mlflow.mlflow_user: {username: alice, state: absent}, register: u_delete, diff: true}
    - {name: alice deleted again, mlops.mlflow.mlflow_user: {username: alice, state: absent}, register: u_delete_again}
    - name: the lists, in check mode
      mlops.mlflow.mlflow_auth_sync:""" + SYNC + """
      check_mode: true
      diff: true
      register: s_check
    - name: the lists
      mlops.mlflow.mlflow_auth_sync:""" + SYNC + """
      diff: true
      register: s_first
    - name: the lists again
      mlops.mlflow.mlflow_auth_sync:""" + SYNC + """
      register: s_again
    - name: the lists again, in check mode
      mlops.mlflow.mlflow_auth_sync:""" + SYNC + """
      check_mode: true
      register: s_again_check
    - name: dave reads team-c, an experiment made for the grant
      mlops.mlflow.mlflow_permission: {username: dave, experiment: team-c, permission: READ, on_missing_resource: create}
      register: p_create
    - name: the lists, pruning only on the resources they name
      mlops.mlflow.mlflow_auth_sync:""" + SYNC + """        prune_grants: listed_resources
      register: s_listed
    - name: the lists, pruning every grant they do not name
      mlops.mlflow.mlflow_auth_sync:""" + SYNC + """
      register: s_all
    - name: a grant for a user the list would delete
      mlops.mlflow.mlflow_auth_sync:
        users: [{username: dave}]
        grants: [{user: frank, experiment: "{{ exp_a }}", permission: READ}]
      register: s_refused
      ignore_errors: true
    - name: the admin's password rotated
      mlops.mlflow.mlflow_user: {username: admin, password: "{{ admin_new_password }}"}
      register: u_rotate
    - name: the same task again, still with the old admin password
      mlops.mlflow.mlflow_user: {username: admin, password: "{{ admin_new_password }}"}
      register: u_rotate_again
""" + RECORD % ["u_delete_check", "u_delete", "u_delete_again", "s_check", "s_first", "s_again", "s_again_check", "p_create", "s_listed", "s_all",
                "s_refused",
                "u_rotate", "u_rotate_again"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextmanager
def _logged_in(username: str, password: str):
    """MLflow's client reads its credentials from the environment at each request."""
    saved = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ.update(MLFLOW_TRACKING_USERNAME=username, MLFLOW_TRACKING_PASSWORD=password)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _status(url: str, username: str, password: str, action) -> int:
    """200 when `action(client)` works as this user, else MLflow's HTTP status."""
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.tracking import MlflowClient

    with _logged_in(username, password):
        try:
            action(MlflowClient(tracking_uri=url))
            return 200
        except RestException as exc:
            return exc.get_http_status_code()
        except MlflowException as exc:  # a 401 has no JSON body: the status is in the message
            found = re.search(r"error code (\d{3})", str(exc))
            if found:
                return int(found.group(1))
            raise


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """(url, work directory, {experiment A, B, model}) of a running MLflow
    with basic auth; stopped at the end of the file."""
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs Flask-WTF (mlflow[auth]) in the dev venv")
    work = tmp_path_factory.mktemp("mlflow-auth")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config = work / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{work}/auth.db\n"
        "admin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Each request's password check is a scrypt hash, about a second on a busy
        # 2-core machine; cached, a known good login costs nothing. One worker, so
        # the API's password and user changes reach the cache at once.
        "auth_cache_ttl_seconds = 600\n"
    )
    config.chmod(0o600)
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("MLFLOW_TRACKING_"):
            env.pop(key)
    env.update(
        MLFLOW_AUTH_CONFIG_PATH=str(config),
        MLFLOW_FLASK_SERVER_SECRET_KEY="test-secret-key-of-this-file",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    saved_env = dict(os.environ)
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [str(VENV_BIN / "mlflow"), "server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
         "--artifacts-destination", str(work / "artifacts")],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Imported while the server starts (a few seconds of its own).
        from mlflow.tracking import MlflowClient

        deadline = time.monotonic() + 150
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("MLflow did not start:\n" + (work / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        # No retries with back-off: a 401 or 403 is the answer, a dead server a failure now.
        os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="20")
        with _logged_in("admin", ADMIN_PASSWORD):
            admin = MlflowClient(tracking_uri=url)
            names = {"exp_a": "team-a", "exp_b": "team-b", "model": "churn-model"}
            names["exp_a_id"] = admin.create_experiment(names["exp_a"])
            names["exp_b_id"] = admin.create_experiment(names["exp_b"])
            admin.create_registered_model(names["model"])
        yield url, work, names
    finally:
        for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            if saved_env.get(key) is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = saved_env[key]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                # A throw-away server: no need to wait long for a clean stop.
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def _play(server, name: str, text: str) -> tuple[dict, str]:
    url, work, names = server
    playbook = work / f"{name}.yml"
    playbook.write_text(text)
    extra = work / f"{name}-vars.json"
    extra.write_text(json.dumps({
        "url": url, "pw": PASSWORDS, "admin_password": ADMIN_PASSWORD,
        "admin_new_password": ADMIN_NEW_PASSWORD, **names}))
    extra.chmod(0o600)
    env = _env(work)
    # Every result and diff in full, as JSON: what the secrets test reads, and where the recorded results are.
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    proc = _ansible_playbook(["--diff", "-i", "localhost,", "-e", f"@{extra}", "-e",
                              f"ansible_python_interpreter={sys.executable}", str(playbook)], ROOT, env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    record = next(t for t in tasks if t["task"]["name"] == "Record the results")
    return record["hosts"]["localhost"]["msg"], output


@pytest.fixture(scope="module")
def scenario(server) -> dict:
    """Runs the three playbooks and the client's checks between them;
    returns every result by name."""
    url, _work, names = server
    a, b = names["exp_a_id"], names["exp_b_id"]
    results: dict = {"outputs": []}

    def read(experiment_id):
        return lambda client: client.get_experiment(experiment_id)

    def log_to(experiment_id):
        return lambda client: client.create_run(experiment_id)

    def read_model(client):
        client.get_registered_model(names["model"])

    first, output = _play(server, "play1", PLAY_1)
    results.update(first)
    results["outputs"].append(output)
    results["c1"] = {
        "alice_reads_a": _status(url, "alice", PASSWORDS["alice2"], read(a)),
        "alice_logs_to_a": _status(url, "alice", PASSWORDS["alice2"], log_to(a)),
        "alice_reads_b": _status(url, "alice", PASSWORDS["alice2"], read(b)),
        "alice_old_password": _status(url, "alice", PASSWORDS["alice"], read(a)),
        "bob_reads_a": _status(url, "bob", PASSWORDS["bob"], read(a)),
    }
    second, output = _play(server, "play2", PLAY_2)
    results.update(second)
    results["outputs"].append(output)
    results["c2"] = {
        "alice_logs_to_a": _status(url, "alice", PASSWORDS["alice2"], log_to(a)),
        "bob_reads_a": _status(url, "bob", PASSWORDS["bob"], read(a)),
        "dave_logs_to_b": _status(url, "dave", PASSWORDS["dave"], log_to(b)),
    }
    third, output = _play(server, "play3", PLAY_3)
    results.update(third)
    results["outputs"].append(output)
    results["c3"] = {
        "alice_deleted": _status(url, "alice", PASSWORDS["alice2"], read(a)),
        "bob_pruned": _status(url, "bob", PASSWORDS["bob"], read(a)),
        "frank_pruned": _status(url, "frank", PASSWORDS["frank"], read(a)),
        "dave_reads_a": _status(url, "dave", PASSWORDS["dave"], read(a)),
        "dave_logs_to_a": _status(url, "dave", PASSWORDS["dave"], log_to(a)),
        "dave_reads_b": _status(url, "dave", PASSWORDS["dave"], read(b)),
        "dave_reads_c": _status(url, "dave", PASSWORDS["dave"], read(results["p_create"]["grant"]["resource_id"])),
        "erin_reads_model": _status(url, "erin", PASSWORDS["erin"], read_model),
        "erin_reads_b": _status(url, "erin", PASSWORDS["erin"], read(b)),
        "admin_new_password": _status(url, "admin", ADMIN_NEW_PASSWORD, read(b)),
        "admin_old_password": _status(url, "admin", ADMIN_PASSWORD, read(b)),
    }
    return results


def test_user_created_once_then_unchanged(scenario: dict) -> None:
    assert scenario["u_create"]["changed"] is True
    assert scenario["u_create"]["actions"] == ["created"]
    assert scenario["u_create"]["diff"] == {"before": {}, "after": {"username": "alice", "admin": False}}
    assert scenario["u_again"]["changed"] is False
    assert scenario["u_again"]["actions"] == []


def test_user_password_check_mode_change_and_rerun(scenario: dict) -> None:
    assert scenario["u_check"]["changed"] is True and scenario["u_check"]["password_changed"] is True
    assert scenario["u_password"]["changed"] is True and scenario["u_password"]["actions"] == ["password updated"]
    assert scenario["u_password_again"]["changed"] is False
    assert scenario["u_on_create"]["changed"] is False
    # The new password works, the old one no longer (nor the one on_create did not set).
    assert scenario["c1"]["alice_reads_a"] == 200
    assert scenario["c1"]["alice_old_password"] == 401


def test_user_admin_flag(scenario: dict) -> None:
    assert scenario["u_admin_new"]["actions"] == ["created", "admin flag set"]
    assert scenario["u_admin_new"]["user"] == {"username": "bob", "admin": True}
    off = scenario["u_admin_off"]
    assert off["changed"] is True and off["actions"] == ["admin flag removed"]
    assert off["diff"]["before"]["admin"] is True and off["diff"]["after"]["admin"] is False
    # No longer an admin: bob reads A through his grant only (and loses it in play 2).
    assert scenario["c1"]["bob_reads_a"] == 200
    assert scenario["c2"]["bob_reads_a"] == 403


def test_user_deleted_in_check_mode_then_for_real(scenario: dict) -> None:
    assert scenario["u_delete_check"]["changed"] is True
    assert scenario["u_delete"]["changed"] is True and scenario["u_delete"]["diff"]["after"] == {}
    assert scenario["u_delete_again"]["changed"] is False
    assert scenario["c3"]["alice_deleted"] == 401


def test_user_refusals(scenario: dict) -> None:
    assert scenario["u_nopass"]["failed"] is True
    assert "needs a password" in scenario["u_nopass"]["msg"]
    assert scenario["u_self_delete"]["failed"] is True
    assert "cannot delete itself" in scenario["u_self_delete"]["msg"]
    assert scenario["u_bad_admin"]["failed"] is True
    assert "refused the credentials of admin_username admin" in scenario["u_bad_admin"]["msg"]


def test_grant_read_reads_but_cannot_log(scenario: dict) -> None:
    grant = scenario["p_grant"]
    assert grant["changed"] is True and grant["action"] == "granted"
    assert grant["grant"]["permission"] == "READ" and grant["grant"]["resource"] == "team-a"
    assert "permission" not in grant["diff"]["before"] and grant["diff"]["after"]["permission"] == "READ"
    assert scenario["p_again"]["changed"] is False
    assert scenario["c1"]["alice_logs_to_a"] == 403
    assert scenario["c1"]["alice_reads_b"] == 403  # no grant, default_permission NO_PERMISSIONS


def test_grant_check_mode_changes_nothing(scenario: dict) -> None:
    check = scenario["p_check"]
    assert check["changed"] is True and check["action"] == "changed"
    assert check["diff"]["before"]["permission"] == "READ" and check["diff"]["after"]["permission"] == "EDIT"
    assert scenario["c1"]["alice_logs_to_a"] == 403  # still READ after the check-mode run


def test_grant_edit_logs_then_revoked(scenario: dict) -> None:
    assert scenario["p_edit"]["changed"] is True and scenario["p_edit"]["action"] == "changed"
    assert scenario["p_edit_again"]["changed"] is False
    assert scenario["c2"]["alice_logs_to_a"] == 200
    revoke = scenario["p_revoke"]
    assert revoke["changed"] is True and revoke["action"] == "revoked"
    assert revoke["diff"]["before"]["permission"] == "READ" and "permission" not in revoke["diff"]["after"]
    assert scenario["p_revoke_again"]["changed"] is False


def test_grant_on_a_registered_model_and_refusals(scenario: dict) -> None:
    assert scenario["p_model"]["grant"]["resource_id"] == "churn-model"
    assert scenario["p_missing"]["failed"] is True
    assert "experiment no-such-experiment does not exist" in scenario["p_missing"]["msg"]
    assert scenario["p_skip"]["changed"] is False and scenario["p_skip"]["action"] == "skipped"


def test_sync_check_mode_then_authoritative(scenario: dict) -> None:
    check, first = scenario["s_check"], scenario["s_first"]
    assert check["changed"] is True
    assert check["users"] == first["users"] and check["grants"] == first["grants"]
    users = first["users"]
    assert sorted(users["deleted"]) == ["bob", "frank"]
    assert users["created"] == ["erin"]
    assert users["present"] == {"admin": True, "dave": False, "erin": False}
    revoked = [(g["user"], g["resource"], g["permission"]) for g in first["grants"]["revoked"]]
    assert revoked == [("dave", "team-b", "EDIT")]
    granted = sorted((g["user"], g["resource"], g["permission"]) for g in first["grants"]["granted"])
    assert granted == [("dave", "team-a", "READ"), ("erin", "churn-model", "EDIT"), ("erin", "team-b", "READ")]
    # The admin's own grants (MANAGE on what it created) are never pruned.
    assert "admin experiment team-a: MANAGE" in first["diff"]["after"]["grants"]
    assert "dave experiment team-b: EDIT" in first["diff"]["before"]["grants"]
    assert "dave experiment team-b: EDIT" not in first["diff"]["after"]["grants"]


def test_sync_second_run_and_check_mode_change_nothing(scenario: dict) -> None:
    assert scenario["s_again"]["changed"] is False
    assert scenario["s_again_check"]["changed"] is False
    assert scenario["s_refused"]["failed"] is True
    assert "frank is not in users" in scenario["s_refused"]["msg"]


def test_sync_what_users_can_do_afterwards(scenario: dict) -> None:
    c3 = scenario["c3"]
    assert c3["bob_pruned"] == 401 and c3["frank_pruned"] == 401
    assert c3["dave_reads_a"] == 200 and c3["dave_logs_to_a"] == 403
    assert c3["dave_reads_b"] == 403  # the grant no list names is gone
    assert c3["erin_reads_model"] == 200 and c3["erin_reads_b"] == 200
    assert scenario["c2"]["dave_logs_to_b"] == 200  # ...which had worked


def test_sync_prune_grants_scopes(scenario: dict) -> None:
    created = scenario["p_create"]
    assert created["changed"] is True and created["grant"]["resource"] == "team-c"
    # team-c is named by no grant: listed_resources leaves dave's grant there, all revokes it.
    assert scenario["s_listed"]["changed"] is False
    assert [(g["user"], g["resource"]) for g in scenario["s_all"]["grants"]["revoked"]] == [("dave", "team-c")]
    assert scenario["c3"]["dave_reads_c"] == 403


def test_admin_password_rotation(scenario: dict) -> None:
    assert scenario["u_rotate"]["changed"] is True and scenario["u_rotate"]["password_changed"] is True
    again = scenario["u_rotate_again"]
    assert again["changed"] is False and again["admin_password_rotated"] is True
    assert scenario["c3"]["admin_new_password"] == 200
    assert scenario["c3"]["admin_old_password"] == 401


def test_no_password_in_any_output(scenario: dict) -> None:
    for output in scenario["outputs"]:
        for secret in SECRETS:
            assert secret not in output
        # Nor a password hash (MLflow's own errors can carry one).
        assert "scrypt:" not in output and "pbkdf2:" not in output


def _argument_spec(module_name: str) -> dict:
    """The argument spec a module builds in main(), caught at AnsibleModule()."""
    import importlib

    sys.path.insert(0, str(ROOT / ".collections"))
    try:
        module = importlib.import_module(f"ansible_collections.mlops.mlflow.plugins.modules.{module_name}")
    finally:
        sys.path.remove(str(ROOT / ".collections"))

    class Caught(Exception):
        pass

    def catch(**kwargs):
        raise Caught(kwargs)

    saved, module.AnsibleModule = module.AnsibleModule, catch
    try:
        module.main()
    except Caught as caught:
        return caught.args[0]["argument_spec"]
    finally:
        module.AnsibleModule = saved
    raise AssertionError(f"{module_name}.main() built no AnsibleModule")


def _compare(doc: dict, spec: dict, where: str) -> list[str]:
    problems = []
    if set(doc) != set(spec):
        problems.append(f"{where}: documented {sorted(set(doc) - set(spec))}, not documented {sorted(set(spec) - set(doc))}")
    for name in set(doc) & set(spec):
        documented, real = doc[name], spec[name]
        for key, fallback in (("type", "str"), ("default", None), ("choices", None), ("required", False),
                              ("aliases", None), ("elements", None)):
            if documented.get(key, fallback) != real.get(key, fallback):
                problems.append(f"{where}.{name}: {key} {documented.get(key, fallback)!r} in the docs, "
                                f"{real.get(key, fallback)!r} in the spec")
        if "suboptions" in documented or "options" in real:
            problems += _compare(documented.get("suboptions", {}), real.get("options", {}), f"{where}.{name}")
    return problems


@pytest.mark.parametrize("module_name", ["mlflow_user", "mlflow_permission", "mlflow_auth_sync"])
def test_docs_match_the_argument_spec(module_name: str) -> None:
    """What ansible-doc shows is what the module takes (ansible-test's
    validate-modules does the same, but needs a download to run here)."""
    import yaml

    # ansible-doc's own view: the module's options with the shared fragment
    # (plugins/doc_fragments/mlflow_auth.py) merged in.
    shown = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), "--json", "-t", "module", f"mlops.mlflow.{module_name}"],
        capture_output=True, text=True, check=True, env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections")},
    )
    page = json.loads(shown.stdout)[f"mlops.mlflow.{module_name}"]
    doc = page["doc"]
    assert doc["module"] == module_name and doc["short_description"] and doc["description"]
    assert _compare(doc["options"], _argument_spec(module_name), module_name) == []
    assert yaml.safe_load(page["examples"]) and page["return"]
