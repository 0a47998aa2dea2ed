#!/usr/bin/env python3
"""HTTP(S) client for the checks uri cannot do: streamed uploads, loops, bursts."""
import base64, collections, concurrent.futures, hashlib, http.client, itertools, json, os, socket, ssl, sys, time

HOST = os.environ.get("VERIFY_HOST", "localhost")
SCHEME, PORT = os.environ["VERIFY_SCHEME"], int(os.environ["VERIFY_PORT"])

def connect(source="127.0.0.1", timeout=60, direct=False):
    # TCP_NODELAY like urllib3 (so the MLflow client): http.client sends
    # headers and body in two writes, which Nagle would hold for 40 ms.
    port = 5000 if direct else PORT  # direct: straight to the upstream, for comparison
    ctx = ssl.create_default_context(cafile=os.environ.get("VERIFY_CAFILE") or None)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    def _connect():
        sock = socket.create_connection(("127.0.0.1", port), timeout, (source, 0))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # SNI and the certificate check are for HOST, not for 127.0.0.1.
        conn.sock = ctx.wrap_socket(sock, server_hostname=HOST) if SCHEME == "https" and not direct else sock
    conn.connect = _connect
    return conn

def headers(password):
    token = base64.b64encode(f"{os.environ['VERIFY_USER']}:{password}".encode()).decode()
    return {"Host": HOST, "Authorization": "Basic " + token}

def upload(path, filename):
    conn = connect(timeout=300)
    size = os.path.getsize(filename)
    hdrs = dict(headers(os.environ["VERIFY_PASSWORD"]), **{"Content-Length": str(size), "Content-Type": "application/octet-stream"})
    conn.putrequest("PUT", path, skip_host=True)
    for key, value in hdrs.items():
        conn.putheader(key, value)
    conn.endheaders()
    with open(filename, "rb") as fh:
        while chunk := fh.read(1 << 20):
            conn.send(chunk)
    resp = conn.getresponse()
    return {"status": resp.status, "body": json.loads(resp.read() or b"{}")}

def post_size(path, size):
    conn = connect()
    hdrs = dict(headers(os.environ["VERIFY_PASSWORD"]), **{"Content-Type": "application/json"})
    try:
        conn.request("POST", path, body=b" " * size, headers=hdrs)
    except (BrokenPipeError, ConnectionResetError):
        pass  # nginx may answer 413 before the whole body is sent
    resp = conn.getresponse()
    resp.read()
    return {"status": resp.status}

def loop(path, count, direct=False):
    conn = connect(direct=direct)
    statuses, last = collections.Counter(), b"{}"
    body = json.dumps({"run_id": "r", "key": "m", "value": 1.0, "timestamp": 0, "step": 0})
    hdrs = dict(headers(os.environ["VERIFY_PASSWORD"]), **{"Content-Type": "application/json"})
    start = time.monotonic()
    for _ in range(count):
        conn.request("POST", path, body=body, headers=hdrs)
        resp = conn.getresponse()
        last = resp.read()
        statuses[resp.status] += 1
    seconds = time.monotonic() - start
    return {"statuses": statuses, "seconds": round(seconds, 3),
            "per_second": round(count / seconds), "last": json.loads(last)}

def burst(path, count, threads, source):
    def one(i):
        try:
            conn = connect(source=source, timeout=20)
            conn.request("GET", path, headers=headers(f"wrong-password-{i}"))
            resp = conn.getresponse()
            resp.read()
            conn.close()
            return resp.status
        except OSError as exc:
            return type(exc).__name__
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        statuses = collections.Counter(pool.map(one, range(count)))
    return {"statuses": statuses, "seconds": round(time.monotonic() - start, 2)}

def expect(spec):
    # Many requests in one task: every method x path of the spec, with no
    # login, a wrong or the right password; each must get the status, and
    # with echo the upstream must have seen the very path that was sent.
    failures, count = [], 0
    logins = spec["login"] if isinstance(spec["login"], list) else [spec["login"]]
    for login, method, path in itertools.product(logins, spec["methods"], spec["paths"]):
        count += 1
        conn = connect(timeout=20)
        if login == "none":
            hdrs = {"Host": HOST}
        else:
            hdrs = headers(os.environ["VERIFY_PASSWORD"] if login == "right" else "not-the-password")
        conn.request(method, path, headers=hdrs)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != spec["status"]:
            failures.append(f"{method} {path} (login {login}): {resp.status}, not {spec['status']}")
        elif spec.get("echo") and json.loads(body).get("path") != path:
            failures.append(f"{method} {path}: the upstream saw {json.loads(body).get('path')}")
    return {"checked": count, "failures": failures}

if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "expect":
        result = expect(json.loads(args[0]))
    elif mode == "upload":
        result = upload(args[0], args[1])
    elif mode == "post-size":
        result = post_size(args[0], int(args[1]))
    elif mode in ("loop", "direct-loop"):
        result = loop(args[0], int(args[1]), direct=mode == "direct-loop")
    else:
        result = burst(args[0], int(args[1]), int(args[2]), args[3])
    print(json.dumps(result))
