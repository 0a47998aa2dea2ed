"""Bad input to mlops.mlflow.aws_infra fails in preflight, naming the variable
and the value, before any AWS call: aws_endpoint_url points at a closed port
on 127.0.0.1 and the credentials are fake, so a call that slipped through
would fail differently (and could not reach a real account)."""
import os
import socket
import threading

import pytest
from conftest import run_batch


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# Fake credentials only, no config file, no instance metadata.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _aws_env() -> dict:
    """The environment above, every other AWS_ variable removed."""
    return {**{key: None for key in os.environ if key.startswith("AWS_")}, **AWS_ENV}


def _good(tmp_path) -> dict:
    key = tmp_path / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWcUaZ2Zjt0T+4WQpQe7aG7mZ1M0Xr+uO6cXl8m1bYt test\n")
    return {
        "aws_region": "eu-west-1",
        "aws_endpoint_url": _closed_port_url(),
        "aws_admin_ranges": ["203.0.113.7/32"],
        "mlflow_deployment_name": "mlflow-test",
        "aws_infra_ssh_public_key_file": str(key),
        "aws_infra_credentials_dir": str(tmp_path / "credentials"),
    }


# Names of the first tasks that call AWS (network.yml and absent.yml).
AWS_TASKS = ("Find the default VPC", "Find the deployment's instances", "Security group of the MLflow server")


@pytest.fixture
def good(tmp_path, monkeypatch):
    for key, value in _aws_env().items():
        if value is None:
            monkeypatch.delenv(key)
        else:
            monkeypatch.setenv(key, value)
    return _good(tmp_path)


BAD = [
        ({"aws_region": ""}, ["aws_region must be set to an AWS region", "got ''"]),
        ({"aws_region": "Europe"}, ["aws_region must be set to an AWS region", "got 'Europe'"]),
        ({"aws_admin_ranges": []}, ["aws_admin_ranges must list the networks allowed to reach SSH", "got []"]),
        ({"aws_admin_ranges": ["203.0.113.300/32"]}, ["aws_admin_ranges must hold networks in CIDR notation", "got '203.0.113.300/32'"]),
        ({"aws_admin_ranges": ["203.0.113.7"]}, ["aws_admin_ranges must hold networks in CIDR notation", "got '203.0.113.7'"]),
        ({"aws_ingress_ranges": ["10.0.0.0/33"]}, ["aws_ingress_ranges must hold networks in CIDR notation", "got '10.0.0.0/33'"]),
        ({"aws_admin_ranges": ["0.0.0.0/0"]}, ["aws_admin_ranges must not open SSH to everyone", '["0.0.0.0/0"]']),
        ({"aws_admin_ranges": ["203.0.113.7/32", "0.0.0.0/1"]}, ["aws_admin_ranges must not open SSH to everyone", "got '0.0.0.0/1'"]),
        ({"aws_admin_ranges": ["0::/0"]}, ["aws_admin_ranges must not open SSH to everyone", "got '0::/0'"]),
        ({"aws_admin_ranges": ["1:2:3/64"]}, ["aws_admin_ranges must hold networks in CIDR notation", "got '1:2:3/64'"]),
        ({"aws_admin_ranges": ["2001:db8::1::/64"]}, ["aws_admin_ranges must hold networks in CIDR notation"]),
        ({"aws_infra_bucket": "My_Bucket"}, ["aws_infra_bucket must be a name S3 accepts", "got 'My_Bucket'"]),
        ({"aws_infra_bucket": "ab"}, ["aws_infra_bucket must be a name S3 accepts", "got 'ab'"]),
        ({"aws_infra_bucket": "192.168.5.4"}, ["aws_infra_bucket must be a name S3 accepts", "got '192.168.5.4'"]),
        ({"aws_infra_bucket": "my..bucket"}, ["aws_infra_bucket must be a name S3 accepts", "got 'my..bucket'"]),
        ({"aws_infra_bucket": "xn--bucket"}, ["aws_infra_bucket must be a name S3 accepts", "got 'xn--bucket'"]),
        ({"aws_infra_bucket": "a" * 64}, ["aws_infra_bucket must be a name S3 accepts"]),
        ({"aws_endpoint_url": "127.0.0.1:1"}, ["aws_endpoint_url must be empty", "got '127.0.0.1:1'"]),
        ({"aws_ami_id": "debian"}, ["aws_ami_id must be empty", "got 'debian'"]),
        ({"mlflow_deployment_name": "MLflow_Prod"}, ["aws_infra_deployment_name (from mlflow_deployment_name)", "got 'MLflow_Prod'"]),
        ({"aws_infra_bucket_prefix": "/mlflow/"}, ["aws_infra_bucket_prefix must be a key prefix", "got '/mlflow/'"]),
        ({"aws_infra_ssh_public_key_file": "/nonexistent/key.pub"}, ["aws_infra_ssh_public_key_file must be an OpenSSH public key", "/nonexistent/key.pub"]),
        ({"aws_infra_db_user": "admin"}, ["aws_infra_db_user a letter", "aws_infra_db_user='admin'"]),
        ({"aws_infra_db_password": "has/slash@and\"quote"}, ["aws_infra_db_password must be empty (generated) or 8-41"]),
        ({"aws_infra_db_admin_password": "has/slash@and\"quote"}, ["aws_infra_db_admin_password must be empty (generated) or 8-41"]),
        ({"aws_infra_database": "rds", "aws_infra_rds_allocated_storage": 5}, ["aws_infra_rds_allocated_storage be 20 (GiB) or more"]),
        # MLflow never logs in as the RDS master user.
        ({"aws_infra_database": "rds", "aws_infra_db_admin_user": "mlflow"},
         ["aws_infra_db_admin_user (the RDS master user)", "not aws_infra_db_user", "aws_infra_db_admin_user='mlflow'"]),
        ({"aws_infra_database": "rds", "aws_infra_db_admin_user": "rdsadmin"},
         ["aws_infra_db_admin_user (the RDS master user)", "aws_infra_db_admin_user='rdsadmin'"]),
        ({"aws_infra_database": "rds", "aws_infra_db_admin_user": "a-b"}, ["aws_infra_db_admin_user (the RDS master user)", "'a-b'"]),
        ({"aws_infra_database": "oracle"}, ["aws_infra_database", "oracle"]),
        ({"aws_infra_state": "absent"}, ["Confirm with -e aws_infra_teardown_confirm=mlflow-test", "got aws_infra_teardown_confirm=''"]),
]


