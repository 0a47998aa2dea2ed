"""The alert rules and the Grafana dashboard of mlops.mlflow.monitoring,
checked with Debian's promtool (issue 20).

- The rules template (roles/monitoring/templates/mlops-mlflow.rules.yml.j2)
  is rendered by Ansible itself, with the role's defaults and every optional
  group on; `promtool check rules` accepts it and `promtool test rules` runs
  the unit tests below: each alert fires on series that should fire it, at
  the time its `for:` allows, with its labels and summary, and stays quiet on
  healthy series.
- The dashboard (roles/monitoring/files/grafana-dashboard.json) is valid
  JSON, its panels have unique ids and Prometheus targets, every expression
  is valid PromQL (`promtool check rules` on them as recording rules), and
  every metric name it reads is one the rules use or one the scrape targets
  export (EXPORTED; Molecule's clients scenario checks those names against a
  live Prometheus, whose targets are the role's own).

promtool: the one on PATH, else Debian 12's (the `prometheus` package,
downloaded once with apt inside a container of the test bed's base image
mlops-mlflow-base:debian12, which this test starts and removes; the binary
is kept in ~/.cache/mlops-mlflow/promtool-debian12 or MOLECULE_PROMTOOL_CACHE).
No network traffic but the container's apt."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "monitoring"
IMAGE = "mlops-mlflow-base:debian12"
CACHE = Path(os.environ.get("MOLECULE_PROMTOOL_CACHE", Path.home() / ".cache" / "mlops-mlflow" / "promtool-debian12"))

# Metric names the scrape targets export (node, nginx and PostgreSQL exporters, MLflow's
# prometheus_flask_exporter, Prometheus itself) that the dashboard reads and no rule does.
EXPORTED = {
    "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
    "nginx_connections_active", "nginx_http_requests_total",
    "pg_up", "pg_stat_database_numbackends",
    # The canary's textfile metric (monitoring_canary_enabled) beside mlflow_canary_success, which a rule reads.
    "mlflow_canary_last_success_timestamp_seconds",
    # Prometheus's own series of the alerts that are pending or firing.
    "ALERTS",
}

# Every optional group of the rules on, and the role's defaults otherwise.
RULE_VARS = {"monitoring_mlflow_metrics_target": "127.0.0.1:5000", "monitoring_alert_backup": True,
             "monitoring_alert_offsite": True}


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: what is left without strings, label matchers, ranges,
    grouping clauses, function calls, keywords and numbers (molecule/clients/files/server_check.py does the same)."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\b[a-zA-Z_]+\s*\(", " ", expr)
    return {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if w not in {"and", "or", "unless", "bool", "offset"}}


def alert(name, at, labels=None, summary=None):
    """One alertrule_test: `name` at `at` fires with these labels and summary (none when summary is None)."""
    exp = [] if summary is None else [{"exp_labels": labels, "exp_annotations": {"summary": summary}}]
    return {"eval_time": at, "alertname": name, "exp_alerts": exp}


UNIT_TESTS = [
    # MLflow stops answering at 30 s: pending, then firing once monitoring_alert_mlflow_down_for (2m) has passed.
    {"interval": "15s",
     "input_series": [{"series": 'up{job="mlflow",instance="127.0.0.1:5000"}', "values": "1 1 0x20"},
                      {"series": 'up{job="node",instance="127.0.0.1:9100"}', "values": "1x22"}],
     "alert_rule_test": [
         alert("MLflowDown", "1m"),
         alert("MLflowDown", "3m", {"alertname": "MLflowDown", "severity": "critical", "job": "mlflow",
                                    "instance": "127.0.0.1:5000"}, "MLflow does not answer on 127.0.0.1:5000"),
         alert("MonitoringTargetDown", "5m")]},
    # Another target down for 5 minutes; MLflow's own down alert is not this one.
    {"interval": "1m",
     "input_series": [{"series": 'up{job="node",instance="127.0.0.1:9100"}', "values": "1 0x10"}],
     "alert_rule_test": [
         alert("MonitoringTargetDown", "3m"),
         alert("MonitoringTargetDown", "8m", {"alertname": "MonitoringTargetDown", "severity": "warning",
                                              "job": "node", "instance": "127.0.0.1:9100"},
               "The scrape target node does not answer")]},
    # 10 of 110 answers per scrape are 5xx (9 %) on one instance, 1 of 101 (1 %) on another.
    {"interval": "1m",
     "input_series": [
         {"series": 'mlflow_http_request_total{job="mlflow",instance="a",method="GET",status="200"}', "values": "0+100x30"},
         {"series": 'mlflow_http_request_total{job="mlflow",instance="a",method="POST",status="500"}', "values": "0+10x30"},
         {"series": 'mlflow_http_request_total{job="mlflow",instance="b",method="GET",status="200"}', "values": "0+100x30"},
         {"series": 'mlflow_http_request_total{job="mlflow",instance="b",method="GET",status="503"}', "values": "0+1x30"}],
     "alert_rule_test": [
         alert("MLflowHigh5xxRatio", "8m"),
         alert("MLflowHigh5xxRatio", "20m", {"alertname": "MLflowHigh5xxRatio", "severity": "warning",
                                             "job": "mlflow", "instance": "a"},
               "More than 5.0 % of MLflow's answers are 5xx")]},
    # Every answer of instance a takes 2.5 to 5 s, every one of b under 0.5 s.
    {"interval": "1m",
     "input_series": [
         *({"series": f'mlflow_http_request_duration_seconds_bucket{{job="mlflow",instance="a",method="GET",status="200",le="{le}"}}',
            "values": values} for le, values in [("0.5", "0x30"), ("2.5", "0x30"), ("5.0", "0+10x30"), ("+Inf", "0+10x30")]),
         *({"series": f'mlflow_http_request_duration_seconds_bucket{{job="mlflow",instance="b",method="GET",status="200",le="{le}"}}',
            "values": "0+10x30"} for le in ("0.5", "2.5", "5.0", "+Inf"))],
     "alert_rule_test": [
         alert("MLflowSlowRequests", "8m"),
         alert("MLflowSlowRequests", "20m", {"alertname": "MLflowSlowRequests", "severity": "warning",
                                             "job": "mlflow", "instance": "a"},
               "MLflow's 95th percentile answer time is above 2 s")]},
    # / has 5 % free; /srv 50 %; a tmpfs with 1 % free is not a disk.
    {"interval": "1m",
     "input_series": [
         {"series": 'node_filesystem_avail_bytes{mountpoint="/",fstype="ext4",device="/dev/vda1"}', "values": "5x20"},
         {"series": 'node_filesystem_size_bytes{mountpoint="/",fstype="ext4",device="/dev/vda1"}', "values": "100x20"},
         {"series": 'node_filesystem_readonly{mountpoint="/",fstype="ext4",device="/dev/vda1"}', "values": "0x20"},
         {"series": 'node_filesystem_avail_bytes{mountpoint="/srv",fstype="ext4",device="/dev/vdb"}', "values": "50x20"},
         {"series": 'node_filesystem_size_bytes{mountpoint="/srv",fstype="ext4",device="/dev/vdb"}', "values": "100x20"},
         {"series": 'node_filesystem_readonly{mountpoint="/srv",fstype="ext4",device="/dev/vdb"}', "values": "0x20"},
         {"series": 'node_filesystem_avail_bytes{mountpoint="/run",fstype="tmpfs",device="tmpfs"}', "values": "1x20"},
         {"series": 'node_filesystem_size_bytes{mountpoint="/run",fstype="tmpfs",device="tmpfs"}', "values": "100x20"},
         {"series": 'node_filesystem_readonly{mountpoint="/run",fstype="tmpfs",device="tmpfs"}', "values": "0x20"}],
     "alert_rule_test": [
         alert("DiskAlmostFull", "3m"),
         alert("DiskAlmostFull", "10m", {"alertname": "DiskAlmostFull", "severity": "critical", "mountpoint": "/",
                                         "fstype": "ext4", "device": "/dev/vda1"},
               "Less than 10.0 % free on /"),
         alert("DiskFillingUp", "10m")]},
    # /data loses 4 % an hour from 39 % free: full within a day, for more than 30 minutes. (A sample every
    # 5 minutes: a series with none for 5 minutes is stale, and an alert's `for:` starts again.)
    {"interval": "5m",
     "input_series": [
         {"series": 'node_filesystem_avail_bytes{mountpoint="/data",fstype="xfs",device="/dev/vdc"}', "values": "117-1x30"},
         {"series": 'node_filesystem_size_bytes{mountpoint="/data",fstype="xfs",device="/dev/vdc"}', "values": "300x30"},
         {"series": 'node_filesystem_readonly{mountpoint="/data",fstype="xfs",device="/dev/vdc"}', "values": "0x30"}],
     "alert_rule_test": [
         alert("DiskFillingUp", "15m"),
         alert("DiskFillingUp", "2h", {"alertname": "DiskFillingUp", "severity": "warning", "mountpoint": "/data",
                                       "fstype": "xfs", "device": "/dev/vdc"},
               "The filesystem /data fills up within a day at the rate of the last 6 hours"),
         alert("DiskAlmostFull", "2h")]},
    # The last dump at time 0 (the test's epoch): too old once 26 hours have passed.
    {"interval": "5m",
     "input_series": [{"series": 'mlflow_db_dump_last_success_timestamp_seconds{job="node",instance="127.0.0.1:9100"}',
                       "values": "0x400"}],
     "alert_rule_test": [
         alert("MLflowBackupTooOld", "25h"),
         alert("MLflowBackupTooOld", "27h", {"alertname": "MLflowBackupTooOld", "severity": "critical", "job": "node",
                                             "instance": "127.0.0.1:9100"},
               "The last successful dump of MLflow's database is more than 26 hours old"),
         alert("MLflowBackupMissing", "27h")]},
    # A dump every hour: never too old.
    {"interval": "5m",
     "input_series": [{"series": 'mlflow_db_dump_last_success_timestamp_seconds{job="node",instance="127.0.0.1:9100"}',
                       "values": "0+300x400"}],
     "alert_rule_test": [alert("MLflowBackupTooOld", "29h")]},
    # No dump ever recorded.
    {"interval": "5m",
     "input_series": [{"series": 'up{job="node",instance="127.0.0.1:9100"}', "values": "1x400"}],
     "alert_rule_test": [
         alert("MLflowBackupMissing", "25h"),
         alert("MLflowBackupMissing", "27h", {"alertname": "MLflowBackupMissing", "severity": "critical"},
               "No successful dump of MLflow's database recorded for 26 hours")]},
    # The last off-site copy at time 0: too old once 26 hours have passed; the local dumps, fresh, do not matter.
    {"interval": "5m",
     "input_series": [
         {"series": 'mlflow_db_offsite_last_success_timestamp_seconds{job="node",instance="127.0.0.1:9100"}',
          "values": "0x400"},
         {"series": 'mlflow_db_dump_last_success_timestamp_seconds{job="node",instance="127.0.0.1:9100"}',
          "values": "0+300x400"}],
     "alert_rule_test": [
         alert("MLflowOffsiteBackupTooOld", "25h"),
         alert("MLflowOffsiteBackupTooOld", "27h", {"alertname": "MLflowOffsiteBackupTooOld", "severity": "critical",
                                                    "job": "node", "instance": "127.0.0.1:9100"},
               "The last successful off-site copy of MLflow's database is more than 26 hours old"),
         alert("MLflowOffsiteBackupMissing", "27h"),
         alert("MLflowBackupTooOld", "27h")]},
    # An off-site copy every day (the default timer, a few minutes late each time): never too old.
    {"interval": "5m",
     "input_series": [{"series": 'mlflow_db_offsite_last_success_timestamp_seconds{job="node",instance="127.0.0.1:9100"}',
                       "values": "0x290 87000x290 174600x10"}],
     "alert_rule_test": [alert("MLflowOffsiteBackupTooOld", "25h"), alert("MLflowOffsiteBackupTooOld", "49h"),
                         alert("MLflowOffsiteBackupMissing", "49h")]},
    # No off-site copy ever recorded: missing after 26 hours, not before; the local dumps' metric is not it.
    {"interval": "5m",
     "input_series": [{"series": 'mlflow_db_dump_last_success_timestamp_seconds{job="node",instance="127.0.0.1:9100"}',
                       "values": "0+300x400"}],
     "alert_rule_test": [
         alert("MLflowOffsiteBackupMissing", "25h"),
         alert("MLflowOffsiteBackupMissing", "27h", {"alertname": "MLflowOffsiteBackupMissing", "severity": "critical"},
               "No successful off-site copy of MLflow's database recorded for 26 hours"),
         alert("MLflowOffsiteBackupTooOld", "27h")]},
    # The off-site copies stop after the first one at 1h: none missing, too old from 27h on.
    {"interval": "5m",
     "input_series": [{"series": 'mlflow_db_offsite_last_success_timestamp_seconds{job="node",instance="127.0.0.1:9100"}',
                       "values": "_x11 3600x400"}],
     "alert_rule_test": [
         alert("MLflowOffsiteBackupMissing", "30m"),
         alert("MLflowOffsiteBackupTooOld", "26h30m"),
         alert("MLflowOffsiteBackupTooOld", "27h30m", {"alertname": "MLflowOffsiteBackupTooOld", "severity": "critical",
                                                       "job": "node", "instance": "127.0.0.1:9100"},
               "The last successful off-site copy of MLflow's database is more than 26 hours old"),
         alert("MLflowOffsiteBackupMissing", "27h30m")]},
    # One certificate expires after 10 days, one after 30.
    {"interval": "1m",
     "input_series": [
         {"series": 'mlflow_tls_certificate_not_after_timestamp_seconds{path="/etc/ssl/certs/soon.crt"}', "values": "864000x5"},
         {"series": 'mlflow_tls_certificate_not_after_timestamp_seconds{path="/etc/ssl/certs/later.crt"}', "values": "2592000x5"}],
     "alert_rule_test": [
         alert("TLSCertificateExpiring", "1m", {"alertname": "TLSCertificateExpiring", "severity": "warning",
                                                "path": "/etc/ssl/certs/soon.crt"},
               "The certificate /etc/ssl/certs/soon.crt expires in less than 14 days")]},
    # The canary fails from minute 2 on.
    {"interval": "1m",
     "input_series": [{"series": 'mlflow_canary_success{job="node",instance="127.0.0.1:9100"}', "values": "1 1 0x20"}],
     "alert_rule_test": [
         alert("MLflowCanaryFailing", "8m"),
         alert("MLflowCanaryFailing", "13m", {"alertname": "MLflowCanaryFailing", "severity": "critical", "job": "node",
                                              "instance": "127.0.0.1:9100"},
               "The canary cannot log and read back a run through nginx")]},
]


def _promtool_argv(workdir: Path) -> list[str]:
    """How to run promtool on files in workdir (mounted at the same path in the container)."""
    local = shutil.which("promtool")
    if local:
        return [local]
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode:
        pytest.fail("promtool is neither on PATH nor can it run in a container: no Docker engine answers (make testbed)")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "promtool").exists():
        fetch = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{CACHE}:/cache", IMAGE, "sh", "-ec",
             "cd /var/tmp && apt-get update -qq && apt-get download -qq prometheus"
             " && dpkg-deb -x prometheus_*.deb x && cp x/usr/bin/promtool /cache/promtool.new"
             " && mv /cache/promtool.new /cache/promtool"],
            capture_output=True, text=True, timeout=600, check=False)
        assert fetch.returncode == 0, f"could not fetch Debian's promtool:\n{fetch.stdout}\n{fetch.stderr}"
    return ["docker", "run", "--rm", "--network", "none", "-v", f"{CACHE}:/cache:ro", "-v", f"{workdir}:{workdir}",
            "-w", str(workdir), IMAGE, "/cache/promtool"]


def _render_rules(workdir: Path) -> Path:
    """The rules file as the role writes it: Ansible's template module with the role's defaults."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables = {k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)} | RULE_VARS
    (workdir / "vars.json").write_text(json.dumps(variables))
    dest = workdir / "mlops-mlflow.rules.yml"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-local"))
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,",
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{workdir / 'vars.json'}",
         "-m", "ansible.builtin.template", "-a", f"src={ROLE / 'templates' / 'mlops-mlflow.rules.yml.j2'} dest={dest}"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return dest


