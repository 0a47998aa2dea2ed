"""Bad input to mlops.mlflow.server and mlops.mlflow.service fails in
preflight (or in the argument spec), naming the variable, the value and what
is allowed, before anything on the host changes; a password in the backend
URI is never echoed."""
import pytest

DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "service_mgr": "systemd",
}
SECRET = "pw-never-shown-7f3a"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"server_mlflow_version": "2.22.0"}, ["server_mlflow_version must be a release X.Y.Z at or above", "'2.22.0'"]),
        ({"server_mlflow_version": "latest"}, ["server_mlflow_version must be a release", "'latest'"]),
        (
            {"server_backend_store_uri": f"oracle://mlflow:{SECRET}@db/mlflow"},
            ["server_backend_store_uri must be a SQLAlchemy URI", "oracle://mlflow:****@db/mlflow"],
        ),
        ({"server_backend_store_uri": "sqlite:relative.db"}, ["server_backend_store_uri must be", "sqlite:relative.db"]),
        ({"server_artifacts_destination": ""}, ["server_artifacts_destination must be an absolute directory", "got ''"]),
        (
            {"server_artifacts_destination": "relative/artifacts"},
            ["server_artifacts_destination must be", "'relative/artifacts'"],
        ),
        ({"server_artifacts_destination": "s3://Bad_Bucket"}, ["server_artifacts_destination must be", "s3://Bad_Bucket"]),
        ({"server_host": "0.0.0.0"}, ["server_host must be a loopback address", "got '0.0.0.0'"]),
        ({"server_port": 70000}, ["server_port must be 1-65535 (got 70000)"]),
        ({"server_workers": 0}, ["server_workers at least 1 (got 0)"]),
        ({"server_public_names": ["mlflow example.com"]}, ["server_public_names entries must be host names", "'mlflow example.com'"]),
        ({"server_pre_upgrade_command": ["dump.sh"]}, ["server_pre_upgrade_command must be empty or", '["dump.sh"]']),
        ({"server_service_manager": "supervisord"}, ["server_service_manager", "supervisord", "systemd, tmux"]),
        ({"server_installer": "conda"}, ["server_installer", "conda", "uv, pip"]),
    ],
)
def test_server_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("server", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Create the user", SECRET])


def test_server_good_input_passes_preflight(run_role):
    result = run_role("server", {"server_backend_store_uri": f"postgresql://mlflow:{SECRET}@db:5432/mlflow"},
                      facts=DEBIAN_FACTS)
    # Past preflight, check mode reaches the install tasks.
    assert "Create the user mlflow" in result.output, result.output
    assert SECRET not in result.output


SERVICE_OK = {"service_name": "demo", "service_command": ["/usr/bin/sleep", "infinity"]}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (dict(SERVICE_OK, service_manager="upstart"), ["service_manager", "upstart", "systemd, tmux"]),
        (dict(SERVICE_OK, service_name="my service"), ["service_name must be a unit/session name", "'my service'"]),
        (dict(SERVICE_OK, service_command=["sleep", "1"]), ["service_command must be a non-empty argument list", '["sleep", "1"]']),
        (dict(SERVICE_OK, service_env={"BAD-NAME": "x"}), ["service_env keys must be environment variable names", "'BAD-NAME'"]),
        (dict(SERVICE_OK, service_env={"TOKEN": f"{SECRET}\nINJECTED=1"}), ["service_env[TOKEN] must be a single line"]),
        ({"service_command": ["/usr/bin/true"]}, ["service_name"]),
    ],
)
def test_service_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("service", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Write the env file", SECRET])


def test_service_systemd_manager_needs_systemd(run_role):
    result = run_role("service", SERVICE_OK, facts=dict(DEBIAN_FACTS, service_mgr="sysvinit"))
    assert result.rc != 0, result.output
    assert "service_manager=systemd but this host's service manager is 'sysvinit'" in result.output
    assert "use service_manager=tmux" in result.output
