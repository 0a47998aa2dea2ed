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
own user, which has no login shell. Prints one JSON object with a list of
problems (empty when all is well)."""
import hashlib
import json
import pwd
import re
import sys

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
    print(json.dumps({"problems": problems, "runs": len(found)}))


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
