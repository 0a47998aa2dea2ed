#!/usr/bin/env python3
"""Tracking-API throughput straight to MLflow vs. through nginx with basic auth.

Deploys the stack (SQLite backend) into a fresh container, then, inside the
container and in one run, drives the same request mix (log-batch, runs/get,
runs/search) from one process with N threads: first straight to
127.0.0.1:5000, then through nginx with auth, then both once more; prints
requests/s of each and the ratio nginx/direct (goal >= 0.90)."""
from __future__ import annotations

import argparse
import json
import secrets
import tempfile
from pathlib import Path

from _common import ROOT, ca_bundle, container, inventory, playbook, run

NAME = "bench-stack"


def deploy(password: str) -> None:
    container(NAME)
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "vars.json"
        extra.touch(mode=0o600)
        extra.write_text(json.dumps({
            "nginx_proxy_server_names": ["mlflow.bench"],
            "server_public_names": ["mlflow.bench"],
            "nginx_proxy_users": [{"name": "bench", "password": password}],
            "python_pip_ca_bundle": ca_bundle(),
            "nginx_proxy_password_dir": tmp,
        }))
        hosts = inventory(Path(tmp) / "hosts.json", {NAME: {}})
        run(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts), "-e", f"@{extra}"))
    run(["docker", "cp", str(ROOT / "benchmarks/files/load.py"), f"{NAME}:/var/tmp/load.py"])


def load(url: str, host: str, password: str, threads: int, seconds: int) -> dict:
    argv = ["docker", "exec"]
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:  # 0600: no password on a command line
        if password:
            env_file.write(f"MLFLOW_TRACKING_USERNAME=bench\nMLFLOW_TRACKING_PASSWORD={password}\n")
            env_file.flush()
            argv += ["--env-file", env_file.name]
        return _load(argv, url, host, threads, seconds)


def _load(argv: list[str], url: str, host: str, threads: int, seconds: int) -> dict:
    argv += [NAME, "/opt/mlflow/venv/bin/python", "/var/tmp/load.py", "--url", url, "--threads", str(threads),
             "--seconds", str(seconds), "--mode", "mix"]
    if host:
        argv += ["--host", host]
    return json.loads(run(argv).stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the container")
    args = parser.parse_args()
    password = secrets.token_urlsafe(24)
    try:
        deploy(password)
        rounds = []
        for _ in range(2):
            direct = load("http://127.0.0.1:5000", "", "", args.threads, args.seconds)
            proxied = load("http://127.0.0.1", "mlflow.bench", password, args.threads, args.seconds)
            rounds.append((direct, proxied))
    finally:
        if not args.keep:
            container(NAME, "absent")
    direct_rps = sum(d["rps"] for d, _ in rounds) / len(rounds)
    proxied_rps = sum(p["rps"] for _, p in rounds) / len(rounds)
    for i, (d, p) in enumerate(rounds, 1):
        print(f"round {i}: direct {d['rps']:7.1f} req/s (errors {d['errors']}), "
              f"nginx+auth {p['rps']:7.1f} req/s (errors {p['errors']})")
    print(f"threads={args.threads} seconds={args.seconds} per measurement")
    print(f"direct to MLflow:      {direct_rps:7.1f} req/s")
    print(f"through nginx + auth:  {proxied_rps:7.1f} req/s")
    print(f"ratio nginx/direct: {proxied_rps / direct_rps:.2f} (goal >= 0.90)")


if __name__ == "__main__":
    main()
