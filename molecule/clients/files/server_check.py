"""Run on the MLflow server with the server's venv (direct to MLflow on
127.0.0.1, no nginx in the way):

    server_check.py '{"experiment": ..., "runs": [...], "artifacts": DIR, "access_log": FILE, "service": {...}}'

runs: [{"run_id", "params", "os_user", "mlflow_user", "client_ip"}]. For
each run: it exists, FINISHED, in the experiment, with its parameters, a
loss and val_loss per epoch (steps 0..epochs-1), mlflow.user = the OS user,
a model file whose bytes hash to the sha256 the training script recorded,
and nginx's access log shows the upload from the client's address under the
MLflow user's htpasswd identity. The experiment holds exactly these runs.
The long training service's run is RUNNING, with its MLflow user as
mlflow.user (MLflow's default context takes the tracking user name when the
credentials are in the environment; mlflow.projects takes the OS user). With
"tensorboard": {"port", "user"}, TensorBoard listens on 127.0.0.1 only, as its
own user, which has no login shell. With "retention": {"unit", "days",
"env_file"} (issue 20, mlops.mlflow.retention): in an experiment of its
own, a live run, a run deleted now and a run deleted and aged past the
threshold (its deleted_time moved back in the tracking store, whose URI the
server's env file holds), each with an artifact, and a directory that no
run references; after `systemctl start <unit>` (oneshot: it returns when
the pass is done) the aged run is gone with its artifacts and directory,
the other two runs and their artifacts stay, the unreferenced directory is
reported in the journal and kept. With "monitoring": {"api", "ports",
"dashboard", "timeout"} (mlops.mlflow.monitoring): see monitoring_check. With
"canary": {"unit", "user", "experiment", "api", "messages", "timeout"}: see
canary_check.
Prints one JSON object with a list of problems (empty when all is well)."""
import contextlib
import hashlib
import json
import os
import pwd
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

# Before MLflow is imported: its client telemetry off (offline, its thread unsets a
# variable while requests reads the environment: a KeyError at random).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.tracking import MlflowClient  # noqa: E402

# nginx's combined format: addr - user [time] "request" status ...
LOG = re.compile(r'^(\S+) - (\S+) \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) ')


