"""CPU of the controller's Python processes with and without the bytecode of
the venv's packages. An environment with PYTHONDONTWRITEBYTECODE=1 (this
test bed's) never lets Python write __pycache__, so every ansible-playbook,
every module run on the controller (boto3, google-auth) and every test process
compiles what it imports from source again; the Makefile no longer passes the
variable on. Both sides run in one go, alternating, each N times:

  from source   -X pycache_prefix=<empty directory> with PYTHONDONTWRITEBYTECODE=1:
                Python looks for bytecode only there, finds none, writes none
  with bytecode the venv's own __pycache__ (written once, before the rounds)

for three commands: `ansible-playbook --syntax-check playbooks/site.yml`, the
imports of an amazon.aws module run (boto3, botocore) and the imports of the
MLflow client. The CPU is the children's user+system time (getrusage), so the
other load of a shared machine counts little.

    .venv/bin/python benchmarks/bytecode.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile

from _common import BIN, ENV, ROOT, load

COMMANDS = {
    "ansible-playbook --syntax-check site.yml": [str(BIN / "ansible-playbook"), "--syntax-check",
                                                 str(ROOT / "playbooks" / "site.yml")],
    "import boto3 + an EC2 client": [str(BIN / "python"), "-c",
                                     "import boto3; boto3.client('ec2', region_name='us-east-1')"],
    "import mlflow": [str(BIN / "python"), "-c", "import mlflow"],
}


def _cpu(argv: list[str], env: dict) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cached = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as empty:
        source = dict(ENV, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=empty)
        print(f"load before: {load()}")
        print(f"{'command':44s} {'from source':>12s} {'bytecode':>10s} {'ratio':>7s}")
        for name, argv in COMMANDS.items():
            _cpu(argv, cached)  # writes the venv's bytecode of what it imports, once
            src = min(_cpu(argv, source) for _ in range(args.rounds))
            pyc = min(_cpu(argv, cached) for _ in range(args.rounds))
            print(f"{name:44s} {src:10.2f} s {pyc:8.2f} s {src / pyc:6.1f}x")
        print(f"load after: {load()}  (CPU s of the command and its children, best of {args.rounds})")


if __name__ == "__main__":
    sys.exit(main())
