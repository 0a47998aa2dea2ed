"""Bad input to mlops.mlflow.cloudsql_proxy fails in preflight, naming the
variable and the value, before anything is downloaded; without an instance
connection name the role ends at once."""
import pytest

DEBIAN_FACTS = {"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "13",
                "service_mgr": "systemd"}
NAME = "my-project:europe-west1:mlflow-db"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"cloudsql_proxy_instance_connection_name": "mlflow-db"},
         ["cloudsql_proxy_instance_connection_name must be project:region:instance", "got 'mlflow-db'"]),
        ({"cloudsql_proxy_instance_connection_name": NAME, "cloudsql_proxy_port": 70000},
         ["cloudsql_proxy_port must be a port number", "70000"]),
        ({"cloudsql_proxy_instance_connection_name": NAME, "cloudsql_proxy_checksum": "md5:abc"},
         ["cloudsql_proxy_checksum must be sha256:<64 hex digits>", "got 'md5:abc'"]),
        ({"cloudsql_proxy_instance_connection_name": NAME},
         ["cloudsql_proxy_checksum must be sha256:<64 hex digits>", "got ''"]),
    ],
)
def test_bad_input_fails_in_preflight(run_role, variables, expected):
    result = run_role("cloudsql_proxy", variables, facts=DEBIAN_FACTS)
    assert result.rc != 0, result.output
    for text in expected:
        assert text in result.output, result.output
    assert "Download the Cloud SQL Auth Proxy" not in result.output


def test_without_an_instance_the_role_ends_at_once(run_role):
    result = run_role("cloudsql_proxy", {}, facts=DEBIAN_FACTS)
    assert result.rc == 0, result.output
    assert "Check cloudsql_proxy_instance_connection_name" not in result.output
    assert "Download the Cloud SQL Auth Proxy" not in result.output