def main():
    config = json.loads(sys.argv[1])
    client = MlflowClient("http://127.0.0.1:5000")
    problems = []
    if "canary" in config:
        # The checks below stop MLflow and nginx on purpose: the canary's timer must not fire meanwhile
        # (its failure message would be a true alert, and the canary check counts them). Its runs
        # come from canary_check; the timer is started again at the end.
        pause_timer(config["canary"]["unit"])
    experiment = client.get_experiment_by_name(config["experiment"])
    if experiment is None:
        print(json.dumps({"problems": [f"no experiment {config['experiment']}"]}))
        return
    found = {r.info.run_id for r in client.search_runs([experiment.experiment_id], max_results=100)}
    expected = {r["run_id"] for r in config["runs"]}
    if found != expected:
        problems.append(f"the experiment holds {sorted(found)}, expected {sorted(expected)}")
    with open(config["access_log"], encoding="utf-8", errors="replace") as stream:
        log = [m.groups() for m in map(LOG.match, stream) if m]
    for want in config["runs"]:
        run_id = want["run_id"]
        run = client.get_run(run_id)
        name = f"run {run_id} ({want['os_user']})"
        if run.info.status != "FINISHED":
            problems.append(f"{name}: status {run.info.status}")
        for key, value in want["params"].items():
            if run.data.params.get(key) != value:
                problems.append(f"{name}: param {key}={run.data.params.get(key)!r}, expected {value!r}")
        epochs = int(float(want["params"]["epochs"]))
        for metric in ("loss", "val_loss"):
            steps = sorted(m.step for m in client.get_metric_history(run_id, metric))
            if steps != list(range(epochs)):
                problems.append(f"{name}: {metric} steps {steps}")
        if run.data.tags.get("mlflow.user") != want["os_user"]:
            problems.append(f"{name}: mlflow.user {run.data.tags.get('mlflow.user')!r}")
        relative = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
        try:
            with open(f"{config['artifacts']}/{relative}/model/model.json", "rb") as stream:
                digest = hashlib.sha256(stream.read()).hexdigest()
        except OSError as error:
            digest = f"unreadable: {error}"
        if digest != run.data.tags.get("model.sha256"):
            problems.append(f"{name}: stored model sha256 {digest}, the client uploaded {run.data.tags.get('model.sha256')}")
        uploads = [(addr, user, status) for addr, user, method, path, status in log
                   if method == "PUT" and path.endswith(f"/{run_id}/artifacts/model/model.json")]
        if uploads != [(want["client_ip"], want["mlflow_user"], "200")]:
            problems.append(f"{name}: nginx logged the model upload as {uploads}, expected "
                            f"{[(want['client_ip'], want['mlflow_user'], '200')]}")
    service = config["service"]
    svc_exp = client.get_experiment_by_name(service["experiment"])
    svc_runs = client.search_runs([svc_exp.experiment_id], filter_string=f"tags.run_label = '{service['label']}'") if svc_exp else []
    if len(svc_runs) != 1 or svc_runs[0].info.status != "RUNNING":
        problems.append(f"service run: {[(r.info.run_id, r.info.status) for r in svc_runs]}, expected one RUNNING")
    else:
        svc = svc_runs[0]
        if svc.data.tags.get("mlflow.user") != service["user"]:
            problems.append(f"service run: mlflow.user {svc.data.tags.get('mlflow.user')!r}")
        if not client.get_metric_history(svc.info.run_id, "loss"):
            problems.append("service run: no loss logged yet")
    if "tensorboard" in config:
        problems += tensorboard_problems(**config["tensorboard"])
    result = {"problems": problems, "runs": len(found)}
    if "retention" in config:
        retention = retention_check(client, config["artifacts"], **config["retention"])
        problems += retention.pop("problems")
        result["retention"] = retention
    if "monitoring" in config:
        monitoring = monitoring_check(**config["monitoring"])
        problems += monitoring.pop("problems")
        result["monitoring"] = monitoring
    if "canary" in config:
        canary = canary_check(client, config["access_log"], **config["canary"])
        problems += canary.pop("problems")
        result["canary"] = canary
        started = subprocess.run(["systemctl", "start", f"{config['canary']['unit']}.timer"],
                                 capture_output=True, text=True, check=False)
        if started.returncode != 0:
            problems.append(f"canary: its timer did not start again: {started.stderr.strip()}")
    print(json.dumps(result))


