"""An HTTPS double of the Google APIs that mlops.mlflow.gcp_infra calls, for
tests only: OAuth token, IAM service accounts, Resource Manager projects and
their IAM policies, Compute Engine networks, subnetworks, global addresses,
firewalls, instances and operations, Service Networking connections and
operations, Cloud Storage buckets, their IAM policies and object versions,
Cloud SQL Admin instances, databases, users and operations (v1 and v1beta4).

It listens on 127.0.0.1 with a certificate for *.googleapis.com signed by a
CA made for the test (trusted through REQUESTS_CA_BUNDLE / SSL_CERT_FILE),
keeps its state in memory and records every request (method, host, path,
query, body, answer status), so tests assert on what was SENT.

It cannot be fooled the way an echo can (discovery.py): each request is
routed by Google's discovery documents (from the installed
google-api-python-client), its query, path parameters and body are checked
against the method's schema (unknown fields, types, enums, output-only
fields), and every answer of the double is checked against the response
schema. On top of the schema it applies the server-side rules this project
depends on, each one documented by Google:

- resource URLs in Compute bodies (a firewall's or NIC's network, a NIC's
  subnetwork, machine and disk types, the source image) must be a full URL or
  one of the partial forms the API documents, for this project and zone, and
  name something that exists (a network must exist; `default` does);
- networks: a project comes with the auto mode network `default` and its
  pre-made firewall rules (default-allow-ssh from 0.0.0.0/0 among them); new
  networks must say autoCreateSubnetworks (no legacy networks); a subnet's
  range is /8 to /29, written with its first address, in the request's
  region, and overlaps nothing of its network; a VM on a custom mode network
  needs a subnet and takes its address from it; nothing is deleted while
  something uses it (a network with rules, subnets, VMs, reserved ranges or
  peerings; a subnet with VMs; a reserved range with its peering);
- private services access: a VPC_PEERING range is INTERNAL and belongs to a
  network; a Service Networking connection names the network by project
  number, needs such ranges and adds the peering servicenetworking-googleapis-com
  to the network; Cloud SQL's private IP needs that peering (or a network set
  up beforehand, private_services_access); once a Cloud SQL instance has used
  the network, deleting the connection fails (Cloud SQL keeps its side for
  days after an instance is deleted) and networks.removePeering is the way out;
- Cloud SQL: PostgreSQL 16 and later default to the Enterprise Plus edition,
  which takes only db-perf-optimized-N-* tiers; Enterprise takes db-custom-C-M
  (0.9-6.5 GB per vCPU, multiple of 256 MB, at least 3840 MB) and the shared
  tiers; private IP needs private services access on the network; a deleted
  instance's name stays taken; one operation at a time per instance;
  PostgreSQL users are listed without a `host` field; sslMode and the legacy
  requireSsl only in the pairs the API documents;
- IAM policies are written with their etag: a stale one gets 409 (Resource
  Manager) or 412 (Storage); members that are service accounts must exist;
  a bucket with public access prevention refuses allUsers/allAuthenticatedUsers;
  a conditional role binding needs policy version 3 (to write it, or to write
  a policy that has one), a title and no basic role; a version 1 read of such
  a policy shows <role>_withcond_<hash> (Resource Manager) or is refused
  (Storage);
- a bucket that still holds objects, live or noncurrent, refuses deletion (409);
  its soft delete retention is 0 or 7 to 90 days.

Answers are shaped like Google's: full https://www.googleapis.com/... links
(Compute answers on www.googleapis.com and compute.googleapis.com alike),
server-filled defaults (firewall priority, direction, logConfig; instance
scheduling, NIC names and addresses, disks; bucket soft delete policy...),
fingerprints and etags that change with the content, no input-only fields
(an instance's disks carry no initializeParams). Compute and SQL operations go
PENDING -> RUNNING -> DONE, one step per poll, with a targetLink; Service
Networking's are google.longrunning operations (done, then error or
response); what they change happens as they complete.

Faults can be injected: `inject_conflict(method_id)` makes someone else
change the resource just before the next such call (so its etag is stale),
`sa_propagation = N` makes a new service account unknown to IAM policy
writes for its first N uses (Google: a new service account may take a while
to be usable).

It does not check permissions, quotas, billing, API enablement,
organisation policies, nor any rule not listed above; it is not the real
API (docs/gcp.md says what only a real project proves)."""
from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import ipaddress
import itertools
import json
import re
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .discovery import Catalog, ValidationError, check_path, check_query, check_request, check_response

TOKEN = "double-access-token"
COMPUTE = "https://www.googleapis.com/compute/v1/"
COMPUTE_ROOTS = ("https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/")
SQLADMIN = "https://sqladmin.googleapis.com/"
PROJECT_NUMBER = "123456789012"
NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
CALLER = "provisioner@{project}.iam.gserviceaccount.com"
# Reads: every other method id (except the token) is a write.
READ_SUFFIXES = (".get", ".list", ".aggregatedList", ".getIamPolicy", ".testIamPermissions")
# The peering a servicenetworking connection makes on the consumer's network.
PSA_PEERING = "servicenetworking-googleapis-com"
SERVICENETWORKING = "https://servicenetworking.googleapis.com/v1/"
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")


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
        "client_email": CALLER.format(project=project),
        "client_id": "1" * 21,
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    path.chmod(0o600)
    return path


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "invalid"):
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


GRPC_CODES = {"FAILED_PRECONDITION": 9, "notFound": 5, "alreadyExists": 6, "invalid": 3}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ABORTED", 412: "FAILED_PRECONDITION", 500: "INTERNAL", 501: "UNIMPLEMENTED"}


def error_body(status: int, message: str, reason: str) -> dict:
    return {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN"),
                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}


def _fingerprint(value) -> str:
    return base64.b64encode(hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()[:8]).decode()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _compute_time() -> str:
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=-8))).isoformat(timespec="milliseconds")


@dataclass
class Record:
    """One request as the double received it."""
    method: str
    host: str
    path: str
    query: dict
    body: object
    method_id: str = ""
    status: int = 0
    answer: object = None

    @property
    def is_write(self) -> bool:
        return bool(self.method_id) and not self.method_id.endswith(READ_SUFFIXES)


@dataclass
class Operation:
    """A Compute or SQL operation; `done` runs when a poll moves it to DONE."""
    resource: dict
    done: object = None
    running: object = None
    polls: int = 0
    instance_key: tuple | None = None  # Cloud SQL: the instance it locks
    advance_on_read: bool = False  # also moves on when its instance is read (work nobody polls, like maintenance)


@dataclass
class State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list = field(default_factory=list)
    service_accounts: dict = field(default_factory=dict)  # email -> resource
    sa_pending: dict = field(default_factory=dict)  # email -> policy writes that still refuse it
    project_policies: dict = field(default_factory=dict)  # project -> policy
    networks: dict = field(default_factory=dict)  # (project, name) -> {"resource": network, "psa": bool}
    subnetworks: dict = field(default_factory=dict)  # (project, region, name) -> resource
    global_addresses: dict = field(default_factory=dict)  # (project, name) -> resource
    connections: dict = field(default_factory=dict)  # (project, network) -> servicenetworking Connection
    producer_networks: set = field(default_factory=set)  # (project, network) some Cloud SQL instance ever used
    projects_seen: set = field(default_factory=set)  # projects whose default network and rules exist
    firewalls: dict = field(default_factory=dict)  # (project, name) -> resource
    instances: dict = field(default_factory=dict)  # (project, zone, name) -> resource
    buckets: dict = field(default_factory=dict)  # name -> resource
    bucket_projects: dict = field(default_factory=dict)  # name -> project
    bucket_policies: dict = field(default_factory=dict)  # name -> policy
    objects: dict = field(default_factory=dict)  # bucket -> [object resource], every generation
    sql_instances: dict = field(default_factory=dict)  # (project, name) -> resource
    sql_databases: dict = field(default_factory=dict)  # (project, instance) -> {name: resource}
    sql_users: dict = field(default_factory=dict)  # (project, instance) -> {name: {"resource", "password"}}
    sql_reserved: set = field(default_factory=set)  # (project, name) of deleted instances
    operations: dict = field(default_factory=dict)  # name -> Operation
    conflicts: dict = field(default_factory=dict)  # method id -> how many calls meet a concurrent change
    ids: itertools.count = field(default_factory=lambda: itertools.count(4_000_000_000_000_000_000))
    addresses: itertools.count = field(default_factory=lambda: itertools.count(2))

    def writes(self, since: int = 0) -> list[Record]:
        return [r for r in self.requests[since:] if r.is_write]

    def sent(self, method_id: str) -> list:
        """The bodies of every request of one method, in order."""
        return [r.body for r in self.requests if r.method_id == method_id]

    def calls(self, method_id: str) -> list[Record]:
        return [r for r in self.requests if r.method_id == method_id]


# -- Compute resource references ---------------------------------------------

def compute_reference(value, field_name: str, project: str, collection: str, scope: str | None = None,
                      other_projects: bool = False) -> tuple[str, str]:
    """Checks one resource URL of a Compute body. collection: global/networks,
    regions/{r}/subnetworks, zones/{z}/machineTypes ... with scope the
    region or zone the reference must be in. Returns (project, full URL).
    The forms Google documents: the full URL, projects/P/<collection>/N and
    <collection>/N (project of the request)."""
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid value for field '{field_name}': {json.dumps(value)}.")
    rest = value
    for root in COMPUTE_ROOTS:
        if value.startswith(root):
            rest = value[len(root):]
            if not rest.startswith("projects/"):
                raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. The URL is malformed.")
            break
    else:
        if value.startswith("https://") or value.startswith("/"):
            raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. The URL is malformed.")
    ref_project = project
    m = re.fullmatch(r"projects/([^/]+)/(.*)", rest)
    if m:
        ref_project, rest = m.groups()
    parts = collection.split("/")
    pattern = "/".join(p if not p.startswith("{") else "([a-z0-9-]+)" for p in parts) + r"/([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
    m = re.fullmatch(pattern, rest)
    if not m or "projects/" in rest:
        raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. The URL is malformed.")
    if not re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", ref_project):
        raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. The URL is malformed.")
    if ref_project != project and not other_projects:
        raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. "
                            f"Cross-project references for this resource are not allowed.")
    groups = m.groups()
    if scope is not None and groups[0] != scope:
        raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. "
                            f"Cross-{parts[0][:-1]} references for this resource are not allowed.")
    filled = collection
    for g in groups[:-1]:
        filled = re.sub(r"\{[^}]+\}", g, filled, count=1)
    return ref_project, f"{COMPUTE}projects/{ref_project}/{filled}/{groups[-1]}"


IMAGE_FAMILIES = {("debian-cloud", "debian-12"): "debian-12-bookworm", ("debian-cloud", "debian-13"): "debian-13-trixie"}


def _cidr(value, field_name):
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. Invalid IPCidrRange: {value}.") from exc


def _iam_members(state: State, policy: dict, current: dict, where: str, public_allowed: bool = True):
    """Checks the members a policy write adds (those already in the policy stay as they are)."""
    known = {(b.get("role"), _condition_key(b), m) for b in current.get("bindings", []) for m in b.get("members", [])}
    for binding in policy.get("bindings", []):
        role = binding.get("role", "")
        if not re.fullmatch(r"(roles|projects/[^/]+/roles|organizations/[0-9]+/roles)/[A-Za-z0-9_.]+", role):
            raise ApiError(400, f"Role {role} is not supported for this resource.")
        for member in binding.get("members", []):
            if (role, _condition_key(binding), member) in known:
                continue
            kind, _, ident = member.partition(":")
            if member in ("allUsers", "allAuthenticatedUsers"):
                if not public_allowed:
                    raise ApiError(412, "One or more users named in the policy do not belong to a permitted customer, "
                                        "perhaps due to an organization policy (public access prevention is enforced "
                                        "on this bucket).", "conditionNotMet")
                continue
            if kind not in ("user", "serviceAccount", "group", "domain", "principal", "principalSet",
                            "projectOwner", "projectEditor", "projectViewer", "deleted") or not ident:
                raise ApiError(400, f"Invalid member '{member}' in {where}.")
            if kind == "serviceAccount" and ident.endswith(".iam.gserviceaccount.com"):
                if ident not in state.service_accounts:
                    raise ApiError(400, f"Service account {ident} does not exist.")
                if state.sa_pending.get(ident, 0) > 0:
                    state.sa_pending[ident] -= 1
                    raise ApiError(400, f"Service account {ident} does not exist.")


