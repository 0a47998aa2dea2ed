#!/usr/bin/env python3
"""Which bcrypt cost can nginx afford? Valid users' latency and throughput
while 50 wrong-password requests per second hit the same nginx.

nginx checks the basic-auth hash with libc crypt(3) on every request, inside
its event loop: while one bcrypt runs, that worker serves nobody else. And a
wrong password costs the same hash as a right one (the failed-login rate
limit answers 429 only after the hash was checked), so a password guesser at
a modest 50 requests/s buys 50 hashes of CPU per second.

Deploys mlops.mlflow.nginx_proxy (the role, as users get it) into a fresh
container in front of the echo upstream of the Molecule scenarios, then for
each cost: re-runs the role with that cost (the role re-hashes), and inside
the container, in one run, measures
  - one valid request at a time on a fresh connection (about one hash);
  - N valid clients on keep-alive connections for S seconds, alone;
  - the same clients while 50 wrong-password requests/s arrive from another
    address (each on its own connection, as a guesser sends them);
and prints a table: requests/s and p50/p95/p99 latency of the valid clients,
and how much of their throughput survives the attack.

    .venv/bin/python benchmarks/htpasswd_hash.py [--costs 4,5,6,8,10] [--seconds 15] [--image debian12]

Traffic goes only to 127.0.0.1 inside the container (docker exec)."""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

NAME = "bench-htpasswd"
USER = "bench"
LOAD_PATH = "/var/tmp/htpasswd_hash.py"


# --- inside the container (standard library only) ---------------------------
def _request(conn: http.client.HTTPConnection, password: str) -> int:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    conn.request("GET", "/api/2.0/mlflow/experiments/search", headers={"Host": "localhost", "Authorization": "Basic " + token})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _valid_clients(password: str, threads: int, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            start = time.monotonic()
            try:
                status = _request(conn, password)
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=30)
                status = 0
            if status == 200:
                mine.append(time.monotonic() - start)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 1),
        "p95_ms": round(_percentile(latencies, 0.95) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "errors": errors[0],
    }


def _attack(rate: float, stop: threading.Event, sent: list[int], statuses: dict) -> None:
    """`rate` wrong-password requests per second from 127.0.0.2, each on a new
    connection, paced by the clock (not by the answers, which auth_delay holds back)."""
    lock = threading.Lock()

    def one(i: int):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=30, source_address=("127.0.0.2", 0))
            status = _request(conn, f"wrong-password-{i:08d}")
            conn.close()
        except OSError as exc:
            status = type(exc).__name__
        with lock:
            statuses[status] = statuses.get(status, 0) + 1

    start, i = time.monotonic(), 0
    while not stop.is_set():
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        threading.Thread(target=one, args=(i,), daemon=True).start()
        i += 1
    sent[0] = i


def load(args: argparse.Namespace) -> None:
    password = os.environ["BENCH_PASSWORD"]
    conn_times = []
    for _ in range(20):  # one request at a time, a fresh connection each: about one hash plus a round trip
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=30)
        assert _request(conn, password) == 200
        conn.close()
        conn_times.append(time.monotonic() - start)
    alone = _valid_clients(password, args.threads, args.seconds)
    stop, sent, statuses = threading.Event(), [0], {}
    attacker = threading.Thread(target=_attack, args=(args.attack_rate, stop, sent, statuses))
    attacker.start()
    time.sleep(2)  # let the attack reach its rate
    attacked = _valid_clients(password, args.threads, args.seconds)
    stop.set()
    attacker.join()
    time.sleep(2)  # answers of the last wrong passwords (auth_delay)
    print(json.dumps({
        "single_ms": round(statistics.median(conn_times) * 1000, 2),
        "alone": alone,
        "attacked": attacked,
        "attack": {"sent": sent[0], "seconds": round(args.seconds + 2, 1), "statuses": {str(k): v for k, v in statuses.items()}},
    }))


