#!/usr/bin/env python3
"""Sets the roles one member holds in the IAM policy of a GCS bucket or a
project (google.cloud 1.x has no module for either). Run on the controller
by gcp_infra with the Python of ansible-playbook (google-auth and requests
come with the google.cloud collection's requirements):

    iam_member.py SPEC [--check]

SPEC is one JSON object:

    {"kind": "bucket" | "project", "resource": "<bucket or project id>",
     "member": "serviceAccount:...", "roles": ["roles/..."],
     "state": "present" | "absent",
     "condition": {"title": ..., "description": ..., "expression": ...} | null,
     "exclusive": false}

- present: the member is in the binding of each role with exactly that
  condition (none: the unconditional binding), and in no other binding of
  those roles (an older condition, or no condition, is replaced); with
  exclusive, in no binding of any other role either.
- absent: the member is in no binding of those roles, whatever their
  condition; with exclusive, in no binding at all.

Policies are read and written as version 3, the only version that shows and
keeps conditional role bindings (Google: any operation on a policy with
conditions must specify version 3; a version 1 read shows them as
<role>_withcond_<hash>). The policy is written back with its etag, so a
concurrent change makes the write fail instead of being lost; then, as
Google asks, the whole read-modify-write starts again (409 from Resource
Manager, 412 from Cloud Storage), up to CONFLICT_ATTEMPTS times.

Authenticates like the google.cloud modules, from GCP_AUTH_KIND
(application, serviceaccount, machineaccount, accesstoken) with
GCP_SERVICE_ACCOUNT_FILE or GCP_ACCESS_TOKEN. Prints {"changed": ...,
"bindings": [{"role": ..., "condition": ...}]} (the member's bindings
after) as one JSON line; on an error exits 1 with {"failed": true, "msg":
..., "status": <HTTP status>} (the role retries 400 and 404: a new service
account can take a minute to be usable in IAM policies)."""
import json
import os
import sys
import time

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
CONFLICT_ATTEMPTS = 5
CONFLICT_STATUS = {"bucket": 412, "project": 409}
POLICY_VERSION = 3


class Conflict(Exception):
    pass


def fail(message, status=0):
    print(json.dumps({"failed": True, "msg": message, "status": status}))
    sys.exit(1)


def session():
    try:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession
    except ImportError:
        fail("the Python packages google-auth and requests are needed on the controller")
    kind = os.environ.get("GCP_AUTH_KIND", "application")
    if kind == "application":
        credentials, _ = google.auth.default(scopes=SCOPES)
    elif kind == "serviceaccount":
        from google.oauth2 import service_account
        path = os.environ.get("GCP_SERVICE_ACCOUNT_FILE")
        if not path:
            fail("auth kind serviceaccount needs GCP_SERVICE_ACCOUNT_FILE")
        credentials = service_account.Credentials.from_service_account_file(os.path.expanduser(path), scopes=SCOPES)
    elif kind == "machineaccount":
        from google.auth import compute_engine
        credentials = compute_engine.Credentials()
    elif kind == "accesstoken":
        from google.oauth2 import credentials as oauth2
        if not os.environ.get("GCP_ACCESS_TOKEN"):
            fail("auth kind accesstoken needs GCP_ACCESS_TOKEN")
        credentials = oauth2.Credentials(os.environ["GCP_ACCESS_TOKEN"])
    else:
        fail(f"GCP_AUTH_KIND must be application, serviceaccount, machineaccount or accesstoken; got {kind}")
    return AuthorizedSession(credentials)


def checked(response, what):
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        fail(f"{what}: HTTP {response.status_code} {message}", response.status_code)
    return response.json()


def parse(argv):
    args = [a for a in argv if a != "--check"]
    if len(args) != 1:
        fail("usage: iam_member.py SPEC [--check] (SPEC: a JSON object, see the script's docstring)")
    try:
        spec = json.loads(args[0])
    except ValueError as exc:
        fail(f"SPEC is not JSON: {exc}")
    if not isinstance(spec, dict) or spec.get("kind") not in ("bucket", "project") \
            or spec.get("state") not in ("present", "absent") or not spec.get("resource") or not spec.get("member") \
            or not isinstance(spec.get("roles"), list) or not all(isinstance(r, str) and r for r in spec["roles"]) \
            or not isinstance(spec.get("condition") or {}, dict):
        fail("SPEC needs kind bucket|project, resource, member, roles (a list), state present|absent "
             "and optionally condition {title, description, expression} and exclusive")
    if spec["state"] == "present" and not spec["roles"]:
        fail("SPEC with state present needs at least one role")
    return spec, "--check" in argv