def _condition_key(binding: dict) -> str:
    return json.dumps(binding.get("condition"), sort_keys=True)


def _conditional(policy: dict) -> bool:
    return any(b.get("condition") for b in policy.get("bindings", []))


def _withcond(binding: dict) -> str:
    digest = hashlib.sha256(_condition_key(binding).encode()).hexdigest()[:20]
    return f"{binding['role']}_withcond_{digest}"


def _policy_view(policy: dict, requested, refuse_lower: bool = False) -> dict:
    """A stored policy as getIamPolicy answers it. Google: a policy with
    conditional role bindings comes as version 3 only when version 3 is
    requested; Resource Manager answers a lower request with version 1, each
    conditional binding's role suffixed _withcond_<hash> and its condition
    left out (iam/docs/troubleshooting-withcond); Cloud Storage refuses it
    ("If the optionsRequestedPolicyVersion is for an older version that
    doesn't support part of the requested IAM policy, the request fails")."""
    view = json.loads(json.dumps(policy))
    if not _conditional(policy):
        view["version"] = 1
        return view
    if int(requested or 0) >= 3:
        view["version"] = 3
        return view
    if refuse_lower:
        raise ApiError(400, "The policy has conditional role bindings: request policy version 3 "
                            "(optionsRequestedPolicyVersion=3).", "invalid")
    view["version"] = 1
    for binding in view["bindings"]:
        if binding.get("condition"):
            binding["role"] = _withcond(binding)
            del binding["condition"]
    return view


def _check_conditions(policy: dict, current: dict):
    """Google (Policy.version): any operation that affects conditional role
    bindings must specify version 3 (adding, changing or removing one, or
    removing any binding from a policy that has them: a version 1 write
    with the etag is refused, one without it drops every condition); a
    condition needs a title and an expression; basic roles take none; a
    role read as <role>_withcond_<hash> is not a role."""
    version = int(policy.get("version") or 0)
    if version not in (0, 1, 3):
        raise ApiError(400, f"Invalid value for policy.version: {version}. Valid values are 0, 1 and 3.")
    for binding in policy.get("bindings", []):
        role = binding.get("role", "")
        if "_withcond_" in role:
            raise ApiError(400, f"Role {role} is not supported: it is how a version 1 policy shows a conditional "
                                f"role binding; read the policy with version 3 and write that.")
        condition = binding.get("condition")
        if condition is None:
            continue
        if version != 3:
            raise ApiError(400, f"The binding of {role} has a condition: policy version 3 is required for "
                                f"conditional role bindings (got {version}).")
        if not condition.get("title") or not condition.get("expression"):
            raise ApiError(400, "A condition needs a title and an expression.")
        if role in BASIC_ROLES:
            raise ApiError(400, f"Conditions are not supported for the basic role {role}.")
        expression = condition["expression"]
        if expression.count('"') % 2 or expression.count("'") % 2 or expression.count("(") != expression.count(")"):
            raise ApiError(400, f"Condition expression '{expression}' could not be parsed.")
    if _conditional(current) and version != 3 and policy.get("etag"):
        raise ApiError(400, "The policy has conditional role bindings: set it with policy version 3.")