def pause_timer(unit, timeout=120):
    """Stops <unit>.timer and waits until a run it started has ended."""
    subprocess.run(["systemctl", "stop", f"{unit}.timer"], check=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run(["systemctl", "is-active", f"{unit}.service"], capture_output=True, text=True,
                               check=False).stdout.strip()
        if state not in ("active", "activating", "deactivating"):
            return
        time.sleep(1)


def listening(port):
    """The addresses and owners of the listening sockets of a port (/proc/net/tcp and tcp6: state 0A)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as stream:
            for line in list(stream)[1:]:
                fields = line.split()
                address, _, hex_port = fields[1].rpartition(":")
                if fields[3] == "0A" and int(hex_port, 16) == port:
                    shown = ".".join(str(b) for b in reversed(bytes.fromhex(address))) if len(address) == 8 else address
                    found.append((shown, pwd.getpwuid(int(fields[7])).pw_name))
    return found


def prometheus(api, path, **params):
    url = f"{api}{path}?{urllib.parse.urlencode(params)}" if params else f"{api}{path}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)["data"]


def wait_for(what, timeout, step=2):
    """Polls what() until it returns something true; returns it, or the last value at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def metric_names(expr):
    """The metric names of a PromQL expression: what is left without strings, label matchers, ranges,
    grouping clauses, function calls, keywords and numbers (tests/test_monitoring_rules.py does the same)."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\b[a-zA-Z_]+\s*\(", " ", expr)
    return {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)
            if w not in {"and", "or", "unless", "bool", "offset"}}


def monitoring_check(api, ports, dashboard, timeout):
    """Prometheus (issue 20, mlops.mlflow.monitoring) on api (http://127.0.0.1:9090/api/v1): every daemon
    listens on 127.0.0.1 only; every scrape target is up; a dump run now shows as its success metric; the
    certificate metric is there; every metric name of the dashboard exists in Prometheus (ALERTS aside, it
    exists while an alert does; the off-site copies' aside without their timer); MLflow stopped, MLflowDown
    fires, and clears once MLflow is back."""
    problems = []
    for port in ports:
        if [address for address, _ in listening(port)] != ["127.0.0.1"]:
            problems.append(f"monitoring: port {port} listens on {listening(port)}, expected 127.0.0.1 only")

    def targets_down():
        active = prometheus(api, "/targets")["activeTargets"]
        return [(t["labels"]["job"], t["health"], t.get("lastError")) for t in active if t["health"] != "up"] or None

    def targets():
        active = prometheus(api, "/targets")["activeTargets"]
        return sorted(t["labels"]["job"] for t in active) if all(t["health"] == "up" for t in active) else None

    jobs = wait_for(targets, timeout)
    if not jobs:
        problems.append(f"monitoring: targets not up: {targets_down()}")
    started = time.time()
    dump = subprocess.run(["systemctl", "start", "mlflow-db-dump"], capture_output=True, text=True, check=False)
    if dump.returncode != 0:
        problems.append(f"monitoring: systemctl start mlflow-db-dump: {dump.stderr.strip()}")
    dumped = wait_for(lambda: [float(r["value"][1]) for r in prometheus(
        api, "/query", query="mlflow_db_dump_last_success_timestamp_seconds")["result"]
        if float(r["value"][1]) >= int(started)], timeout)
    if not dumped:
        problems.append("monitoring: no mlflow_db_dump_last_success_timestamp_seconds after the dump")
    certificates = prometheus(api, "/query", query="mlflow_tls_certificate_not_after_timestamp_seconds - time() > 14 * 86400")
    if len(certificates["result"]) != 1:
        problems.append(f"monitoring: certificate metric {certificates['result']}")
    with open(dashboard, encoding="utf-8") as stream:
        panels = json.load(stream)["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    names = set(prometheus(api, "/label/__name__/values"))
    wanted = {n for e in exprs for n in metric_names(e)}
    # The off-site copies' metric exists only on the host with their timer (db_client_offsite_uri, not set here).
    offsite = set() if os.path.exists("/etc/systemd/system/mlflow-db-offsite.timer") else {
        "mlflow_db_offsite_last_success_timestamp_seconds"}
    missing = sorted(wanted - names - {"ALERTS"} - offsite)
    if missing:
        problems.append(f"monitoring: dashboard metrics that Prometheus does not have: {missing}")

    def firing():
        return prometheus(api, "/query", query='ALERTS{alertname="MLflowDown",alertstate="firing"}')["result"]

    before = firing()
    subprocess.run(["systemctl", "stop", "mlflow"], check=True)
    try:
        fired = wait_for(firing, timeout)
    finally:
        subprocess.run(["systemctl", "start", "mlflow"], check=True)
    cleared = wait_for(lambda: not firing(), timeout)
    if before or not fired or not cleared:
        problems.append(f"monitoring: MLflowDown before the stop {before}, while stopped {fired}, cleared {cleared}")
    return {"problems": problems, "jobs": jobs, "dashboard_metrics": sorted(wanted)}


def canary_check(client, access_log, unit, user, experiment, api, messages, timeout):
    """The canary (issue 20, mlops.mlflow.monitoring's monitoring_canary_enabled): `systemctl start <unit>`
    (oneshot: it returns with the run's result) succeeds, its run is in the experiment, FINISHED, logged
    through nginx as the canary's user (nginx's access log), and Prometheus reads mlflow_canary_success 1
    from the textfile collector; nginx stopped, the unit fails, the metric turns 0 and the webhook receiver
    gets exactly one message of the unit without the canary's password; nginx started, the canary passes
    and the metric is 1 again. The receiver's file is moved aside afterwards (the training job's check
    counts its own message)."""
    problems = []
    password = store_uri(f"/etc/mlops-mlflow/env/{unit}.env", "MLFLOW_TRACKING_PASSWORD")

    def canary():
        return subprocess.run(["systemctl", "start", unit], capture_output=True, text=True, check=False).returncode

    def metric(value):
        return wait_for(lambda: [r for r in prometheus(api, "/query", query="mlflow_canary_success")["result"]
                                 if r["value"][1] == value], timeout)

    def canary_messages():
        try:
            with open(messages, encoding="utf-8") as stream:
                lines = [json.loads(line)["body"].get("text", "") for line in stream]
        except FileNotFoundError:
            return []
        return [t for t in lines if t.startswith(f"{unit}.service failed")]

    if canary_messages():
        problems.append(f"canary: a failure message before the test: {len(canary_messages())}")
    started = time.time()
    if canary() != 0:
        problems.append("canary: the unit failed with nginx up")
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"], max_results=1) if found else []
    run = runs[0] if runs else None
    if run is None or run.info.start_time < started * 1000 - 5000 or run.info.status != "FINISHED":
        problems.append(f"canary: no FINISHED run since the start: {run and run.info}")
    elif run.data.tags.get("mlflow.user") != user:
        problems.append(f"canary: mlflow.user {run.data.tags.get('mlflow.user')!r}")
    with open(access_log, encoding="utf-8", errors="replace") as stream:
        creates = [m.groups() for m in map(LOG.match, stream) if m and "/runs/create" in m.group(4)]
    if not creates or creates[-1][1] != user or creates[-1][4] != "200":
        problems.append(f"canary: the last run creation in nginx's log is {creates[-1:]}, expected {user} and 200")
    if not metric("1"):
        problems.append("canary: mlflow_canary_success is not 1 after a run with nginx up")
    subprocess.run(["systemctl", "stop", "nginx"], check=True)
    try:
        failed = canary() != 0
        zero = metric("0")
        got = wait_for(canary_messages, timeout)
        # The notifier runs once per failure: a second message would come at once.
        time.sleep(5)
        got = canary_messages()
    finally:
        subprocess.run(["systemctl", "start", "nginx"], check=True)
    if not failed or not zero:
        problems.append(f"canary: with nginx stopped, unit failed {failed}, metric 0 {bool(zero)}")
    if len(got) != 1 or password in "".join(got):
        problems.append(f"canary: {len(got)} failure messages (expected 1), password in them {password in ''.join(got)}")
    if canary() != 0 or not metric("1"):
        problems.append("canary: it does not pass again once nginx is back")
    if os.path.exists(messages):
        os.rename(messages, messages + ".canary")
    unit_text = subprocess.run(["systemctl", "cat", unit, f"{unit}.timer", f"{unit}-failure-notify"],
                               capture_output=True, text=True, check=False).stdout
    journal = subprocess.run(["journalctl", "--no-pager", "--output=cat", "-u", unit, "-u", f"{unit}-failure-notify"],
                             capture_output=True, text=True, check=False).stdout
    if password in unit_text + journal:
        problems.append("canary: the password is in its units or journal")
    if not telemetry_off(unit):
        problems.append(f"canary: MLflow's telemetry is not off in {unit}'s environment")
    return {"problems": problems, "messages": got, "unit": unit_text, "journal": journal.splitlines()[-40:]}


def telemetry_off(unit):
    """MLflow's client telemetry is off in a unit's environment (its Environment= or its env file of
    mlops.mlflow.service): offline, MLflow's telemetry thread unsets a variable while requests reads
    the environment, and the unit fails at random with a KeyError."""
    shown = subprocess.run(["systemctl", "show", "--property=Environment", "--value", unit],
                           capture_output=True, text=True, check=False).stdout.split()
    env_file = f"/etc/mlops-mlflow/env/{unit}.env"
    in_file = os.path.exists(env_file) and store_uri(env_file, "MLFLOW_DISABLE_TELEMETRY", None) == "true"
    return "MLFLOW_DISABLE_TELEMETRY=true" in shown or in_file


def store_uri(env_file, name="MLFLOW_BACKEND_STORE_URI", *default):
    """A value (MLFLOW_BACKEND_STORE_URI) of a service's env file (mlops.mlflow.service
    writes KEY="value" with \\ and " escaped)."""
    with open(env_file, encoding="utf-8") as stream:
        for line in stream:
            key, _, value = line.rstrip("\n").partition("=")
            if key == name:
                return re.sub(r'\\(.)', r"\1", value[1:-1])
    if default:
        return default[0]
    raise SystemExit(f"no {name} in {env_file}")


def retention_check(client, artifacts, unit, days, env_file):
    from mlflow.exceptions import MlflowException
    from sqlalchemy import create_engine, text

    problems = []
    experiment_id = client.create_experiment(f"retention-check-{os.getpid()}-{os.urandom(4).hex()}")
    runs = {}
    # MLflow's client prints "View run ..." to stdout, which carries this script's JSON only.
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        with open(f"{tmp}/weights.bin", "wb") as stream:
            stream.write(os.urandom(2048))
        for name in ("live", "deleted-now", "aged"):
            run = client.create_run(experiment_id, run_name=name)
            client.log_artifact(run.info.run_id, f"{tmp}/weights.bin")
            client.set_terminated(run.info.run_id)
            runs[name] = run.info.run_id
    for name in ("deleted-now", "aged"):
        client.delete_run(runs[name])
    orphan = f"{experiment_id}/0123456789abcdef0123456789abcdef"
    os.makedirs(f"{artifacts}/{orphan}/artifacts")
    with open(f"{artifacts}/{orphan}/artifacts/left-behind.txt", "w", encoding="ascii") as stream:
        stream.write("no run references this\n")
    # The aged run: deleted days + 1 days ago.
    engine = create_engine(store_uri(env_file))
    with engine.begin() as conn:
        conn.execute(text("UPDATE runs SET deleted_time = deleted_time - :age WHERE run_uuid = :run"),
                     {"age": (days + 1) * 86400 * 1000, "run": runs["aged"]})
    engine.dispose()
    started = subprocess.run(["systemctl", "start", unit], capture_output=True, text=True, check=False)
    if started.returncode != 0:
        problems.append(f"systemctl start {unit}: {started.stderr.strip()}")
    journal = subprocess.run(["journalctl", "--unit", unit, "--output", "cat", "--no-pager", "--lines", "60"],
                             capture_output=True, text=True, check=False).stdout.splitlines()
    for name, run_id in runs.items():
        path = f"{artifacts}/{experiment_id}/{run_id}"
        try:
            stage = client.get_run(run_id).info.lifecycle_stage
        except MlflowException:
            stage = None
        if name == "aged":
            if stage is not None or os.path.exists(path):
                problems.append(f"retention: the aged deleted run is still there (stage {stage}, "
                                f"directory {os.path.exists(path)})")
        elif stage is None or not os.path.isfile(f"{path}/artifacts/weights.bin"):
            problems.append(f"retention: the {name} run lost its row or its artifact (stage {stage})")
    if not os.path.isfile(f"{artifacts}/{orphan}/artifacts/left-behind.txt"):
        problems.append("retention: the unreferenced directory was deleted (report only)")
    if not any(line.endswith(f": {orphan} (23 bytes)") for line in journal):
        problems.append("retention: the journal does not report the unreferenced directory")
    if f"Run with ID {runs['aged']} has been permanently deleted." not in journal:
        problems.append("retention: the journal does not name the removed run")
    with open(f"/etc/systemd/system/{unit}.service", encoding="utf-8") as stream:
        unit_text = stream.read()
    if not telemetry_off(unit):
        problems.append(f"retention: MLflow's telemetry is not off in {unit}'s environment")
    return {"problems": problems, "journal": journal, "unit": unit_text, "runs": runs}


def tensorboard_problems(port, user):
    """TensorBoard listens on loopback only, as its own user."""
    sockets = listening(port)
    problems = []
    if sockets != [("127.0.0.1", user)]:
        problems.append(f"tensorboard: listening sockets of port {port}: {sockets}, expected [('127.0.0.1', {user!r})]")
    if pwd.getpwnam(user).pw_shell not in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"):
        problems.append(f"tensorboard: {user} has the login shell {pwd.getpwnam(user).pw_shell}")
    return problems


if __name__ == "__main__":
    main()
