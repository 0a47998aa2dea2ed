"""Bad input to mlops.mlflow.db_server and mlops.mlflow.db_client fails in
preflight, naming the variable and the value, before any package is installed
or any connection is tried."""
import pytest

DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
}

SERVER_OK = {"db_server_engine": "postgresql", "db_server_password": "s3cret"}
CLIENT_OK = {"db_client_engine": "postgresql", "db_client_password": "s3cret", "db_client_connect_timeout": 1}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"db_server_engine": "oracle"}, ["value of db_server_engine must be one of: , postgresql, mariadb, got: oracle"]),
        ({"db_server_engine": "mariadb"}, ["db_server_password must be set when db_server_engine is set"]),
        (dict(SERVER_OK, db_server_port=70000), ["db_server_port must be a port number", "got 70000"]),
        (dict(SERVER_OK, db_server_port=-1), ["db_server_port must be a port number", "got -1"]),
        (dict(SERVER_OK, db_server_database=""), ["db_server_database must be a name", "got ''"]),
        (dict(SERVER_OK, db_server_user="ml-flow"), ["db_server_user must be a name", "got 'ml-flow'"]),
        (dict(SERVER_OK, db_server_listen_addresses=[]), ["db_server_listen_addresses must be a non-empty list"]),
        (
            dict(SERVER_OK, db_server_listen_addresses=["db.example; rm"]),
            ["db_server_listen_addresses must be", "db.example; rm"],
        ),
        (dict(SERVER_OK, db_server_allowed_cidrs=["10.0.0.1"]), ["db_server_allowed_cidrs must be", "10.0.0.1"]),
        (
            dict(SERVER_OK, db_server_engine="mariadb", db_server_allowed_cidrs=["fd00::/8"]),
            ["db_server_allowed_cidrs must be", "(mariadb: IPv4 only)", "fd00::/8"],
        ),
        (
            dict(SERVER_OK, db_server_postgresql_shared_buffers="lots"),
            ["db_server_postgresql_shared_buffers", "shared_buffers=lots"],
        ),
        (dict(SERVER_OK, db_server_postgresql_version="fifteen"), ["db_server_postgresql_version must be", "fifteen"]),
        (dict(SERVER_OK, db_server_backup_keep=-2), ["db_server_backup_keep a number of dumps", "got -2"]),
        (dict(SERVER_OK, db_server_backup_on_calendar=""), ["db_server_backup_on_calendar a systemd calendar"]),
        (dict(SERVER_OK, db_server_backup_dir="/var/lib"), ["db_server_backup_dir must be", "not a system directory", "got '/var/lib'"]),
        (
            dict(SERVER_OK, db_server_tls_cert_file="/etc/ssl/db.crt"),
            ["db_server_tls_cert_file and db_server_tls_key_file must both be", "key ''"],
        ),
        (
            dict(SERVER_OK, db_server_tls_cert_file="db.crt", db_server_tls_key_file="db.key"),
            ["db_server_tls_cert_file and db_server_tls_key_file must both be absolute paths", "cert 'db.crt'"],
        ),
        (dict(SERVER_OK, db_server_tls_names=[]), ["a self-signed certificate of db_server_tls_names", "names []"]),
    ],
)
def test_db_server_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("db_server", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Install the server and the Python driver", "s3cret"])


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"db_client_engine": "oracle"}, ["value of db_client_engine must be one of: , postgresql, mysql, got: oracle"]),
        ({"db_client_engine": "mysql"}, ["db_client_password must be set when db_client_engine is set"]),
        (dict(CLIENT_OK, db_client_port=70000), ["db_client_port must be a port number", "got 70000"]),
        (dict(CLIENT_OK, db_client_port=-5), ["db_client_port must be a port number", "got -5"]),
        (dict(CLIENT_OK, db_client_host=""), ["db_client_host must be a host name", "got ''"]),
        (dict(CLIENT_OK, db_client_host="db host"), ["db_client_host must be a host name", "got 'db host'"]),
        (dict(CLIENT_OK, db_client_user=""), ["db_client_user must be a name", "got ''"]),
        (dict(CLIENT_OK, db_client_database=""), ["db_client_database must be a name", "got ''"]),
        (dict(CLIENT_OK, db_client_database="ml/flow"), ["db_client_database must be a name", "got 'ml/flow'"]),
        (dict(CLIENT_OK, db_client_sslmode="sometimes"),
         ["value of db_client_sslmode must be one of: disable, allow, prefer, require, verify-ca, verify-full, got: sometimes"]),
        (dict(CLIENT_OK, db_client_ssl_ca="certs/ca.pem"), ["db_client_ssl_ca must be empty or an absolute path"]),
        (
            dict(CLIENT_OK, db_client_ssl_ca_url="http://example.org/ca.pem", db_client_ssl_ca="/etc/mlflow/db-ca.pem"),
            ["db_client_ssl_ca_url must be an https:// URL", "http://example.org/ca.pem"],
        ),
        (
            dict(CLIENT_OK, db_client_ssl_ca_url="https://example.org/ca.pem"),
            ["db_client_ssl_ca_url needs db_client_ssl_ca"],
        ),
        (
            dict(CLIENT_OK, db_client_admin_user="postgres"),
            ["db_client_admin_user and db_client_admin_password must be set together"],
        ),
        (dict(CLIENT_OK, db_client_backup_keep=-1), ["db_client_backup_keep a number of dumps", "got -1"]),
        (dict(CLIENT_OK, db_client_backup_dir="/etc/mlflow"), ["db_client_backup_dir must be", "not a system directory", "got '/etc/mlflow'"]),
    ],
)
def test_db_client_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("db_client", variables, facts=DEBIAN_FACTS)
    # Nothing past preflight ran: no package, no connection attempt.
    refused(result, expected, not_shown=["Install the client tools", "Wait for the port", "s3cret"])


@pytest.mark.parametrize("role", ["db_server", "db_client"])
def test_unsupported_os_family_fails_in_preflight(run_role, role):
    variables = SERVER_OK if role == "db_server" else CLIENT_OK
    facts = dict(DEBIAN_FACTS, os_family="Plan9", distribution="Plan9")
    result = run_role(role, variables, facts=facts)
    assert result.rc != 0, result.output
    assert "ansible_facts['os_family']=Plan9" in result.output, result.output


@pytest.mark.parametrize("role", ["db_server", "db_client"])
def test_no_engine_does_nothing(run_role, role):
    result = run_role(role, {}, facts=DEBIAN_FACTS)
    assert result.rc == 0, result.output
    assert "changed=0" in result.output, result.output


@pytest.mark.parametrize(
    "extra",
    [{}, {"db_client_ssl_ca_url": "https://stack-s3.example.org:14443/db-ca.pem", "db_client_ssl_ca": "/etc/mlflow/db-ca.pem"}],
    ids=["plain", "ssl_ca_url"],
)
def test_good_client_input_passes_preflight(run_role, extra):
    result = run_role("db_client", dict(CLIENT_OK, **extra), facts=DEBIAN_FACTS)
    # The preflight only (run_role): it passed.
    assert result.rc == 0, result.output
    assert "s3cret" not in result.output
