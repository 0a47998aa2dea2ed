#!/usr/bin/env python3
"""Fresh start: from a fresh clone on a machine with nothing of the project to
an authenticated 200 through nginx, phase by phase, then the re-run.

  clone    git clone of this checkout into a temporary directory
  venv     `make venv-runtime` there: python3 -m venv, uv, requirements.txt
           (empty uv and pip caches of the benchmark's own)
  image    the base image `make up` needs (mlops-mlflow-base:debian12),
           removed first unless --keep-image, built by scripts/testbed.sh
  site     the rest of `make up`: playbooks/site.yml with the local inventory
           (container, Python, MLflow from an empty cache, nginx, a generated
           password, the client settings file), under the benchmark's own
           name, port and files
  check    an API call through the published 127.0.0.1 port: 200 with the
           password, 401 without
  rerun    `make up` again (nothing to change: changed=0)

A Docker engine that already answers is used as it is (installing Debian's
docker.io and starting it took about 10 s here; scripts/testbed.sh does it
when none answers). Goal: fresh start <= 300 s, re-run <= 20 s."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from _common import ROOT, changed_count
from converge import api_status, free_port

NAME = "bench-fresh"


def timed_make(clone: Path, env: dict, *args: str) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(clone), *args], env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"make {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-image", action="store_true", help="do not remove the base image first")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fresh-start-") as tmp:
        tmp_path = Path(tmp)
        clone = tmp_path / "clone"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "ANSIBLE_"))}
        env["PATH"] = ":".join(p for p in env["PATH"].split(":") if "/.venv/" not in p)
        env.update(UV_CACHE_DIR=str(tmp_path / "uv-cache"), PIP_CACHE_DIR=str(tmp_path / "pip-cache"))
        extra = tmp_path / "up.json"
        extra.write_text(json.dumps({
            "mlflow_deployment_name": NAME,
            "local_infra_http_port": free_port(),
            "nginx_proxy_password_dir": str(tmp_path / "credentials"),
            "mlflow_local_env_file": str(tmp_path / "mlflow.env"),
        }))
        up_args = f"PLAYBOOK_ARGS=-e @{extra}"
        phases: dict[str, float] = {}
        try:
            start = time.monotonic()
            subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
            phases["clone"] = time.monotonic() - start
            phases["venv"], _ = timed_make(clone, env, "venv-runtime")
            if not options.keep_image:
                subprocess.run(["docker", "image", "rm", "-f", "mlops-mlflow-base:debian12"],
                               capture_output=True, check=False)
            start = time.monotonic()
            subprocess.run([str(clone / "scripts/testbed.sh")], env=dict(env, TESTBED_SUITES="bookworm"),
                           capture_output=True, check=True)
            phases["image"] = time.monotonic() - start
            phases["site"], _ = timed_make(clone, env, "up", up_args)
            env_file = tmp_path / "mlflow.env"
            codes = api_status(env_file, True), api_status(env_file, False)
            if codes != (200, 401):
                raise SystemExit(f"the API answered {codes[0]} with and {codes[1]} without the password")
            total = sum(phases.values())
            rerun, output = timed_make(clone, env, "up", up_args)
            changed = changed_count(output)
        finally:
            if (clone / ".venv").exists():
                subprocess.run(["make", "-C", str(clone), "down", up_args, "PURGE=1"], env=env,
                               capture_output=True, check=False)
    for phase, seconds in phases.items():
        print(f"{phase:6s} {seconds:6.1f} s")
    print(f"fresh start to an authenticated 200: {total:6.1f} s (goal <= 300 s{'' if options.keep_image else ', image built'})")
    print(f"make up again: {rerun:6.1f} s, changed={changed} (goal <= 20 s, changed=0)")


if __name__ == "__main__":
    main()
