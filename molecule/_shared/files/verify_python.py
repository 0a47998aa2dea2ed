#!/usr/bin/python3
"""The checks of the python role on one host, run as root in one process
(molecule/_shared/verify_python.yml): one module call instead of one per
check. Prints one JSON object of what it found; the play asserts on it.

    verify_python.py <test venv> [extra Debian package ...]

Creates the test venv with the system Python, installs a small package into
it with the venv's own pip (through /etc/pip.conf: the configured index and
CA bundle), imports it, and removes the venv again. The extra packages
(python_extra_packages) must be installed.
"""
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys

VENV = sys.argv[1]
EXTRA = sys.argv[2:]


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    return {"rc": p.returncode, "stdout": p.stdout.strip(), "stderr": p.stderr.strip()[-2000:]}


out = {}
# No system pip (venvs bring their own).
out["system_pip"] = run(["/usr/bin/python3", "-c",
                         "import importlib.util, sys; sys.exit(importlib.util.find_spec('pip') is not None)"])["rc"] != 0
# The pip of uv's venv reads /etc/pip.conf like any other.
out["pip_config"] = run(["/opt/mlops-mlflow/uv/bin/python", "-m", "pip", "config", "list"])
st = os.stat("/etc/pip.conf")
out["pip_conf"] = {"mode": "%04o" % (st.st_mode & 0o7777), "owner": pwd.getpwuid(st.st_uid).pw_name,
                   "group": grp.getgrgid(st.st_gid).gr_name}
out["extra_installed"] = run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n"] + EXTRA)["stdout"].splitlines() if EXTRA else []
out["python_version"] = "%d.%d" % sys.version_info[:2]
shutil.rmtree(VENV, ignore_errors=True)
out["venv"] = run(["/usr/bin/python3", "-m", "venv", VENV])
if out["venv"]["rc"] == 0:
    out["install"] = run([VENV + "/bin/pip", "install", "--quiet", "six==1.16.0"])
    out["imported"] = run([VENV + "/bin/python", "-c", "import six; print(six.__version__)"])
shutil.rmtree(VENV, ignore_errors=True)
print(json.dumps(out))
