"""Bad off-site settings of mlops.mlflow.db_client (db_client_offsite_*) fail
in preflight, naming the variable and the value; above all a destination
below MLflow's artifact destination, which MLflow's artifact proxy would
serve (dumps with password hashes) to every user."""
import pytest

DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
}

CLIENT_OK = {
    "db_client_engine": "mysql",
    "db_client_password": "s3cret",
    "db_client_connect_timeout": 1,
    "server_artifacts_destination": "s3://mlflow-artifacts/mlflow",
}
REFUSED = "lies below (or above) server_artifacts_destination"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (dict(CLIENT_OK, db_client_offsite_uri="s3://mlflow-artifacts/mlflow/db-dumps"), [REFUSED, "s3://mlflow-artifacts/mlflow/db-dumps"]),
        (dict(CLIENT_OK, db_client_offsite_uri="s3://mlflow-artifacts/mlflow/"), [REFUSED]),
        (dict(CLIENT_OK, db_client_offsite_uri="s3://mlflow-artifacts"), [REFUSED]),
        (dict(CLIENT_OK, db_client_offsite_uri="/var/backups/offsite"), ["db_client_offsite_uri must be s3://BUCKET/PREFIX", "/var/backups/offsite"]),
        (dict(CLIENT_OK, db_client_offsite_uri="s3://b ucket/x"), ["db_client_offsite_uri must be", "s3://b ucket/x"]),
        (dict(CLIENT_OK, db_client_offsite_uri="s3://mlflow-artifacts/db-dumps", db_client_offsite_keep=-1),
         ["db_client_offsite_keep a number of copies", "db_client_offsite_keep=-1"]),
        (dict(CLIENT_OK, db_client_offsite_uri="gs://bucket/db-dumps", db_client_offsite_on_calendar=""),
         ["db_client_offsite_on_calendar a systemd OnCalendar", 'db_client_offsite_on_calendar=""']),
        (dict(CLIENT_OK, db_client_offsite_uri="gs://bucket/db-dumps", db_client_offsite_host="elsewhere"),
         ["db_client_offsite_host a host of the inventory", '"elsewhere"']),
    ],
)
def test_bad_offsite_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("db_client", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Install the client tools", "Wait for the port", "s3cret"])


def test_offsite_beside_the_artifacts_passes_preflight(run_role):
    variables = dict(CLIENT_OK, db_client_offsite_uri="s3://mlflow-artifacts/db-dumps")
    result = run_role("db_client", variables, facts=DEBIAN_FACTS)
    assert result.rc == 0, result.output
    assert "s3cret" not in result.output
