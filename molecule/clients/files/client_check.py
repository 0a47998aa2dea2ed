"""Run on a client as root (the system's python3):

    client_check.py '{"user": "ana", "no_credentials_user": "carol", "experiment": "...", "sets": [...]}'

Everything a client host must show, in one process: the login shell of the
OS user has the tracking settings (and no password in its environment, no
insecure flag); the user's ~/.mlflow/credentials is 0600 and theirs; the
driver (examples/run_many.py, mlflow.projects.run with synchronous=False)
run as that user from a login shell finishes every run; the user without
credentials gets 401 and has no credentials file. Prints one JSON object."""
import json
import os
import pwd
import shlex
import stat
import subprocess
import sys

DRIVER = "/opt/mlops-examples/run_many.py"
PROBE = """
from mlflow.tracking import MlflowClient
try:
    MlflowClient().search_experiments(max_results=1)
    print("ANSWERED")
except Exception as error:
    print(type(error).__name__, str(error)[:300])
"""


def login_shell(user, command, timeout=600):
    """The user's login shell: /etc/profile.d and /etc/environment's settings only."""
    return subprocess.run(["runuser", "-l", user, "-c", command], capture_output=True, text=True,
                          timeout=timeout, check=False)


def file_state(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return {"mode": oct(stat.S_IMODE(info.st_mode)), "owner": pwd.getpwuid(info.st_uid).pw_name}


def main():
    config = json.loads(sys.argv[1])
    user, nocred = config["user"], config["no_credentials_user"]
    out = {}
    env = login_shell(user, "env")
    settings = dict(line.split("=", 1) for line in env.stdout.splitlines() if "=" in line)
    out["env"] = {k: v for k, v in settings.items() if k.startswith("MLFLOW_")}
    home = pwd.getpwnam(user).pw_dir
    out["mlflow_dir"] = file_state(home + "/.mlflow")
    out["credentials"] = file_state(home + "/.mlflow/credentials")
    out["no_credentials_file"] = file_state(pwd.getpwnam(nocred).pw_dir + "/.mlflow/credentials")
    sets = " ".join("--set " + ",".join(f"{k}={v}" for k, v in params.items()) for params in config["sets"])
    driver = login_shell(user, f"python {DRIVER} --experiment {config['experiment']} {sets}")
    out["driver_rc"] = driver.returncode
    # The driver's lines (the runs' own output goes to the same stdout).
    out["runs"] = [json.loads(line) for line in driver.stdout.splitlines() if line.startswith('{"run_id"')]
    if driver.returncode != 0:
        out["driver_stderr"] = driver.stderr[-3000:]
    probe = login_shell(nocred, "python -c " + shlex.quote(PROBE))
    out["no_credentials_probe"] = (probe.stdout + probe.stderr).strip()[-400:]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