@pytest.fixture(scope="module")
def promtool_results(tmp_path_factory):
    """Runs promtool once on everything (one container at most): the rules, their unit tests, and the
    dashboard's expressions as recording rules. Returns {name: (rc, output)}."""
    workdir = tmp_path_factory.mktemp("promtool")
    rules = _render_rules(workdir)
    # Two files: the rules are evaluated every 15 s where seconds matter, every 5 minutes over the
    # series of a day or more (every 15 s over 27 hours costs promtool about half a minute of CPU).
    long = [test for test in UNIT_TESTS if test["interval"] == "5m"]
    for name, tests, every in (("tests.yml", [t for t in UNIT_TESTS if t not in long], "15s"), ("tests-long.yml", long, "5m")):
        (workdir / name).write_text(yaml.safe_dump(
            {"rule_files": [rules.name], "evaluation_interval": every, "tests": tests}, sort_keys=False))
    dashboard = json.loads((ROLE / "files" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    (workdir / "dashboard.rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}))
    argv = _promtool_argv(workdir)
    script = {"check": ["check", "rules", rules.name], "test": ["test", "rules", "tests.yml", "tests-long.yml"],
              "dashboard": ["check", "rules", "dashboard.rules.yml"]}
    results = {}
    for name, args in script.items():
        if argv[0] == "docker":
            run = subprocess.run(argv + args, capture_output=True, text=True, timeout=300, check=False)
        else:
            run = subprocess.run(argv + args, cwd=workdir, capture_output=True, text=True, timeout=300, check=False)
        results[name] = (run.returncode, run.stdout + run.stderr)
    results["rules"] = yaml.safe_load(rules.read_text())
    return results


def test_promtool_checks_the_rules(promtool_results):
    rc, output = promtool_results["check"]
    assert rc == 0, output
    names = {r["alert"] for g in promtool_results["rules"]["groups"] for r in g["rules"]}
    assert names == {"MLflowDown", "MLflowHigh5xxRatio", "MLflowSlowRequests", "MonitoringTargetDown", "DiskAlmostFull",
                     "DiskFillingUp", "MLflowBackupTooOld", "MLflowBackupMissing", "MLflowOffsiteBackupTooOld",
                     "MLflowOffsiteBackupMissing", "TLSCertificateExpiring", "MLflowCanaryFailing"}


def test_every_alert_has_a_unit_test():
    tested = {case["alertname"] for test in UNIT_TESTS for case in test["alert_rule_test"] if case["exp_alerts"]}
    rules = (ROLE / "templates" / "mlops-mlflow.rules.yml.j2").read_text()
    assert tested == set(re.findall(r"- alert: (\w+)", rules))


def test_promtool_unit_tests_pass(promtool_results):
    rc, output = promtool_results["test"]
    assert rc == 0, output
    assert "SUCCESS" in output


def test_the_dashboard_is_valid_and_reads_known_metrics(promtool_results):
    dashboard = json.loads((ROLE / "files" / "grafana-dashboard.json").read_text())
    panels = dashboard["panels"]
    assert dashboard["title"] and dashboard["uid"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p.get("targets") and all(t.get("expr") for t in p["targets"]) for p in panels)
    rc, output = promtool_results["dashboard"]
    assert rc == 0, output
    used_by_rules = {n for g in promtool_results["rules"]["groups"] for r in g["rules"] for n in metric_names(r["expr"])}
    read = {n for p in panels for t in p["targets"] for n in metric_names(t["expr"])}
    assert read - used_by_rules - EXPORTED == set()
    # EXPORTED holds no name the dashboard does not need.
    assert EXPORTED - read == set()


def test_metric_names_reads_promql():
    assert metric_names('sum by (status) (rate(mlflow_http_request_total{status=~"5.."}[5m])) / up') == {
        "mlflow_http_request_total", "up"}
    assert metric_names("time() - mlflow_db_dump_last_success_timestamp_seconds > 26 * 3600") == {
        "mlflow_db_dump_last_success_timestamp_seconds"}
