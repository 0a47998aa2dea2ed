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

Prints the timings and the ratio converge/floor (goal <= 1.5; re-run goal
<= 15 s with changed=0)."""
from __future__ import annotations

import yaml

from _common import ROOT, ca_bundle, changed_count, container, playbook, run, timed

VERSION = yaml.safe_load((ROOT / "roles/server/defaults/main.yml").read_text())["server_mlflow_version"]
FLOOR, CONVERGE, CONVERGE_PIP = "bench-floor", "bench-converge", "bench-converge-pip"


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


def main() -> None:
    try:
        floor = floor_seconds()
        cold, rerun, changed = converge(CONVERGE)
        cold_pip, _, _ = converge(CONVERGE_PIP, "-e", "server_installer=pip")
    finally:
        for name in (FLOOR, CONVERGE, CONVERGE_PIP):
            container(name, "absent")
    print(f"MLflow {VERSION}")
    print(f"floor (bare pip install in a fresh container): {floor:6.1f} s")
    print(f"cold converge of the server role:               {cold:6.1f} s")
    print(f"idempotent re-run:                              {rerun:6.1f} s (changed={changed})")
    print(f"cold converge with server_installer=pip:        {cold_pip:6.1f} s")
    print(f"ratio cold converge / floor: {cold / floor:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
