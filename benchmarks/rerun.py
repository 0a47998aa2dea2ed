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
<= 30 s.

Then, for each of the two, one more re-run with the profile_tasks callback
and benchmarks/callback_plugins/task_census.py (not timed with the others:
callbacks cost time): where the time goes, per role, split into tasks that
run a module on the host and tasks that stay on the controller (set_fact,
assert, include_*, ...). The profile_tasks output goes to --profile-dir.

Over SSH, the connection settings are then compared, re-runs alternating
(--variant-rounds): as this checkout ships them (ansible.cfg: pipelining;
Ansible's default ssh_args, ControlMaster with ControlPersist=60s and -C),
without compression (-C), and without pipelining and ControlMaster."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from _common import ENV, ROOT, ca_bundle, changed_count, container, load, playbook, run, timed
from converge import free_port

UP, VM = "bench-rerun-up", "bench-rerun-vm"


SSH_VARIANTS = {
    "as shipped": {},
    # Its own ControlPath directory: a master started with -C would be reused otherwise.
    "no -C": {"ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
              "ANSIBLE_SSH_CONTROL_PATH_DIR": str(Path.home() / ".ansible/cp-bench-noc")},
    "no pipelining, no ControlMaster": {"ANSIBLE_PIPELINING": "False", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"},
}


def rerun(args: tuple[str, ...], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    took, proc = timed(playbook("playbooks/site.yml", *args), env={**ENV, **(env or {})})
    if changed_count(proc.stdout):
        tasks = re.findall(r"^TASK \[([^\]]+)\].*\n(?:(?!TASK \[).*\n)*?changed: ", proc.stdout, flags=re.MULTILINE)
        print(f"  a re-run ({took:.1f} s) changed {changed_count(proc.stdout)}: {tasks}", flush=True)
    return took, proc


RERUNS = 3


def reruns(args: tuple[str, ...], count: int | None = None) -> tuple[float, list[float]]:
    count = count or RERUNS
    cold, _ = timed(playbook("playbooks/site.yml", *args))
    seconds = [rerun(args)[0] for _ in range(count)]
    return cold, seconds


def census(label: str, args: tuple[str, ...], out_dir: Path) -> str:
    """One re-run with profile_tasks and task_census; a table per role."""
    data = out_dir / f"census-{label}.json"
    took, proc = rerun(args, {
        "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "benchmarks/callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,task_census",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "40",
        "BENCH_CENSUS_FILE": str(data),
    })
    (out_dir / f"profile-{label}.txt").write_text(proc.stdout)
    tasks = [t for t in json.loads(data.read_text()) if t["ran"]]
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for task in tasks:
        row = rows[task["role"]]
        row[f"{task['where']} tasks"] += 1
        row[f"{task['where']} s"] += task["seconds"]
        if task["where"] == "host":
            row["host calls"] += task["calls"]
    lines = [f"{label}: profiled re-run {took:.1f} s (callbacks on), {len(tasks)} tasks ran",
             f"  {'role':14s} {'host tasks':>10s} {'calls':>6s} {'host s':>7s} {'ctrl tasks':>10s} {'ctrl s':>7s}"
             f" {'local tasks':>11s} {'local s':>7s}"]
    for role, row in sorted(rows.items(), key=lambda kv: -sum(v for k, v in kv[1].items() if k.endswith(" s"))):
        lines.append(f"  {role:14s} {row['host tasks']:10.0f} {row['host calls']:6.0f} {row['host s']:7.1f}"
                     f" {row['controller tasks']:10.0f} {row['controller s']:7.1f}"
                     f" {row['localhost tasks']:11.0f} {row['localhost s']:7.1f}")
    return "\n".join(lines)


def make_up(tmp: Path) -> tuple[tuple[str, ...], tuple[float, list[float]]]:
    extra = tmp / "up.json"
    extra.write_text(json.dumps({
        "mlflow_deployment_name": UP,
        "local_infra_http_port": free_port(),
        "nginx_proxy_password_dir": str(tmp / "credentials-up"),
        "mlflow_local_env_file": str(tmp / "mlflow.env"),
        "python_pip_ca_bundle": ca_bundle(),
    }))
    args = ("-i", "inventories/local", "-e", f"@{extra}")
    return args, reruns(args)


def ssh_vm(tmp: Path) -> tuple[tuple[str, ...], tuple[float, list[float]]]:
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
    args = ("-i", str(inventory), "-e", f"@{extra}")
    return args, reruns(args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile-dir", default=str(ROOT / "build/bench-rerun"))
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--ssh-only", action="store_true", help="leave make up out")
    parser.add_argument("--variant-rounds", type=int, default=1, help="0: no comparison of SSH settings")
    parser.add_argument("--variants", default=",".join(SSH_VARIANTS), help="comma-separated names of SSH_VARIANTS")
    opts = parser.parse_args()
    global RERUNS
    RERUNS = opts.reruns
    chosen = [v.strip() for v in opts.variants.split(",") if v.strip()]
    out_dir = Path(opts.profile_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"load before: {load()}", flush=True)
    variants: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="rerun-") as tmp:
        tmp_path = Path(tmp)
        try:
            if not opts.ssh_only:
                up_args, up = make_up(tmp_path)
                print(f"make up: cold {up[0]:.1f} s, re-runs {', '.join(f'{s:.1f}' for s in up[1])} s; load {load()}",
                      flush=True)
                up_census = census("make-up", up_args, out_dir)
                print(up_census, flush=True)
            vm_args, vm = ssh_vm(tmp_path)
            print(f"ssh: cold {vm[0]:.1f} s, re-runs {', '.join(f'{s:.1f}' for s in vm[1])} s; load {load()}",
                  flush=True)
            vm_census = census("ssh", vm_args, out_dir)
            print(vm_census, flush=True)
            for _ in range(opts.variant_rounds):
                for name in chosen:
                    took, _ = rerun(vm_args, SSH_VARIANTS[name])
                    variants[name].append(took)
                    print(f"  ssh re-run, {name}: {took:.1f} s", flush=True)
        finally:
            extra = tmp_path / "up.json"
            if extra.exists():
                subprocess.run(playbook("playbooks/teardown_local.yml", "-i", "inventories/local", "-e", f"@{extra}",
                                        "-e", "local_infra_purge=true"), capture_output=True, check=False)
            container(VM, "absent")
    print(f"load after: {load()}")
    measured = ([] if opts.ssh_only else [("make up", up, 20)]) + [("site.yml over SSH", vm, 30)]
    for name, (cold, seconds), goal in measured:
        print(f"{name:18s} cold {cold:6.1f} s; re-runs best {min(seconds):5.1f} s, "
              f"worst {max(seconds):5.1f} s (goal <= {goal} s)")
    if not opts.ssh_only:
        print(up_census)
    print(vm_census)
    if variants:
        print("site.yml over SSH re-runs by connection settings (alternating):")
        for name, seconds in variants.items():
            print(f"  {name:32s} {', '.join(f'{s:.1f}' for s in seconds)} s")
    print(f"profile_tasks output: {out_dir}")


if __name__ == "__main__":
    main()