# --- on the controller --------------------------------------------------------
def deploy_vars(tmp: str, password: str, cost: int) -> Path:
    path = Path(tmp) / "vars.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps({
        "nginx_proxy_users": [{"name": USER, "password": password}],
        "nginx_proxy_password_dir": tmp,
        "nginx_proxy_htpasswd_bcrypt_cost": cost,
    }))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--costs", default="4,5,6,8,10", help="bcrypt costs to measure, comma-separated")
    parser.add_argument("--seconds", type=float, default=15, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=4, help="valid clients (keep-alive connections)")
    parser.add_argument("--attack-rate", type=float, default=50, help="wrong-password requests per second")
    parser.add_argument("--image", default="debian12", help="base image tag (debian12 or debian13)")
    parser.add_argument("--keep", action="store_true", help="keep the container")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)  # inside the container
    args = parser.parse_args()
    if args.load:
        load(args)
        return

    import secrets
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import ROOT, inventory, playbook, run

    costs = [int(c) for c in args.costs.split(",")]
    password = secrets.token_urlsafe(24)
    rows = []
    try:
        run(playbook("benchmarks/playbooks/create.yml", "-e", f"bench_name={NAME}",
                     "-e", f"local_infra_image=mlops-mlflow-base:{args.image}"))
        run(["docker", "cp", str(ROOT / "molecule/_shared/files/echo_upstream.py"), f"{NAME}:/usr/local/lib/echo_upstream.py"])
        run(["docker", "cp", __file__, f"{NAME}:{LOAD_PATH}"])
        run(["docker", "exec", NAME, "systemd-run", "--unit=echo-upstream", "--property=DynamicUser=yes",
             "/usr/bin/python3", "/usr/local/lib/echo_upstream.py"])
        with tempfile.TemporaryDirectory() as tmp:
            hosts = inventory(Path(tmp) / "hosts.json", {NAME: {}})
            play = Path(tmp) / "play.json"
            play.write_text(json.dumps([{"name": "nginx_proxy", "hosts": "mlflow_servers", "gather_facts": True,
                                         "roles": [{"role": "mlops.mlflow.nginx_proxy"}]}]))
            for cost in costs:
                run(playbook(str(play), "-i", str(hosts), "-e", f"@{deploy_vars(tmp, password, cost)}"))
                head = run(["docker", "exec", NAME, "cut", "-c1-12", "/etc/nginx/mlops-mlflow.htpasswd"]).stdout
                assert f"{USER}:$2b${cost:02d}$"[:12] in head, head
                with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:  # no password on a command line
                    env_file.write(f"BENCH_PASSWORD={password}\n")
                    env_file.flush()
                    out = run(["docker", "exec", "--env-file", env_file.name, NAME, "python3", LOAD_PATH, "--load",
                               "--seconds", str(args.seconds), "--threads", str(args.threads),
                               "--attack-rate", str(args.attack_rate)]).stdout
                result = json.loads(out.strip().splitlines()[-1])
                rows.append((cost, result))
                print(f"cost {cost:2d}: {json.dumps(result)}", flush=True)
            cpus = run(["docker", "exec", NAME, "nproc"]).stdout.strip()
    finally:
        if not args.keep:
            run(playbook("benchmarks/playbooks/create.yml", "-e", f"bench_name={NAME}", "-e", "bench_state=absent"))

    print()
    print(f"nginx_proxy on {args.image} ({cpus} CPUs), {args.threads} valid keep-alive clients, {args.seconds:g} s each, "
          f"attack {args.attack_rate:g} wrong passwords/s from another address")
    print("| cost | one request, fresh connection | valid alone: req/s, p50/p95/p99 ms | under attack: req/s, p50/p95/p99 ms | kept |")
    print("| --- | --- | --- | --- | --- |")
    for cost, r in rows:
        a, b = r["alone"], r["attacked"]
        kept = b["rps"] / a["rps"] if a["rps"] else float("nan")
        print(f"| {cost} | {r['single_ms']} ms | {a['rps']}, {a['p50_ms']}/{a['p95_ms']}/{a['p99_ms']} | "
              f"{b['rps']}, {b['p50_ms']}/{b['p95_ms']}/{b['p99_ms']} | {kept:.0%} |")


if __name__ == "__main__":
    main()
