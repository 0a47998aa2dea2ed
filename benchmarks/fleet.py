#!/usr/bin/env python3
"""Fleet convergence: the whole stack (playbooks/mlflow_server.yml) on 1 host,
then on 4 fresh hosts at once sharing one PostgreSQL, in one run. Prints both
times and the ratio 4 hosts / 1 host (goal <= 1.5).

Each measurement has its own, empty PostgreSQL container (both made before
any timing), so both include creating the MLflow tables. Every host installs
MLflow with an empty cache, as a new VM would."""
from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from _common import container, inventory, playbook, run, stack_vars, timed

NETWORK = "mlops-bench-fleet"
DB1, DB4 = "bench-fleet-db1", "bench-fleet-db4"
DATABASES = {DB1: {"db_server_engine": "postgresql"}, DB4: {"db_server_engine": "postgresql"}}


def converge(tmp: str, hosts: list[str], db: str, extra: Path) -> float:
    hosts_file = inventory(Path(tmp) / f"hosts-{len(hosts)}.json", {h: {"db_client_host": db} for h in hosts},
                           DATABASES)
    seconds, _ = timed(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts_file), "-e", f"@{extra}",
                                "--limit", ",".join(hosts)))
    return seconds


def main() -> None:
    password, db_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    one, four = ["bench-fleet-1"], [f"bench-fleet-{i}" for i in range(2, 6)]
    try:
        for db in DATABASES:
            container(db, network=NETWORK)
        with tempfile.TemporaryDirectory() as tmp:
            # db_client_host comes from each host's inventory entry.
            extra = stack_vars(tmp, password, db_password, db_client_engine="postgresql",
                               db_client_password=db_password)
            # The databases first, so that neither measurement includes them.
            hosts_file = inventory(Path(tmp) / "db.json", {}, DATABASES)
            run(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts_file), "-e", f"@{extra}"))
            for name in one + four:
                container(name, network=NETWORK)
            t1 = converge(tmp, one, DB1, extra)
            t4 = converge(tmp, four, DB4, extra)
    finally:
        for name in one + four + list(DATABASES):
            container(name, "absent", network=NETWORK)
    print(f"cold converge of the stack, 1 host:  {t1:6.1f} s")
    print(f"cold converge of the stack, 4 hosts: {t4:6.1f} s (in parallel, one shared database)")
    print(f"ratio 4 hosts / 1 host: {t4 / t1:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
