"""CPU per Ansible task on a local container: the `community.docker.docker`
connection (a `docker exec` process per task) against
`community.docker.docker_api` (the engine's API; local_infra and the test
bed keep the first until a failure seen once with the second is understood). The same playbook of N `stat` tasks runs once per
connection against one container; the CPU of the controller (ansible-playbook
and its children), of dockerd and of the container is read from /proc and the
container's cgroup, so the other load of a shared machine does not count. A third row runs the
docker connection against a second container that has the test bed's
bytecode cache for Ansible's modules mounted (molecule/_shared/files/
ansiballz_pyc, what every Molecule container gets); its cache is filled by
one warm-up pass first, as it is after a scenario's first tasks.

    .venv/bin/python benchmarks/connection.py [--tasks 40]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
from pathlib import Path

from _common import ROOT, container, playbook, run

NAME = "bench-connection"
CACHED = "bench-connection-pyc"
CACHED_LABEL = "docker + test bed's bytecode cache"
CONNECTIONS = ("community.docker.docker", "community.docker.docker_api")


def _ticks(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _dockerd() -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "dockerd":
                    return int(entry.name)
            except OSError:
                continue
    raise SystemExit("dockerd is not running here: the benchmark reads its CPU")


def _container_cpu(name: str) -> float:
    cid = run(["docker", "inspect", "-f", "{{.Id}}", name]).stdout.strip()
    for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
                 f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"):
        if Path(path).exists():
            text = Path(path).read_text()
            if path.endswith("cpuacct.usage"):
                return int(text) / 1e9
            return int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6
    raise SystemExit("cannot find the container's cgroup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    args = parser.parse_args()
    dockerd = _dockerd()
    pyc = ROOT / "molecule/_shared/files/ansiballz_pyc"
    container(NAME)
    container(CACHED, volumes=[f"{pyc}/{f}:/usr/lib/python3/dist-packages/{f}:ro"
                               for f in ("ansiballz_pyc.py", "ansiballz_pyc.pth")])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            book = Path(tmp) / "stat.yml"
            book.write_text(json.dumps([{
                "hosts": "all", "gather_facts": False,
                "tasks": [{"name": "Stat", "ansible.builtin.stat": {"path": "/etc/hostname"},
                           "loop": list(range(args.tasks))}],
            }]))
            def stat_run(name: str, connection: str) -> None:
                run(playbook(str(book), "-i", f"{name},", "-c", connection,
                             "-e", "ansible_python_interpreter=/usr/bin/python3"))

            stat_run(CACHED, CONNECTIONS[0])  # fills the bytecode cache
            results = {}
            for label, name, connection in ((CONNECTIONS[0], NAME, CONNECTIONS[0]),
                                            (CONNECTIONS[1], NAME, CONNECTIONS[1]),
                                            (CACHED_LABEL, CACHED, CONNECTIONS[0])):
                before = (resource.getrusage(resource.RUSAGE_CHILDREN), _ticks(dockerd), _container_cpu(name))
                stat_run(name, connection)
                after = (resource.getrusage(resource.RUSAGE_CHILDREN), _ticks(dockerd), _container_cpu(name))
                controller = (after[0].ru_utime + after[0].ru_stime) - (before[0].ru_utime + before[0].ru_stime)
                results[label] = (controller, after[1] - before[1], after[2] - before[2])
        print(f"CPU seconds per task ({args.tasks} stat tasks):")
        print(f"{'connection':36} {'controller':>10} {'dockerd':>8} {'container':>9} {'total':>7}")
        for connection, parts in results.items():
            print(f"{connection:36} " + " ".join(f"{p / args.tasks:>8.3f}  " for p in parts)
                  + f"{sum(parts) / args.tasks:>6.3f}")
        ratio = sum(results[CONNECTIONS[1]]) / sum(results[CONNECTIONS[0]])
        print(f"docker_api / docker: {ratio:.2f}")
        cached = results[CACHED_LABEL][2] / results[CONNECTIONS[0]][2]
        print(f"container CPU, bytecode cache / none: {cached:.2f}")
    finally:
        container(NAME, state="absent")
        container(CACHED, state="absent")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
