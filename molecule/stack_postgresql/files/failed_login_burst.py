"""A burst of failed logins through nginx, from a source address of its own
(its failures do not count against the other checks' addresses):

    python failed_login_burst.py URL HOST SOURCE COUNT

Sends one request as alice with a wrong password, then COUNT requests as a
user MLflow does not know (8 at a time: MLflow refuses an unknown user without
a password hash, so the refusals come faster than the limit's rate; a wrong
password costs MLflow a hash each, about as slow as the limit on a busy small
machine), then one without credentials, and prints one JSON line: the
statuses of the burst and their counts, the status and WWW-Authenticate header
of the wrong password (MLflow's 401, passed on by nginx) and of the request
without credentials (nginx's own, or 429 once the address is over the limit).
Standard library only."""
import base64
import collections
import concurrent.futures
import http.client
import json
import sys
import urllib.parse

url, host, source, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parts = urllib.parse.urlsplit(url)
PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


def send(authorization):
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60, source_address=(source, 0))
    try:
        headers = {"Host": host}
        if authorization:
            headers["Authorization"] = authorization
        conn.request("GET", PATH, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("WWW-Authenticate", "")
    finally:
        conn.close()


wrong = send("Basic " + base64.b64encode(b"alice:not-alices-password-0000").decode())
unknown = "Basic " + base64.b64encode(b"nobody-at-all:not-a-password-0000").decode()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(send, [unknown] * count))
none = send(None)
print(json.dumps({
    "statuses": dict(collections.Counter(str(s) for s, _ in answers)),
    "wrong_password": list(wrong),
    "no_credentials": list(none),
}, sort_keys=True))
