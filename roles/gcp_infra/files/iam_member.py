#!/usr/bin/python
# Copyright: mlops.mlflow contributors
# Apache-2.0 (see the collection's LICENSE)
"""Adds or removes one member of one role in the IAM policy of a GCS bucket
or a project (google.cloud 1.x has no module for either)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_infra_iam_member
short_description: One IAM role binding member on a GCS bucket or a project
description:
  - Reads the IAM policy, adds or removes one member of one role, and writes the policy back with its etag
    (a concurrent change makes the write fail instead of being lost). Idempotent; supports check mode.
  - Authenticates like the google.cloud modules (application default credentials, a service account key file,
    the metadata server, or an access token).
options:
  resource_type: {description: bucket or project., type: str, required: true, choices: [bucket, project]}
  resource: {description: The bucket name or the project id., type: str, required: true}
  role: {description: The role, like roles/storage.objectAdmin., type: str, required: true}
  member: {description: The member, like serviceAccount:NAME@PROJECT.iam.gserviceaccount.com., type: str, required: true}
  state: {description: present or absent., type: str, default: present, choices: [present, absent]}
  project: {description: Project of the request (quota and billing)., type: str, required: true}
  auth_kind: {description: application, serviceaccount, machineaccount or accesstoken., type: str, required: true}
  service_account_file: {description: Key file for auth_kind serviceaccount., type: path}
  access_token: {description: Token for auth_kind accesstoken (default env GCP_ACCESS_TOKEN)., type: str}
author: mlops.mlflow contributors
"""

EXAMPLES = r"""
- name: The VM's service account may use the bucket
  gcp_infra_iam_member:
    resource_type: bucket
    resource: my-bucket
    role: roles/storage.objectAdmin
    member: serviceAccount:mlflow-vm@my-project.iam.gserviceaccount.com
    project: my-project
    auth_kind: application
"""

RETURN = r"""
bindings:
  description: The role's members after the change.
  returned: always
  type: list
"""

import os

from ansible.module_utils.basic import AnsibleModule, env_fallback

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _session(module):
    try:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession
    except ImportError:
        module.fail_json(msg="gcp_infra_iam_member needs the Python packages google-auth and requests on the controller")
    kind = module.params["auth_kind"]
    if kind == "application":
        credentials, _ = google.auth.default(scopes=SCOPES)
    elif kind == "serviceaccount":
        from google.oauth2 import service_account
        path = module.params.get("service_account_file")
        if not path:
            module.fail_json(msg="auth_kind serviceaccount needs service_account_file")
        credentials = service_account.Credentials.from_service_account_file(os.path.expanduser(path), scopes=SCOPES)
    elif kind == "machineaccount":
        from google.auth import compute_engine
        credentials = compute_engine.Credentials()
    elif kind == "accesstoken":
        from google.oauth2 import credentials as oauth2
        if not module.params.get("access_token"):
            module.fail_json(msg="auth_kind accesstoken needs access_token (or env GCP_ACCESS_TOKEN)")
        credentials = oauth2.Credentials(module.params["access_token"])
    else:
        module.fail_json(msg="auth_kind must be application, serviceaccount, machineaccount or accesstoken; got %s" % kind)
    return AuthorizedSession(credentials)


def _check(module, response, what):
    if response.status_code >= 400:
        module.fail_json(msg="%s: HTTP %s %s" % (what, response.status_code, response.text[:500]))
    return response.json()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            resource_type=dict(type="str", required=True, choices=["bucket", "project"]),
            resource=dict(type="str", required=True),
            role=dict(type="str", required=True),
            member=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            project=dict(type="str", required=True),
            auth_kind=dict(type="str", required=True),
            service_account_file=dict(type="path"),
            access_token=dict(type="str", no_log=True, fallback=(env_fallback, ["GCP_ACCESS_TOKEN"])),
        ),
        supports_check_mode=True,
    )
    p = module.params
    session = _session(module)
    if p["resource_type"] == "bucket":
        url = "https://storage.googleapis.com/storage/v1/b/%s/iam" % p["resource"]
        response = session.get(url, params={"optionsRequestedPolicyVersion": 3}, timeout=60)
        if response.status_code == 404 and p["state"] == "absent":
            module.exit_json(changed=False, bindings=[])
        policy = _check(module, response, "reading the IAM policy of bucket %s" % p["resource"])
    else:
        url = "https://cloudresourcemanager.googleapis.com/v1/projects/%s" % p["resource"]
        response = session.post(url + ":getIamPolicy", json={"options": {"requestedPolicyVersion": 3}}, timeout=60)
        policy = _check(module, response, "reading the IAM policy of project %s" % p["resource"])

    bindings = policy.setdefault("bindings", [])
    binding = next((b for b in bindings if b.get("role") == p["role"] and "condition" not in b), None)
    members = list(binding.get("members", [])) if binding else []
    if p["state"] == "present" and p["member"] not in members:
        members.append(p["member"])
    elif p["state"] == "absent" and p["member"] in members:
        members.remove(p["member"])
    else:
        module.exit_json(changed=False, bindings=members)

    if binding is None:
        binding = {"role": p["role"]}
        bindings.append(binding)
    binding["members"] = members
    if not members:
        bindings.remove(binding)
    if not module.check_mode:
        if p["resource_type"] == "bucket":
            _check(module, session.put(url, json=policy, timeout=60), "writing the IAM policy of bucket %s" % p["resource"])
        else:
            _check(module, session.post(url + ":setIamPolicy", json={"policy": policy}, timeout=60),
                   "writing the IAM policy of project %s" % p["resource"])
    module.exit_json(changed=True, bindings=members)


if __name__ == "__main__":
    main()