class Api:
    """The method implementations, by discovery method id."""

    def __init__(self, double: "Double"):
        self.double = double
        self.s = double.state

    # -- helpers -------------------------------------------------------------
    def next_id(self) -> str:
        return str(next(self.s.ids))

    def project_defaults(self, project: str):
        """What a new project comes with: the auto-mode network `default` (of
        default_networks) and its pre-made firewall rules, among them
        default-allow-ssh from 0.0.0.0/0 (Google: "Pre-populated rules in the
        default network")."""
        if project in self.s.projects_seen:
            return
        self.s.projects_seen.add(project)
        for name in sorted(self.double.default_networks):
            url = f"{COMPUTE}projects/{project}/global/networks/{name}"
            network_id = self.next_id()
            self.s.networks[(project, name)] = {"psa": name in self.double.private_services_access, "resource": {
                "kind": "compute#network", "id": network_id, "creationTimestamp": _compute_time(), "name": name,
                "description": "Default network for the project", "selfLink": url,
                "selfLinkWithId": f"{COMPUTE}projects/{project}/global/networks/{network_id}",
                "autoCreateSubnetworks": True,
                "subnetworks": [f"{COMPUTE}projects/{project}/regions/{z.rsplit('-', 1)[0]}/subnetworks/{name}"
                                for z in sorted(set(self.double.zones))],
                "routingConfig": {"routingMode": "REGIONAL"},
                "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL"}}
            if name != "default":
                continue
            for rule, allowed, ranges in (
                    ("default-allow-internal", [{"IPProtocol": "tcp", "ports": ["0-65535"]},
                                                {"IPProtocol": "udp", "ports": ["0-65535"]}, {"IPProtocol": "icmp"}],
                     ["10.128.0.0/9"]),
                    ("default-allow-ssh", [{"IPProtocol": "tcp", "ports": ["22"]}], ["0.0.0.0/0"]),
                    ("default-allow-rdp", [{"IPProtocol": "tcp", "ports": ["3389"]}], ["0.0.0.0/0"]),
                    ("default-allow-icmp", [{"IPProtocol": "icmp"}], ["0.0.0.0/0"])):
                self.s.firewalls[(project, rule)] = {
                    "kind": "compute#firewall", "id": self.next_id(), "creationTimestamp": _compute_time(),
                    "name": rule, "description": "", "network": url, "priority": 65534, "sourceRanges": ranges,
                    "allowed": allowed, "direction": "INGRESS", "logConfig": {"enable": False}, "disabled": False,
                    "selfLink": f"{COMPUTE}projects/{project}/global/firewalls/{rule}"}

    def network(self, project: str, name: str) -> dict:
        self.project_defaults(project)
        if (project, name) not in self.s.networks:
            raise ApiError(404, f"The resource 'projects/{project}/global/networks/{name}' was not found", "notFound")
        return self.s.networks[(project, name)]

    def private_services_access(self, project: str, name: str) -> bool:
        """Private services access on a network: set up beforehand (the
        double's private_services_access), or a servicenetworking connection
        whose peering is there."""
        entry = self.network(project, name)
        peered = any(p["name"] == PSA_PEERING for p in entry["resource"].get("peerings", []))
        return entry["psa"] or peered

    def compute_operation(self, project, scope, op_type, target_link, target_id, done=None, running=None):
        name = f"operation-{int(datetime.datetime.now().timestamp() * 1000)}-{uuid.uuid4().hex[:13]}"
        resource = {"kind": "compute#operation", "id": self.next_id(), "name": name, "operationType": op_type,
                    "targetLink": target_link, "targetId": target_id, "status": "PENDING",
                    "user": CALLER.format(project=project), "progress": 0, "insertTime": _compute_time(),
                    "selfLink": f"{COMPUTE}projects/{project}/{scope}/operations/{name}"}
        if scope.startswith("zones/"):
            resource["zone"] = f"{COMPUTE}projects/{project}/{scope}"
        if scope.startswith("regions/"):
            resource["region"] = f"{COMPUTE}projects/{project}/{scope}"
        self.s.operations[name] = Operation(resource, done=done, running=running)
        return 200, dict(resource)

    def poll(self, name: str) -> dict:
        op = self.s.operations.get(name)
        if op is None:
            raise ApiError(404, f"The resource 'operations/{name}' was not found", "notFound")
        r = op.resource
        if "kind" not in r:  # a google.longrunning Operation: done, then error or response
            if not r["done"]:
                op.polls += 1
                if op.polls >= self.double.op_polls:
                    r["done"] = True
                    try:
                        if op.done:
                            op.done()
                        r["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
                    except ApiError as exc:
                        r["error"] = {"code": GRPC_CODES.get(exc.reason, 3), "message": exc.message}
            return dict(r)
        if r["status"] != "DONE":
            op.polls += 1
            if r["status"] == "PENDING":
                r["status"] = "RUNNING"
                r["startTime"] = _now() if r["kind"] == "sql#operation" else _compute_time()
                if r["kind"] == "compute#operation":
                    r["progress"] = 0
                if op.running:
                    op.running()
            elif op.polls >= self.double.op_polls:
                r["status"] = "DONE"
                r["endTime"] = _now() if r["kind"] == "sql#operation" else _compute_time()
                if r["kind"] == "compute#operation":
                    r["progress"] = 100
                try:
                    if op.done:
                        op.done()
                except ApiError as exc:
                    if r["kind"] == "compute#operation":
                        r["error"] = {"errors": [{"code": exc.reason.upper(), "message": exc.message}]}
                        r["httpErrorStatusCode"], r["httpErrorMessage"] = exc.status, STATUS_NAMES.get(exc.status)
                    else:
                        r["error"] = {"kind": "sql#operationErrors",
                                      "errors": [{"kind": "sql#operationError", "code": exc.reason, "message": exc.message}]}
        return dict(r)

    def conflict(self, method_id: str) -> bool:
        """True once per injected conflict of this method (someone else writes first)."""
        if self.s.conflicts.get(method_id, 0) > 0:
            self.s.conflicts[method_id] -= 1
            return True
        return False

    # -- OAuth and IAM ---------------------------------------------------------
    def iam_projects_serviceAccounts_create(self, p, q, body):
        project = p["projectsId"]
        account_id = body.get("accountId", "")
        if not re.fullmatch(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])", account_id):
            raise ApiError(400, f"Invalid account ID '{account_id}': 6 to 30 characters, lower-case letters, digits, "
                                f"hyphens, starting with a letter.")
        email = f"{account_id}@{project}.iam.gserviceaccount.com"
        if email in self.s.service_accounts:
            raise ApiError(409, f"Service account {account_id} already exists within project projects/{project}.",
                           "alreadyExists")
        sa = body.get("serviceAccount", {})
        resource = {"name": f"projects/{project}/serviceAccounts/{email}", "projectId": project,
                    "uniqueId": str(next(self.s.ids))[:21], "email": email, "etag": "MDEwMjE5MjA=",
                    "oauth2ClientId": str(next(self.s.ids))[:21]}
        for key in ("displayName", "description"):
            if sa.get(key):
                resource[key] = sa[key]
        self.s.service_accounts[email] = resource
        if self.double.sa_propagation:
            self.s.sa_pending[email] = self.double.sa_propagation
        return 200, resource

    def _sa(self, p):
        email = unquote(p["serviceAccountsId"])
        if email not in self.s.service_accounts:
            raise ApiError(404, f"Unknown service account: projects/{p['projectsId']}/serviceAccounts/{email}", "notFound")
        return email

    def iam_projects_serviceAccounts_get(self, p, q, body):
        return 200, self.s.service_accounts[self._sa(p)]

    def iam_projects_serviceAccounts_delete(self, p, q, body):
        email = self._sa(p)
        del self.s.service_accounts[email]
        return 200, {}

    def _project_policy(self, project):
        return self.s.project_policies.setdefault(project, {
            "version": 1, "etag": "BwYAAAAAAAA=",
            "bindings": [{"role": "roles/owner", "members": [f"serviceAccount:{CALLER.format(project=project)}"]}]})

    def cloudresourcemanager_projects_getIamPolicy(self, p, q, body):
        requested = ((body or {}).get("options") or {}).get("requestedPolicyVersion")
        return 200, _policy_view(self._project_policy(p["resource"]), requested)

    def cloudresourcemanager_projects_get(self, p, q, body):
        project = p["projectId"]
        return 200, {"projectNumber": PROJECT_NUMBER, "projectId": project, "lifecycleState": "ACTIVE",
                     "name": project, "createTime": "2026-01-05T10:00:00.000Z",
                     "parent": {"type": "organization", "id": "987654321098"}}

    def cloudresourcemanager_projects_setIamPolicy(self, p, q, body):
        project = p["resource"]
        current = self._project_policy(project)
        if self.conflict("cloudresourcemanager.projects.setIamPolicy"):
            current["bindings"].append({"role": "roles/viewer", "members": ["user:someone-else@example.com"]})
            current["etag"] = base64.b64encode(hashlib.sha256(current["etag"].encode()).digest()[:8]).decode()
        policy = body.get("policy")
        if policy is None:
            raise ApiError(400, "Request contains an invalid argument: policy is required.")
        if policy.get("etag") and policy["etag"] != current["etag"]:
            raise ApiError(409, "There were concurrent policy changes. Please retry the whole read-modify-write "
                                "with exponential backoff.", "aborted")
        _check_conditions(policy, current)
        _iam_members(self.s, policy, current, "the project's policy")
        bindings = [b for b in policy.get("bindings", []) if b.get("members")]
        new = {"version": 3 if any(b.get("condition") for b in bindings) else 1, "bindings": bindings}
        new["etag"] = _fingerprint([new["bindings"], current["etag"]])
        self.s.project_policies[project] = new
        return 200, new

    # -- Compute: firewalls ----------------------------------------------------
    def _firewall_body(self, project, body, name_from=None):
        name = body.get("name", name_from)
        if not name or not NAME_RE.fullmatch(name):
            raise ApiError(400, f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex "
                                f"'(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'")
        network = body.get("network", "global/networks/default")
        net_project, network_url = compute_reference(network, "resource.network", project, "global/networks")
        self.network(net_project, network_url.rsplit("/", 1)[1])
        direction = body.get("direction", "INGRESS")
        if not body.get("allowed") and not body.get("denied"):
            raise ApiError(400, "Invalid value for field 'resource': a firewall rule needs allowed or denied.")
        for key in ("allowed", "denied"):
            for i, rule in enumerate(body.get(key, [])):
                if "IPProtocol" not in rule:
                    raise ApiError(400, f"Required field 'resource.{key}[{i}].IPProtocol' not specified")
                for port in rule.get("ports", []):
                    m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", port)
                    if not m or int(m.group(1)) > 65535 or int(m.group(2) or 0) > 65535:
                        raise ApiError(400, f"Invalid value for field 'resource.{key}[{i}].ports': '{port}'.")
        for key in ("sourceRanges", "destinationRanges"):
            for cidr in body.get(key, []):
                _cidr(cidr, f"resource.{key}")
        if direction == "INGRESS" and not (body.get("sourceRanges") or body.get("sourceTags")
                                           or body.get("sourceServiceAccounts")):
            body = dict(body, sourceRanges=["0.0.0.0/0"])
        priority = int(body.get("priority", 1000))
        if not 0 <= priority <= 65535:
            raise ApiError(400, f"Invalid value for field 'resource.priority': {priority}.")
        resource = {k: v for k, v in body.items() if k not in ("kind", "params")}
        resource.update(kind="compute#firewall", name=name, network=network_url, priority=priority,
                        direction=direction, disabled=bool(body.get("disabled", False)),
                        logConfig={"enable": bool(body.get("logConfig", {}).get("enable", False)),
                                   **({"metadata": body["logConfig"]["metadata"]}
                                      if body.get("logConfig", {}).get("metadata") else {})},
                        selfLink=f"{COMPUTE}projects/{project}/global/firewalls/{name}")
        return resource

    def compute_firewalls_get(self, p, q, body):
        key = (p["project"], p["firewall"])
        if key not in self.s.firewalls:
            raise ApiError(404, f"The resource 'projects/{key[0]}/global/firewalls/{key[1]}' was not found", "notFound")
        return 200, self.s.firewalls[key]

    def compute_firewalls_insert(self, p, q, body):
        project = p["project"]
        resource = self._firewall_body(project, body)
        key = (project, resource["name"])
        if key in self.s.firewalls:
            raise ApiError(409, f"The resource 'projects/{project}/global/firewalls/{key[1]}' already exists",
                           "alreadyExists")
        resource.update(id=self.next_id(), creationTimestamp=_compute_time())

        def done():
            self.s.firewalls[key] = resource
        return self.compute_operation(project, "global", "insert", resource["selfLink"], resource["id"], done)

    def compute_firewalls_patch(self, p, q, body):
        project = p["project"]
        old = self.compute_firewalls_get(p, q, None)[1]
        if "network" in body:
            _, url = compute_reference(body["network"], "resource.network", project, "global/networks")
            if url != old["network"]:
                raise ApiError(400, "Invalid value for field 'resource.network': the network of a firewall rule "
                                    "cannot be changed.")
        merged = self._firewall_body(project, {**{k: v for k, v in old.items()
                                                  if k not in ("id", "creationTimestamp", "selfLink", "kind")}, **body})
        merged.update(id=old["id"], creationTimestamp=old["creationTimestamp"])

        def done():
            self.s.firewalls[(project, p["firewall"])] = merged
        return self.compute_operation(project, "global", "patch", old["selfLink"], old["id"], done)

    def compute_firewalls_delete(self, p, q, body):
        old = self.compute_firewalls_get(p, q, None)[1]

        def done():
            self.s.firewalls.pop((p["project"], p["firewall"]), None)
        return self.compute_operation(p["project"], "global", "delete", old["selfLink"], old["id"], done)

    def compute_firewalls_list(self, p, q, body):
        project = p["project"]
        self.project_defaults(project)
        items = [v for (pr, _), v in sorted(self.s.firewalls.items()) if pr == project]
        return 200, self._listed(items, q, "compute#firewallList", f"{COMPUTE}projects/{project}/global/firewalls")

    # -- Compute: networks, subnetworks, reserved ranges ---------------------
    def _name(self, body, field_name="resource.name"):
        name = body.get("name") or ""
        if not NAME_RE.fullmatch(name):
            raise ApiError(400, f"Invalid value for field '{field_name}': '{name}'. Must be a match of regex "
                                f"'(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'")
        return name

    def _ranges_of(self, project, network_url):
        """(what, range) of every IPv4 range already in a network: its subnets and its reserved peering ranges."""
        for (pr, region, name), sub in sorted(self.s.subnetworks.items()):
            if pr == project and sub["network"] == network_url:
                yield f"projects/{pr}/regions/{region}/subnetworks/{name}", ipaddress.ip_network(sub["ipCidrRange"])
        for (pr, name), address in sorted(self.s.global_addresses.items()):
            if pr == project and address.get("network") == network_url and address.get("purpose") == "VPC_PEERING":
                yield (f"projects/{pr}/global/addresses/{name}",
                       ipaddress.ip_network(f"{address['address']}/{address['prefixLength']}"))

    def _users_of_network(self, project, url):
        users = [f"projects/{project}/global/firewalls/{n}" for (pr, n), f in sorted(self.s.firewalls.items())
                 if pr == project and f["network"] == url]
        users += [f"projects/{pr}/regions/{r}/subnetworks/{n}" for (pr, r, n), sub in sorted(self.s.subnetworks.items())
                  if pr == project and sub["network"] == url]
        users += [f"projects/{pr}/zones/{z}/instances/{n}" for (pr, z, n), vm in sorted(self.s.instances.items())
                  if pr == project and any(nic["network"] == url for nic in vm["networkInterfaces"])]
        users += [f"projects/{pr}/global/addresses/{n}" for (pr, n), a in sorted(self.s.global_addresses.items())
                  if pr == project and a.get("network") == url]
        return users

    def compute_networks_get(self, p, q, body):
        return 200, self.network(p["project"], p["network"])["resource"]

    def compute_networks_list(self, p, q, body):
        project = p["project"]
        self.project_defaults(project)
        items = [e["resource"] for (pr, _), e in sorted(self.s.networks.items()) if pr == project]
        return 200, self._listed(items, q, "compute#networkList", f"{COMPUTE}projects/{project}/global/networks")

    def compute_networks_insert(self, p, q, body):
        project = p["project"]
        self.project_defaults(project)
        name = self._name(body)
        if (project, name) in self.s.networks:
            raise ApiError(409, f"The resource 'projects/{project}/global/networks/{name}' already exists", "alreadyExists")
        if "autoCreateSubnetworks" not in body or "IPv4Range" in body:
            raise ApiError(400, "Invalid value for field 'resource.autoCreateSubnetworks': legacy networks cannot be "
                                "created; set autoCreateSubnetworks (false for a custom mode VPC network).")
        mtu = int(body.get("mtu", 1460))
        if not 1300 <= mtu <= 8896:
            raise ApiError(400, f"Invalid value for field 'resource.mtu': {mtu}. Must be between 1300 and 8896.")
        url = f"{COMPUTE}projects/{project}/global/networks/{name}"
        network_id = self.next_id()
        resource = {"kind": "compute#network", "id": network_id, "creationTimestamp": _compute_time(), "name": name,
                    "selfLink": url, "selfLinkWithId": f"{COMPUTE}projects/{project}/global/networks/{network_id}",
                    "autoCreateSubnetworks": bool(body["autoCreateSubnetworks"]), "mtu": mtu,
                    "routingConfig": {"routingMode": body.get("routingConfig", {}).get("routingMode", "REGIONAL")},
                    "networkFirewallPolicyEnforcementOrder": body.get("networkFirewallPolicyEnforcementOrder",
                                                                      "AFTER_CLASSIC_FIREWALL")}
        if body.get("description"):
            resource["description"] = body["description"]
        if resource["autoCreateSubnetworks"]:
            resource["subnetworks"] = [f"{COMPUTE}projects/{project}/regions/{z.rsplit('-', 1)[0]}/subnetworks/{name}"
                                       for z in sorted(set(self.double.zones))]

        def done():
            self.s.networks[(project, name)] = {"psa": False, "resource": resource}
        return self.compute_operation(project, "global", "insert", url, network_id, done)

    def compute_networks_delete(self, p, q, body):
        project, name = p["project"], p["network"]
        resource = self.network(project, name)["resource"]
        users = self._users_of_network(project, resource["selfLink"])
        users += [f"projects/{project}/global/networks/{name}/peerings/{x['name']}" for x in resource.get("peerings", [])]
        if users:
            raise ApiError(400, f"The network resource 'projects/{project}/global/networks/{name}' is already being used "
                                f"by '{users[0]}'", "resourceInUseByAnotherResource")

        def done():
            self.s.networks.pop((project, name), None)
            self.s.connections.pop((project, name), None)
        return self.compute_operation(project, "global", "delete", resource["selfLink"], resource["id"], done)

    def compute_networks_removePeering(self, p, q, body):
        project, name = p["project"], p["network"]
        resource = self.network(project, name)["resource"]
        peering = body.get("name")
        if not any(x["name"] == peering for x in resource.get("peerings", [])):
            raise ApiError(400, f"Invalid value for field 'resource.name': '{peering}'. There is no peering with this "
                                f"name on network '{name}'.")

        def done():
            resource["peerings"] = [x for x in resource["peerings"] if x["name"] != peering]
            if not resource["peerings"]:
                del resource["peerings"]
        return self.compute_operation(project, "global", "removePeering", resource["selfLink"], resource["id"], done)

    def _subnet(self, p):
        key = (p["project"], p["region"], p["subnetwork"])
        if key not in self.s.subnetworks:
            raise ApiError(404, f"The resource 'projects/{key[0]}/regions/{key[1]}/subnetworks/{key[2]}' was not found",
                           "notFound")
        return key, self.s.subnetworks[key]

    def compute_subnetworks_get(self, p, q, body):
        return 200, self._subnet(p)[1]

    def compute_subnetworks_insert(self, p, q, body):
        project, region = p["project"], p["region"]
        self.project_defaults(project)
        name = self._name(body)
        key = (project, region, name)
        if key in self.s.subnetworks:
            raise ApiError(409, f"The resource 'projects/{project}/regions/{region}/subnetworks/{name}' already exists",
                           "alreadyExists")
        if "region" in body and body["region"] not in (
                region, f"regions/{region}", f"projects/{project}/regions/{region}",
                *(f"{root}projects/{project}/regions/{region}" for root in COMPUTE_ROOTS)):
            raise ApiError(400, f"Invalid value for field 'resource.region': '{body['region']}'. It must be the region "
                                f"of the request, {region}.")
        if "network" not in body:
            raise ApiError(400, "Invalid value for field 'resource.network': ''. The network must be specified.")
        net_project, net_url = compute_reference(body["network"], "resource.network", project, "global/networks")
        self.network(net_project, net_url.rsplit("/", 1)[1])
        cidr = body.get("ipCidrRange") or ""
        try:
            net = ipaddress.ip_network(cidr)
        except ValueError as exc:
            raise ApiError(400, f"Invalid value for field 'resource.ipCidrRange': '{cidr}'. Invalid IPCidrRange: "
                                f"{cidr}.") from exc
        if net.version != 4 or not 8 <= net.prefixlen <= 29:
            raise ApiError(400, f"Invalid value for field 'resource.ipCidrRange': '{cidr}'. The prefix length of a "
                                f"subnetwork's primary IPv4 range must be between /8 and /29.")
        for what, other in self._ranges_of(net_project, net_url):
            if net.overlaps(other):
                raise ApiError(400, f"Invalid IPCidrRange: {cidr} conflicts with existing range {other} of '{what}'.")
        url = f"{COMPUTE}projects/{project}/regions/{region}/subnetworks/{name}"
        resource = {"kind": "compute#subnetwork", "id": self.next_id(), "creationTimestamp": _compute_time(),
                    "name": name, "network": net_url, "ipCidrRange": str(net),
                    "gatewayAddress": str(net.network_address + 1), "region": f"{COMPUTE}projects/{project}/regions/{region}",
                    "selfLink": url, "privateIpGoogleAccess": bool(body.get("privateIpGoogleAccess", False)),
                    "purpose": body.get("purpose", "PRIVATE"), "stackType": body.get("stackType", "IPV4_ONLY")}
        if body.get("description"):
            resource["description"] = body["description"]
        resource["fingerprint"] = _fingerprint(resource)

        def done():
            self.s.subnetworks[key] = resource
            entry = self.s.networks.get((net_project, net_url.rsplit("/", 1)[1]))
            if entry:
                entry["resource"].setdefault("subnetworks", []).append(url)
        return self.compute_operation(project, f"regions/{region}", "insert", url, resource["id"], done)

    def compute_subnetworks_delete(self, p, q, body):
        key, sub = self._subnet(p)
        users = [f"projects/{pr}/zones/{z}/instances/{n}" for (pr, z, n), vm in sorted(self.s.instances.items())
                 if any(nic.get("subnetwork") == sub["selfLink"] for nic in vm["networkInterfaces"])]
        if users:
            raise ApiError(400, f"The subnetwork resource 'projects/{key[0]}/regions/{key[1]}/subnetworks/{key[2]}' is "
                                f"already being used by '{users[0]}'", "resourceInUseByAnotherResource")

        def done():
            self.s.subnetworks.pop(key, None)
            entry = self.s.networks.get((key[0], sub["network"].rsplit("/", 1)[1]))
            if entry and sub["selfLink"] in entry["resource"].get("subnetworks", []):
                entry["resource"]["subnetworks"].remove(sub["selfLink"])
                if not entry["resource"]["subnetworks"]:
                    del entry["resource"]["subnetworks"]
        return self.compute_operation(key[0], f"regions/{key[1]}", "delete", sub["selfLink"], sub["id"], done)

    def compute_subnetworks_setPrivateIpGoogleAccess(self, p, q, body):
        key, sub = self._subnet(p)

        def done():
            sub["privateIpGoogleAccess"] = bool(body.get("privateIpGoogleAccess"))
            sub["fingerprint"] = _fingerprint({k: v for k, v in sub.items() if k != "fingerprint"})
        return self.compute_operation(key[0], f"regions/{key[1]}", "setPrivateIpGoogleAccess", sub["selfLink"],
                                      sub["id"], done)

    def _global_address(self, p):
        key = (p["project"], p["address"])
        if key not in self.s.global_addresses:
            raise ApiError(404, f"The resource 'projects/{key[0]}/global/addresses/{key[1]}' was not found", "notFound")
        return key, self.s.global_addresses[key]

    def compute_globalAddresses_get(self, p, q, body):
        return 200, self._global_address(p)[1]

    def compute_globalAddresses_insert(self, p, q, body):
        project = p["project"]
        self.project_defaults(project)
        name = self._name(body)
        key = (project, name)
        if key in self.s.global_addresses:
            raise ApiError(409, f"The resource 'projects/{project}/global/addresses/{name}' already exists", "alreadyExists")
        address_type = body.get("addressType", "EXTERNAL")
        url = f"{COMPUTE}projects/{project}/global/addresses/{name}"
        resource = {"kind": "compute#address", "id": self.next_id(), "creationTimestamp": _compute_time(), "name": name,
                    "selfLink": url, "status": "RESERVED", "addressType": address_type,
                    "labelFingerprint": "42WmSpB8rSM="}
        if body.get("purpose") == "VPC_PEERING":
            if address_type != "INTERNAL":
                raise ApiError(400, f"Invalid value for field 'resource.addressType': '{address_type}'. A VPC_PEERING "
                                    f"range must be INTERNAL.")
            if "network" not in body or "prefixLength" not in body:
                raise ApiError(400, "Invalid value for field 'resource': a VPC_PEERING range needs a network and a "
                                    "prefixLength.")
            net_project, net_url = compute_reference(body["network"], "resource.network", project, "global/networks")
            self.network(net_project, net_url.rsplit("/", 1)[1])
            prefix = int(body["prefixLength"])
            if not 8 <= prefix <= 29:
                raise ApiError(400, f"Invalid value for field 'resource.prefixLength': {prefix}.")
            try:
                net = ipaddress.ip_network(f"{body.get('address', '10.100.0.0')}/{prefix}")
            except ValueError as exc:
                raise ApiError(400, f"Invalid value for field 'resource.address': '{body.get('address')}' is not the "
                                    f"first address of a /{prefix}.") from exc
            for what, other in self._ranges_of(net_project, net_url):
                if net.overlaps(other):
                    raise ApiError(400, f"Invalid value for field 'resource.address': {net} conflicts with the range "
                                        f"{other} of '{what}'.")
            resource.update(address=str(net.network_address), prefixLength=prefix, purpose="VPC_PEERING",
                            network=net_url)
        elif body.get("purpose") or address_type != "EXTERNAL":
            raise ApiError(400, "Invalid value for field 'resource.purpose': the double serves external addresses "
                                "and VPC_PEERING ranges only.")
        else:
            resource.update(address=body.get("address", "198.51.100.200"), ipVersion=body.get("ipVersion", "IPV4"),
                            networkTier="PREMIUM")
        if body.get("description"):
            resource["description"] = body["description"]

        def done():
            self.s.global_addresses[key] = resource
        return self.compute_operation(project, "global", "insert", url, resource["id"], done)

    def compute_globalAddresses_delete(self, p, q, body):
        key, address = self._global_address(p)
        for (project, network), connection in sorted(self.s.connections.items()):
            peered = any(x["name"] == PSA_PEERING for x in self.network(project, network)["resource"].get("peerings", []))
            if project == key[0] and key[1] in connection["reservedPeeringRanges"] and peered:
                raise ApiError(400, f"The address resource 'projects/{key[0]}/global/addresses/{key[1]}' is already "
                                    f"being used by 'projects/{project}/global/networks/{network}/peerings/"
                                    f"{PSA_PEERING}'", "resourceInUseByAnotherResource")

        def done():
            self.s.global_addresses.pop(key, None)
        return self.compute_operation(key[0], "global", "delete", address["selfLink"], address["id"], done)

    # -- Service Networking: private services access -----------------------------
    def _consumer_network(self, value, field_name):
        """projects/<project NUMBER>/global/networks/<name> (every project of the double has PROJECT_NUMBER)."""
        m = re.fullmatch(r"projects/([^/]+)/global/networks/([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)", value or "")
        if not m:
            raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. Expected "
                                f"projects/{{project number}}/global/networks/{{network}}.")
        if m.group(1) != PROJECT_NUMBER:
            raise ApiError(400, f"Invalid value for field '{field_name}': '{value}'. {{project}} must be the project "
                                f"number (like {PROJECT_NUMBER}), not the project id.")
        found = sorted(pr for (pr, n) in self.s.networks if n == m.group(2))
        if not found:
            raise ApiError(404, f"Network '{value}' was not found.", "notFound")
        return found[0], m.group(2)

    def lro(self, project, done=None):
        """A google.longrunning Operation (Service Networking): done after op_polls polls."""
        name = f"operations/pssn.p24-{PROJECT_NUMBER}-{uuid.uuid4()}"
        resource = {"name": name, "metadata": {"@type": "type.googleapis.com/google.protobuf.Empty"}, "done": False}
        self.s.operations[name] = Operation(resource, done=done)
        return resource

    def servicenetworking_services_connections_create(self, p, q, body):
        if p["servicesId"] != "servicenetworking.googleapis.com":
            raise ApiError(404, f"Service services/{p['servicesId']} not found.", "notFound")
        project, network = self._consumer_network(body.get("network"), "network")
        resource = self.network(project, network)["resource"]
        old = self.s.connections.get((project, network))
        ranges = body.get("reservedPeeringRanges") or (old or {}).get("reservedPeeringRanges") or []
        if not ranges:
            raise ApiError(400, "Invalid value for field 'reservedPeeringRanges': at least one allocated range is needed.")
        for name in ranges:
            address = self.s.global_addresses.get((project, name))
            if not address or address.get("purpose") != "VPC_PEERING" or address.get("network") != resource["selfLink"]:
                raise ApiError(400, f"Allocated IP range '{name}' not found in network {network}.")
        if any(x["name"] == PSA_PEERING for x in resource.get("peerings", [])):
            raise ApiError(400, "Cannot modify allocated ranges in CreateConnection. Please use UpdateConnection.")

        def done():
            self.s.connections[(project, network)] = {
                "network": body["network"], "reservedPeeringRanges": list(ranges), "peering": PSA_PEERING,
                "service": "services/servicenetworking.googleapis.com"}
            resource.setdefault("peerings", []).append({
                "name": PSA_PEERING, "network": "https://www.googleapis.com/compute/v1/projects/"
                                                "p7c3e1a0b2d4f6-tp/global/networks/servicenetworking",
                "state": "ACTIVE", "stateDetails": f"[{_compute_time()}]: Connected.", "autoCreateRoutes": True,
                "exportCustomRoutes": False, "importCustomRoutes": False, "exchangeSubnetRoutes": True,
                "exportSubnetRoutesWithPublicIp": False, "importSubnetRoutesWithPublicIp": False,
                "stackType": "IPV4_ONLY"})
        return 200, self.lro(project, done)

    def servicenetworking_services_connections_list(self, p, q, body):
        network = q.get("network", [""])[0]
        key = self._consumer_network(network, "network")
        connection = self.s.connections.get(key)
        return 200, {"connections": [connection]} if connection else {}

    def servicenetworking_services_connections_deleteConnection(self, p, q, body):
        if p["servicesId"] != "servicenetworking.googleapis.com" or p["connectionsId"] != PSA_PEERING:
            raise ApiError(404, f"Connection {p['connectionsId']} not found.", "notFound")
        project, network = self._consumer_network(body.get("consumerNetwork"), "consumerNetwork")
        resource = self.network(project, network)["resource"]
        if (project, network) not in self.s.connections:
            raise ApiError(404, f"No private connection on network {network}.", "notFound")

        def done():
            # Cloud SQL keeps its resources behind the connection for days after an instance is deleted
            # (so that it can be restored); the connection cannot be deleted until then.
            if (project, network) in self.s.producer_networks:
                raise ApiError(400, "Failed to delete connection; Producer services (e.g. CloudSQL, Cloud Memstore, "
                                    "etc.) are still using this connection.", "FAILED_PRECONDITION")
            del self.s.connections[(project, network)]
            resource["peerings"] = [x for x in resource.get("peerings", []) if x["name"] != PSA_PEERING]
            if not resource["peerings"]:
                del resource["peerings"]
        return 200, self.lro(project, done)

    def servicenetworking_operations_get(self, p, q, body):
        return 200, self.poll(f"operations/{p['operationsId']}")

    def compute_globalOperations_get(self, p, q, body):
        return 200, self.poll(p["operation"])

    def compute_zoneOperations_get(self, p, q, body):
        return 200, self.poll(p["operation"])

    def compute_regionOperations_get(self, p, q, body):
        return 200, self.poll(p["operation"])

    # -- Compute: instances ----------------------------------------------------
    def _instance(self, p):
        key = (p["project"], p["zone"], p["instance"])
        if key not in self.s.instances:
            raise ApiError(404, f"The resource 'projects/{key[0]}/zones/{key[1]}/instances/{key[2]}' was not found",
                           "notFound")
        return key, self.s.instances[key]

    def compute_instances_get(self, p, q, body):
        return 200, self._instance(p)[1]

    def _listed(self, items, q, kind, link, filter_text=None):
        items = [i for i in items if _matches(i, q.get("filter", [""])[0] if filter_text is None else filter_text)]
        start = int(q.get("pageToken", ["0"])[0] or 0)
        size = min(int(q.get("maxResults", ["500"])[0]), self.double.page_size)
        page = items[start:start + size]
        result = {"kind": kind, "id": link.split("compute/v1/", 1)[1], "selfLink": link}
        if page:
            result["items"] = page
        if start + size < len(items):
            result["nextPageToken"] = str(start + size)
        return result

    def compute_instances_list(self, p, q, body):
        project, zone = p["project"], p["zone"]
        items = [v for (pr, z, _), v in sorted(self.s.instances.items()) if pr == project and z == zone]
        return 200, self._listed(items, q, "compute#instanceList", f"{COMPUTE}projects/{project}/zones/{zone}/instances")

    def compute_instances_aggregatedList(self, p, q, body):
        project = p["project"]
        text = q.get("filter", [""])[0]
        zones = sorted({z for (pr, z, _) in self.s.instances if pr == project} | set(self.double.zones))
        result = {"kind": "compute#instanceAggregatedList", "id": f"projects/{project}/aggregated/instances",
                  "selfLink": f"{COMPUTE}projects/{project}/aggregated/instances", "items": {}}
        for zone in zones:
            found = [v for (pr, z, _), v in sorted(self.s.instances.items())
                     if pr == project and z == zone and _matches(v, text)]
            result["items"][f"zones/{zone}"] = {"instances": found} if found else {"warning": {
                "code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/%s' on this page." % zone,
                "data": [{"key": "scope", "value": f"zones/{zone}"}]}}
        return 200, result

    def compute_instances_insert(self, p, q, body):
        project, zone = p["project"], p["zone"]
        region = zone.rsplit("-", 1)[0]
        name = body.get("name", "")
        if not NAME_RE.fullmatch(name):
            raise ApiError(400, f"Invalid value for field 'resource.name': '{name}'.")
        key = (project, zone, name)
        if key in self.s.instances:
            raise ApiError(409, f"The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists",
                           "alreadyExists")
        if "machineType" not in body:
            raise ApiError(400, "Invalid value for field 'resource.machineType': ''. Machine type must be specified.")
        _, machine_type = compute_reference(body["machineType"], "resource.machineType", project,
                                            "zones/{zone}/machineTypes", zone)
        number = next(self.s.addresses)
        disks = []
        if not any(d.get("boot") for d in body.get("disks", [])):
            raise ApiError(400, "Invalid value for field 'resource.disks': no boot disk given.")
        for index, disk in enumerate(body.get("disks", [])):
            init = disk.get("initializeParams")
            if bool(init) == bool(disk.get("source")):
                raise ApiError(400, f"Invalid value for field 'resource.disks[{index}]': exactly one of source and "
                                    f"initializeParams is needed.")
            attached = {"kind": "compute#attachedDisk", "type": disk.get("type", "PERSISTENT"),
                        "mode": disk.get("mode", "READ_WRITE"), "deviceName": disk.get("deviceName", f"persistent-disk-{index}"),
                        "index": index, "boot": bool(disk.get("boot", False)), "autoDelete": bool(disk.get("autoDelete", False)),
                        "interface": disk.get("interface", "SCSI"), "architecture": "X86_64"}
            if init:
                if "diskType" in init:
                    compute_reference(init["diskType"], f"resource.disks[{index}].initializeParams.diskType", project,
                                      "zones/{zone}/diskTypes", zone)
                image = init.get("sourceImage")
                if disk.get("boot") and not image:
                    raise ApiError(400, f"Invalid value for field 'resource.disks[{index}].initializeParams.sourceImage'"
                                        f": a boot disk needs a source image.")
                license_name = None
                if image:
                    m = re.fullmatch(r"(?:https://(?:www|compute)\.googleapis\.com/compute/v1/)?(?:projects/([a-z][-a-z0-9]{4,28}[a-z0-9])/)?"
                                     r"global/images/(family/)?([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)", image)
                    if not m or image.count("projects/") > 1:
                        raise ApiError(400, f"Invalid value for field 'resource.disks[{index}].initializeParams.sourceImage'"
                                            f": '{image}'. The URL is malformed.")
                    image_project = m.group(1) or project
                    if m.group(2) and (image_project, m.group(3)) not in IMAGE_FAMILIES:
                        raise ApiError(404, f"The resource 'projects/{image_project}/global/images/family/{m.group(3)}' "
                                            f"was not found", "notFound")
                    license_name = IMAGE_FAMILIES.get((image_project, m.group(3)))
                size = int(init.get("diskSizeGb", 10))
                disk_name = init.get("diskName", name if disk.get("boot") else f"{name}-{index}")
                attached.update(source=f"{COMPUTE}projects/{project}/zones/{zone}/disks/{disk_name}", diskSizeGb=str(size),
                                guestOsFeatures=[{"type": t} for t in ("UEFI_COMPATIBLE", "VIRTIO_SCSI_MULTIQUEUE", "GVNIC")])
                if license_name:
                    attached["licenses"] = [f"{COMPUTE}projects/debian-cloud/global/licenses/{license_name}"]
            else:
                _, attached["source"] = compute_reference(disk["source"], f"resource.disks[{index}].source", project,
                                                          "zones/{zone}/disks", zone)
            disks.append(attached)
        nics = []
        if not body.get("networkInterfaces"):
            raise ApiError(400, "Invalid value for field 'resource.networkInterfaces': at least one is needed.")
        for index, nic in enumerate(body["networkInterfaces"]):
            if "network" not in nic and "subnetwork" not in nic:
                nic = dict(nic, network="global/networks/default")
            net_url, subnet = None, None
            if "network" in nic:
                net_project, net_url = compute_reference(nic["network"], f"resource.networkInterfaces[{index}].network",
                                                         project, "global/networks")
                self.network(net_project, net_url.rsplit("/", 1)[1])
            if "subnetwork" in nic:
                sub_project, sub_url = compute_reference(nic["subnetwork"], f"resource.networkInterfaces[{index}].subnetwork",
                                                         project, "regions/{region}/subnetworks", region)
                sub_name = sub_url.rsplit("/", 1)[1]
                subnet = self.s.subnetworks.get((sub_project, region, sub_name))
                if subnet is not None:
                    sub_network = subnet["network"]
                else:  # an auto mode network's subnet in each region carries the network's name
                    self.project_defaults(sub_project)
                    entry = self.s.networks.get((sub_project, sub_name))
                    if not entry or not entry["resource"].get("autoCreateSubnetworks"):
                        raise ApiError(404, f"The resource 'projects/{sub_project}/regions/{region}/subnetworks/{sub_name}'"
                                            f" was not found", "notFound")
                    sub_network = entry["resource"]["selfLink"]
                if net_url and net_url != sub_network:
                    raise ApiError(400, f"Invalid value for field 'resource.networkInterfaces[{index}].subnetwork': "
                                        f"'{nic['subnetwork']}'. The subnetwork is not in network '{net_url}'.")
                net_url = sub_network
            else:
                net_url = net_url or f"{COMPUTE}projects/{project}/global/networks/default"
                entry = self.network(net_url.split("/projects/", 1)[1].split("/")[0], net_url.rsplit("/", 1)[1])
                if not entry["resource"].get("autoCreateSubnetworks"):
                    raise ApiError(400, f"Invalid value for field 'resource.networkInterfaces[{index}]': Subnetwork "
                                        f"should be specified for custom subnetmode network", "invalid")
                sub_url = f"{COMPUTE}projects/{project}/regions/{region}/subnetworks/{net_url.rsplit('/', 1)[1]}"
            address = (str(ipaddress.ip_network(subnet["ipCidrRange"]).network_address + number) if subnet
                       else f"10.132.0.{number}")
            out = {"kind": "compute#networkInterface", "network": net_url,
                   "subnetwork": sub_url, "networkIP": nic.get("networkIP", address), "name": f"nic{index}",
                   "stackType": "IPV4_ONLY"}
            if nic.get("accessConfigs"):
                out["accessConfigs"] = []
                for ac in nic["accessConfigs"]:
                    if ac.get("type", "ONE_TO_ONE_NAT") != "ONE_TO_ONE_NAT":
                        raise ApiError(400, f"Invalid value for field 'resource.networkInterfaces[{index}].accessConfigs"
                                            f"[0].type': '{ac['type']}'.")
                    out["accessConfigs"].append({"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                                 "name": ac.get("name", "External NAT"),
                                                 "networkTier": ac.get("networkTier", "PREMIUM")})
            out["fingerprint"] = _fingerprint(out)
            nics.append(out)
        for account in body.get("serviceAccounts", []):
            email = account.get("email", "default")
            if email != "default" and email not in self.s.service_accounts \
                    and email != f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com":
                raise ApiError(400, f"The resource '{email}' of type 'serviceAccount' was not found.", "notFound")
        metadata_items = body.get("metadata", {}).get("items", [])
        tags = {"fingerprint": _fingerprint(body.get("tags", {}).get("items", []))}
        if body.get("tags", {}).get("items"):
            tags["items"] = body["tags"]["items"]
        labels = body.get("labels", {})
        for k, v in labels.items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", k) or not re.fullmatch(r"[a-z0-9_-]{0,63}", str(v)):
                raise ApiError(400, f"Invalid value for field 'resource.labels': '{k}={v}'.")
        vm = {
            "kind": "compute#instance", "id": self.next_id(), "creationTimestamp": _compute_time(), "name": name,
            "tags": tags, "machineType": machine_type, "status": "PROVISIONING",
            "zone": f"{COMPUTE}projects/{project}/zones/{zone}", "canIpForward": bool(body.get("canIpForward", False)),
            "networkInterfaces": nics, "disks": disks,
            "metadata": {"kind": "compute#metadata", "fingerprint": _fingerprint(metadata_items),
                         **({"items": metadata_items} if metadata_items else {})},
            "selfLink": f"{COMPUTE}projects/{project}/zones/{zone}/instances/{name}",
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False,
                           "provisioningModel": "STANDARD", **body.get("scheduling", {})},
            "cpuPlatform": "Unknown CPU Platform", "labelFingerprint": _fingerprint(labels),
            "startRestricted": False, "deletionProtection": bool(body.get("deletionProtection", False)),
            "fingerprint": "", "satisfiesPzi": True,
            "keyRevocationActionType": "NONE",
        }
        for k in ("description", "hostname", "minCpuPlatform"):
            if k in body:
                vm[k] = body[k]
        if labels:
            vm["labels"] = labels
        if body.get("serviceAccounts"):
            vm["serviceAccounts"] = [{"email": a.get("email", f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"),
                                      "scopes": a.get("scopes", [])} for a in body["serviceAccounts"]]
        if body.get("shieldedInstanceConfig"):
            vm["shieldedInstanceConfig"] = {"enableSecureBoot": False, "enableVtpm": True,
                                            "enableIntegrityMonitoring": True, **body["shieldedInstanceConfig"]}
            vm["shieldedInstanceIntegrityPolicy"] = {"updateAutoLearnPolicy": True}
        vm["fingerprint"] = _fingerprint(vm)
        self.s.instances[key] = vm

        def running():
            vm["status"] = "STAGING"

        def done():
            self._boot(vm)
        return self.compute_operation(project, f"zones/{zone}", "insert", vm["selfLink"], vm["id"], done, running)

    def _boot(self, vm):
        vm.update(status="RUNNING", cpuPlatform="Intel Broadwell", lastStartTimestamp=_compute_time())
        for nic in vm["networkInterfaces"]:
            for ac in nic.get("accessConfigs", []):
                ac["natIP"] = f"203.0.113.{next(self.s.addresses) % 250 + 2}"  # documentation range (RFC 5737)

    def compute_instances_start(self, p, q, body):
        key, vm = self._instance(p)
        if vm["status"] not in ("TERMINATED", "RUNNING"):
            raise ApiError(400, f"The instance is {vm['status']}: it cannot be started now.", "resourceNotReady")

        def running():
            if vm["status"] == "TERMINATED":
                vm["status"] = "STAGING"

        def done():
            if vm["status"] != "RUNNING":
                self._boot(vm)
        return self.compute_operation(key[0], f"zones/{key[1]}", "start", vm["selfLink"], vm["id"], done, running)

    def compute_instances_stop(self, p, q, body):
        key, vm = self._instance(p)

        def running():
            vm["status"] = "STOPPING"

        def done():
            self.double.stopped(vm)
        return self.compute_operation(key[0], f"zones/{key[1]}", "stop", vm["selfLink"], vm["id"], done, running)

    def compute_instances_delete(self, p, q, body):
        key, vm = self._instance(p)

        def running():
            vm["status"] = "STOPPING"

        def done():
            self.s.instances.pop(key, None)
        return self.compute_operation(key[0], f"zones/{key[1]}", "delete", vm["selfLink"], vm["id"], done, running)

    # -- Cloud Storage ---------------------------------------------------------
    def _bucket(self, name):
        if name not in self.s.buckets:
            raise ApiError(404, "The specified bucket does not exist.", "notFound")
        return self.s.buckets[name]

    def _bucket_view(self, name, q):
        bucket = dict(self._bucket(name))
        if q.get("projection", ["noAcl"])[0] == "full":
            bucket["owner"] = {"entity": f"project-owners-{PROJECT_NUMBER}"}
            if not bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"]:
                bucket["acl"] = []
                bucket["defaultObjectAcl"] = []
        return bucket

    def _bucket_resource(self, body, old=None):
        name = body.get("name") or (old or {}).get("name")
        iam = body.get("iamConfiguration", {})
        ubla = iam.get("uniformBucketLevelAccess", iam.get("bucketPolicyOnly", {"enabled": False}))
        pap = iam.get("publicAccessPrevention", "inherited")
        if pap not in ("inherited", "enforced", "unspecified"):
            raise ApiError(400, f"Invalid argument: publicAccessPrevention '{pap}'.")
        now = _now()
        created = (old or {}).get("timeCreated", now)
        locked = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=90)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        ubla_out = {"enabled": bool(ubla.get("enabled"))}
        if ubla_out["enabled"]:
            ubla_out["lockedTime"] = (old or {}).get("iamConfiguration", {}).get(
                "uniformBucketLevelAccess", {}).get("lockedTime", locked)
        location = body.get("location", (old or {}).get("location", "US")).upper()
        resource = {
            "kind": "storage#bucket", "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}", "id": name,
            "name": name, "projectNumber": PROJECT_NUMBER,
            "generation": (old or {}).get("generation", str(int(datetime.datetime.now().timestamp() * 1_000_000))),
            "metageneration": str(int((old or {}).get("metageneration", "0")) + 1), "location": location,
            "storageClass": body.get("storageClass", "STANDARD"), "etag": "",
            "timeCreated": created, "updated": now,
            "softDeletePolicy": (old or {}).get("softDeletePolicy",
                                                {"retentionDurationSeconds": "604800", "effectiveTime": created}),
            "iamConfiguration": {"bucketPolicyOnly": dict(ubla_out), "uniformBucketLevelAccess": ubla_out,
                                 "publicAccessPrevention": pap},
            "locationType": "multi-region" if location in ("US", "EU", "ASIA") else "region",
            "rpo": "DEFAULT",
        }
        if body.get("versioning"):
            resource["versioning"] = {"enabled": bool(body["versioning"].get("enabled"))}
        if body.get("labels"):
            resource["labels"] = body["labels"]
        for k in ("lifecycle", "cors", "logging", "website", "retentionPolicy", "encryption", "defaultEventBasedHold"):
            if k in body:
                resource[k] = body[k]
        resource["etag"] = base64.b64encode(resource["metageneration"].encode()).decode()
        return resource

    def storage_buckets_insert(self, p, q, body):
        name = body.get("name", "")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]", name) or "goog" in name:
            raise ApiError(400, f"Invalid bucket name: '{name}'", "invalid")
        if name in self.s.buckets:
            raise ApiError(409, "Your previous request to create the named bucket succeeded and you already own it.",
                           "conflict")
        project = q["project"][0]
        bucket = self._bucket_resource(body)
        self.s.buckets[name] = bucket
        self.s.bucket_projects[name] = project
        self.s.objects[name] = []
        self.s.bucket_policies[name] = {
            "kind": "storage#policy", "resourceId": f"projects/_/buckets/{name}", "version": 1, "etag": "CAE=",
            "bindings": [
                {"role": "roles/storage.legacyBucketOwner",
                 "members": [f"projectEditor:{project}", f"projectOwner:{project}"]},
                {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{project}"]}]}
        return 200, self._bucket_view(name, q)

    def storage_buckets_get(self, p, q, body):
        return 200, self._bucket_view(unquote(p["bucket"]), q)

    def storage_buckets_update(self, p, q, body):
        name = unquote(p["bucket"])
        old = self._bucket(name)
        if body.get("name", name) != name:
            raise ApiError(400, "The bucket name cannot be changed.")
        self.s.buckets[name] = self._bucket_resource(body, old)
        return 200, self._bucket_view(name, q)

    def storage_buckets_patch(self, p, q, body):
        name = unquote(p["bucket"])
        old = self._bucket(name)
        if body.get("name", name) != name:
            raise ApiError(400, "The bucket name cannot be changed.")
        merged = json.loads(json.dumps(old))
        for key, value in body.items():
            if key == "softDeletePolicy":
                seconds = int((value or {}).get("retentionDurationSeconds", 0))
                if seconds and not 7 * 86400 <= seconds <= 90 * 86400:
                    raise ApiError(400, "The soft delete policy's retention duration must be 0 (off) or between 7 and 90 "
                                        "days (604800 to 7776000 seconds).", "invalid")
                merged["softDeletePolicy"] = {"retentionDurationSeconds": str(seconds), "effectiveTime": _now()}
            elif key in ("labels", "versioning", "lifecycle", "retentionPolicy", "iamConfiguration", "cors", "logging"):
                merged[key] = value
            elif key != "name":
                raise ApiError(400, f"the double does not patch bucket field {key}", "invalid")
        merged["metageneration"] = str(int(old["metageneration"]) + 1)
        merged["etag"] = base64.b64encode(merged["metageneration"].encode()).decode()
        merged["updated"] = _now()
        self.s.buckets[name] = merged
        return 200, self._bucket_view(name, q)

    def storage_buckets_delete(self, p, q, body):
        name = unquote(p["bucket"])
        self._bucket(name)
        if self.s.objects.get(name):
            raise ApiError(409, "The bucket you tried to delete is not empty.", "conflict")
        del self.s.buckets[name]
        self.s.bucket_policies.pop(name, None)
        self.s.objects.pop(name, None)
        return 204, None

    def storage_buckets_getIamPolicy(self, p, q, body):
        name = unquote(p["bucket"])
        self._bucket(name)
        return 200, _policy_view(self.s.bucket_policies[name], q.get("optionsRequestedPolicyVersion", [None])[0],
                                 refuse_lower=True)

    def storage_buckets_setIamPolicy(self, p, q, body):
        name = unquote(p["bucket"])
        bucket = self._bucket(name)
        current = self.s.bucket_policies[name]
        if self.conflict("storage.buckets.setIamPolicy"):
            current["bindings"].append({"role": "roles/storage.objectViewer", "members": ["user:someone-else@example.com"]})
            current["etag"] = "CA" + _fingerprint(current["bindings"])
        if body.get("etag") and body["etag"] != current["etag"]:
            raise ApiError(412, "Precondition Failed", "conditionNotMet")
        _check_conditions(body, current)
        if _conditional(body) and not bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"]:
            raise ApiError(400, "IAM conditions need uniform bucket-level access on the bucket.", "invalid")
        _iam_members(self.s, body, current, "the bucket's policy",
                     public_allowed=bucket["iamConfiguration"]["publicAccessPrevention"] != "enforced")
        bindings = [b for b in body["bindings"] if b.get("members")]
        new = {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{name}",
               "version": 3 if any(b.get("condition") for b in bindings) else 1, "bindings": bindings}
        new["etag"] = "CA" + _fingerprint([new["bindings"], current["etag"]])
        self.s.bucket_policies[name] = new
        return 200, new

    def storage_objects_list(self, p, q, body):
        name = unquote(p["bucket"])
        self._bucket(name)
        versions = q.get("versions", ["false"])[0] == "true"
        items = [o for o in self.s.objects[name] if versions or "timeDeleted" not in o]
        prefix = q.get("prefix", [""])[0]
        items = sorted((o for o in items if o["name"].startswith(prefix)), key=lambda o: (o["name"], int(o["generation"])))
        start = int(q.get("pageToken", ["0"])[0] or 0)
        size = min(int(q.get("maxResults", ["1000"])[0]), self.double.page_size)
        result = {"kind": "storage#objects"}
        if items[start:start + size]:
            result["items"] = items[start:start + size]
        if start + size < len(items):
            result["nextPageToken"] = str(start + size)
        return 200, result

    def storage_objects_delete(self, p, q, body):
        name, obj = unquote(p["bucket"]), unquote(p["object"])
        bucket = self._bucket(name)
        objects = self.s.objects[name]
        generation = q.get("generation", [None])[0]
        if generation is not None:
            match = [o for o in objects if o["name"] == obj and o["generation"] == generation]
            if not match:
                raise ApiError(404, f"No such object: {name}/{obj}", "notFound")
            objects.remove(match[0])
            return 204, None
        live = [o for o in objects if o["name"] == obj and "timeDeleted" not in o]
        if not live:
            raise ApiError(404, f"No such object: {name}/{obj}", "notFound")
        if bucket.get("versioning", {}).get("enabled"):
            live[0]["timeDeleted"] = _now()
        else:
            objects.remove(live[0])
        return 204, None

    # -- Cloud SQL Admin ---------------------------------------------------------
    def _sql_link(self, api, project, instance):
        prefix = "sql/v1beta4/" if api == "sqladmin.v1beta4" else "v1/"
        return f"{SQLADMIN}{prefix}projects/{project}/instances/{instance}"

    def _sql_instance(self, p):
        key = (p["project"], p["instance"])
        if key not in self.s.sql_instances:
            raise ApiError(404, "The Cloud SQL instance does not exist.", "instanceDoesNotExist")
        return key, self.s.sql_instances[key]

    def _sql_busy(self, key):
        for op in self.s.operations.values():
            if op.instance_key == key and op.resource["status"] != "DONE":
                raise ApiError(409, "Operation failed because another operation was already in progress. "
                                    "Try your request after the current operation is complete.", "operationInProgress")

    def sql_operation(self, api, project, instance, op_type, done=None, running=None):
        name = str(uuid.uuid4())
        prefix = "sql/v1beta4/" if api == "sqladmin.v1beta4" else "v1/"
        resource = {"kind": "sql#operation", "targetLink": self._sql_link(api, project, instance), "status": "PENDING",
                    "user": CALLER.format(project=project), "insertTime": _now(), "operationType": op_type,
                    "name": name, "targetId": instance,
                    "selfLink": f"{SQLADMIN}{prefix}projects/{project}/operations/{name}", "targetProject": project}
        self.s.operations[name] = Operation(resource, done=done, running=running, instance_key=(project, instance))
        return 200, dict(resource)

    def sql_operations_get(self, p, q, body, api="sqladmin.v1"):
        op = self.poll(p["operation"])
        if op["kind"] != "sql#operation":
            raise ApiError(404, "The operation does not exist.", "operationDoesNotExist")
        return 200, op

    def _sql_view(self, api, resource):
        view = json.loads(json.dumps(resource))
        view["selfLink"] = self._sql_link(api, view["project"], view["name"])
        return view

    def sql_instances_get(self, p, q, body, api="sqladmin.v1"):
        key, _ = self._sql_instance(p)
        for name, op in list(self.s.operations.items()):
            if op.instance_key == key and op.advance_on_read and op.resource["status"] != "DONE":
                self.poll(name)
        return 200, self._sql_view(api, self._sql_instance(p)[1])

    def sql_instances_list(self, p, q, body, api="sqladmin.v1"):
        items = [self._sql_view(api, v) for (pr, _), v in sorted(self.s.sql_instances.items()) if pr == p["project"]]
        return 200, {"kind": "sql#instancesList", **({"items": items} if items else {})}

    def _check_tier(self, edition, tier, version):
        if edition == "ENTERPRISE_PLUS":
            if not re.fullmatch(r"db-perf-optimized-N-(2|4|8|16|32|48|64|80|96|128)", tier or ""):
                raise ApiError(400, f"Invalid request: Invalid Tier ({tier}) for (ENTERPRISE_PLUS) Edition. Use a "
                                    f"predefined Tier like db-perf-optimized-N-* instead. Learn more at "
                                    f"https://cloud.google.com/sql/docs/postgres/create-instance#machine-types",
                               "invalid")
            return
        if edition == "DEVELOPER":
            raise ApiError(400, "Invalid request: the DEVELOPER edition is not served by the double.")
        if tier in ("db-f1-micro", "db-g1-small"):
            return
        m = re.fullmatch(r"db-custom-([0-9]+)-([0-9]+)", tier or "")
        if not m:
            raise ApiError(400, f"Invalid request: Invalid Tier ({tier}) for (ENTERPRISE) Edition.", "invalid")
        cpus, memory = int(m.group(1)), int(m.group(2))
        if not (cpus == 1 or (cpus % 2 == 0 and cpus <= 96)) or memory % 256 or memory < 3840 \
                or not 0.9 * 1024 * cpus <= memory <= 6.5 * 1024 * cpus:
            raise ApiError(400, f"Invalid request: Invalid Tier ({tier}): {cpus} vCPUs take 0.9 to 6.5 GB each, in "
                                f"multiples of 256 MB, at least 3840 MB.", "invalid")

    def sql_instances_insert(self, p, q, body, api="sqladmin.v1"):
        project = p["project"]
        name = body.get("name", "")
        if not re.fullmatch(r"[a-z](?:[-a-z0-9]{0,96}[a-z0-9])?", name):
            raise ApiError(400, f"Invalid request: instance name '{name}'.", "invalid")
        key = (project, name)
        if key in self.s.sql_instances or key in self.s.sql_reserved:
            raise ApiError(409, "The Cloud SQL instance already exists. When you delete an instance, you can't reuse the "
                                "name of the deleted instance until one week from the deletion date.", "instanceAlreadyExists")
        version = body.get("databaseVersion", "MYSQL_8_0")
        settings = json.loads(json.dumps(body.get("settings", {})))
        major = int(re.sub(r"[^0-9].*", "", version.split("_", 1)[1]) or 0) if "_" in version else 0
        default_edition = "ENTERPRISE_PLUS" if (version.startswith("POSTGRES_") and major >= 16) or version == "MYSQL_8_4" \
            else "ENTERPRISE"
        edition = settings.get("edition", default_edition)
        self._check_tier(edition, settings.get("tier"), version)
        ip = settings.get("ipConfiguration", {})
        ipv4 = ip.get("ipv4Enabled", True)
        private = ip.get("privateNetwork")
        private_out = None
        if private:
            m = re.fullmatch(r"(?:https://www\.googleapis\.com/compute/v1/|/)?projects/([a-z][-a-z0-9]{4,28}[a-z0-9])"
                             r"/global/networks/([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)", private)
            if not m:
                raise ApiError(400, f"Invalid request: Incorrect Service Networking config for instance: "
                                    f"{project}:{name}:INVALID_NETWORK_URL ({private}).", "invalid")
            if not self.private_services_access(m.group(1), m.group(2)):
                raise ApiError(400, f"Invalid request: Incorrect Service Networking config for instance: {project}:{name}:"
                                    f"SERVICE_NETWORKING_NOT_ENABLED (no private services access on network "
                                    f"{m.group(2)}).", "invalid")
            private_out = f"projects/{m.group(1)}/global/networks/{m.group(2)}"
        if not ipv4 and not private:
            raise ApiError(400, "Invalid request: At least one of Public IP or Private IP or PSC connectivity must be "
                                "enabled.", "invalid")
        _check_ssl(ip)
        region = body.get("region", "us-central1")
        for k, v in settings.get("userLabels", {}).items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", k) or not re.fullmatch(r"[a-z0-9_-]{0,63}", str(v)):
                raise ApiError(400, f"Invalid request: label {k}={v}.", "invalid")
        backup = settings.get("backupConfiguration", {})
        retention = int(backup.get("transactionLogRetentionDays", 7 if edition == "ENTERPRISE" else 14))
        if not 1 <= retention <= (7 if edition == "ENTERPRISE" else 35):
            raise ApiError(400, f"Invalid request: The number of transaction log retention days must be between 1 and "
                                f"{7 if edition == 'ENTERPRISE' else 35}.", "invalid")
        out_settings = {
            "authorizedGaeApplications": [], "tier": settings.get("tier"), "kind": "sql#settings",
            "availabilityType": settings.get("availabilityType", "ZONAL"), "pricingPlan": "PER_USE",
            "replicationType": "SYNCHRONOUS", "activationPolicy": settings.get("activationPolicy", "ALWAYS"),
            "ipConfiguration": {"authorizedNetworks": ip.get("authorizedNetworks", []), "ipv4Enabled": bool(ipv4),
                                "sslMode": ip.get("sslMode", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED" if ip.get("requireSsl")
                                                  else "ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
                                **({"requireSsl": ip["requireSsl"]} if "requireSsl" in ip else {}),
                                "serverCaMode": "GOOGLE_MANAGED_INTERNAL_CA",
                                **({"privateNetwork": private_out} if private_out else {})},
            "locationPreference": {"zone": f"{region}-b", "kind": "sql#locationPreference"},
            "dataDiskType": settings.get("dataDiskType", "PD_SSD"),
            "dataDiskSizeGb": str(settings.get("dataDiskSizeGb", 10)),
            "backupConfiguration": {"startTime": backup.get("startTime", "04:00"), "kind": "sql#backupConfiguration",
                                    "backupRetentionSettings": {"retentionUnit": "COUNT", "retainedBackups": 7},
                                    "enabled": bool(backup.get("enabled", False)), "transactionLogRetentionDays": retention,
                                    "pointInTimeRecoveryEnabled": bool(backup.get("pointInTimeRecoveryEnabled", False)),
                                    "transactionalLogStorageState": "CLOUD_STORAGE"},
            "settingsVersion": "1", "storageAutoResizeLimit": "0", "storageAutoResize": True,
            "edition": edition, "connectorEnforcement": "NOT_REQUIRED", "deletionProtectionEnabled": False,
            "maintenanceWindow": {"kind": "sql#maintenanceWindow", "hour": 0, "day": 0},
        }
        if settings.get("userLabels"):
            out_settings["userLabels"] = settings["userLabels"]
        if edition == "ENTERPRISE_PLUS":
            out_settings["dataCacheConfig"] = {"dataCacheEnabled": True}
        resource = {
            "kind": "sql#instance", "state": "PENDING_CREATE", "databaseVersion": version, "settings": out_settings,
            "etag": "", "ipAddresses": [], "instanceType": "CLOUD_SQL_INSTANCE", "project": project,
            "serviceAccountEmailAddress": f"p{PROJECT_NUMBER}-abcdef@gcp-sa-cloud-sql.iam.gserviceaccount.com",
            "backendType": "SECOND_GEN", "selfLink": "", "connectionName": f"{project}:{region}:{name}", "name": name,
            "region": region, "gceZone": f"{region}-b",
            "databaseInstalledVersion": f"{version}_4" if version.startswith("POSTGRES") else version,
            "maintenanceVersion": f"{version}_4.R20250112.01_00", "createTime": _now(),
            "sqlNetworkArchitecture": "NEW_NETWORK_ARCHITECTURE", "upgradableDatabaseVersions": [],
        }
        resource["etag"] = _fingerprint(resource)
        self.s.sql_instances[key] = resource
        self.s.sql_databases[key] = {}
        self.s.sql_users[key] = {}

        def done():
            resource["state"] = "RUNNABLE"
            if private_out:
                self.s.producer_networks.add((m.group(1), m.group(2)))
                resource["ipAddresses"] = [{"type": "PRIVATE", "ipAddress": f"10.50.0.{next(self.s.addresses) % 250 + 2}"}]
            if ipv4:
                resource["ipAddresses"].append({"type": "PRIMARY", "ipAddress": "198.51.100.10"})
            if version.startswith("POSTGRES"):
                self.s.sql_databases[key]["postgres"] = self._database(project, name, "postgres", "UTF8", "en_US.UTF8")
                self.s.sql_users[key]["postgres"] = {"resource": self._user(project, name, "postgres"), "password": None}
        return self.sql_operation(api, project, name, "CREATE", done)

    def sql_instances_patch(self, p, q, body, api="sqladmin.v1"):
        key, resource = self._sql_instance(p)
        self._sql_busy(key)
        if self.conflict("sql.instances.patch"):
            resource["settings"]["settingsVersion"] = str(int(resource["settings"]["settingsVersion"]) + 1)
        settings = body.get("settings", {})
        if "settingsVersion" in settings and str(settings["settingsVersion"]) != resource["settings"]["settingsVersion"]:
            raise ApiError(412, "Precondition check failed: the instance's settings changed since settingsVersion "
                                f"{settings['settingsVersion']}.", "conditionNotMet")
        if body.get("databaseVersion", resource["databaseVersion"]) != resource["databaseVersion"]:
            raise ApiError(400, "Invalid request: databaseVersion changes need a major version upgrade.", "invalid")
        merged = json.loads(json.dumps(resource["settings"]))
        for k, v in settings.items():
            if k == "settingsVersion":
                continue
            if isinstance(v, dict) and isinstance(merged.get(k), dict) and k != "userLabels":
                merged[k].update(v)
            else:
                merged[k] = v
        self._check_tier(merged["edition"], merged["tier"], resource["databaseVersion"])
        _check_ssl(merged["ipConfiguration"])
        if merged["ipConfiguration"].get("privateNetwork") != resource["settings"]["ipConfiguration"].get("privateNetwork"):
            raise ApiError(400, "Invalid request: the private network of an instance cannot be changed.", "invalid")
        merged["settingsVersion"] = str(int(resource["settings"]["settingsVersion"]) + 1)
        if "userLabels" in merged and not merged["userLabels"]:
            del merged["userLabels"]

        def done():
            resource["settings"] = merged
            resource["etag"] = _fingerprint(resource)
        return self.sql_operation(api, key[0], key[1], "UPDATE", done)

    def sql_instances_delete(self, p, q, body, api="sqladmin.v1"):
        key, resource = self._sql_instance(p)
        self._sql_busy(key)

        def running():
            resource["state"] = "PENDING_DELETE"

        def done():
            self.s.sql_instances.pop(key, None)
            self.s.sql_databases.pop(key, None)
            self.s.sql_users.pop(key, None)
            self.s.sql_reserved.add(key)
        return self.sql_operation(api, key[0], key[1], "DELETE", done, running)

    def _database(self, project, instance, name, charset, collation):
        return {"kind": "sql#database", "charset": charset, "collation": collation, "name": name,
                "instance": instance, "project": project, "selfLink": "", "etag": ""}

    def _db_view(self, api, db):
        view = dict(db, selfLink=self._sql_link(api, db["project"], db["instance"]) + f"/databases/{db['name']}")
        view.pop("etag")
        return view

    def _runnable(self, key, resource):
        if resource["state"] != "RUNNABLE":
            raise ApiError(400, f"Invalid request since instance is not running (state {resource['state']}).",
                           "invalidState")
        self._sql_busy(key)

    def sql_databases_get(self, p, q, body, api="sqladmin.v1"):
        key, _ = self._sql_instance(p)
        db = self.s.sql_databases[key].get(p["database"])
        if db is None:
            raise ApiError(404, "Not Found", "notFound")
        return 200, self._db_view(api, db)

    def sql_databases_list(self, p, q, body, api="sqladmin.v1"):
        key, _ = self._sql_instance(p)
        return 200, {"kind": "sql#databasesList",
                     "items": [self._db_view(api, d) for _, d in sorted(self.s.sql_databases[key].items())]}

    def sql_databases_insert(self, p, q, body, api="sqladmin.v1"):
        key, resource = self._sql_instance(p)
        self._runnable(key, resource)
        name = body.get("name", "")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}", name):
            raise ApiError(400, f"Invalid request: database name '{name}'.", "invalid")
        if body.get("instance", key[1]) != key[1]:
            raise ApiError(400, "Invalid request: the database's instance is not the one of the URL.", "invalid")
        if name in self.s.sql_databases[key]:
            raise ApiError(409, f"Invalid request: database {name} already exists.", "alreadyExists")
        charset = body.get("charset", "UTF8")
        if resource["databaseVersion"].startswith("POSTGRES") and charset not in ("UTF8", "SQL_ASCII", "LATIN1"):
            raise ApiError(400, f"Invalid request: charset {charset}.", "invalid")
        db = self._database(key[0], key[1], name, charset, body.get("collation", "en_US.UTF8"))

        def done():
            self.s.sql_databases[key][name] = db
        return self.sql_operation(api, key[0], key[1], "CREATE_DATABASE", done)

    def _user(self, project, instance, name):
        # PostgreSQL users come without `host` (MySQL ones have it): gcp_sql_user 1.10.2 reads item['host'].
        return {"kind": "sql#user", "name": name, "instance": instance, "project": project, "type": "BUILT_IN",
                "passwordPolicy": {"status": {}}}

    def sql_users_list(self, p, q, body, api="sqladmin.v1"):
        key, _ = self._sql_instance(p)
        return 200, {"kind": "sql#usersList", "items": [u["resource"] for _, u in sorted(self.s.sql_users[key].items())]}

    def sql_users_insert(self, p, q, body, api="sqladmin.v1"):
        key, resource = self._sql_instance(p)
        self._runnable(key, resource)
        name = body.get("name", "")
        if not name or len(name) > 63:
            raise ApiError(400, "Invalid request: user name.", "invalid")
        if name in self.s.sql_users[key]:
            raise ApiError(409, f"Invalid request: user {name} already exists.", "alreadyExists")
        user = self._user(key[0], key[1], name)

        def done():
            self.s.sql_users[key][name] = {"resource": user, "password": body.get("password")}
        return self.sql_operation(api, key[0], key[1], "CREATE_USER", done)

    def sql_users_update(self, p, q, body, api="sqladmin.v1"):
        key, resource = self._sql_instance(p)
        self._runnable(key, resource)
        name = q.get("name", [body.get("name")])[0]
        if name not in self.s.sql_users[key]:
            raise ApiError(404, f"Invalid request: user {name} does not exist.", "notFound")

        def done():
            if "password" in body:
                self.s.sql_users[key][name]["password"] = body["password"]
        return self.sql_operation(api, key[0], key[1], "UPDATE_USER", done)


def _check_ssl(ip: dict):
    """Cloud SQL (IpConfiguration.sslMode): with the legacy requireSsl also
    set, only these pairs are valid for PostgreSQL and MySQL."""
    if "sslMode" in ip and "requireSsl" in ip:
        valid = {("ALLOW_UNENCRYPTED_AND_ENCRYPTED", False), ("ENCRYPTED_ONLY", False),
                 ("TRUSTED_CLIENT_CERTIFICATE_REQUIRED", True)}
        if (ip["sslMode"], bool(ip["requireSsl"])) not in valid:
            raise ApiError(400, f"Invalid request: ssl_mode {ip['sslMode']} conflicts with require_ssl "
                                f"{str(bool(ip['requireSsl'])).lower()}.", "invalid")


def _matches(resource: dict, expression: str) -> bool:
    """Compute list filters: `field = value`, `field != value` and several of
    them in parentheses (all must hold); fields are dotted paths (labels.KEY).
    Anything else is refused, like an expression Compute cannot parse."""
    expression = (expression or "").strip()
    if not expression:
        return True
    terms = re.findall(r"\(([^()]*)\)", expression)
    if terms:
        if re.sub(r"\([^()]*\)", "", expression).strip().replace("AND", "").strip():
            raise ApiError(400, f"Invalid value for field 'filter': '{expression}'. Invalid list filter expression.")
    else:
        terms = [expression]
    for term in terms:
        m = re.fullmatch(r"\s*([A-Za-z][\w.-]*)\s*(=|!=|eq|ne)\s*\"?([^\"]*?)\"?\s*", term)
        if not m:
            raise ApiError(400, f"Invalid value for field 'filter': '{expression}'. Invalid list filter expression.")
        path, op, value = m.groups()
        current = resource
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if op in ("eq", "ne"):
            hit = current is not None and re.fullmatch(value, str(current)) is not None
        else:
            hit = current is not None and str(current).lower() == value.lower() if isinstance(current, bool) \
                else str(current) == value if current is not None else False
        if (op in ("=", "eq")) != hit:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    double: "Double"

    def log_message(self, *_args):  # quiet
        pass

    def _send(self, status: int, payload=None):
        data = b"" if payload is None or status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str):
        double = self.double
        host = (self.headers.get("Host") or "").split(":")[0]
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = parse_qs(url.query, keep_blank_values=True)
        record = Record(method, host, url.path, query, None)
        try:
            record.body = json.loads(raw) if raw else None
        except ValueError:
            record.body = raw.decode(errors="replace")
        with double.state.lock:
            double.state.requests.append(record)
        if host == "oauth2.googleapis.com" and url.path == "/token" and method == "POST":
            record.status = 200
            return self._send(200, {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})
        status, payload = self._answer(method, host, url.path, query, raw, record)
        record.status, record.answer = status, payload
        return self._send(status, payload)

    def _answer(self, method, host, path, query, raw, record):
        double = self.double
        routed = double.catalog.route(method, f"https://{host}{path}")
        if routed is None:
            return 404, error_body(404, f"the double does not serve {method} https://{host}{path}", "notFound")
        api_method, raw_params = routed
        record.method_id = api_method.id
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, error_body(401, "Request had invalid authentication credentials.", "authError")
        params = {k: unquote(v) for k, v in raw_params.items()}
        try:
            if raw and isinstance(record.body, str):
                raise ValidationError(f"Invalid JSON payload received. {record.body[:60]!r}")
            check_path(api_method, params)
            check_query(api_method, {k: v for k, v in query.items()
                                     if k not in double.tolerated_query.get(api_method.id, ())})
            tolerated = double.tolerated_unknown.get(api_method.id, frozenset())
            check_request(api_method, record.body if raw else None, tolerated)
        except ValidationError as exc:
            return exc.status, error_body(exc.status, exc.message, exc.reason)
        handler = getattr(double.api, api_method.id.replace(".", "_"), None)
        if handler is None:
            return 501, error_body(501, f"the double does not implement {api_method.id}", "notImplemented")
        kwargs = {"api": api_method.api} if api_method.id.startswith("sql.") else {}
        body = record.body if raw else {}
        with double.state.lock:
            try:
                status, payload = handler(params, query, body, **kwargs)
            except ApiError as exc:
                return exc.status, error_body(exc.status, exc.message, exc.reason)
            except Exception as exc:  # noqa: BLE001 - a bug of the double: answer, and make it loud
                double.errors.append(f"{api_method.id}: {exc!r}")
                return 500, error_body(500, f"the double failed: {exc!r}", "backendError")
            payload = json.loads(json.dumps(payload)) if payload is not None else None
        if 200 <= status < 300:
            if payload is not None:
                double.answers[api_method.id] = payload
            try:
                check_response(api_method, payload)
            except ValidationError as exc:  # a bug of the double: make it loud
                double.errors.append(f"{api_method.id}: {exc.message}")
                return 500, error_body(500, f"the double's own answer breaks the schema: {exc.message}", "backendError")
        return status, payload

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


_CATALOG = None


class Double:
    """with Double(tmpdir) as double: double.port, double.ca, double.state

    op_polls: polls of an operation until DONE (PENDING -> RUNNING on the
    first, DONE on this one); page_size: most items in one page of a list;
    sa_propagation: policy writes that still refuse a new service account;
    default_networks / private_services_access: the networks that exist in
    every project, and those with private services access (Cloud SQL private IP).
    tolerated_unknown: {method id: field names} the real API is known to
    ignore in a body although the schema lacks them."""

    def __init__(self, directory: Path, op_polls: int = 2, page_size: int = 500, sa_propagation: int = 0,
                 default_networks=("default",), private_services_access=("default",),
                 zones=("europe-west1-b", "europe-west1-c", "us-central1-a")):
        global _CATALOG
        if _CATALOG is None:
            _CATALOG = Catalog()
        self.catalog = _CATALOG
        self.ca, cert, key = make_pki(directory)
        self.state = State()
        self.op_polls, self.page_size, self.sa_propagation = op_polls, page_size, sa_propagation
        self.default_networks, self.private_services_access = set(default_networks), set(private_services_access)
        self.zones = list(zones)
        # gcp_storage_bucket 1.10.2 sends the project in the bucket body too; Cloud Storage ignores it
        # (the module's own integration tests create buckets with it against real projects).
        self.tolerated_unknown = {"storage.buckets.insert": frozenset({"project"}),
                                  "storage.buckets.update": frozenset({"project"})}
        # ... and asks for ?projection=full on every bucket URL, DELETE included, where the
        # method has no such parameter (Cloud Storage ignores unknown query parameters).
        self.tolerated_query = {"storage.buckets.delete": frozenset({"projection"})}
        self.errors: list[str] = []
        self.answers: dict[str, object] = {}  # method id -> its last successful answer (tests/gcp_double/shapes.py)
        self.api = Api(self)
        handler = type("BoundHandler", (Handler,), {"double": self})
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

    # -- control (tests call these directly) -------------------------------------
    def call(self, method: str, url: str, body=None, token: str = TOKEN) -> tuple[int, dict | None]:
        """One request to the double as a client would send it (HTTPS, the
        host name of the URL, the test CA); returns (status, JSON answer)."""
        parts = urlsplit(url)
        context = ssl.create_default_context(cafile=str(self.ca))
        port = self.port

        class Connection(http.client.HTTPSConnection):
            def connect(self):
                sock = socket.create_connection(("127.0.0.1", port), timeout=self.timeout)
                self.sock = context.wrap_socket(sock, server_hostname=parts.hostname)

        connection = Connection(parts.hostname, 443, context=context, timeout=30)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        return response.status, json.loads(raw) if raw else None

    def inject_conflict(self, method_id: str, times: int = 1):
        """The next `times` calls of method_id meet a concurrent change (a
        stale etag or settingsVersion)."""
        with self.state.lock:
            self.state.conflicts[method_id] = self.state.conflicts.get(method_id, 0) + times

    def sql_maintenance(self, project: str, instance: str):
        """Cloud SQL starts maintenance on an instance: MAINTENANCE (every
        change refused with 409) until it has been read op_polls times."""
        with self.state.lock:
            key = (project, instance)
            resource = self.state.sql_instances[key]
            resource["state"] = "MAINTENANCE"

            def done():
                resource["state"] = "RUNNABLE"
            self.api.sql_operation("sqladmin.v1", project, instance, "MAINTENANCE", done)
            op = next(o for o in self.state.operations.values() if o.instance_key == key and o.resource["status"] != "DONE")
            op.advance_on_read = True

    def stopped(self, vm: dict):
        """What stopping a VM does: TERMINATED, and its ephemeral external address released."""
        vm.update(status="TERMINATED", lastStopTimestamp=_compute_time())
        for nic in vm["networkInterfaces"]:
            for ac in nic.get("accessConfigs", []):
                ac.pop("natIP", None)

    def stop_instance(self, project: str, zone: str, name: str):
        with self.state.lock:
            self.stopped(self.state.instances[(project, zone, name)])

    def put_object(self, bucket: str, name: str, generations: int = 1):
        """Stores `generations` versions of an object (the last one live)."""
        with self.state.lock:
            for i in range(generations):
                for older in self.state.objects[bucket]:
                    if older["name"] == name and "timeDeleted" not in older:
                        older["timeDeleted"] = _now()
                generation = str(int(datetime.datetime.now().timestamp() * 1_000_000) + i)
                self.state.objects[bucket].append({
                    "kind": "storage#object", "id": f"{bucket}/{name}/{generation}",
                    "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}",
                    "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/"
                                 f"{name.replace('/', '%2F')}?generation={generation}&alt=media",
                    "name": name, "bucket": bucket, "generation": generation, "metageneration": "1",
                    "contentType": "application/octet-stream", "storageClass": "STANDARD", "size": "4",
                    "md5Hash": "CY9rzUYh03PK3k6DJie09g==", "crc32c": "yZRlqg==", "etag": "CKih16GjycICEAE=",
                    "timeCreated": _now(), "updated": _now(), "timeStorageClassUpdated": _now()})
