"""Bad input to mlops.mlflow.gcp_infra fails in preflight, before any API
call, with a message that names the variable and the value given.

Runs the role on a local host in check mode (the run_role fixture) with the
network guard of tests/gcp_double/sitecustomize.py on PYTHONPATH: any
attempt to resolve or reach a non-loopback address is refused and written
to a log, and each test asserts that the log stayed empty."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_batch

GUARD = Path(__file__).resolve().parent / "gcp_double"

GOOD = {
    "gcp_project": "mlops-test-project",
    "gcp_zone": "europe-west1-b",
    "gcp_ingress_ranges": ["0.0.0.0/0"],
    "gcp_admin_ranges": ["203.0.113.7/32"],
    "mlflow_deployment_name": "mlflow-test",
    "gcp_infra_auth_kind": "accesstoken",
}


PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture
def guarded(monkeypatch, tmp_path):
    blocked = tmp_path / "blocked.log"
    monkeypatch.setenv("PYTHONPATH", str(GUARD))
    monkeypatch.setenv("GCP_DOUBLE_BLOCKED_LOG", str(blocked))
    monkeypatch.delenv("GCP_DOUBLE_PORT", raising=False)
    for var in PROXIES:
        monkeypatch.delenv(var, raising=False)
    return blocked


CASES = [
    ({"gcp_project": "My_Project"}, ["gcp_project", "My_Project"]),
    ({"gcp_project": ""}, ["gcp_project", "got ''"]),
    ({"gcp_zone": "europe-west1"}, ["gcp_zone", "europe-west1", "europe-west1-b"]),
    ({"gcp_zone": ""}, ["gcp_zone"]),
    ({"gcp_ingress_ranges": ["10.0.0.0/33"]}, ["gcp_ingress_ranges", "10.0.0.0/33"]),
    ({"gcp_ingress_ranges": ["300.1.2.0/24"]}, ["gcp_ingress_ranges", "300.1.2.0/24"]),
    ({"gcp_ingress_ranges": ["mlflow.example.com"]}, ["gcp_ingress_ranges", "mlflow.example.com"]),
    ({"gcp_ingress_ranges": []}, ["gcp_ingress_ranges"]),
    ({"gcp_admin_ranges": ["0.0.0.0/0"]}, ["gcp_admin_ranges", "0.0.0.0/0", "internet"]),
    ({"gcp_admin_ranges": ["198.51.100.0/24", "1.2.3.4"]}, ["gcp_admin_ranges", "1.2.3.4"]),
    ({"gcp_admin_ranges": []}, ["gcp_admin_ranges", "gcp_infra_ssh_from_iap"]),
    ({"mlflow_deployment_name": "MLflow_Prod"}, ["gcp_infra_deployment_name", "MLflow_Prod"]),
    ({"gcp_infra_auth_kind": "password"}, ["gcp_infra_auth_kind", "password"]),
    ({"gcp_infra_auth_kind": "serviceaccount", "gcp_infra_service_account_file": ""},
     ["gcp_infra_auth_kind", "gcp_infra_service_account_file"]),
    ({"gcp_infra_bucket": "my-google-bucket"}, ["gcp_infra_bucket", "my-google-bucket"]),
    ({"gcp_infra_bucket": "Bad.Bucket"}, ["gcp_infra_bucket", "Bad.Bucket"]),
    ({"gcp_infra_ssh_public_key": "not a key"}, ["gcp_infra_ssh_public_key", "not a key"]),
    ({"gcp_infra_labels": {"Team": "ml"}}, ["gcp_infra_labels", "Team"]),
    ({"gcp_infra_disk_size_gb": 5}, ["gcp_infra_disk_size_gb", "5"]),
    ({"gcp_infra_state": "absent"}, ["gcp_infra_teardown_confirm", "mlflow-test"]),
    ({"gcp_infra_state": "absent", "gcp_infra_teardown_confirm": "yes"}, ["gcp_infra_teardown_confirm", "'yes'"]),
    ({"gcp_infra_state": "gone"}, ["gcp_infra_state", "gone", "present, absent"]),
    ({"gcp_infra_cloudsql": True, "gcp_infra_db_password": "long-enough-password",
      "cloudsql_proxy_checksum": "md5:abc"}, ["cloudsql_proxy_checksum", "'md5:abc'"]),
    # PostgreSQL 16+ would default to ENTERPRISE_PLUS, which refuses custom tiers: the tier must suit the edition.
    ({"gcp_infra_cloudsql_edition": "ENTERPRISE_PLUS", "gcp_infra_cloudsql": True,
      "gcp_infra_db_password": "long-enough-password", "cloudsql_proxy_checksum": "sha256:" + "0" * 64},
     ["gcp_infra_cloudsql_tier", "'db-custom-1-3840'", "ENTERPRISE_PLUS", "db-perf-optimized-N-"]),
    ({"gcp_infra_cloudsql_tier": "db-perf-optimized-N-2", "gcp_infra_cloudsql": True,
      "gcp_infra_db_password": "long-enough-password", "cloudsql_proxy_checksum": "sha256:" + "0" * 64},
     ["gcp_infra_cloudsql_tier", "'db-perf-optimized-N-2'", "'ENTERPRISE'"]),
    ({"gcp_infra_cloudsql_edition": "STANDARD"}, ["gcp_infra_cloudsql_edition", "STANDARD", "ENTERPRISE_PLUS"]),
    # The bucket role was renamed to a list; the default grants no delete.
    ({"gcp_infra_bucket_role": "roles/storage.objectAdmin"},
     ["gcp_infra_bucket_role is now gcp_infra_bucket_roles", "roles/storage.objectAdmin"]),
    ({"gcp_infra_bucket_roles": []}, ["gcp_infra_bucket_roles", "[]"]),
    ({"gcp_infra_bucket_roles": ["storage.objectViewer"]}, ["gcp_infra_bucket_roles", "storage.objectViewer"]),
    ({"gcp_infra_bucket_soft_delete_days": 3}, ["gcp_infra_bucket_soft_delete_days", "7 to 90", "got 3"]),
    ({"gcp_infra_bucket_soft_delete_days": 120}, ["gcp_infra_bucket_soft_delete_days", "got 120"]),
    # The deployment's own network, or an existing one named.
    ({"gcp_infra_network": "My_Net"}, ["gcp_infra_network", "'My_Net'"]),
    ({"gcp_infra_subnetwork": "my-subnet"}, ["gcp_infra_subnetwork", "'my-subnet'", "named gcp_infra_network"]),
    ({"gcp_infra_subnet_cidr": "10.20.0.5/24"}, ["gcp_infra_subnet_cidr", "'10.20.0.5/24'", "first"]),
    ({"gcp_infra_subnet_cidr": "10.20.0.0/30"}, ["gcp_infra_subnet_cidr", "/8 to /29"]),
    ({"gcp_infra_subnet_cidr": "subnet"}, ["gcp_infra_subnet_cidr", "'subnet'"]),
    ({"gcp_infra_private_services_cidr": "10.21.0.0/26"}, ["gcp_infra_private_services_cidr", "/8 to /24"]),
    ({"gcp_infra_cloudsql": True, "gcp_infra_db_password": "long-enough-password",
      "cloudsql_proxy_checksum": "sha256:" + "0" * 64, "gcp_infra_private_services_cidr": "10.20.0.0/16"},
     ["gcp_infra_private_services_cidr (10.20.0.0/16) overlaps gcp_infra_subnet_cidr (10.20.0.0/24)"]),
    # MLflow's user and the admin that creates it are two users.
    ({"gcp_infra_cloudsql": True, "gcp_infra_db_password": "long-enough-password",
      "cloudsql_proxy_checksum": "sha256:" + "0" * 64, "gcp_infra_db_admin_user": "mlflow"},
     ["gcp_infra_db_admin_user", "two different"]),
    ({"gcp_infra_cloudsql": True, "gcp_infra_db_password": "long-enough-password",
      "cloudsql_proxy_checksum": "sha256:" + "0" * 64, "gcp_infra_db_admin_user": "Admin-User"},
     ["gcp_infra_db_admin_user", "'Admin-User'"]),
    ({"gcp_infra_cloudsql_ssl_mode": "REQUIRE"}, ["gcp_infra_cloudsql_ssl_mode", "REQUIRE", "ENCRYPTED_ONLY"]),
    ({"gcp_infra_operation_poll_delay": -1}, ["gcp_infra_operation_poll_delay", "(-1)"]),
    ({"gcp_infra_operation_timeout": 0}, ["gcp_infra_operation_timeout", "(0)"]),
]


SHORT_PASSWORD = "short-pw"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every case of CASES, and a Cloud SQL password that is too short, in one
    run of the role (conftest.run_batch) under the network guard. Returns
    ({case: PlaybookResult}, path of the guard's log)."""
    tmp = tmp_path_factory.mktemp("gcp-preflight")
    blocked = tmp / "blocked.log"
    env = {"PYTHONPATH": str(GUARD), "GCP_DOUBLE_BLOCKED_LOG": str(blocked), "GCP_DOUBLE_PORT": None}
    env.update({var: None for var in PROXIES})
    cases = {str(i): ({**GOOD, **bad}, None) for i, (bad, _) in enumerate(CASES)}
    cases["short-password"] = (
        {**GOOD, "gcp_infra_cloudsql": True, "gcp_infra_db_password": SHORT_PASSWORD}, None)
    cases["short-admin-password"] = (
        {**GOOD, "gcp_infra_cloudsql": True, "gcp_infra_db_password": "long-enough-password",
         "gcp_infra_db_admin_password": SHORT_PASSWORD, "cloudsql_proxy_checksum": "sha256:" + "0" * 64}, None)
    return run_batch("gcp_infra", cases, tmp / "batch", env=env), blocked


