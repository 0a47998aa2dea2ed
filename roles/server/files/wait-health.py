"""Waits until MLflow answers 200 on /health (fed on stdin to the venv's Python
by the server role, after a start or restart). One process polls every 0.2 s
for up to the timeout: a task retried every second would cost a whole module
run per try, CPU that a starting server on a small VM needs for itself.

    python - <url> <unix socket or ''> <timeout in s>

Exits 0 on a 200, 1 at the timeout with the last answer or error on stderr."""
import http.client
import socket
import sys
import time
import urllib.parse


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def answer(url, unix_path):
    parts = urllib.parse.urlsplit(url)
    if unix_path:
        conn = UnixConnection(unix_path, timeout=5)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=5)
    try:
        conn.request("GET", parts.path or "/", headers={"Host": parts.netloc or "localhost"})
        return conn.getresponse().status
    finally:
        conn.close()


def main():
    url, unix_path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            status = answer(url, unix_path)
            if status == 200:
                print(status)
                return 0
            last = f"HTTP {status}"
        except OSError as error:
            last = str(error)
        if time.monotonic() >= deadline:
            print(f"no 200 from {unix_path or url} within {timeout:g} s: {last}", file=sys.stderr)
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
