"""What installing MLflow from the role's lock costs, against the install
without it, in one fresh container, same installer and same cache state on
both sides:

  without the lock  what the server role ran before the lock:
                    uv venv --seed, uv pip install mlflow==<pinned>
  with the lock     what it runs now on a new venv: uv venv, uv pip install
                    --require-hashes --no-build --constraint <lock>
                    mlflow==<pinned> pip==<locked> (roles/server/tasks/install.yml;
                    --reinstall only where the venv held an install already)

each cold (an empty uv cache: every wheel downloaded) and warm (a cache that
already holds every wheel of both sides, a fresh venv), alternating the order
round by round. With --pip, the same for pip, cold only (--no-cache-dir):
python3 -m venv and pip install mlflow==<pinned>, against pip install
--require-hashes --only-binary :all: -r <lock> (the role's pip path installs
the whole lock: every store's driver). Prints each time, the medians and the
ratios with / without, and how many packages each side installed.

    .venv/bin/python benchmarks/lock_install.py [--rounds 2] [--pip]
"""
from __future__ import annotations

import argparse
import re
import statistics

import yaml

from _common import ROOT, ca_bundle, container, load, run, timed

SERVER_DEFAULTS = yaml.safe_load((ROOT / "roles/server/defaults/main.yml").read_text())
VERSION = SERVER_DEFAULTS["server_mlflow_version"]
LOCK = ROOT / "roles/server/files/locks" / f"mlflow-{VERSION}.txt"
PIP = re.search(r"^pip==(\S+)", LOCK.read_text(), re.M).group(1)
UV_VERSION = yaml.safe_load((ROOT / "roles/python/defaults/main.yml").read_text())["python_uv_version"]
NAME = "bench-lock"
UV = "/opt/uv/bin/uv"
# The role's own command lines (the store drivers of the defaults: none, SQLite and local artifacts).
COMMANDS = {
    ("uv", "without"): f"{UV} venv -q --seed --python /usr/bin/python3 /opt/b && "
                       f"{UV} pip install -q --python /opt/b/bin/python mlflow=={VERSION}",
    ("uv", "with"): f"{UV} venv -q --python /usr/bin/python3 /opt/b && "
                    f"{UV} pip install -q --python /opt/b/bin/python --require-hashes --no-build "
                    f"--constraint /opt/lock.txt mlflow=={VERSION} pip=={PIP}",
    ("pip", "without"): f"python3 -m venv /opt/b && /opt/b/bin/pip install -q --no-cache-dir mlflow=={VERSION}",
    ("pip", "with"): "python3 -m venv /opt/b && /opt/b/bin/pip install -q --no-cache-dir --require-hashes "
                     "--only-binary :all: -r /opt/lock.txt",
}


def sh(script: str) -> float:
    seconds, _ = timed(["docker", "exec", NAME, "sh", "-c", script])
    return seconds


def packages() -> int:
    out = run(["docker", "exec", NAME, "sh", "-c", "ls -d /opt/b/lib/python3*/site-packages/*.dist-info | wc -l"])
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pip", action="store_true", help="pip too, cold (slow: minutes per install)")
    args = parser.parse_args()
    container(NAME)
    try:
        env = "export UV_NATIVE_TLS=true UV_PYTHON_DOWNLOADS=never; "
        if ca_bundle():
            # Not /tmp or /run: tmpfs mounts in these containers.
            run(["docker", "cp", ca_bundle(), f"{NAME}:/usr/local/share/bench-ca.pem"])
            env += "export PIP_CERT=/usr/local/share/bench-ca.pem SSL_CERT_FILE=/usr/local/share/bench-ca.pem; "
        run(["docker", "cp", str(LOCK), f"{NAME}:/opt/lock.txt"])
        # As the python role: python3-venv, uv from pip into its own venv.
        sh(f"set -e; {env} export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
           "apt-get install -y -qq python3-venv >/dev/null; "
           f"python3 -m venv /opt/uv; /opt/uv/bin/pip install -q uv=={UV_VERSION}")
        print(f"MLflow {VERSION}, uv {UV_VERSION}, lock {LOCK.name} ({LOCK.stat().st_size // 1024} KiB); "
              f"load before: {load()}", flush=True)
        times: dict[tuple[str, str, str], list[float]] = {}
        count: dict[tuple[str, str], int] = {}

        def measure(installer: str, side: str, cache: str, cache_env: str) -> None:
            seconds = sh(f"set -e; {env} {cache_env} rm -rf /opt/b; {COMMANDS[installer, side]}")
            count[installer, side] = packages()
            times.setdefault((installer, side, cache), []).append(seconds)
            print(f"  {installer} {cache:4s} {side:7s} the lock: {seconds:6.1f} s "
                  f"({count[installer, side]} packages; load {load()})", flush=True)

        # Warm: one cache that holds every wheel of both sides, filled before.
        warm = "export UV_CACHE_DIR=/var/tmp/uv-warm;"
        for side in ("without", "with"):
            sh(f"set -e; {env} {warm} rm -rf /opt/b; {COMMANDS['uv', side]}")
        for rnd in range(args.rounds):
            order = ("without", "with") if rnd % 2 == 0 else ("with", "without")
            for side in order:
                measure("uv", side, "cold", f"export UV_CACHE_DIR=/var/tmp/uv-cold-{rnd}-{side}; "
                        f"trap 'rm -rf /var/tmp/uv-cold-{rnd}-{side}' EXIT;")
            for side in order:
                measure("uv", side, "warm", warm)
            if args.pip:
                for side in order:
                    measure("pip", side, "cold", "")
        print(f"load after: {load()}")
        print(f"{'installer':9s} {'cache':5s} {'without':>9s} {'with':>9s} {'ratio':>6s}  (medians of {args.rounds})")
        for installer in ("uv", "pip"):
            for cache in ("cold", "warm"):
                if (installer, "with", cache) not in times:
                    continue
                without = statistics.median(times[installer, "without", cache])
                with_lock = statistics.median(times[installer, "with", cache])
                print(f"{installer:9s} {cache:5s} {without:7.1f} s {with_lock:7.1f} s {with_lock / without:6.2f}")
    finally:
        container(NAME, "absent")


if __name__ == "__main__":
    main()
