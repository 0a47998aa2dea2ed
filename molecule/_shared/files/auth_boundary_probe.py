#!/usr/bin/env python3
"""Auth-boundary probe: can a request without credentials reach anything behind
nginx but MLflow's /health?

For every MLflow route family with a catch-all (AI-gateway proxy, MCP servers,
artifacts, static files, traces, jobs) it sends, with GET and POST and without
credentials, crafted requests whose *normalised* path is /health (the one
location that needs no login) while the *raw* path, as an upstream that does
not resolve dot-segments would route it, still lies inside the family: raw
"..", "%2e%2e", "..%2F", "%3F/..", "%23/..", "//", raw "#", absolute-form
request lines. http.client sends each path exactly as written.

The oracle is the answer itself. Allowed are only answers nginx made itself
(its own error page: 400, 401, 403, 404, 405, 413, 414, 429, 431, 494; or the
connection closed without an answer, 444) and the health answer (200 with
MLflow's body "OK", or the echo upstream of the nginx_proxy scenarios
reporting that it was asked for exactly /health). Anything else came from
behind nginx: MLflow's JSON with "error_code", a handler's message such as
"GatewayEndpoint not found", a Flask or Starlette 404, any other 2xx, or an
nginx 502/504 (it forwarded the request). Each such request is printed, and
the exit status is 1.

Self-test (--direct): point it at the upstream itself (no nginx in between,
e.g. --url http://127.0.0.1:5000). There every crafted request reaches the
upstream, so the probe must flag at least one crafted request in every
family; it exits 0 only then, proving the oracle recognises handler answers.

    auth_boundary_probe.py --url http://127.0.0.1:80 --host mlflow.test
    auth_boundary_probe.py --url https://127.0.0.1:443 --host mlflow.test --cafile /etc/ssl/certs/site.crt
    auth_boundary_probe.py --url http://127.0.0.1:5000 --host localhost --direct
    auth_boundary_probe.py --url http://localhost --unix-socket /run/mlflow/mlflow.sock --host localhost --direct

Standard library only; exit 0 pass, 1 fail, 2 usage or connection error.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import socket
import ssl
import sys
import urllib.parse

# Route families with a catch-all ({path:path} or <path:...>) in MLflow 3.17,
# each with paths inside it (a family may hold several routers).
FAMILIES = {
    "gateway proxy": ["/gateway/proxy/probe-endpoint/v1/chat/completions", "/gateway/probe-endpoint/mlflow/invocations"],
    "mcp servers": ["/ajax-api/3.0/mlflow/mcp-servers/probe-server/versions/1", "/api/3.0/mlflow/mcp-servers/probe-server"],
    "artifacts": [
        "/api/2.0/mlflow-artifacts/artifacts/0/probe-run/artifacts/probe.txt",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/0/probe-run/artifacts/probe.txt",
    ],
    "static files": ["/static-files/static/js/probe.js"],
    "traces": ["/ajax-api/3.0/mlflow/traces/tr-probe/info", "/v1/traces"],
    "jobs": ["/ajax-api/3.0/jobs/search", "/ajax-api/3.0/mlflow/jobs/probe-job"],
}
TARGET = "health"  # the one proxied location without a login
NGINX_OWN = {400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 444, 494}
HANDLER_HINTS = ("error_code", "GatewayEndpoint not found", "Not Found", "Method Not Allowed", "detail", "message")


def variants(base: str, origin: str) -> list[tuple[str, str]]:
    """(name, raw request target) pairs whose normalised path is /health; origin is
    scheme://authority for the absolute-form request line."""
    n = base.count("/")  # segments below the root: this many ".." climb back to "/"
    up = "/.." * n
    return [
        ("raw ..", f"{base}{up}/{TARGET}"),
        ("raw .. with ./", f"{base}/.{up}/{TARGET}"),
        ("%2e%2e", f"{base}{'/%2e%2e' * n}/{TARGET}"),
        ("%2E%2E", f"{base}{'/%2E%2E' * n}/{TARGET}"),
        (".%2e", f"{base}{'/.%2e' * n}/{TARGET}"),
        ("..%2F", f"{base}/{'..%2F' * n}{TARGET}"),
        ("..%2f", f"{base}/{'..%2f' * n}{TARGET}"),
        ("%2e%2e%2f", f"{base}/{'%2e%2e%2f' * n}{TARGET}"),
        ("%3F/..", f"{base}%3F{up}/{TARGET}"),
        ("%23/..", f"{base}%23{up}/{TARGET}"),
        ("raw #/..", f"{base}#{up}/{TARGET}"),
        ("//", f"{base}//{'../' * n}{TARGET}"),
        ("// prefix", f"/{base}{up}/{TARGET}"),
        ("absolute-form ..", f"{origin}{base}{up}/{TARGET}"),
    ]


class Target:
    def __init__(self, url: str, host: str | None, cafile: str | None, insecure: bool, source: str | None, timeout: float,
                 unix_socket: str | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"--url must be http(s)://HOST[:PORT], got {url!r}")
        self.scheme, self.address = parts.scheme, parts.hostname
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.host = host or parts.hostname
        self.source = (source, 0) if source else None
        self.timeout = timeout
        self.unix_socket = unix_socket
        self.context = None
        if self.scheme == "https":
            self.context = ssl.create_default_context(cafile=cafile)
            if insecure:
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE

    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"

    def send(self, method: str, raw_path: str) -> dict:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout, source_address=self.source)
        if self.unix_socket:
            def connect_unix():
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.unix_socket)
                conn.sock = sock

            conn.connect = connect_unix
        elif self.context is not None:
            # TLS with the public name as SNI (and for the certificate check), not the address.
            def connect():
                sock = socket.create_connection((self.address, self.port), self.timeout, self.source)
                conn.sock = self.context.wrap_socket(sock, server_hostname=self.host)

            conn.connect = connect
        body = b"{}" if method == "POST" else None
        try:
            conn.putrequest(method, raw_path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self.authority())
            conn.putheader("User-Agent", "mlops-mlflow-auth-boundary-probe")
            if body is not None:
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read(65536)
            return {"status": resp.status, "type": resp.getheader("Content-Type", ""), "body": data}
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            return {"status": 444, "type": "", "body": b""}
        finally:
            conn.close()


