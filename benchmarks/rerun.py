#!/usr/bin/env python3
"""Re-runs with nothing to change: `make up` again, and site.yml again over SSH.

  make up   playbooks/site.yml with the local inventory (the path of
            `make up`, docker exec per task), under the benchmark's own name
            and port: the cold run, then three re-runs (best and worst)
  ssh       a VM you already have, stood in for by a systemd container with
            openssh-server, a sudo user with key auth and port 22 published
            on 127.0.0.1: playbooks/site.yml with a static inventory
            (mlflow_target: none, as inventories/example), cold, then three
            re-runs

Every re-run must report changed=0. Goals: make up <= 20 s, site.yml over SSH
<= 30 s."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from _common import ca_bundle, changed_count, container, playbook, run, timed
from converge import free_port

UP, VM = "bench-rerun-up", "bench-rerun-vm"


def reruns(args: tuple[str, ...], count: int = 3) -> tuple[float, list[float]]:
    cold, _ = timed(playbook("playbooks/site.yml", *args))
    seconds = []
    for _ in range(count):
        took, proc = timed(playbook("playbooks/site.yml", *args))
        if changed_count(proc.stdout):
            raise SystemExit(f"a re-run changed something:\n{proc.stdout[-3000:]}")
        seconds.append(took)
    return cold, seconds


def make_up(tmp: Path) -> tuple[float, list[float]]:
    extra = tmp / "up.json"
    extra.write_text(json.dumps({
        "mlflow_deployment_name": UP,
        "local_infra_http_port": free_port(),
        "nginx_proxy_password_dir": str(tmp / "credentials-up"),
        "mlflow_local_env_file": str(tmp / "mlflow.env"),
        "python_pip_ca_bundle": ca_bundle(),
    }))
    return reruns(("-i", "inventories/local", "-e", f"@{extra}"))


def ssh_vm(tmp: Path) -> tuple[float, list[float]]:
    port = free_port()
    run(playbook("benchmarks/playbooks/create.yml", "-e", f"bench_name={VM}",
                 "-e", json.dumps({"bench_published_ports": [f"127.0.0.1:{port}:22"]})))
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    setup = (
        "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
        "apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; "
        "useradd -m -s /bin/bash deploy; echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy; "
        "install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh; "
        f"echo '{key.with_suffix('.pub').read_text().strip()}' > /home/deploy/.ssh/authorized_keys; "
        "chown deploy:deploy /home/deploy/.ssh/authorized_keys; chmod 0600 /home/deploy/.ssh/authorized_keys; "
        "systemctl enable --now ssh >/dev/null 2>&1 || systemctl restart ssh"
    )
    run(["docker", "exec", VM, "sh", "-c", setup])
    inventory = tmp / "hosts.json"
    inventory.write_text(json.dumps({"all": {
        "vars": {"mlflow_target": "none"},
        "children": {"mlflow_servers": {"hosts": {VM: {
            "ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "deploy",
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        }}}}}}))
    extra = tmp / "vm.json"
    extra.write_text(json.dumps({
        "nginx_proxy_password_dir": str(tmp / "credentials-vm"),
        "python_pip_ca_bundle": ca_bundle(),
    }))
    return reruns(("-i", str(inventory), "-e", f"@{extra}"))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rerun-") as tmp:
        tmp_path = Path(tmp)
        try:
            up = make_up(tmp_path)
            vm = ssh_vm(tmp_path)
        finally:
            extra = tmp_path / "up.json"
            if extra.exists():
                subprocess.run(playbook("playbooks/teardown_local.yml", "-i", "inventories/local", "-e", f"@{extra}",
                                        "-e", "local_infra_purge=true"), capture_output=True, check=False)
            container(VM, "absent")
    for name, (cold, seconds), goal in (("make up", up, 20), ("site.yml over SSH", vm, 30)):
        print(f"{name:18s} cold {cold:6.1f} s; re-runs (changed=0) best {min(seconds):5.1f} s, "
              f"worst {max(seconds):5.1f} s (goal <= {goal} s)")


if __name__ == "__main__":
    main()
