"""Bad input to mlops.mlflow.monitoring fails in preflight, naming the
variable and the value: ports that clash or lie out of range, a stub_status
URL off loopback, MLflow's metrics off while it listens on TCP, and the
canary's settings (its user name, its interval, its entry in the users list
and, in mlflow mode, its EDIT grant). Good input passes: the canary every 1d
or 24h, and no server_prometheus_dir with server_socket (nothing could scrape
MLflow's metrics on a Unix socket).

Every case changes one thing of GOOD (which the good cases show passing), so
a refusal is that change's. All cases run as the hosts of one playbook run
(conftest's batches), the role's preflight only."""
import pytest

# The role's preflight reads no facts: a few, so that the batch gathers none.
DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
}
PASSWORD = "canary-test-password-not-to-be-shown"
GOOD = {
    "monitoring_enabled": True,
    "server_prometheus_dir": "/var/lib/mlflow/metrics",
    "monitoring_canary_enabled": True,
    "nginx_proxy_users": [{"name": "alice", "password": "alice-test-password"},
                          {"name": "mlflow-canary", "password": PASSWORD}],
}
# mlflow mode: the canary in server_auth_users, with an EDIT grant on its experiment.
MLFLOW_MODE = dict(
    GOOD,
    server_auth="mlflow",
    server_auth_users=[{"name": "mlflow-canary", "password": PASSWORD}],
    server_auth_grants=[{"user": "mlflow-canary", "experiment": "mlflow-canary", "permission": "EDIT"}],
)
# The first task after the preflight.
PAST = "The system user of Prometheus and the exporters"
PORTS = "must be distinct ports from 1 to 65535 that MLflow, nginx and TensorBoard do not use (5000, 80, 443, 8081)"
CANARY = "monitoring_canary_enabled needs: monitoring_canary_user a user name"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (dict(GOOD, monitoring_prometheus_port=5000), [PORTS, "got 5000, 9100, 9113, 9187"]),
        (dict(GOOD, monitoring_node_exporter_port=70000), [PORTS, "got 9090, 70000, 9113, 9187"]),
        (dict(GOOD, monitoring_nginx_status_url="http://10.0.0.5:8081/stub_status"),
         ["monitoring_nginx_status_url must be nginx's stub_status on loopback", "got 'http://10.0.0.5:8081/stub_status'"]),
        (dict(GOOD, server_prometheus_dir=""),
         ["monitoring_enabled needs MLflow's own metrics: set server_prometheus_dir", "got server_prometheus_dir=''"]),
        (dict(GOOD, monitoring_canary_user="mlflow:canary",
              nginx_proxy_users=[{"name": "mlflow:canary", "password": PASSWORD}]),
         [CANARY, "monitoring_canary_user='mlflow:canary' (listed 1 times"]),
        (dict(GOOD, monitoring_canary_interval="5 minutes"), [CANARY, "monitoring_canary_interval='5 minutes'"]),
        (dict(GOOD, monitoring_canary_interval="soon"), [CANARY, "monitoring_canary_interval='soon'"]),
        (dict(GOOD, nginx_proxy_users=[{"name": "alice", "password": "alice-test-password"}]),
         [CANARY, "listed (state present) in nginx_proxy_users", "monitoring_canary_user='mlflow-canary' (listed 0 times"]),
        (dict(MLFLOW_MODE, server_auth_grants=[]),
         [CANARY, "with a server_auth_grants entry {user: mlflow-canary, experiment: mlflow-canary, permission: EDIT}",
          "(listed 1 times, 0 EDIT grants)"]),
        (dict(GOOD, monitoring_alert_5xx_ratio=5), ["monitoring_alert_5xx_ratio and", "monitoring_alert_5xx_ratio=5,"]),
        (dict(GOOD, monitoring_textfile_dir="/etc"),
         ["monitoring_textfile_dir must be an absolute directory of its own", "got monitoring_textfile_dir='/etc'"]),
    ],
    ids=["port-of-mlflow", "port-out-of-range", "stub-status-off-loopback", "no-mlflow-metrics-on-tcp",
         "canary-user-colon", "interval-5-minutes", "interval-soon", "canary-not-listed", "mlflow-mode-no-grant",
         "5xx-ratio-percent", "textfile-dir-etc"],
)
def test_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("monitoring", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=[PAST, PASSWORD])


@pytest.mark.parametrize(
    "variables",
    [
        dict(GOOD, monitoring_canary_interval="1d"),
        # MLflow on a Unix socket: its metrics are not asked for.
        dict(MLFLOW_MODE, monitoring_canary_interval="24h", server_socket="/run/mlflow/mlflow.sock",
             server_prometheus_dir=""),
    ],
    ids=["htpasswd-1d", "mlflow-mode-24h-socket-no-metrics"],
)
def test_good_input_passes_preflight(run_role, variables):
    result = run_role("monitoring", variables, facts=DEBIAN_FACTS)
    # The preflight only (run_role): it passed, and showed no password.
    assert result.rc == 0, result.output
    assert PASSWORD not in result.output, result.output
