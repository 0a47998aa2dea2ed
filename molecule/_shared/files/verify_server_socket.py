#!/usr/bin/python3
"""The checks of MLflow on a Unix socket (server_socket), run as root on the
MLflow host in one process (molecule/_shared/verify_server_socket.yml): one
module call instead of one per check. Prints one JSON object of what it
found; the play asserts on it.

    verify_server_socket.py <socket> <public name>

The last check kills MLflow with SIGKILL and waits for systemd to start it
again on the same path (ExecStartPre removes the stale socket).
"""
import grp
import json
import os
import pwd
import socket
import subprocess
import sys
import time

SOCK, PUBLIC_NAME = sys.argv[1], sys.argv[2]

# What nginx's user and another local account run: connect, ask for /health.
CONNECT = """import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
print(s.recv(200).decode().splitlines()[0])
"""


def status(method, path, host, headers=()):
    """The HTTP status of one request over the socket (0: no connection)."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(SOCK)
            head = [f"{method} {path} HTTP/1.0", f"Host: {host}", "Content-Length: 0", *headers, "", ""]
            s.sendall("\r\n".join(head).encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return int(data.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return 0


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    return {"rc": p.returncode, "stdout": p.stdout.strip(), "stderr": p.stderr.strip()[-400:]}


out = {}
st = os.stat(os.path.dirname(SOCK))
out["dir"] = {"mode": "%04o" % (st.st_mode & 0o7777), "owner": pwd.getpwuid(st.st_uid).pw_name,
              "group": grp.getgrgid(st.st_gid).gr_name}
out["listening"] = run(["ss", "-Hlntx"])["stdout"]
search = "/api/2.0/mlflow/experiments/search?max_results=1"
out["bogus_host"] = status("GET", search, "evil.example")
out["public_name"] = status("GET", search, PUBLIC_NAME)
# The assistant is never local on the socket, whatever X-Forwarded-For says.
out["assistant"] = status("POST", "/ajax-api/3.0/mlflow/assistant/message", PUBLIC_NAME,
                          ["X-Forwarded-For: 127.0.0.1"])
out["www_data"] = run(["runuser", "-u", "www-data", "--", "python3", "-c", CONNECT, SOCK])
out["nobody"] = run(["runuser", "-u", "nobody", "--", "python3", "-c", CONNECT, SOCK])

# A crash: SIGKILL leaves the socket file behind; systemd starts MLflow again.
pid = int(run(["systemctl", "show", "--property", "MainPID", "--value", "mlflow"])["stdout"] or 0)
out["killed_pid"] = pid
if pid > 0:
    os.kill(pid, 9)
    start = time.monotonic()
    health = 0
    while time.monotonic() - start < 60 and health != 200:
        time.sleep(2)
        health = status("GET", "/health", "localhost")
    out["after_kill"] = {"health": health, "seconds": round(time.monotonic() - start, 1),
                         "pid": int(run(["systemctl", "show", "--property", "MainPID", "--value", "mlflow"])["stdout"] or 0)}
print(json.dumps(out))
