#!/usr/bin/env python3
"""Adds or removes one member of one role in the IAM policy of a GCS bucket
or a project (google.cloud 1.x has no module for either). Run on the
controller by gcp_infra with the Python of ansible-playbook (google-auth and
requests come with the google.cloud collection's requirements):

    iam_member.py bucket|project RESOURCE ROLE MEMBER present|absent [--check]

Authenticates like the google.cloud modules, from GCP_AUTH_KIND
(application, serviceaccount, machineaccount, accesstoken) with
GCP_SERVICE_ACCOUNT_FILE or GCP_ACCESS_TOKEN. Reads the policy, changes the
one binding and writes it back with its etag, so a concurrent change makes
the write fail instead of being lost; then, as Google asks, it retries the
whole read-modify-write (409 from Resource Manager, 412 from Cloud Storage),
up to CONFLICT_ATTEMPTS times. Prints {"changed": ..., "members": [...]} as
one JSON line; on an error exits 1 with {"failed": true, "msg": ..., "status":
<HTTP status>} (the role retries 400 and 404: a new service account can take
a minute to be usable in IAM policies)."""
import json
import os
import sys
import time

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
CONFLICT_ATTEMPTS = 5
CONFLICT_STATUS = {"bucket": 412, "project": 409}


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


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    check = "--check" in sys.argv[1:]
    if len(args) != 5 or args[0] not in ("bucket", "project") or args[4] not in ("present", "absent"):
        fail("usage: iam_member.py bucket|project RESOURCE ROLE MEMBER present|absent [--check]")
    http = session()
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return read_modify_write(http, *args, check)
        except Conflict as conflict:
            if attempt == CONFLICT_ATTEMPTS:
                fail(f"{conflict}: the policy kept changing under us ({CONFLICT_ATTEMPTS} attempts)",
                     CONFLICT_STATUS[args[0]])
            time.sleep(0.5 * attempt)


def read_modify_write(http, kind, resource, role, member, state, check):
    if kind == "bucket":
        url = f"https://storage.googleapis.com/storage/v1/b/{resource}/iam"
        response = http.get(url, params={"optionsRequestedPolicyVersion": 3}, timeout=60)
        if response.status_code == 404 and (state == "absent" or check):
            # Gone already; or, in check mode, a bucket this run would create first.
            print(json.dumps({"changed": state == "present", "members": []}))
            return
        policy = checked(response, f"reading the IAM policy of bucket {resource}")
    else:
        url = f"https://cloudresourcemanager.googleapis.com/v1/projects/{resource}"
        response = http.post(url + ":getIamPolicy", json={"options": {"requestedPolicyVersion": 3}}, timeout=60)
        policy = checked(response, f"reading the IAM policy of project {resource}")

    bindings = policy.setdefault("bindings", [])
    binding = next((b for b in bindings if b.get("role") == role and "condition" not in b), None)
    members = list(binding.get("members", [])) if binding else []
    if state == "present" and member not in members:
        members.append(member)
    elif state == "absent" and member in members:
        members.remove(member)
    else:
        print(json.dumps({"changed": False, "members": members}))
        return
    if binding is None:
        binding = {"role": role}
        bindings.append(binding)
    binding["members"] = members
    if not members:
        bindings.remove(binding)
    if not check:
        if kind == "bucket":
            response = http.put(url, json=policy, timeout=60)
        else:
            response = http.post(url + ":setIamPolicy", json={"policy": policy}, timeout=60)
        if response.status_code == CONFLICT_STATUS[kind]:
            raise Conflict(f"writing the IAM policy of {kind} {resource}: HTTP {response.status_code} (concurrent change)")
        checked(response, f"writing the IAM policy of {kind} {resource}")
    print(json.dumps({"changed": True, "members": members}))


if __name__ == "__main__":
    main()
