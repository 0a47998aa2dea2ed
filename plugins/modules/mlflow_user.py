#!/usr/bin/python
# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""A user of MLflow's basic-auth app: present with a password and an admin
flag, or absent, through MLflow's auth REST API."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mlflow_user
short_description: A user of MLflow's basic-auth app
description:
  - Creates, updates or deletes one user of an MLflow tracking server that runs MLflow's basic-auth app
    (C(mlflow server --app-name basic-auth)), through its auth REST API, as an MLflow admin.
  - MLflow stores only a hash of each password and has no call that compares one. With
    I(update_password=always) the module logs in as the user (C(GET /api/2.0/mlflow/users/current), which any
    authenticated user may call and which reads nothing else) and sets the password only when that login
    fails, so a run with nothing to change reports no change.
  - The admin of I(admin_username) can have its own password rotated (give the new one as I(password)); a later run
    that still passes the old I(admin_password) logs in with the new one and reports no change. It cannot be
    deleted or lose its admin flag through this module.
  - For a whole list of users and grants applied authoritatively, see M(mlops.mlflow.mlflow_auth_sync).
version_added: 0.3.0
author: mlops.mlflow contributors
extends_documentation_fragment: [mlops.mlflow.mlflow_auth]
options:
  username:
    description: The user.
    type: str
    required: true
    aliases: [name]
  password:
    description:
      - The user's password. Required to create a user; never shown in the output, the diff or the log.
    type: str
  admin:
    description:
      - Whether the user is an MLflow admin (every permission on everything, user management). Left as it is
        when not given; a new user is not an admin unless this says so.
    type: bool
  state:
    description: Whether the user exists.
    type: str
    choices: [present, absent]
    default: present
  update_password:
    description:
      - C(always) makes the password the one given (a login as the user tells whether it already is);
        C(on_create) sets it only when the user is created, so users can change theirs.
    type: str
    choices: [always, on_create]
    default: always
notes:
  - Supports check mode and diff mode. The diff holds the username and the admin flag; a password change shows only
    as I(password_changed).
  - Needs MLflow 3.17 or later (its users API); no Python package on the host that runs it.
  - MLflow answers a failed login with 401 whatever the cause; a check of a wrong password costs the server one
    password hash.
seealso:
  - module: mlops.mlflow.mlflow_permission
  - module: mlops.mlflow.mlflow_auth_sync
"""

EXAMPLES = r"""
- name: Alice, a data scientist
  mlops.mlflow.mlflow_user:
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: alice
    password: "{{ vault_mlflow_alice_password }}"

- name: Bob sets his own password after the first one
  mlops.mlflow.mlflow_user:
    tracking_uri: https://mlflow.example.com
    ca_path: /etc/ssl/certs/internal-ca.pem
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: bob
    password: "{{ vault_mlflow_bob_initial_password }}"
    update_password: on_create
    admin: true

- name: Rotate the admin's own password (re-runs log in with the new one)
  mlops.mlflow.mlflow_user:
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password_old }}"
    username: admin
    password: "{{ vault_mlflow_admin_password }}"

- name: Carol has left
  mlops.mlflow.mlflow_user:
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: carol
    state: absent
"""

RETURN = r"""
user:
  description: The user after the task (as it would be, in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    username:
      description: The username.
      type: str
    admin:
      description: Whether the user is an MLflow admin.
      type: bool
  sample: {username: alice, admin: false}
actions:
  description: What was done (or would be, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [created, admin flag set]
password_changed:
  description: Whether the password was set (or would be).
  returned: always
  type: bool
admin_password_rotated:
  description: The admin's credentials were refused and I(password) (its new one) worked, so an earlier run rotated it.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_auth import (
    CONNECTION_ARGS,
    MlflowAuthClient,
    MlflowAuthError,
)


def view(user: dict | None) -> dict:
    return {"username": user["username"], "admin": bool(user.get("is_admin"))} if user else {}


def ensure(module: AnsibleModule, client: MlflowAuthClient) -> dict:
    params = module.params
    username, password, admin = params["username"], params["password"], params["admin"]
    is_self = username == client.admin_username
    current = client.get_user(username)
    actions: list[str] = []
    password_changed = False

    if params["state"] == "absent":
        if is_self:
            module.fail_json(
                msg=f"username {username} is admin_username: the admin running the task cannot delete itself")
        if current:
            actions.append("deleted")
            if not module.check_mode:
                client.delete_user(username)
        return {"before": view(current), "after": {}, "actions": actions, "password_changed": False}

    if is_self and admin is False:
        module.fail_json(
            msg=f"username {username} is admin_username: the admin running the task cannot drop its own admin flag")
    after = dict(view(current)) if current else {"username": username, "admin": False}

    if not current:
        if not password:
            module.fail_json(msg=f"user {username} does not exist: creating it needs a password")
        actions.append("created")
        password_changed = True
        if not module.check_mode:
            client.create_user(username, password)
    elif password and params["update_password"] == "always":
        # The admin's own password: connect() already knows which one works.
        if is_self:
            matches = client.admin_password == password
        else:
            matches = client.login(username, password) is not None
        if not matches:
            actions.append("password updated")
            password_changed = True
            if not module.check_mode:
                client.update_password(username, password)

    if admin is not None and after["admin"] != admin:
        actions.append("admin flag set" if admin else "admin flag removed")
        after["admin"] = admin
        if not module.check_mode:
            client.update_admin(username, admin)
    return {"before": view(current), "after": after, "actions": actions, "password_changed": password_changed}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_ARGS,
            username={"type": "str", "required": True, "aliases": ["name"]},
            password={"type": "str", "no_log": True},
            admin={"type": "bool"},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            update_password={"type": "str", "choices": ["always", "on_create"], "default": "always",
                             "no_log": False},
        ),
        supports_check_mode=True,
    )
    client = MlflowAuthClient(module)
    params = module.params
    try:
        rotating = params["username"] == params["admin_username"] and params["state"] == "present"
        client.connect(fallback_password=params["password"] if rotating else None)
        result = ensure(module, client)
    except MlflowAuthError as err:
        module.fail_json(msg=str(err), status=err.status, error_code=err.error_code)
    module.exit_json(
        changed=bool(result["actions"]),
        user=result["after"],
        actions=result["actions"],
        password_changed=result["password_changed"],
        admin_password_rotated=client.admin_password_rotated,
        diff={"before": result["before"], "after": result["after"]},
    )


if __name__ == "__main__":
    main()
