#!/usr/bin/env python3
"""Cold converge of the `server` role vs. the floor, installer against the
same installer, and the idempotent re-run.

  uv floor     fresh base container: apt-get install python3-venv, a venv with
               pip install uv==<python_uv_version> (as the python role gets
               uv), uv venv, uv pip install <the role's packages> (empty cache)
  converge     fresh base container: the whole `server` role with its default
               installer, uv (python role, user, venv with the same MLflow,
               bytecode of what the server loads, env file, systemd unit,
               health wait), an empty cache too
  rerun        the same converge again (nothing to change)
  pip floor    fresh base container: apt-get install python3-venv, python3 -m
               venv, pip install <the role's packages> (no pip cache)
  pip          the cold converge on a fresh container with
               server_installer=pip and python_uv_enabled=false
  make up  the path of `make up` with an empty cache: playbooks/site.yml with
           the local inventory (container, python, MLflow, nginx with a
           generated password, the client settings file) until an
           authenticated API call through the published 127.0.0.1 port
           answers 200 (and 401 without the password); then its re-run

Each floor runs just before its converge (same image, containers made the
same way through local_infra), so that each ratio compares two measurements
taken back to back. The role's packages are those of its defaults (SQLite,
local artifacts): mlflow==<server_mlflow_version> alone.

Prints the timings and the ratios uv converge / uv floor, pip converge / pip
floor and make up / uv floor (goal <= 1.5; re-run goal <= 15 s with
changed=0). --no-make-up leaves the make up part out."""
from __future__ import annotations

import base64
import json
import re
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from _common import ROOT, ca_bundle, changed_count, container, load, playbook, run, timed

SERVER_DEFAULTS = yaml.safe_load((ROOT / "roles/server/defaults/main.yml").read_text())
VERSION = SERVER_DEFAULTS["server_mlflow_version"]
# What the role installs with its defaults (roles/server/vars/main.yml, __server_pip_packages:
# no store driver for SQLite and local artifacts).
PACKAGES = [f"mlflow=={VERSION}", *SERVER_DEFAULTS["server_extra_pip_packages"]]
UV_VERSION = yaml.safe_load((ROOT / "roles/python/defaults/main.yml").read_text())["python_uv_version"]
FLOOR_UV, FLOOR_PIP = "bench-floor-uv", "bench-floor-pip"
CONVERGE, CONVERGE_PIP = "bench-converge", "bench-converge-pip"
UP = "bench-up"


def floor_seconds(name: str, installer: str) -> float:
    """The same packages with the same installer into a bare venv, on a fresh container."""
    container(name)
    cert = ""
    if ca_bundle():
        # Not /tmp or /run: tmpfs mounts in these containers.
        run(["docker", "cp", ca_bundle(), f"{name}:/usr/local/share/bench-ca.pem"])
        cert = "/usr/local/share/bench-ca.pem"
    packages = " ".join(f"'{p}'" for p in PACKAGES)
    script = "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; " \
             "apt-get install -y -qq python3-venv >/dev/null; "
    if installer == "pip":
        script += (f"{'export PIP_CERT=' + cert + '; ' if cert else ''}"
                   "python3 -m venv /opt/floor; "
                   f"/opt/floor/bin/pip install -q --no-cache-dir {packages}")
    else:
        # As the python role: uv from pip into its own venv, then uv with the
        # system's CA store (or the bundle) and no Python downloads.
        script += (f"{'export PIP_CERT=' + cert + ' SSL_CERT_FILE=' + cert + '; ' if cert else ''}"
                   "export UV_NATIVE_TLS=true UV_PYTHON_DOWNLOADS=never; "
                   f"python3 -m venv /opt/uv; /opt/uv/bin/pip install -q uv=={UV_VERSION}; "
                   "/opt/uv/bin/uv venv -q --seed --python /usr/bin/python3 /opt/floor; "
                   f"/opt/uv/bin/uv pip install -q --python /opt/floor/bin/python {packages}")
    seconds, _ = timed(["docker", "exec", name, "sh", "-c", script])
    return seconds


