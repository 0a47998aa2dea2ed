"""Helpers shared by the benchmark scripts: run commands, time them, create
and remove containers through the project's own local_infra role."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = dict(
    os.environ,
    ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
    ANSIBLE_FORCE_COLOR="0",
    PY_COLORS="0",
)


def run(argv: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=env or ENV, cwd=ROOT, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(argv[:6])} ... (rc={proc.returncode})")
    return proc


def timed(argv: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    proc = run(argv, **kwargs)
    return time.monotonic() - start, proc


def playbook(path: str, *args: str) -> list[str]:
    return [str(BIN / "ansible-playbook"), str(ROOT / path), *args]


def container(name: str, state: str = "present", network: str = "", volumes: list[str] | None = None) -> None:
    args = ["-e", f"bench_name={name}", "-e", f"bench_state={state}"]
    if network:
        args += ["-e", f"bench_network={network}"]
    if volumes:
        args += ["-e", json.dumps({"bench_volumes": volumes})]
    run(playbook("benchmarks/playbooks/create.yml", *args))


def load() -> str:
    """The load averages (1, 5, 15 min) of this machine, to print beside figures."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def changed_count(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


def ca_bundle() -> str:
    return os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE") or ""


def stack_vars(tmp: str, password: str, db_password: str, **extra) -> Path:
    """Write the variables every stack benchmark shares (plus `extra`) to a 0600
    JSON file for `-e @file`: no password on a command line."""
    import json

    data = {
        "python_pip_ca_bundle": ca_bundle(),
        "nginx_proxy_server_names": ["mlflow.bench"],
        "server_public_names": ["mlflow.bench"],
        "nginx_proxy_users": [{"name": "bench", "password": password}],
        "nginx_proxy_password_dir": tmp,
        "db_server_listen_addresses": ["*"],
        "db_server_allowed_cidrs": ["172.16.0.0/12", "192.168.0.0/16", "10.0.0.0/8"],
        "db_server_password": db_password,
        **extra,
    }
    path = Path(tmp) / "vars.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(data))
    return path


def inventory(path: Path, mlflow_servers: dict, db_servers: dict | None = None) -> Path:
    """Write a YAML/JSON inventory of benchmark containers (docker connection)."""
    import json

    path.write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {
            "mlflow_servers": {"hosts": mlflow_servers},
            "db_servers": {"hosts": db_servers or {}},
        }}}))
    return path
