#!/usr/bin/python3
"""The checks of the server role on one MLflow host, run as root in one
process (molecule/_shared/verify_server.yml): one module call instead of one
per check. Prints one JSON object of what it found; the play asserts on it
(the secrets it looks for stay on the controller: the process list and the
journal come back as text).

    verify_server.py <base URL> <public name> <systemd|tmux> <venv python> <client check|-> <artifact MB>

With a client check path, it first logs and reads back a run with the real
MLflow client (files/mlflow_client_check.py) straight to MLflow.
"""
import grp
import json
import os
import pwd
import re
import subprocess
import sys
import urllib.error
import urllib.request

BASE, PUBLIC_NAME, MANAGER, VENV_PYTHON, CLIENT_CHECK, ARTIFACT_MB = sys.argv[1:7]
ENV_FILE = "/etc/mlops-mlflow/env/mlflow.env"
SWITCHES = re.compile(r'^(MLFLOW_DISABLE_TELEMETRY="true"|MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"'
                      r'|MLFLOW_ENABLE_AI_GATEWAY="false")$', re.M)
GATEWAY_ROUTES = [
    ("GET", "/ajax-api/3.0/mlflow/gateway/supported-providers"),
    ("POST", "/ajax-api/3.0/mlflow/gateway/secrets/create"),
    ("GET", "/ajax-api/3.0/mlflow/gateway/endpoints/list"),
    ("POST", "/gateway/mlflow/v1/chat/completions"),
    ("POST", "/gateway/any-endpoint/mlflow/invocations"),
]


def http(path, method="GET", host=None, body=None):
    """(status, body text) of one request to MLflow; status 0: no answer."""
    headers = {"Host": host} if host else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError as err:
        return 0, str(err)


def run(argv, **kwargs):
    p = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr[-2000:]}


out = {}
out["health"] = http("/health")[1].strip()
if CLIENT_CHECK != "-":
    client = run([VENV_PYTHON, CLIENT_CHECK, ARTIFACT_MB], env=dict(os.environ, MLFLOW_TRACKING_URI=BASE))
    lines = client["stdout"].strip().splitlines()
    out["client"] = json.loads(lines[-1]) if client["rc"] == 0 and lines else {"rc": client["rc"], "stderr": client["stderr"]}
out["listening"] = run(["ss", "-Hltn"])["stdout"]
search = "/api/2.0/mlflow/experiments/search?max_results=1"
out["bogus_host"] = http(search, host="evil.example")[0]
out["public_name"] = http(search, host=PUBLIC_NAME)[0]
status, text = http("/ajax-api/3.0/mlflow/server-info")
try:
    out["server_info"] = json.loads(text)
except ValueError:
    out["server_info"] = {"status": status, "text": text[:500]}
out["gateway"] = []
for method, path in GATEWAY_ROUTES:
    status, text = http(path, method=method, body={})
    out["gateway"].append({"route": method + " " + path, "status": status,
                           "disabled": "The AI Gateway feature is disabled" in text})
out["ps_nobody"] = run(["runuser", "-u", "nobody", "--", "ps", "-eo", "args"])["stdout"]
out["ps_root"] = run(["ps", "-eo", "user:20,args"])["stdout"]
st = os.stat(ENV_FILE)
out["env_file"] = {"mode": "%04o" % (st.st_mode & 0o7777), "owner": pwd.getpwuid(st.st_uid).pw_name,
                   "group": grp.getgrgid(st.st_gid).gr_name}
with open(ENV_FILE, encoding="utf-8") as stream:
    out["env_switches"] = len(SWITCHES.findall(stream.read()))
if MANAGER == "systemd":
    out["journal"] = run(["journalctl", "--unit", "mlflow", "--no-pager", "--output", "cat"])["stdout"]
    security = run(["systemd-analyze", "security", "--no-pager", "mlflow.service"])["stdout"].strip().splitlines()
    out["security"] = security[-1] if security else ""
print(json.dumps(out))