def converge(name: str, *extra: str) -> tuple[float, float, int]:
    container(name)
    args = ("-i", f"{name},", "-c", "community.docker.docker", "-e", "ansible_python_interpreter=/usr/bin/python3", *extra)
    cold, _ = timed(playbook("benchmarks/playbooks/server.yml", *args))
    rerun, proc = timed(playbook("benchmarks/playbooks/server.yml", *args))
    changed = changed_count(proc.stdout)
    if changed:
        # Which task: the lines "TASK [...]" followed by "changed: [...]".
        tasks = re.findall(r"^TASK \[([^\]]+)\].*\n(?:(?!TASK \[).*\n)*?changed: ", proc.stdout, flags=re.MULTILINE)
        print(f"  the re-run of {name} changed: {tasks or proc.stdout[-2000:]}", flush=True)
    return cold, rerun, changed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_status(env_file: Path, with_password: bool) -> int:
    """GET experiments/search through the published port, as the client would."""
    settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    request = urllib.request.Request(settings["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/experiments/search?max_results=1")
    if with_password:
        pair = f"{settings['MLFLOW_TRACKING_USERNAME']}:{settings['MLFLOW_TRACKING_PASSWORD']}"
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def make_up(tmp: str) -> tuple[float, float, int]:
    """site.yml on the local inventory, under its own name, port and files."""
    extra = Path(tmp) / "up.json"
    extra.write_text(json.dumps({
        "mlflow_deployment_name": UP,
        "local_infra_http_port": free_port(),
        "nginx_proxy_password_dir": f"{tmp}/credentials",
        "mlflow_local_env_file": f"{tmp}/mlflow.env",
    }))
    args = ("-i", "inventories/local", "-e", f"@{extra}")
    cold, _ = timed(playbook("playbooks/site.yml", *args))
    env_file = Path(tmp) / "mlflow.env"
    authenticated, anonymous = api_status(env_file, True), api_status(env_file, False)
    if (authenticated, anonymous) != (200, 401):
        raise SystemExit(f"make up: the API answered {authenticated} with and {anonymous} without the password")
    rerun, proc = timed(playbook("playbooks/site.yml", *args))
    return cold, rerun, changed_count(proc.stdout)


def make_down(tmp: str) -> None:
    extra = Path(tmp) / "up.json"
    if extra.exists():
        run(playbook("playbooks/teardown_local.yml", "-i", "inventories/local", "-e", f"@{extra}",
                     "-e", "local_infra_purge=true"))


def main() -> None:
    with_make_up = "--no-make-up" not in sys.argv[1:]
    print(f"MLflow {VERSION}, uv {UV_VERSION}, packages: {' '.join(PACKAGES)}; load before: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            floor_uv = floor_seconds(FLOOR_UV, "uv")
            print(f"  uv floor {floor_uv:.1f} s; load {load()}", flush=True)
            cold, rerun, changed = converge(CONVERGE)
            print(f"  uv converge {cold:.1f} s, re-run {rerun:.1f} s (changed={changed}); load {load()}", flush=True)
            floor_pip = floor_seconds(FLOOR_PIP, "pip")
            print(f"  pip floor {floor_pip:.1f} s; load {load()}", flush=True)
            cold_pip, _, _ = converge(CONVERGE_PIP, "-e", "server_installer=pip", "-e", "python_uv_enabled=false")
            print(f"  pip converge {cold_pip:.1f} s; load {load()}", flush=True)
            if with_make_up:
                up, up_rerun, up_changed = make_up(tmp)
        finally:
            for name in (FLOOR_UV, FLOOR_PIP, CONVERGE, CONVERGE_PIP):
                container(name, "absent")
            make_down(tmp)
    print(f"load after: {load()}")
    print(f"uv floor (uv pip install in a bare venv):       {floor_uv:6.1f} s")
    print(f"cold converge of the server role (uv):          {cold:6.1f} s")
    print(f"idempotent re-run:                              {rerun:6.1f} s (changed={changed})")
    print(f"pip floor (pip install in a bare venv):         {floor_pip:6.1f} s")
    print(f"cold converge with server_installer=pip:        {cold_pip:6.1f} s")
    if with_make_up:
        print(f"cold make up (site.yml, server + nginx + auth): {up:6.1f} s (then 200 with, 401 without the password)")
        print(f"make up re-run:                                 {up_rerun:6.1f} s (changed={up_changed})")
    print(f"ratio uv converge / uv floor:   {cold / floor_uv:.2f} (goal <= 1.5)")
    print(f"ratio pip converge / pip floor: {cold_pip / floor_pip:.2f} (goal <= 1.5)")
    if with_make_up:
        print(f"ratio cold make up / uv floor:  {up / floor_uv:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