def verdict(answer: dict) -> str | None:
    """None when nginx answered itself or /health answered; else why the answer came from behind nginx."""
    status, body = answer["status"], answer["body"]
    text = body.decode("utf-8", "replace")
    if status == 444 and not body:
        return None  # closed without an answer
    if b"<center>nginx</center>" in body:
        return None if status in NGINX_OWN else f"nginx {status}: it forwarded the request and the upstream failed"
    if status == 200 and text.strip() == "OK":
        return None  # MLflow's /health
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "requests_on_connection" in data:  # the echo upstream of the nginx_proxy scenarios
        if data.get("path") == "/health" and data.get("method") in ("GET", "HEAD"):
            return None
        return f"the upstream was asked for {data.get('method')} {data.get('path')!r}"
    if isinstance(data, dict) and isinstance(data.get("detail"), dict):
        data = data["detail"]  # FastAPI routers (gateway, jobs) wrap MLflow's error in "detail"
    if isinstance(data, dict) and "error_code" in data:
        return f"MLflow handler: {data.get('error_code')}: {str(data.get('message', ''))[:120]}"
    if 200 <= status < 300:
        return f"a {status} that is not the health answer"
    hint = next((h for h in HANDLER_HINTS if h in text), "")
    return f"{status} from the upstream{' (' + hint + ')' if hint else ''}: {text.strip()[:120]!r}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="where to connect: http(s)://ADDRESS[:PORT] (nginx, or the upstream with --direct)")
    parser.add_argument("--host", help="Host header and TLS server name (default: the URL's host)")
    parser.add_argument("--cafile", help="CA file to check nginx's certificate with")
    parser.add_argument("--insecure", action="store_true", help="do not check the certificate")
    parser.add_argument("--unix-socket", help="connect to this Unix socket instead (an upstream served on one, with --direct)")
    parser.add_argument("--source", help="local address to send from (keeps failed-login limits off other checks)")
    parser.add_argument("--direct", action="store_true",
                        help="self-test against the upstream itself: pass only if every family has a crafted request flagged")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--verbose", action="store_true", help="print every request and its answer")
    args = parser.parse_args()
    target = Target(args.url, args.host, args.cafile, args.insecure, args.source, args.timeout, args.unix_socket)

    probes = [(family, name, method, path)
              for family, bases in FAMILIES.items()
              for base in bases
              for name, path in [("plain (control)", base)] + variants(base, f"{target.scheme}://{target.authority()}")
              for method in ("GET", "POST")]
    # The health answer itself, so a broken /health cannot pass unnoticed.
    probes.append(("health", "plain (control)", "GET", f"/{TARGET}"))
    try:
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            answers = list(pool.map(lambda p: target.send(p[2], p[3]), probes))
    except (OSError, ssl.SSLError) as exc:
        print(f"cannot reach {args.url} (Host {target.host}): {exc}", file=sys.stderr)
        return 2

    flagged: dict[str, list[str]] = {family: [] for family in FAMILIES}
    statuses: dict[int, int] = {}
    health_ok = False
    for (family, name, method, path), answer in zip(probes, answers):
        statuses[answer["status"]] = statuses.get(answer["status"], 0) + 1
        why = verdict(answer)
        line = f"{method} {path} [{family}: {name}] -> {answer['status']}"
        if family == "health":
            health_ok = answer["status"] == 200 and why is None
            if not health_ok:
                print(f"HEALTH BROKEN: {line}: {why or answer['body'][:120]!r}")
            continue
        if args.verbose:
            print(f"{line}: {why or 'nginx answered itself'}")
        if why is None:
            continue
        if name == "plain (control)" and args.direct:
            continue  # without nginx a plain request reaches its handler, as it should
        flagged[family].append(f"{line}: {why}")

    total = sum(len(v) for v in flagged.values())
    summary = ", ".join(f"{s}: {c}" for s, c in sorted(statuses.items()))
    if args.direct:
        missing = [family for family, hits in flagged.items() if not hits]
        for family, hits in flagged.items():
            print(f"self-test {family}: {len(hits)} crafted requests reached the upstream, e.g. {hits[0] if hits else 'NONE'}")
        print(f"RESULT {'ok' if not missing else 'FAIL'}: self-test against {args.url}: {len(probes)} requests ({summary}); "
              f"families the oracle did not see reaching a handler: {missing or 'none'}")
        return 0 if not missing else 1
    for family, hits in flagged.items():
        for hit in hits:
            print(f"BYPASS {hit}")
    ok = total == 0 and health_ok
    print(f"RESULT {'ok' if ok else 'FAIL'}: {len(probes)} requests without credentials to {args.url} (Host {target.host}), "
          f"{len(FAMILIES)} route families, GET and POST ({summary}); {total} reached something behind nginx other than /health"
          f"{'' if health_ok else '; /health itself did not answer 200'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
