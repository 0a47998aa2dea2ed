#!/usr/bin/env python3
"""Many requests to the proxy in one process, for the verify of nginx_proxy
(one task instead of one uri task per request):

    nginx_proxy_requests.py < spec.json

spec (standard input: it holds passwords): scheme, port, cafile (the
certificate the client trusts; "" for plain HTTP), host (the Host header and
the TLS server name), requests {label: {path, method (GET), user and password
(basic auth; none without user), headers {name: value} (may replace Host),
body, scheme and port (to ask another listener, say plain HTTP on a TLS
host)}}. Every request goes to 127.0.0.1 on its own connection; requests run
in parallel (nginx delays every 401 answer).

Prints one JSON line: status {label: status} and answers {label: {status,
headers {lower-case name: value}, json (the body parsed, or null), text (the
body's first 200 characters)}}. status is -1 when nginx closes the connection without an answer (444), or the
exception's name when the request failed otherwise. Nothing is asserted here:
the caller compares the answers. No password is printed."""
import base64
import concurrent.futures
import http.client
import json
import socket
import ssl
import sys

SPEC = json.load(sys.stdin)
HOST = SPEC.get("host", "localhost")


def ask(request):
    scheme = request.get("scheme", SPEC["scheme"])
    port = int(request.get("port", SPEC["port"]))
    sock = socket.create_connection(("127.0.0.1", port), 20)
    if scheme == "https":
        # SNI and the certificate check are for HOST, not for 127.0.0.1.
        ctx = ssl.create_default_context(cafile=SPEC.get("cafile") or None)
        sock = ctx.wrap_socket(sock, server_hostname=HOST)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.sock = sock
    headers = {"Host": HOST}
    if request.get("user"):
        token = base64.b64encode(f"{request['user']}:{request['password']}".encode()).decode()
        headers["Authorization"] = "Basic " + token
    headers.update(request.get("headers", {}))
    try:
        conn.request(request.get("method", "GET"), request["path"], body=request.get("body"), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except (http.client.RemoteDisconnected, ConnectionResetError, ssl.SSLEOFError):
        return {"status": -1, "headers": {}, "json": None, "text": ""}
    finally:
        conn.close()
    text = raw.decode(errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return {"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()},
            "json": body, "text": text[:200]}


def safe(request):
    try:
        return ask(request)
    except Exception as exc:  # noqa: BLE001 - recorded, the caller shows it
        return {"status": type(exc).__name__, "headers": {}, "json": None, "text": str(exc)[:200]}


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    labels = list(SPEC["requests"])
    answers = dict(zip(labels, pool.map(safe, (SPEC["requests"][label] for label in labels))))
print(json.dumps({"status": {label: answer["status"] for label, answer in answers.items()}, "answers": answers}, sort_keys=True))
