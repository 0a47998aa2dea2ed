#!/usr/bin/python
# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""One grant of MLflow's basic-auth app: a user's permission on an
experiment or a registered model, both named."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mlflow_permission
short_description: A user's permission on an MLflow experiment or registered model
description:
  - Grants, changes or revokes one user's permission on one experiment or one registered model of an MLflow
    tracking server that runs MLflow's basic-auth app (C(mlflow server --app-name basic-auth)), through its auth
    REST API, as an MLflow admin.
  - The experiment is named; its id is looked up (C(GET /api/2.0/mlflow/experiments/get-by-name)), since MLflow keys
    experiment grants by id. Registered models are keyed by name.
  - The grant is a row of the user's own permissions (MLflow's per-user grant API,
    C(/api/3.0/mlflow/users/permissions/*)); a changed permission is updated in place, so the user never goes
    without it in between. Permissions that come from roles an admin made in MLflow (RBAC) are not read or changed.
  - Where no grant applies, MLflow's C(default_permission) does; NO_PERMISSIONS cannot be granted on a resource
    (MLflow 3.17 refuses it). Revoke the grant (I(state=absent)) with a C(default_permission) of NO_PERMISSIONS,
    or grant DENY.
  - For a whole list of users and grants applied authoritatively, see M(mlops.mlflow.mlflow_auth_sync).
version_added: 0.3.0
author: mlops.mlflow contributors
extends_documentation_fragment: [mlops.mlflow.mlflow_auth]
options:
  username:
    description: The user (who must exist, see M(mlops.mlflow.mlflow_user)).
    type: str
    required: true
    aliases: [user]
  experiment:
    description: Name of the experiment. One of I(experiment) and I(registered_model) is required.
    type: str
  registered_model:
    description: Name of the registered model.
    type: str
  permission:
    description:
      - The permission, as MLflow 3.17 names them on one resource. C(READ) reads; C(USE) reads and uses (runs
        a prompt or gateway resource); C(EDIT) also writes (logs runs, new model versions); C(MANAGE) also deletes
        and grants to others; C(DENY) refuses everything, even where another grant would allow.
      - Required with I(state=present).
    type: str
    choices: [READ, USE, EDIT, MANAGE, DENY]
  state:
    description: Whether the grant exists. C(absent) revokes whatever permission the user holds on the resource.
    type: str
    choices: [present, absent]
    default: present
  on_missing_resource:
    description:
      - What to do when the experiment or registered model does not exist. C(fail) stops; C(skip) changes nothing
        and warns; C(create) makes it (as the admin, who then holds MANAGE on it too).
      - A missing resource with I(state=absent) is nothing to revoke, whatever this says.
    type: str
    choices: [fail, skip, create]
    default: fail
notes:
  - Supports check mode and diff mode.
  - Needs MLflow 3.17 or later (its per-user grant API) without workspaces (C(MLFLOW_ENABLE_WORKSPACES) unset); no
    Python package on the host that runs it.
seealso:
  - module: mlops.mlflow.mlflow_user
  - module: mlops.mlflow.mlflow_auth_sync
"""

EXAMPLES = r"""
- name: Alice reads the churn experiment
  mlops.mlflow.mlflow_permission:
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: alice
    experiment: churn
    permission: READ

- name: The training service account logs to it and registers the model
  mlops.mlflow.mlflow_permission:
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: trainer
    registered_model: churn-classifier
    permission: EDIT
    on_missing_resource: create

- name: Alice no longer reads it
  mlops.mlflow.mlflow_permission:
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    username: alice
    experiment: churn
    state: absent
"""

RETURN = r"""
grant:
  description: The grant after the task (as it would be, in check mode); no I(permission) when there is none.
  returned: always
  type: dict
  contains:
    username:
      description: The user.
      type: str
    resource_type:
      description: C(experiment) or C(registered_model).
      type: str
    resource:
      description: Name of the experiment or registered model.
      type: str
    resource_id:
      description: The id MLflow keys the grant by (the experiment id; the name of a registered model).
      type: str
    permission:
      description: The permission granted.
      type: str
  sample: {username: alice, resource_type: experiment, resource: churn, resource_id: "4", permission: READ}
action:
  description: C(granted), C(changed), C(revoked), C(skipped) (missing resource) or C(none).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_auth import (
    CONNECTION_ARGS,
    GRANTABLE,
    MlflowAuthClient,
    MlflowAuthError,
    Resources,
)


def ensure(module: AnsibleModule, client: MlflowAuthClient) -> tuple[str, dict, dict]:
    params = module.params
    username, state = params["username"], params["state"]
    resource_type = "experiment" if params["experiment"] is not None else "registered_model"
    name = params["experiment"] if resource_type == "experiment" else params["registered_model"]
    base = {"username": username, "resource_type": resource_type, "resource": name}

    user = client.get_user(username)
    if user is None:
        if state == "absent":
            return "none", base, base
        module.fail_json(msg=f"user {username} does not exist in MLflow: create it first (mlops.mlflow.mlflow_user)")

    resources = Resources(client, params["on_missing_resource"], module.check_mode)
    resource_id = resources.resolve(resource_type, name, want=state == "present")
    if resource_id is None:
        if state == "present" and params["on_missing_resource"] == "fail":
            module.fail_json(msg=f"{resource_type.replace('_', ' ')} {name} does not exist in MLflow "
                                 "(on_missing_resource: create makes it, skip passes over it)")
        if state == "present":
            module.warn(f"{resource_type.replace('_', ' ')} {name} does not exist: no grant for {username}")
            return "skipped", base, base
        return "none", base, base
    base["resource_id"] = resource_id

    row = next((r for r in client.list_grants(username, user["id"])
                if r["resource_type"] == resource_type and r["resource_pattern"] == resource_id), None)
    before = dict(base, permission=row["permission"]) if row else dict(base)

    if state == "absent":
        if row is None:
            return "none", before, before
        if not module.check_mode:
            client.revoke(username, resource_type, resource_id)
        return "revoked", before, dict(base)

    after = dict(base, permission=params["permission"])
    if row is None:
        if not module.check_mode:
            client.grant(username, resource_type, resource_id, params["permission"])
        return "granted", before, after
    if row["permission"] != params["permission"]:
        if not module.check_mode:
            client.change_grant(row["role_id"], resource_type, resource_id, params["permission"])
        return "changed", before, after
    return "none", before, after


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_ARGS,
            username={"type": "str", "required": True, "aliases": ["user"]},
            experiment={"type": "str"},
            registered_model={"type": "str"},
            permission={"type": "str", "choices": GRANTABLE},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            on_missing_resource={"type": "str", "choices": ["fail", "skip", "create"], "default": "fail"},
        ),
        mutually_exclusive=[("experiment", "registered_model")],
        required_one_of=[("experiment", "registered_model")],
        required_if=[("state", "present", ["permission"])],
        supports_check_mode=True,
    )
    client = MlflowAuthClient(module)
    try:
        client.connect()
        action, before, after = ensure(module, client)
    except MlflowAuthError as err:
        module.fail_json(msg=str(err), status=err.status, error_code=err.error_code)
    module.exit_json(
        changed=action in ("granted", "changed", "revoked"),
        action=action,
        grant=after,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
