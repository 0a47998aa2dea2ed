#!/usr/bin/env python3
"""A big artifact up and down with the real MLflow client, at disk speed?

Deploys the stack (SQLite, local artifacts) into a fresh container and, in
one run, moves the same file (1 GiB by default, random bytes) up as an
artifact of a new run and down again, from inside the container:

  (a) straight to MLflow on 127.0.0.1:5000
  (b) through nginx with basic auth (plain HTTP)
  (c) through nginx with basic auth and TLS (self-signed certificate, the
      client trusting it through MLFLOW_TRACKING_SERVER_CERT_PATH)

beside a plain disk copy of the file (cp) as the floor. Prints MB/s of each
direction, the ratios (b)/(a) and (c)/(a) (goal >= 0.80), and nginx's
resident memory before and at its peak during the transfers (goal: flat, the
bodies are streamed, not buffered)."""
from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, container, inventory, playbook, run, stack_vars

NAME = "bench-artifacts"
CERT = "/etc/ssl/certs/mlops-mlflow-nginx.crt"


def deploy(password: str, tls: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        extra = stack_vars(tmp, password, secrets.token_urlsafe(16),
                           nginx_proxy_tls_mode="self_signed" if tls else "off")
        hosts = inventory(Path(tmp) / "hosts.json", {NAME: {}})
        run(playbook("benchmarks/playbooks/stack.yml", "-i", str(hosts), "-e", f"@{extra}"))


def nginx_rss_kib() -> int:
    """Resident memory of all nginx processes (the image has no pgrep)."""
    script = ("for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = nginx ] && "
              "grep VmRSS $d/status; done | awk '{s += $2} END {print s + 0}'")
    out = run(["docker", "exec", NAME, "sh", "-c", script]).stdout
    return int(out.strip() or 0)


def transfer(url: str, password: str, source: str, sha: str, cert: str = "") -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:  # 0600: no password on a command line
        env_file.write(f"MLFLOW_TRACKING_URI={url}\n")
        if password:
            env_file.write(f"MLFLOW_TRACKING_USERNAME=bench\nMLFLOW_TRACKING_PASSWORD={password}\n")
        if cert:
            env_file.write(f"MLFLOW_TRACKING_SERVER_CERT_PATH={cert}\n")
        env_file.flush()
        peak = [nginx_rss_kib()]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(nginx_rss_kib())
                time.sleep(1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            out = run(["docker", "exec", "--env-file", env_file.name, NAME, "/opt/mlflow/venv/bin/python",
                       "/var/tmp/artifact_io.py", source, sha]).stdout
        finally:
            done.set()
            sampler.join()
    result = json.loads(out.strip().splitlines()[-1])
    result["nginx_peak_kib"] = max(peak)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024, help="size of the artifact (MiB)")
    parser.add_argument("--keep", action="store_true", help="keep the container")
    args = parser.parse_args()
    password = secrets.token_urlsafe(24)
    source = "/var/tmp/artifact.bin"
    results: dict[str, dict] = {}
    try:
        container(NAME)
        deploy(password, tls=False)
        run(["docker", "cp", str(ROOT / "benchmarks/files/artifact_io.py"), f"{NAME}:/var/tmp/artifact_io.py"])
        run(["docker", "exec", NAME, "sh", "-c", "grep -q mlflow.bench /etc/hosts || echo '127.0.0.1 mlflow.bench' >> /etc/hosts"])
        run(["docker", "exec", NAME, "dd", "if=/dev/urandom", f"of={source}", "bs=1M", f"count={args.mib}", "status=none"])
        sha = run(["docker", "exec", NAME, "sha256sum", source]).stdout.split()[0]
        start = time.monotonic()
        run(["docker", "exec", NAME, "cp", source, source + ".copy"])
        copy_s = time.monotonic() - start
        run(["docker", "exec", NAME, "rm", "-f", source + ".copy"])
        idle_kib = nginx_rss_kib()
        results["a direct"] = transfer("http://127.0.0.1:5000", "", source, sha)
        results["b nginx+auth"] = transfer("http://mlflow.bench", password, source, sha)
        deploy(password, tls=True)
        results["c nginx+auth+TLS"] = transfer("https://mlflow.bench", password, source, sha, CERT)
        results["a direct (again)"] = transfer("http://127.0.0.1:5000", "", source, sha)
    finally:
        if not args.keep:
            container(NAME, "absent")
    mib = args.mib
    print(f"artifact {mib} MiB; plain disk copy (cp): {mib / copy_s:7.1f} MiB/s")
    for name, r in results.items():
        print(f"{name:18s} up {mib / r['up_s']:7.1f} MiB/s  down {mib / r['down_s']:7.1f} MiB/s  "
              f"nginx peak RSS {r['nginx_peak_kib'] / 1024:6.1f} MiB")
    base_up = (results["a direct"]["up_s"] + results["a direct (again)"]["up_s"]) / 2
    base_down = (results["a direct"]["down_s"] + results["a direct (again)"]["down_s"]) / 2
    for name in ("b nginx+auth", "c nginx+auth+TLS"):
        r = results[name]
        print(f"{name}: up {base_up / r['up_s']:.2f}, down {base_down / r['down_s']:.2f} of direct (goal >= 0.80)")
    print(f"nginx RSS idle {idle_kib / 1024:.1f} MiB (all workers); peaks above (goal: flat)")


if __name__ == "__main__":
    main()
