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
reported in the journal and kept. Prints one JSON object with a list of
problems (empty when all is well)."""
import hashlib
import json
import os
import pwd
import re
import subprocess
import sys
import tempfile

from mlflow.tracking import MlflowClient

# nginx's combined format: addr - user [time] "request" status ...
LOG = re.compile(r'^(\S+) - (\S+) \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) ')


def main():
    config = json.loads(sys.argv[1])
    client = MlflowClient("http://127.0.0.1:5000")
    problems = []
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
    print(json.dumps(result))


def store_uri(env_file):
    """MLFLOW_BACKEND_STORE_URI of the server's env file (mlops.mlflow.service
    writes KEY="value" with \\ and " escaped)."""
    with open(env_file, encoding="utf-8") as stream:
        for line in stream:
            key, _, value = line.rstrip("\n").partition("=")
            if key == "MLFLOW_BACKEND_STORE_URI":
                return re.sub(r'\\(.)', r"\1", value[1:-1])
    raise SystemExit(f"no MLFLOW_BACKEND_STORE_URI in {env_file}")


def retention_check(client, artifacts, unit, days, env_file):
    from mlflow.exceptions import MlflowException
    from sqlalchemy import create_engine, text

    problems = []
    experiment_id = client.create_experiment(f"retention-check-{os.getpid()}-{os.urandom(4).hex()}")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
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
    return {"problems": problems, "journal": journal, "unit": unit_text, "runs": runs}


def tensorboard_problems(port, user):
    """The listening sockets of the port (/proc/net/tcp and tcp6: state 0A) with their owners."""
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as stream:
            for line in list(stream)[1:]:
                fields = line.split()
                address, _, hex_port = fields[1].rpartition(":")
                if fields[3] == "0A" and int(hex_port, 16) == port:
                    shown = ".".join(str(b) for b in reversed(bytes.fromhex(address))) if len(address) == 8 else address
                    listening.append((shown, pwd.getpwuid(int(fields[7])).pw_name))
    problems = []
    if listening != [("127.0.0.1", user)]:
        problems.append(f"tensorboard: listening sockets of port {port}: {listening}, expected [('127.0.0.1', {user!r})]")
    if pwd.getpwnam(user).pw_shell not in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"):
        problems.append(f"tensorboard: {user} has the login shell {pwd.getpwnam(user).pw_shell}")
    return problems


if __name__ == "__main__":
    main()
