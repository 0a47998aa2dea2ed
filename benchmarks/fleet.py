#!/usr/bin/env python3
"""What one more host costs the controller: a warm re-run of the whole stack
(playbooks/mlflow_server.yml, changed=0) on 1 host vs. on N hosts sharing one
PostgreSQL, in one run.

  setup    one PostgreSQL container and N MLflow containers on one network
           (local_infra), the database converged, then every MLflow host
           converged once, cold and at once (printed, not the measurement)
  1 host   the stack again on the first host only (--limit), nothing to change
  N hosts  the stack again on all N hosts at once, nothing to change

The two re-runs alternate (1, N, 1, N, ...: --rounds), so that both see the
same machine. For each one the script reads the wall time and the CPU time of
the ansible-playbook process tree (resource.getrusage(RUSAGE_CHILDREN) around
the run: ansible-playbook, its forks and the `docker exec` clients they start;
not dockerd, not the containers). It prints the medians and, per extra host,
(N hosts - 1 host) / (N - 1).

What it means: the controller's cost of a fleet, per host, with the MLflow
install already there (the everyday run: a changed setting, a new user, a
check). Controller CPU per extra host is the figure that carries over to a
real fleet: it does not depend on how busy the hosts are. What it does not
mean: the wall time of N real VMs. Here the N containers share this machine's
cores with the controller (and with whatever else runs), so the wall time per
extra host is an upper bound; on a fleet each host works on its own CPU and
the controller's CPU, spread over `forks`, is what grows with N. Nor does it
measure a cold install on N hosts: that is CPU-bound on each host (unpacking,
bytecode) and on shared cores would only measure the contention.

Usage: fleet.py [--hosts N] [--rounds R]   (defaults 3 and 2: N=3 keeps the
setup, a cold install on every host, affordable on a 2-core machine)."""
from __future__ import annotations

import argparse
import re
import resource
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from _common import changed_count, container, inventory, load, playbook, run, stack_vars, timed

NETWORK = "mlops-bench-fleet"
DB = "bench-fleet-db"
DATABASES = {DB: {"db_server_engine": "postgresql"}}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def changed_tasks(output: str) -> list[str]:
    return re.findall(r"^TASK \[([^\]]+)\].*\n(?:(?!TASK \[).*\n)*?changed: ", output, flags=re.MULTILINE)


def stack(hosts_file: Path, extra: Path, hosts: list[str]) -> tuple[float, float, int]:
    """One run of the stack on `hosts`: wall seconds, controller CPU seconds, changed count."""
    cpu = children_cpu()
    start = time.monotonic()
    proc = run(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts_file), "-e", f"@{extra}",
                        "--limit", ",".join(hosts)))
    took, used, changed = time.monotonic() - start, children_cpu() - cpu, changed_count(proc.stdout)
    if changed:
        print(f"  changed on a re-run: {changed_tasks(proc.stdout)}", flush=True)
    return took, used, changed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    hosts = [f"bench-fleet-{i}" for i in range(1, opts.hosts + 1)]
    password, db_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    print(f"load before: {load()}", flush=True)
    one: list[tuple[float, float]] = []
    many: list[tuple[float, float]] = []
    try:
        container(DB, network=NETWORK)
        for name in hosts:
            container(name, network=NETWORK)
        with tempfile.TemporaryDirectory() as tmp:
            extra = stack_vars(tmp, password, db_password, db_client_engine="postgresql",
                               db_client_password=db_password, db_client_host=DB)
            hosts_file = inventory(Path(tmp) / "hosts.json", {h: {} for h in hosts}, DATABASES)
            run(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts_file), "-e", f"@{extra}",
                         "--limit", DB))
            cold, _ = timed(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts_file), "-e", f"@{extra}",
                                     "--limit", ",".join(hosts)))
            print(f"setup: cold converge of {len(hosts)} hosts at once {cold:.1f} s; load {load()}", flush=True)
            # A first re-run, not measured: it must report changed=0 (else it names the tasks).
            wall, cpu, changed = stack(hosts_file, extra, hosts)
            print(f"setup: first re-run on {len(hosts)} hosts {wall:.1f} s, changed={changed}", flush=True)
            for _ in range(opts.rounds):
                for subset, into in ((hosts[:1], one), (hosts, many)):
                    wall, cpu, changed = stack(hosts_file, extra, subset)
                    into.append((wall, cpu))
                    print(f"  re-run on {len(subset)} host(s): {wall:6.1f} s wall, {cpu:6.1f} s controller CPU"
                          f" (changed={changed})", flush=True)
    finally:
        for name in hosts + [DB]:
            container(name, "absent", network=NETWORK)
    n = len(hosts)
    wall1, cpu1 = (statistics.median(x[i] for x in one) for i in (0, 1))
    walln, cpun = (statistics.median(x[i] for x in many) for i in (0, 1))
    print(f"load after: {load()}")
    print(f"warm re-run (changed= as printed above), medians of {opts.rounds}:")
    print(f"  1 host:  {wall1:6.1f} s wall, {cpu1:6.1f} s controller CPU")
    print(f"  {n} hosts: {walln:6.1f} s wall, {cpun:6.1f} s controller CPU")
    print(f"  per extra host: {(walln - wall1) / (n - 1):5.1f} s wall, {(cpun - cpu1) / (n - 1):5.1f} s controller CPU "
          f"({(cpun - cpu1) / (n - 1) / cpu1:.2f} of the first host's CPU)")


if __name__ == "__main__":
    main()