def main():
    spec, check = parse(sys.argv[1:])
    http = session()
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return read_modify_write(http, spec, check)
        except Conflict as conflict:
            if attempt == CONFLICT_ATTEMPTS:
                fail(f"{conflict}: the policy kept changing under us ({CONFLICT_ATTEMPTS} attempts)",
                     CONFLICT_STATUS[spec["kind"]])
            time.sleep(0.5 * attempt)


def same_condition(binding, condition):
    """A binding's condition equals the wanted one (None: no condition)."""
    have = binding.get("condition") or None
    if have is None or condition is None:
        return have is None and condition is None
    keys = ("title", "description", "expression")
    return all((have.get(k) or "") == (condition.get(k) or "") for k in keys)


def held(bindings, member):
    return [{k: v for k, v in (("role", b["role"]), ("condition", b.get("condition"))) if v}
            for b in bindings if member in b.get("members", [])]


def apply(bindings, spec):
    """Changes the list of bindings in place; returns whether anything changed."""
    member, roles, condition = spec["member"], spec["roles"], spec.get("condition") or None
    exclusive, present = bool(spec.get("exclusive")), spec["state"] == "present"
    changed = False
    for binding in bindings:
        if member not in binding.get("members", []):
            continue
        ours = binding.get("role") in roles
        keep = present and ours and same_condition(binding, condition)
        if not keep and (ours or exclusive):
            binding["members"] = [m for m in binding["members"] if m != member]
            changed = True
    if present:
        for role in roles:
            binding = next((b for b in bindings if b.get("role") == role and same_condition(b, condition)), None)
            if binding is None:
                binding = {"role": role, "members": []}
                if condition:
                    binding["condition"] = dict(condition)
                bindings.append(binding)
            if member not in binding["members"]:
                binding["members"].append(member)
                changed = True
    bindings[:] = [b for b in bindings if b.get("members")]
    return changed


def read_modify_write(http, spec, check):
    kind, resource, state = spec["kind"], spec["resource"], spec["state"]
    if kind == "bucket":
        url = f"https://storage.googleapis.com/storage/v1/b/{resource}/iam"
        response = http.get(url, params={"optionsRequestedPolicyVersion": POLICY_VERSION}, timeout=60)
        if response.status_code == 404 and (state == "absent" or check):
            # Gone already; or, in check mode, a bucket this run would create first.
            bindings = [] if state == "absent" else [{"role": r} for r in spec["roles"]]
            print(json.dumps({"changed": state == "present", "bindings": bindings}))
            return
        policy = checked(response, f"reading the IAM policy of bucket {resource}")
    else:
        url = f"https://cloudresourcemanager.googleapis.com/v1/projects/{resource}"
        response = http.post(url + ":getIamPolicy", json={"options": {"requestedPolicyVersion": POLICY_VERSION}},
                             timeout=60)
        policy = checked(response, f"reading the IAM policy of project {resource}")

    bindings = policy.setdefault("bindings", [])
    had_conditions = any(b.get("condition") for b in bindings)
    if not apply(bindings, spec):
        print(json.dumps({"changed": False, "bindings": held(bindings, spec["member"])}))
        return
    if had_conditions or any(b.get("condition") for b in bindings):
        policy["version"] = POLICY_VERSION
    if not check:
        if kind == "bucket":
            response = http.put(url, json=policy, timeout=60)
        else:
            response = http.post(url + ":setIamPolicy", json={"policy": policy}, timeout=60)
        if response.status_code == CONFLICT_STATUS[kind]:
            raise Conflict(f"writing the IAM policy of {kind} {resource}: HTTP {response.status_code} (concurrent change)")
        checked(response, f"writing the IAM policy of {kind} {resource}")
    print(json.dumps({"changed": True, "bindings": held(policy.get("bindings", []), spec["member"])}))


if __name__ == "__main__":
    main()
