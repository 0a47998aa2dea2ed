"""Tracking-API load from one process with N threads, run inside a test
container with MLflow's venv Python (it has `requests`):

    python load.py --url http://127.0.0.1:5000 [--host NAME] --threads 8 --seconds 20 --mode mix|metrics

Credentials for basic auth come from MLFLOW_TRACKING_USERNAME/PASSWORD.
mode mix: each thread loops over log-batch, runs/get and runs/search on a run
of its own; mode metrics: each thread logs one metric per request (the
"16 clients logging metrics" load). Bounded by --seconds; prints one JSON
line: requests, errors (non-2xx or exceptions), requests/s, status counts."""
import argparse
import collections
import json
import os
import threading
import time
import uuid

import requests


def worker(args, deadline, counts, lock):
    session = requests.Session()
    if os.environ.get("MLFLOW_TRACKING_USERNAME"):
        session.auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
    if args.host:
        session.headers["Host"] = args.host
    api = args.url.rstrip("/") + "/api/2.0/mlflow"
    local = collections.Counter()

    def call(method, path, **kwargs):
        try:
            response = session.request(method, api + path, timeout=30, **kwargs)
            local[response.status_code] += 1
            return response
        except requests.RequestException as exc:
            local[type(exc).__name__] += 1
            return None

    exp = call("POST", "/experiments/create", json={"name": f"load-{uuid.uuid4().hex}"})
    if exp is None or exp.status_code != 200:
        with lock:
            counts.update(local)
        return
    run = call("POST", "/runs/create", json={"experiment_id": exp.json()["experiment_id"]})
    run_id = run.json()["run"]["info"]["run_id"]
    exp_id = exp.json()["experiment_id"]
    step = 0
    while time.monotonic() < deadline:
        step += 1
        now = int(time.time() * 1000)
        if args.mode == "metrics":
            call("POST", "/runs/log-metric", json={"run_id": run_id, "key": "loss", "value": 1.0 / step, "timestamp": now, "step": step})
            continue
        metrics = [{"key": f"m{i}", "value": float(step), "timestamp": now, "step": step} for i in range(10)]
        call("POST", "/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
        call("GET", "/runs/get", params={"run_id": run_id})
        call("POST", "/runs/search", json={"experiment_ids": [exp_id], "max_results": 10})
    with lock:
        counts.update(local)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--host", default="")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--mode", choices=["mix", "metrics"], default="mix")
    args = parser.parse_args()
    counts, lock = collections.Counter(), threading.Lock()
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [threading.Thread(target=worker, args=(args, deadline, counts, lock)) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    total = sum(counts.values())
    ok = sum(n for code, n in counts.items() if isinstance(code, int) and 200 <= code < 300)
    print(json.dumps({
        "requests": total,
        "errors": total - ok,
        "rps": round(total / elapsed, 1),
        "status": {str(k): v for k, v in sorted(counts.items(), key=str)},
    }))


if __name__ == "__main__":
    main()
