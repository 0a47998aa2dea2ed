"""Asks MLflow through nginx, as several users, for one path, until each
answer is the one wanted or the time is up (a login that a worker of MLflow
keeps in its cache is honoured there up to server_auth_cache_ttl seconds):

    python login_status.py < settings.json

settings (standard input, it holds passwords): url, host (the Host header),
path, seconds, and checks [{name, user, password, want}]. Prints one JSON line
{name: last status} and exits 1 when a status is not the one wanted.
Standard library only."""
import base64
import http.client
import json
import sys
import time
import urllib.parse

settings = json.load(sys.stdin)
parts = urllib.parse.urlsplit(settings["url"])
deadline = time.monotonic() + float(settings["seconds"])


def ask(user, password):
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
    try:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        conn.request("GET", settings["path"], headers={"Host": settings["host"], "Authorization": "Basic " + token})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


last = {}
pending = list(settings["checks"])
while True:
    for check in list(pending):
        last[check["name"]] = ask(check["user"], check["password"])
        if last[check["name"]] == check["want"]:
            pending.remove(check)
    if not pending or time.monotonic() >= deadline:
        break
    time.sleep(2)
print(json.dumps(last, sort_keys=True))
sys.exit(1 if pending else 0)
