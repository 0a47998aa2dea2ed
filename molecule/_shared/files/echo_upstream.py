#!/usr/bin/env python3
"""Test upstream for the nginx_proxy scenarios: answers every GET, POST and PUT
on 127.0.0.1:5000 with 200 and a JSON body that echoes the method, the path,
the Host, X-Forwarded-*, Authorization and X-MLflow-Guardrail-Bypass headers
and how many requests the connection has carried (keep-alive); for a body it
streams it in chunks and returns its byte count and sha256. Like MLflow with
CORS allowed, every answer carries Access-Control-Allow-* headers (nginx must
hide them unless told otherwise). Standard library only."""
from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1024 * 1024


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def _read_into(self, digest, remaining: int) -> int:
        """Read exactly `remaining` bytes of the body into the digest."""
        size = remaining
        while remaining:
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                raise ConnectionError("body ended early")
            digest.update(data)
            remaining -= len(data)
        return size

    def _read_body(self) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                length = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    self.rfile.readline()
                    break
                size += self._read_into(digest, length)
                self.rfile.readline()
        else:
            size = self._read_into(digest, int(self.headers.get("Content-Length") or 0))
        return size, digest.hexdigest()

    def _answer(self) -> None:
        # One handler per connection: this counts the requests it carried (keep-alive).
        self.served = getattr(self, "served", 0) + 1
        body = {
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "x_forwarded": {k: v for k, v in self.headers.items() if k.lower().startswith("x-forwarded-")},
            "x_real_ip": self.headers.get("X-Real-IP"),
            "authorization": self.headers.get("Authorization"),
            "guardrail_bypass": self.headers.get("X-MLflow-Guardrail-Bypass"),
            "connection": self.headers.get("Connection"),
            "requests_on_connection": self.served,
        }
        if self.command in ("POST", "PUT"):
            body["bytes"], body["sha256"] = self._read_body()
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format, *args):  # noqa: A002 - quiet: no access log in the journal
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 5000), EchoHandler).serve_forever()
