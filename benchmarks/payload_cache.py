"""Controller CPU of an ansible-playbook run that uses many distinct modules:
ansible-core's own per-process AnsiballZ payload cache (every run builds
every module's payload again) vs. the test runs' shared payload cache
(scripts/ansiballz_payload: one payload per module source for a whole test
run), warm, as every run but the first of a test run finds it. One playbook
of distinct modules against localhost (connection local, nothing leaves the
machine), the two variants alternating, best of N rounds; CPU is the
ansible-playbook process tree's (getrusage(RUSAGE_CHILDREN)).

    .venv/bin/python benchmarks/payload_cache.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from _common import BIN, ENV, ROOT, load, run

HOOK = ROOT / "scripts" / "ansiballz_payload"


def tasks(tmp: str) -> list[dict]:
    """Builtin modules and a few of the collections make up's converge uses;
    each writes only below tmp."""
    return [
        {"ansible.builtin.ping": {}},
        {"ansible.builtin.stat": {"path": tmp}},
        {"ansible.builtin.command": {"argv": ["true"]}, "changed_when": False},
        {"ansible.builtin.file": {"path": f"{tmp}/d", "state": "directory", "mode": "0700"}},
        {"ansible.builtin.copy": {"dest": f"{tmp}/d/a", "content": "a\n", "mode": "0600"}},
        {"ansible.builtin.slurp": {"src": f"{tmp}/d/a"}},
        {"ansible.builtin.find": {"paths": tmp}},
        {"ansible.builtin.lineinfile": {"path": f"{tmp}/d/a", "line": "b", "create": True, "mode": "0600"}},
        {"ansible.builtin.replace": {"path": f"{tmp}/d/a", "regexp": "^c$", "replace": "d"}},
        {"ansible.builtin.blockinfile": {"path": f"{tmp}/d/a", "block": "e", "create": True, "mode": "0600"}},
        {"ansible.builtin.getent": {"database": "passwd", "key": "root"}},
        {"ansible.builtin.setup": {"gather_subset": ["!all", "!min", "distribution"]}},
        {"community.general.ini_file": {"path": f"{tmp}/d/i.ini", "section": "s", "option": "o", "value": "v",
                                        "mode": "0600"}},
        {"community.crypto.openssl_privatekey_info": {"path": f"{tmp}/k.pem"}, "ignore_errors": True},
        {"community.docker.docker_host_info": {"docker_host": "unix:///nonexistent.sock"}, "ignore_errors": True},
        {"amazon.aws.s3_object_info": {"bucket_name": "none", "endpoint_url": "http://127.0.0.1:9",
                                       "access_key": "x", "secret_key": "y", "region": "us-east-1"},
         "ignore_errors": True},
    ]


def cpu_of(argv: list[str], env: dict) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run(argv, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-payload-")
    try:
        book = Path(tmp) / "modules.yml"
        book.write_text(json.dumps([{"name": "Distinct modules", "hosts": "localhost", "gather_facts": False,
                                     "tasks": [dict(t, name=f"t{i}") for i, t in enumerate(tasks(tmp))]}]))
        cache = Path(tmp) / "payloads"
        cache.mkdir(mode=0o700)
        argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", f"ansible_python_interpreter={sys.executable}", str(book)]
        plain = dict(ENV)
        plain.pop("ANSIBALLZ_PAYLOAD_DIR", None)
        cached = dict(ENV, ANSIBALLZ_PAYLOAD_DIR=str(cache),
                      PYTHONPATH=os.pathsep.join(filter(None, [str(HOOK), ENV.get("PYTHONPATH", "")])))
        first = cpu_of(argv, cached)  # fills the shared cache, as a test run's first playbook does
        entries = sum(1 for _ in cache.iterdir())
        results: dict[str, list[float]] = {"per-process cache (ansible-core)": [], "shared cache, warm": []}
        for _ in range(args.rounds):
            results["per-process cache (ansible-core)"].append(cpu_of(argv, plain))
            results["shared cache, warm"].append(cpu_of(argv, cached))
        modules = len(tasks(tmp))
        print(f"{modules} distinct modules, one ansible-playbook run each, best of {args.rounds}; load {load()}")
        print(f"shared cache filled by a first run: {first:.2f} CPU-s, {entries} entries")
        best = {name: min(values) for name, values in results.items()}
        for name, value in best.items():
            print(f"  {name:36} {value:6.2f} CPU-s")
        base, warm = best["per-process cache (ansible-core)"], best["shared cache, warm"]
        print(f"  saved per run: {base - warm:.2f} CPU-s ({(base - warm) / modules:.2f} per module); "
              f"ratio warm/per-process {warm / base:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