@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{next(iter(c[0]))}={next(iter(c[0].values()))!r}" for c in CASES])
def test_bad_input_fails_in_preflight(results, case):
    outputs, blocked = results
    result = outputs[str(case)]
    assert result.rc != 0, result.output
    for text in CASES[case][1]:
        assert text in result.output, (text, result.output[-3000:])
    # Nothing after preflight ran: no google.cloud task, no connection attempt.
    for task in ("Look for the VM", "The deployment's network", "Service account of the VM",
                 "Find the VMs of the deployment", "Firewall rule for"):
        assert f"gcp_infra : {task}" not in result.output, result.output[-3000:]
    assert not blocked.exists(), blocked.read_text()


@pytest.mark.parametrize("case, variable", [("short-password", "gcp_infra_db_password"),
                                            ("short-admin-password", "gcp_infra_db_admin_password")])
def test_cloudsql_password_is_checked_and_not_shown(results, case, variable):
    outputs, blocked = results
    result = outputs[case]
    assert result.rc != 0, result.output
    assert variable in result.output and "at least 12 characters" in result.output
    assert SHORT_PASSWORD not in result.output
    assert not blocked.exists()


def test_guard_blocks_a_real_google_endpoint(guarded, tmp_path):
    """The guard itself: with no double, a Google API name does not resolve."""
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import socket; socket.getaddrinfo('compute.googleapis.com', 443)"],
        env=dict(os.environ), capture_output=True, text=True, check=False,
    )
    assert proc.returncode != 0
    assert "blocked by the test" in proc.stderr
    assert "resolve compute.googleapis.com:443" in guarded.read_text()