@pytest.fixture(scope="module")
def bad_results(tmp_path_factory):
    """Every case of BAD in one run of the role (conftest.run_batch)."""
    tmp = tmp_path_factory.mktemp("aws-preflight")
    good = _good(tmp)
    cases = {str(i): (dict(good, **change), None) for i, (change, _) in enumerate(BAD)}
    return run_batch("aws_infra", cases, tmp / "batch", env=_aws_env())


@pytest.mark.parametrize("case", range(len(BAD)), ids=[f"{next(iter(c))}={next(iter(c.values()))!r}"[:60] for c, _ in BAD])
def test_aws_infra_bad_input_fails_in_preflight(bad_results, case):
    expected = BAD[case][1]
    result = bad_results[str(case)]
    assert result.rc != 0, result.output
    for text in expected:
        assert text in result.output, result.output
    for task in AWS_TASKS:
        assert task not in result.output, result.output
    assert "has/slash@and" not in result.output


_AUTH_FAILURE_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>AuthFailure</Code>'
    b"<Message>refused by the test listener</Message></Error></Errors><RequestID>0</RequestID></Response>"
)
_AUTH_FAILURE = (
    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n" % len(_AUTH_FAILURE_BODY)
) + _AUTH_FAILURE_BODY


def test_aws_infra_good_input_passes_preflight_and_calls_only_the_endpoint(run_role, good):
    """The same settings pass preflight; the first AWS call then goes to
    aws_endpoint_url (a listener on 127.0.0.1 that refuses every request) and fails."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.2)
        seen = []

        def accept():
            while not done.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                seen.append(conn.recv(4096))
                # An EC2 error that no client retries: the role fails at once
                # (a connection closed without an answer is retried for minutes).
                conn.sendall(_AUTH_FAILURE)
                conn.close()

        done = threading.Event()
        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            result = run_role("aws_infra", dict(good, aws_endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}"),
                              whole=True)
        finally:
            done.set()
            thread.join(timeout=5)
    assert result.rc != 0
    assert "Find the default VPC" in result.output, result.output
    assert seen, "no AWS call reached aws_endpoint_url"
    assert any(r.startswith(b"POST / HTTP/1.1") for r in seen), seen
