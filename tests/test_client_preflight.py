"""Bad input to mlops.mlflow.client (and to the service role's failure hook)
fails in preflight, naming the variable, and shows no secret."""
import pytest

DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "service_mgr": "systemd",
}
URI = {"client_tracking_uri": "https://mlflow.example.com"}
SECRET = "pw-secret-c41e"
HOOK_SECRET = "hook-secret-93ab"
HOOK = f"https://hooks.example.com/services/{HOOK_SECRET}"
JOB = {"name": "train", "command": ["/usr/bin/python3", "/srv/train.py"], "mlflow_user": "alice"}
# What runs first after the role's preflight (the python role's preflight does not change anything).
PAST = "Install Python 3 with venv and pip"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        # No server in the inventory and no URI.
        ({}, ["client_tracking_uri must be the http:// or https:// URL", "set client_tracking_uri"]),
        ({"client_tracking_uri": "ftp://mlflow.example.com"}, ["got 'ftp://mlflow.example.com'"]),
        ({"client_tracking_uri": "https://bob:" + SECRET + "@mlflow.example.com"},
         ["without credentials", "https://****@mlflow.example.com"]),
        (dict(URI, client_mlflow_version="3.99.0"),
         ["client_mlflow_version must be a release X.Y.Z with a lock", "mlflow-3.99.0.txt' (not a file)"]),
        (dict(URI, client_mlflow_version="latest"), ["got client_mlflow_version='latest'"]),
        (dict(URI, client_server_cert="/nonexistent/server.crt"),
         ["client_server_cert must be the path on the controller", "'/nonexistent/server.crt', not a file"]),
        (dict(URI, client_users=[{"os_user": "Alice Smith", "mlflow_user": "alice"}], client_passwords={"alice": SECRET}),
         ["os_user='Alice Smith'"]),
        (dict(URI, client_users=[{"os_user": "ana", "mlflow_user": "alice"}, {"os_user": "ana", "mlflow_user": "bob"}],
              client_passwords={"alice": SECRET, "bob": SECRET}),
         ["client_users names os_user ana more than once"]),
        (dict(URI, client_users=[{"mlflow_user": "alice"}]), ["os_user"]),
        (dict(URI, client_users=[{"os_user": "ana", "mlflow_user": "alice", "state": "gone"}]), ["state", "gone"]),
        # No password anywhere: not in client_passwords, no server, no generated file.
        (dict(URI, client_users=[{"os_user": "root", "mlflow_user": "alice"}]),
         ["No password for the MLflow user(s) alice", "run site.yml"]),
        (dict(URI, client_users=[{"os_user": "root", "mlflow_user": "alice"}], client_passwords={"alice": SECRET + "\n"}),
         ["The password of the MLflow user(s) alice has a line break"]),
        (dict(URI, client_users=[{"os_user": "nosuchuser-7d1", "mlflow_user": "alice"}],
              client_passwords={"alice": SECRET}),
         ["OS users that do not exist", "nosuchuser-7d1", "client_create_users=true"]),
        (dict(URI, client_jobs=[dict(JOB, env={"MLFLOW_TRACKING_INSECURE_TLS": "true"}, failure_webhook_url=HOOK)],
              client_passwords={"alice": SECRET}),
         ["client_jobs['train']", "MLFLOW_TRACKING_INSECURE_TLS"]),
        (dict(URI, client_jobs=[dict(JOB, command=["python3", "train.py"])], client_passwords={"alice": SECRET}),
         ["absolute path", '["python3", "train.py"]']),
        (dict(URI, client_jobs=[dict(JOB, failure_webhook_url="hooks.example.com/" + HOOK_SECRET)],
              client_passwords={"alice": SECRET}),
         ["failure_webhook_url empty or an http(s):// URL", "(got 'hooks.example.com/****')"]),
        (dict(URI, client_jobs=[{"name": "train", "mlflow_user": "alice"}]), ["command"]),
    ],
)
def test_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("client", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=[PAST, SECRET, HOOK_SECRET])


def test_good_input_passes_preflight(run_role):
    variables = dict(URI, client_users=[{"os_user": "root", "mlflow_user": "alice"}],
                     client_passwords={"alice": SECRET + "%"},
                     client_jobs=[dict(JOB, failure_webhook_url=HOOK, env={"TOKEN": SECRET})])
    result = run_role("client", variables, facts=DEBIAN_FACTS)
    # The preflight only (run_role): it passed.
    assert result.rc == 0, result.output
    assert SECRET not in result.output and HOOK_SECRET not in result.output


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"service_failure_webhook_url": "ftp://hooks.example.com/" + HOOK_SECRET},
         ["service_failure_webhook_url must be empty or an http(s):// URL", "'ftp://hooks.example.com/****'"]),
        ({"service_failure_webhook_url": HOOK, "service_manager": "tmux"},
         ["needs service_manager=systemd", "'https://hooks.example.com/****'"]),
        ({"service_failure_webhook_url": HOOK, "service_failure_log_lines": 0}, ["service_failure_log_lines=0"]),
    ],
)
def test_service_failure_hook_bad_input(run_role, refused, variables, expected):
    base = {"service_name": "train", "service_command": ["/usr/bin/true"]}
    result = run_role("service", dict(base, **variables), facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Create the group train", HOOK_SECRET])
