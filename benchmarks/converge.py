#!/usr/bin/env python3
"""Cold converge of the `server` role vs. the floor, and the idempotent re-run.

  floor    fresh base container: apt-get install python3-venv, python3 -m venv,
           pip install mlflow==<pinned> (an empty pip cache)
  converge fresh base container: the whole `server` role (python role, user,
           venv with the same MLflow, env file, systemd unit, health wait),
           an empty pip cache too
  rerun    the same converge again (nothing to change)
  pip      the cold converge once more on a fresh container with
           server_installer=pip, to show what uv (the default) saves
  make up  the path of `make up` with an empty cache: playbooks/site.yml with
           the local inventory (container, python, MLflow, nginx with a
           generated password, the client settings file) until an
           authenticated API call through the published 127.0.0.1 port
           answers 200 (and 401 without the password); then its re-run

Prints the timings and the ratios converge/floor and make up/floor (goal
<= 1.5; re-run goal <= 15 s with changed=0)."""
from __future__ import annotations

import base64
import json
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from _common import ROOT, ca_bundle, changed_count, container, playbook, run, timed

VERSION = yaml.safe_load((ROOT / "roles/server/defaults/main.yml").read_text())["server_mlflow_version"]
FLOOR, CONVERGE, CONVERGE_PIP = "bench-floor", "bench-converge", "bench-converge-pip"
UP = "bench-up"


def floor_seconds() -> float:
    container(FLOOR)
    env_cert = ""
    if ca_bundle():
        run(["docker", "cp", ca_bundle(), f"{FLOOR}:/usr/local/share/bench-ca.pem"])
        env_cert = "PIP_CERT=/usr/local/share/bench-ca.pem "
    script = (
        "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
        "apt-get install -y -qq python3-venv >/dev/null; python3 -m venv /opt/floor; "
        f"{env_cert}/opt/floor/bin/pip install -q --no-cache-dir mlflow=={VERSION}"
    )
    seconds, _ = timed(["docker", "exec", FLOOR, "sh", "-c", script])
    return seconds


def converge(name: str, *extra: str) -> tuple[float, float, int]:
    container(name)
    args = ("-i", f"{name},", "-c", "community.docker.docker", "-e", "ansible_python_interpreter=/usr/bin/python3", *extra)
    cold, _ = timed(playbook("benchmarks/playbooks/server.yml", *args))
    rerun, proc = timed(playbook("benchmarks/playbooks/server.yml", *args))
    return cold, rerun, changed_count(proc.stdout)


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
    with tempfile.TemporaryDirectory() as tmp:
        try:
            floor = floor_seconds()
            cold, rerun, changed = converge(CONVERGE)
            cold_pip, _, _ = converge(CONVERGE_PIP, "-e", "server_installer=pip")
            up, up_rerun, up_changed = make_up(tmp)
        finally:
            for name in (FLOOR, CONVERGE, CONVERGE_PIP):
                container(name, "absent")
            make_down(tmp)
    print(f"MLflow {VERSION}")
    print(f"floor (bare pip install in a fresh container): {floor:6.1f} s")
    print(f"cold converge of the server role:               {cold:6.1f} s")
    print(f"idempotent re-run:                              {rerun:6.1f} s (changed={changed})")
    print(f"cold converge with server_installer=pip:        {cold_pip:6.1f} s")
    print(f"cold make up (site.yml, server + nginx + auth): {up:6.1f} s (then 200 with, 401 without the password)")
    print(f"make up re-run:                                 {up_rerun:6.1f} s (changed={up_changed})")
    print(f"ratio cold converge / floor: {cold / floor:.2f} (goal <= 1.5)")
    print(f"ratio cold make up / floor:  {up / floor:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
