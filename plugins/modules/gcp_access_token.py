#!/usr/bin/python
# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""An OAuth 2.0 access token for Google's REST APIs, from the same
credentials the google.cloud modules use."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: gcp_access_token
short_description: An OAuth 2.0 access token for Google Cloud REST APIs
description:
  - Returns a short-lived access token made from the credentials the C(google.cloud) modules use
    (application default credentials, a service account key file or contents, the metadata server,
    or a given token), for M(ansible.builtin.uri) calls to APIs that no working C(google.cloud) module covers
    (the Cloud SQL Admin API's PostgreSQL users and instance editions, instance start, object versions).
  - Reads nothing but the credentials and changes nothing; it runs in check mode too.
  - "The token is a secret for about an hour. Register the result with C(no_log: true), and put
    C(no_log: true) on every task whose headers carry it."
version_added: 0.1.0
author: mlops.mlflow contributors
options:
  auth_kind:
    description: How to authenticate, as in the C(google.cloud) modules.
    type: str
    required: true
    choices: [application, serviceaccount, machineaccount, accesstoken]
  service_account_file:
    description: Key file of a service account (I(auth_kind=serviceaccount)).
    type: path
  service_account_contents:
    description: Contents of a key file of a service account (I(auth_kind=serviceaccount)).
    type: jsonarg
  service_account_email:
    description: Account of the metadata server (I(auth_kind=machineaccount)); default C(default).
    type: str
  access_token:
    description: A token (I(auth_kind=accesstoken)); returned as it is.
    type: str
  scopes:
    description: OAuth scopes of the token.
    type: list
    elements: str
    default: [https://www.googleapis.com/auth/cloud-platform]
  project:
    description: Not used; accepted so that the same arguments as the C(google.cloud) modules can be passed.
    type: str
  env_type:
    description: Not used; accepted like I(project).
    type: str
requirements:
  - the google.cloud collection, and google-auth and requests on the controller
notes:
  - Each option falls back to the environment variable the C(google.cloud) modules read
    (C(GCP_AUTH_KIND), C(GCP_SERVICE_ACCOUNT_FILE), C(GCP_ACCESS_TOKEN) ...).
"""

EXAMPLES = r"""
- name: Token for the Cloud SQL Admin API
  mlops.mlflow.gcp_access_token:
    auth_kind: serviceaccount
    service_account_file: ~/keys/provisioner.json
  register: api
  no_log: true

- name: List the users of a Cloud SQL instance
  ansible.builtin.uri:
    url: https://sqladmin.googleapis.com/v1/projects/my-project/instances/mlflow-db/users
    headers:
      Authorization: Bearer {{ api.access_token }}
  register: users
  no_log: true
"""

RETURN = r"""
access_token:
  description: The token (a secret).
  returned: success
  type: str
expiry:
  description: When the token expires (UTC, ISO 8601), when the credentials tell.
  returned: success
  type: str
"""

from ansible_collections.google.cloud.plugins.module_utils.gcp_utils import GcpModule, GcpSession  # noqa: E402

try:
    from google.auth.exceptions import GoogleAuthError
    from google.auth.transport.requests import Request
except ImportError:  # GcpSession reports the missing library
    GoogleAuthError = Exception
    Request = None


def main():
    module = GcpModule(argument_spec={}, supports_check_mode=True)
    if not module.params["scopes"]:
        module.params["scopes"] = ["https://www.googleapis.com/auth/cloud-platform"]
    if module.params["auth_kind"] == "accesstoken":
        if not module.params.get("access_token"):
            module.fail_json(msg="auth_kind accesstoken needs access_token (or GCP_ACCESS_TOKEN)")
        module.exit_json(changed=False, access_token=module.params["access_token"], expiry="")
    # The same credentials as every google.cloud module (GcpSession of google.cloud 1.x).
    credentials = GcpSession(module, "token")._credentials()
    try:
        credentials.refresh(Request())
    except GoogleAuthError as exc:
        module.fail_json(msg=f"could not get an access token with auth_kind {module.params['auth_kind']}: {exc}")
    expiry = credentials.expiry.isoformat() + "Z" if getattr(credentials, "expiry", None) else ""
    module.exit_json(changed=False, access_token=credentials.token, expiry=expiry)


if __name__ == "__main__":
    main()
