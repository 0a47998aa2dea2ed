#!/usr/bin/env python3
"""16 concurrent clients logging metrics through nginx for 60 s, against a
SQLite, a PostgreSQL and a MySQL (MariaDB) backend, in one run.

Deploys MLflow behind nginx on one container and PostgreSQL and MariaDB
(db_server) on two more, on one private Docker network; converges MLflow
onto each backend in turn (playbooks/mlflow_server.yml) and drives the same
load from inside the MLflow container. Prints throughput and error counts per
backend (goal: zero errors on PostgreSQL and MySQL)."""
from __future__ import annotations

import argparse
import json
import secrets
import tempfile
from pathlib import Path

from _common import ROOT, container, inventory, playbook, run, stack_vars

NETWORK = "mlops-bench"
MLFLOW, PG, MY = "bench-mlflow", "bench-pg", "bench-my"


def converge(tmp: str, password: str, db_password: str, backend: str) -> None:
    if backend == "sqlite":
        db = {"db_client_engine": ""}
    else:
        db = {"db_client_engine": backend, "db_client_host": PG if backend == "postgresql" else MY,
              "db_client_password": db_password}
    extra = stack_vars(tmp, password, db_password, **db)
    hosts = inventory(Path(tmp) / "hosts.json", {MLFLOW: {}},
                      {PG: {"db_server_engine": "postgresql"}, MY: {"db_server_engine": "mariadb"}})
    run(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts), "-e", f"@{extra}"))


def load(password: str, clients: int, seconds: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:  # 0600: no password on a command line
        env_file.write(f"MLFLOW_TRACKING_USERNAME=bench\nMLFLOW_TRACKING_PASSWORD={password}\n")
        env_file.flush()
        out = run(["docker", "exec", "--env-file", env_file.name, MLFLOW, "/opt/mlflow/venv/bin/python",
                   "/var/tmp/load.py", "--url", "http://127.0.0.1", "--host", "mlflow.bench", "--mode", "metrics",
                   "--threads", str(clients), "--seconds", str(seconds)]).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    password, db_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    results = {}
    try:
        for name in (MLFLOW, PG, MY):
            container(name, network=NETWORK)
        with tempfile.TemporaryDirectory() as tmp:
            for backend in ("sqlite", "postgresql", "mysql"):
                converge(tmp, password, db_password, backend)
                run(["docker", "cp", str(ROOT / "benchmarks/files/load.py"), f"{MLFLOW}:/var/tmp/load.py"])
                results[backend] = load(password, args.clients, args.seconds)
    finally:
        for name in (MLFLOW, PG, MY):
            container(name, "absent", network=NETWORK)
    print(f"{args.clients} clients logging metrics through nginx for {args.seconds} s each")
    for backend, r in results.items():
        print(f"{backend:10s} {r['rps']:7.1f} req/s  requests {r['requests']:6d}  errors {r['errors']:5d}  {r['status']}")


if __name__ == "__main__":
    main()
