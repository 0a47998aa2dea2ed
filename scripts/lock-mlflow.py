#!/usr/bin/env python3
"""Regenerates the locks the server role installs MLflow from:
roles/server/files/locks/mlflow-<version>.txt, one per supported MLflow
version, each the output of `uv pip compile --universal --generate-hashes`
for an input of

    mlflow[auth]==<version>   (the auth extra: Flask-WTF, which MLflow's basic-auth app needs)
    every pin of __server_store_packages (roles/server/vars/main.yml)
    pip  (the venv's own pip, installed from the lock instead of `uv venv --seed`)

so one lock covers every store a host may use (the role installs only what
the host needs, with the lock as hash-carrying constraints), every Linux
architecture and every Python from python_min_version (roles/python) up.

    scripts/lock-mlflow.py                 every shipped lock, and the default server_mlflow_version's
    scripts/lock-mlflow.py 3.17.2 ...      these versions only
    scripts/lock-mlflow.py --upgrade       take the newest release of every dependency
                                           (without it, uv keeps the versions the existing lock has)
    scripts/lock-mlflow.py --extra azure-storage-blob==12.26.0 --output my.lock 3.17.2
                                           a lock of your own with further packages (server_pip_lock)

It runs the uv that the role pins (python_uv_version): the lock is then
resolved the way the hosts install it. tests/test_lock.py checks the result.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "roles" / "server" / "files" / "locks"
LOCK_NAME = re.compile(r"^mlflow-(\d+\.\d+\.\d+)\.txt$")


def role_value(role: str, kind: str, name: str):
    data = yaml.safe_load((ROOT / "roles" / role / kind / "main.yml").read_text())
    return data[name]


def store_pins() -> list[str]:
    """Every pin of __server_store_packages, in the order of the file."""
    return [pin for pins in role_value("server", "vars", "__server_store_packages").values() for pin in pins]


def find_uv() -> str:
    want = role_value("python", "defaults", "python_uv_version")
    for candidate in (os.environ.get("UV"), str(Path(sys.executable).parent / "uv"), shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            have = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
            if have == want:
                return candidate
            sys.exit(f"{candidate} is uv {have}; the role pins python_uv_version={want}: "
                     f"install that one (e.g. `pip install uv=={want}`) or point UV= at it")
    sys.exit(f"no uv found; install uv=={want} (python_uv_version) or point UV= at it")


def lock(uv: str, version: str, output: Path, extra: list[str], upgrade: bool) -> None:
    python = str(role_value("python", "defaults", "python_min_version"))
    # MLflow's auth extra (Flask-WTF) for server_auth=mlflow; a host without it installs mlflow alone.
    lines = [f"mlflow[auth]=={version}", *store_pins(), "pip", *extra]
    command = ["scripts/lock-mlflow.py", *(f"--extra {e}" for e in extra), version]
    with tempfile.TemporaryDirectory(prefix="lock-mlflow-") as tmp:
        # A fixed relative input name, so that the annotations read `-r requirements.in`.
        (Path(tmp) / "requirements.in").write_text("\n".join(lines) + "\n")
        argv = [uv, "pip", "compile", "--quiet", "--universal", "--generate-hashes",
                "--python-version", python, "--no-build",
                "--custom-compile-command", " ".join(command),
                "requirements.in", "--output-file", str(output.resolve())]
        if upgrade:
            argv.append("--upgrade")
        subprocess.run(argv, cwd=tmp, check=True)
    print(f"{output.relative_to(ROOT) if output.resolve().is_relative_to(ROOT) else output}: "
          f"{output.stat().st_size // 1024} KiB, "
          f"{len(re.findall(r'^[A-Za-z0-9]', output.read_text(), re.M))} entries (Python >= {python})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="MLflow versions (default: every shipped lock + the default)")
    parser.add_argument("--upgrade", action="store_true", help="newest release of every dependency")
    parser.add_argument("--extra", action="append", default=[], help="a further pinned package (repeatable)")
    parser.add_argument("--output", type=Path, help="write here (one version only; default: the role's lock)")
    args = parser.parse_args()
    versions = args.versions or sorted(
        {m.group(1) for p in LOCKS.glob("mlflow-*.txt") if (m := LOCK_NAME.match(p.name))}
        | {role_value("server", "defaults", "server_mlflow_version")},
        key=lambda v: tuple(map(int, v.split("."))))
    if args.output and len(versions) != 1:
        sys.exit("--output takes exactly one version")
    if args.extra and not args.output:
        sys.exit("--extra makes a lock of your own: give --output (the role's locks hold its own packages only)")
    uv = find_uv()
    LOCKS.mkdir(parents=True, exist_ok=True)
    for version in versions:
        lock(uv, version, args.output or LOCKS / f"mlflow-{version}.txt", args.extra, args.upgrade)


if __name__ == "__main__":
    main()
