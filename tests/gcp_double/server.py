"""A small HTTPS double of the Google APIs that mlops.mlflow.gcp_infra calls,
for tests only: OAuth token, IAM service accounts, Compute Engine firewalls,
instances and operations, Cloud Storage buckets and bucket IAM policies.

It listens on 127.0.0.1 with a certificate for *.googleapis.com signed by a
CA made for the test (the test trusts it through REQUESTS_CA_BUNDLE), keeps
its state in memory, records every request, and answers in the shapes of the
real APIs as far as the google.cloud modules read them (kinds, selfLinks,
operations that are DONE at once, server-side fields such as ids, status and
the upper-case bucket location). It does not check permissions, quotas,
billing, API enablement or most field validation, and it is not the real
API: what it proves is what the playbooks ask for and that a second run asks
for no change."""
from __future__ import annotations

import datetime
import itertools
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

TOKEN = "double-access-token"
COMPUTE = "https://www.googleapis.com/compute/v1/"


def make_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for *.googleapis.com: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlops-mlflow test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "googleapis.com")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.googleapis.com"), x509.DNSName("googleapis.com")]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def service_account_key(path: Path, project: str) -> Path:
    """A key file in the format of a real one; its token_uri is the double's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_text(json.dumps({
        "type": "service_account",
        "project_id": project,
        "private_key_id": "0" * 40,
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "client_email": f"provisioner@{project}.iam.gserviceaccount.com",
        "client_id": "1" * 21,
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    path.chmod(0o600)
    return path


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []  # (method, host, path)
        self.service_accounts: dict[str, dict] = {}
        self.firewalls: dict[str, dict] = {}
        self.instances: dict[str, dict] = {}
        self.buckets: dict[str, dict] = {}
        self.bucket_policies: dict[str, dict] = {}
        self.ids = itertools.count(1000)

    def writes(self) -> list[tuple[str, str, str]]:
        return [r for r in self.requests if r[0] not in ("GET",) and r[1] != "oauth2.googleapis.com"]


def _matches(resource: dict, expression: str) -> bool:
    """The filters gcp_infra uses: `name = X` and `labels.KEY = X`."""
    match = re.fullmatch(r"\s*([\w.-]+)\s*=\s*(\S+)\s*", expression or "")
    if not match:
        return not expression
    field, value = match.groups()
    if field.startswith("labels."):
        return resource.get("labels", {}).get(field[len("labels."):]) == value
    return str(resource.get(field)) == value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *_args):  # quiet
        pass

    # -- plumbing --------------------------------------------------------
    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return raw

    def _send(self, status: int, payload=None):
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str):
        self._send(status, {"error": {"code": status, "message": message,
                                      "errors": [{"message": message, "reason": "notFound" if status == 404 else "bad"}]}})

    def _handle(self, method: str):
        host = (self.headers.get("Host") or "").split(":")[0]
        url = urlsplit(self.path)
        raw = self._body()
        with self.state.lock:
            self.state.requests.append((method, host, url.path))
        if host == "oauth2.googleapis.com" and url.path == "/token" and method == "POST":
            return self._send(200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "missing or wrong bearer token")
        body = json.loads(raw) if raw else {}
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.state.lock:
            try:
                status, payload = self._route(method, host, url.path, query, body)
            except KeyError as exc:
                status, payload = 404, {"error": {"code": 404, "message": f"not found: {exc}",
                                                  "errors": [{"message": "not found", "reason": "notFound"}]}}
        return self._send(status, payload)

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def do_PUT(self):  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self):  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self):  # noqa: N802
        self._handle("DELETE")

    # -- APIs ------------------------------------------------------------
    def _operation(self, project, target_link, scope):
        op = f"operation-{next(self.state.ids)}"
        return 200, {"kind": "compute#operation", "name": op, "status": "DONE", "progress": 100,
                     "targetLink": target_link, "selfLink": f"{COMPUTE}projects/{project}/{scope}/operations/{op}"}

    def _route(self, method, host, path, query, body):
        s = self.state
        if host == "iam.googleapis.com":
            m = re.fullmatch(r"/v1/projects/([^/]+)/serviceAccounts(?:/([^/]+))?", path)
            if not m:
                return 404, None
            project, email = m.groups()
            if method == "GET" and email:
                return 200, s.service_accounts[email]
            if method == "POST" and not email:
                email = f"{body['accountId']}@{project}.iam.gserviceaccount.com"
                if email in s.service_accounts:
                    return 409, {"error": {"code": 409, "message": "already exists"}}
                s.service_accounts[email] = {
                    "name": f"projects/{project}/serviceAccounts/{email}", "projectId": project,
                    "uniqueId": str(next(s.ids)), "email": email,
                    "displayName": body.get("serviceAccount", {}).get("displayName", ""),
                    "etag": "MDEwMjE5MjA=", "oauth2ClientId": str(next(s.ids))}
                return 200, s.service_accounts[email]
            if method == "PUT" and email:
                s.service_accounts[email]["displayName"] = body.get("serviceAccount", {}).get("displayName", "")
                return 200, s.service_accounts[email]
            if method == "DELETE" and email:
                del s.service_accounts[email]
                return 200, {}
        if host == "compute.googleapis.com":
            m = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/firewalls(?:/([^/]+))?", path)
            if m:
                project, name = m.groups()
                link = f"https://compute.googleapis.com/compute/v1/projects/{project}/global/firewalls/"
                if method == "GET" and name:
                    return 200, s.firewalls[name]
                if method == "POST" and not name:
                    rule = dict(body, kind="compute#firewall", id=str(next(s.ids)), selfLink=link + body["name"],
                                priority=body.get("priority", 1000), disabled=body.get("disabled", False),
                                network=COMPUTE + body.get("network", "global/networks/default").split("compute/v1/")[-1],
                                creationTimestamp="2026-11-22T00:00:00.000-08:00")
                    rule.setdefault("direction", "INGRESS")
                    rule.setdefault("logConfig", {"enable": False})
                    s.firewalls[body["name"]] = rule
                    return self._operation(project, rule["selfLink"], "global")
                if method in ("PATCH", "PUT") and name:
                    s.firewalls[name].update({k: v for k, v in body.items() if k != "network"})
                    return self._operation(project, s.firewalls[name]["selfLink"], "global")
                if method == "DELETE" and name:
                    link = s.firewalls.pop(name)["selfLink"]
                    return self._operation(project, link, "global")
            m = re.fullmatch(r"/compute/v1/projects/([^/]+)/(global|zones/[^/]+)/operations/([^/]+)", path)
            if m and method == "GET":
                project, scope, op = m.groups()
                return 200, {"kind": "compute#operation", "name": op, "status": "DONE", "progress": 100,
                             "selfLink": f"{COMPUTE}projects/{project}/{scope}/operations/{op}"}
            m = re.fullmatch(r"/compute/v1/projects/([^/]+)/zones/([^/]+)/instances(?:/([^/]+))?", path)
            if m:
                project, zone, name = m.groups()
                link = f"https://compute.googleapis.com/compute/v1/projects/{project}/zones/{zone}/instances/"
                if method == "GET" and not name:
                    items = [i for i in s.instances.values() if i["zone"].endswith("/" + zone)
                             and _matches(i, query.get("filter", ""))]
                    return 200, {"kind": "compute#instanceList", "items": items}
                if method == "GET":
                    return 200, s.instances[name]
                if method == "POST" and not name:
                    number = next(s.ids)
                    vm = dict(body, kind="compute#instance", id=str(number), status="RUNNING",
                              selfLink=link + body["name"], zone=f"{COMPUTE}projects/{project}/zones/{zone}",
                              labelFingerprint="42WmSpB8rSM=", cpuPlatform="Intel Broadwell")
                    for n, nic in enumerate(vm.get("networkInterfaces", [])):
                        nic["networkIP"] = f"10.132.0.{number % 200 + 2}"
                        nic["name"] = f"nic{n}"
                        for ac in nic.get("accessConfigs", []):
                            ac["natIP"] = f"203.0.113.{number % 200 + 2}"  # documentation range (RFC 5737)
                    s.instances[body["name"]] = vm
                    return self._operation(project, vm["selfLink"], f"zones/{zone}")
                if method == "DELETE" and name:
                    link = s.instances.pop(name)["selfLink"]
                    return self._operation(project, link, f"zones/{zone}")
        if host == "storage.googleapis.com":
            m = re.fullmatch(r"/storage/v1/b(?:/([^/]+))?(/iam)?", path)
            if m:
                name, iam = m.groups()
                if iam:
                    s.buckets[name]  # 404 when the bucket does not exist
                    if method == "GET":
                        return 200, s.bucket_policies[name]
                    if method == "PUT":
                        policy = dict(body, kind="storage#policy", resourceId=f"projects/_/buckets/{name}",
                                      etag=f"CA{next(s.ids)}=")
                        s.bucket_policies[name] = policy
                        return 200, policy
                if method == "GET" and name:
                    return 200, s.buckets[name]
                if method == "POST" and not name:
                    if body["name"] in s.buckets:
                        return 409, {"error": {"code": 409, "message": "bucket exists"}}
                    bucket = self._bucket(body, query.get("project"))
                    s.buckets[body["name"]] = bucket
                    s.bucket_policies[body["name"]] = {
                        "kind": "storage#policy", "resourceId": f"projects/_/buckets/{body['name']}", "version": 1,
                        "etag": "CAE=", "bindings": [
                            {"role": "roles/storage.legacyBucketOwner",
                             "members": ["projectEditor:" + bucket["_project"], "projectOwner:" + bucket["_project"]]},
                            {"role": "roles/storage.legacyBucketReader", "members": ["projectViewer:" + bucket["_project"]]}]}
                    return 200, bucket
                if method == "PUT" and name:
                    old = s.buckets[name]
                    bucket = self._bucket(body, old["_project"])
                    bucket["metageneration"] = str(int(old["metageneration"]) + 1)
                    bucket["id"], bucket["timeCreated"] = old["id"], old["timeCreated"]
                    s.buckets[name] = bucket
                    return 200, bucket
                if method == "DELETE" and name:
                    del s.buckets[name]
                    s.bucket_policies.pop(name, None)
                    return 204, None
        return 404, {"error": {"code": 404, "message": f"the double does not serve {method} {host}{path}"}}

    def _bucket(self, body, project):
        iam = body.get("iamConfiguration", {})
        ubla = iam.get("uniformBucketLevelAccess", {"enabled": False})
        return {
            "kind": "storage#bucket", "id": body["name"], "name": body["name"], "_project": project,
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{body['name']}", "projectNumber": "123456789012",
            "metageneration": "1", "location": body.get("location", "US").upper(), "locationType": "region",
            "storageClass": body.get("storageClass", "STANDARD"), "etag": "CAE=",
            "timeCreated": "2026-11-22T00:00:00.000Z", "updated": "2026-11-22T00:00:00.000Z",
            "iamConfiguration": {
                "bucketPolicyOnly": {"enabled": bool(ubla.get("enabled"))},
                "uniformBucketLevelAccess": {"enabled": bool(ubla.get("enabled")),
                                             **({"lockedTime": "2027-02-20T00:00:00.000Z"} if ubla.get("enabled") else {})},
                "publicAccessPrevention": iam.get("publicAccessPrevention", "inherited")},
            "versioning": body.get("versioning", {"enabled": False}),
            "labels": body.get("labels", {}),
            "owner": {"entity": "project-owners-123456789012"},
            "rpo": "DEFAULT",
        }


class Double:
    """with Double(tmpdir) as double: double.port, double.ca, double.state"""

    def __init__(self, directory: Path):
        self.ca, cert, key = make_pki(directory)
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.server.server_close()
