#!/usr/bin/python
# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""The users and grants of MLflow's basic-auth app from two lists, applied
authoritatively: what the lists do not name is removed."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mlflow_auth_sync
short_description: MLflow's users and grants from two lists, authoritatively
description:
  - Makes the users of MLflow's basic-auth app (C(mlflow server --app-name basic-auth)) and their grants on
    experiments and registered models those of two lists, in one module call, through MLflow's auth REST API as an
    MLflow admin. Users not in I(users) are deleted (I(prune_users)); grants not in I(grants) are revoked
    (I(prune_grants)); I(admin_username), the admin running the task, is never deleted, demoted or pruned.
  - MLflow lists its users (C(GET /api/2.0/mlflow/users/list)) and each user's grants
    (C(GET /api/3.0/mlflow/users/permissions/list)), so the lists are compared with what the server holds, not with
    a record of earlier runs; a user or grant made by hand or by MLflow itself (MLflow grants MANAGE to whoever
    creates an experiment or registered model) is seen and removed like any other.
  - Only each user's own grants on experiments and registered models are managed (the rows of MLflow's per-user
    role C(__user_<id>__) in the default workspace). Roles an admin made in MLflow (RBAC), and grants on prompts,
    scorers, gateway objects or wildcards, are left as they are.
  - Users are handled like M(mlops.mlflow.mlflow_user) (passwords checked by a login with I(update_password=always))
    and grants like M(mlops.mlflow.mlflow_permission), one request per change.
version_added: 0.3.0
author: mlops.mlflow contributors
extends_documentation_fragment: [mlops.mlflow.mlflow_auth]
options:
  admin_password:
    description:
      - Password of I(admin_username). When I(users) gives that user a new password, the admin's password is
        rotated last, and a later run that still passes the old one logs in with the new one.
    type: str
    required: true
  users:
    description: The users. With I(prune_users), every other user but I(admin_username) is deleted.
    type: list
    elements: dict
    default: []
    suboptions:
      username:
        description:
          - The user. Alias C(name), so that the list of the role nginx_proxy's htpasswd users (nginx_proxy_users)
            fits as it is.
        type: str
        required: true
        aliases: [name]
      password:
        description: The password. Required for a user that does not exist yet; never shown.
        type: str
      admin:
        description: Whether the user is an MLflow admin.
        type: bool
        default: false
      state:
        description: C(absent) deletes the user (also without I(prune_users)).
        type: str
        choices: [present, absent]
        default: present
  grants:
    description:
      - The grants, one user and one experiment or registered model each. One user holds one permission on one
        resource, so a user may appear once per resource.
    type: list
    elements: dict
    default: []
    suboptions:
      user:
        description: The user; a user of I(users), or an existing one when I(prune_users) is false.
        type: str
        required: true
      experiment:
        description: Name of the experiment. One of I(experiment) and I(registered_model) is required.
        type: str
      registered_model:
        description: Name of the registered model.
        type: str
      permission:
        description: The permission (see M(mlops.mlflow.mlflow_permission)). Required with I(state=present).
        type: str
        choices: [READ, USE, EDIT, MANAGE, DENY]
      state:
        description: C(absent) revokes the grant (also without I(prune_grants)).
        type: str
        choices: [present, absent]
        default: present
  prune_users:
    description: Delete the users that I(users) does not name (never I(admin_username)).
    type: bool
    default: true
  prune_grants:
    description:
      - Which grants that I(grants) does not name are revoked. C(all) revokes every other grant of every user on an
        experiment or registered model, including the MANAGE that MLflow gives the creator of one; C(listed_resources)
        only those on an experiment or registered model that I(grants) names (with any user and any I(state),
        so a resource's last grant is removed by marking it C(state=absent)), and leaves the grants users make on
        their own resources; C(none) only those marked C(state=absent).
      - I(admin_username)'s own grants are never revoked (an admin needs none).
    type: str
    choices: [all, listed_resources, none]
    default: all
  update_password:
    description:
      - C(always) makes each password the one given (a login as the user tells whether it already is);
        C(on_create) sets it only when the user is created.
    type: str
    choices: [always, on_create]
    default: always
  on_missing_resource:
    description:
      - What to do with a grant on an experiment or registered model that does not exist. C(fail) stops before
        any change; C(skip) leaves that grant out and warns; C(create) makes the resource (as the admin).
    type: str
    choices: [fail, skip, create]
    default: fail
notes:
  - Supports check mode and diff mode. The diff lists users (username and admin flag) and grants, never passwords.
  - Every name is checked and every experiment looked up before the first change, so bad input changes nothing.
  - Needs MLflow 3.17 or later without workspaces (C(MLFLOW_ENABLE_WORKSPACES) unset); no Python package on the host
    that runs it.
seealso:
  - module: mlops.mlflow.mlflow_user
  - module: mlops.mlflow.mlflow_permission
"""

EXAMPLES = r"""
- name: MLflow's users and grants, from the inventory
  mlops.mlflow.mlflow_auth_sync:
    admin_username: admin
    admin_password: "{{ vault_mlflow_admin_password }}"
    users:
      - {username: alice, password: "{{ vault_mlflow_passwords.alice }}"}
      - {username: trainer, password: "{{ vault_mlflow_passwords.trainer }}"}
      - {username: ops, password: "{{ vault_mlflow_passwords.ops }}", admin: true}
    grants:
      - {user: alice, experiment: churn, permission: READ}
      - {user: trainer, experiment: churn, permission: EDIT}
      - {user: trainer, registered_model: churn-classifier, permission: EDIT}
    on_missing_resource: create
  no_log: true  # the users' passwords are in the task's arguments
  register: mlflow_auth

- name: What changed (the result holds no password)
  ansible.builtin.debug:
    var: mlflow_auth.users
"""

RETURN = r"""
users:
  description: The users after the task (as they would be, in check mode), and what was done to them.
  returned: always
  type: dict
  contains:
    present:
      description: Username -> admin flag of every user.
      type: dict
    created:
      description: Users created.
      type: list
      elements: str
    deleted:
      description: Users deleted.
      type: list
      elements: str
    password_changed:
      description: Users whose password was set (new ones not included).
      type: list
      elements: str
    admin_changed:
      description: Users whose admin flag was changed.
      type: list
      elements: str
grants:
  description:
    - What was done to the grants; each item has I(user), I(resource_type), I(resource), I(resource_id) and
      I(permission).
  returned: always
  type: dict
  contains:
    granted:
      description: New grants.
      type: list
      elements: dict
    changed:
      description: Grants whose permission changed (the new one).
      type: list
      elements: dict
    revoked:
      description: Grants revoked (with the permission they had).
      type: list
      elements: dict
    skipped:
      description: Grants on a missing resource, left out (I(on_missing_resource=skip)).
      type: list
      elements: dict
admin_password_rotated:
  description: The admin's credentials were refused and its new password of I(users) worked (an earlier run rotated it).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_auth import (
    CONNECTION_ARGS,
    GRANTABLE,
    MlflowAuthClient,
    MlflowAuthError,
    Resources,
)


def check_input(module: AnsibleModule) -> tuple[dict, list]:
    """The lists as {username: item} and [(user, type, name, item)], or a
    failure naming the item, before anything is asked of MLflow."""
    users: dict[str, dict] = {}
    for item in module.params["users"]:
        if item["username"] in users:
            module.fail_json(msg=f"users: {item['username']} is listed twice")
        users[item["username"]] = item
    admin = users.get(module.params["admin_username"])
    if admin and (admin["state"] == "absent" or not admin["admin"]):
        module.fail_json(msg=f"users: {module.params['admin_username']} is admin_username, which runs this task: "
                             "it cannot be absent or lose its admin flag")
    grants, seen = [], set()
    for item in module.params["grants"]:
        named = [key for key in ("experiment", "registered_model") if item.get(key) is not None]
        if len(named) != 1:
            module.fail_json(msg=f"grants: the grant of {item['user']} needs one of experiment and registered_model, "
                                 f"not {len(named)}")
        resource_type = named[0]
        key = (item["user"], resource_type, item[resource_type])
        if key in seen:
            module.fail_json(msg=f"grants: {item['user']} on {resource_type} {item[resource_type]} is listed twice")
        seen.add(key)
        if item["state"] == "present":
            if not item.get("permission"):
                module.fail_json(
                    msg=f"grants: {item['user']} on {resource_type} {item[resource_type]} needs a permission")
            listed = users.get(item["user"])
            if listed is not None and listed["state"] == "absent":
                module.fail_json(msg=f"grants: {item['user']} has a grant but is absent in users")
            if listed is None and module.params["prune_users"] and item["user"] != module.params["admin_username"]:
                module.fail_json(msg=f"grants: {item['user']} is not in users (prune_users would delete the user)")
        grants.append((item["user"], resource_type, item[resource_type], item))
    return users, grants


class Sync:
    def __init__(self, module: AnsibleModule, client: MlflowAuthClient):
        self.module, self.client = module, client
        self.check = module.check_mode
        self.admin_username = module.params["admin_username"]
        self.resources = Resources(client, module.params["on_missing_resource"], self.check)
        self.users_out = {"present": {}, "created": [], "deleted": [], "password_changed": [], "admin_changed": []}
        self.grants_out = {"granted": [], "changed": [], "revoked": [], "skipped": []}
        self.pending_admin_password: str | None = None

    # -- users -----------------------------------------------------------

    def gone(self, name: str, listed: dict) -> bool:
        """Whether an existing user is to be deleted."""
        item = listed.get(name)
        if item:
            return item["state"] == "absent"
        return self.module.params["prune_users"] and name != self.admin_username

    def future_users(self, existing: dict, listed: dict) -> set:
        """The users there will be, checked before any change."""
        for name, item in listed.items():
            if item["state"] == "present" and name not in existing and not item.get("password"):
                self.module.fail_json(msg=f"users: {name} does not exist in MLflow: creating it needs a password")
        return ({name for name in existing if not self.gone(name, listed)}
                | {name for name, item in listed.items() if item["state"] == "present"})

    def sync_users(self, existing: dict, listed: dict) -> dict:
        """Returns {username: id or None (a user made in check mode)} of the
        users there after this step."""
        params = self.module.params
        there: dict[str, int | None] = {}
        for name, user in existing.items():
            item = listed.get(name)
            if self.gone(name, listed):
                self.users_out["deleted"].append(name)
                if not self.check:
                    self.client.delete_user(name)
                continue
            there[name] = user["id"]
            admin = bool(user.get("is_admin"))
            if item is None:
                self.users_out["present"][name] = admin
                continue
            password = item.get("password")
            if password and params["update_password"] == "always":
                if name == self.admin_username:
                    if self.client.admin_password != password:
                        # Last, once nothing else needs the old password.
                        self.pending_admin_password = password
                elif self.client.login(name, password) is None:
                    self.users_out["password_changed"].append(name)
                    if not self.check:
                        self.client.update_password(name, password)
            if admin != item["admin"]:
                self.users_out["admin_changed"].append(name)
                if not self.check:
                    self.client.update_admin(name, item["admin"])
            self.users_out["present"][name] = item["admin"]
        for name, item in listed.items():
            if item["state"] == "present" and name not in existing:
                self.users_out["created"].append(name)
                self.users_out["present"][name] = item["admin"]
                there[name] = None
                if not self.check:
                    there[name] = self.client.create_user(name, item["password"]).get("id")
                    if item["admin"]:
                        self.client.update_admin(name, True)
        if self.pending_admin_password:
            self.users_out["password_changed"].append(self.admin_username)
        return there

    # -- grants ----------------------------------------------------------

    def describe(self, user: str, resource_type: str, resource_id: str, permission: str | None) -> dict:
        out = {"user": user, "resource_type": resource_type,
               "resource": self.resources.name(resource_type, resource_id), "resource_id": resource_id}
        if permission:
            out["permission"] = permission
        return out

    def plan_grants(self, grants: list, future: set) -> tuple[dict, set, set]:
        """Resolves every named resource before any grant changes: returns
        {(user, type, id): permission} wanted, the (user, type, id) marked
        absent, and the (type, id) the list names."""
        wanted, absent, named = {}, set(), set()
        on_missing = self.module.params["on_missing_resource"]
        for user, resource_type, name, item in grants:
            present = item["state"] == "present"
            resource_id = self.resources.resolve(resource_type, name, want=present)
            if resource_id is None:
                if present and on_missing == "fail":
                    self.module.fail_json(
                        msg=f"grants: {resource_type.replace('_', ' ')} {name} (for {user}) does not exist in MLflow "
                            "(on_missing_resource: create makes it, skip passes over it)")
                if present:
                    self.module.warn(f"{resource_type.replace('_', ' ')} {name} does not exist: no grant for {user}")
                    self.grants_out["skipped"].append({"user": user, "resource_type": resource_type, "resource": name,
                                                       "permission": item["permission"]})
                continue
            named.add((resource_type, resource_id))
            if present:
                if user not in future:
                    self.module.fail_json(msg=f"grants: user {user} does not exist in MLflow and is not in users")
                wanted[(user, resource_type, resource_id)] = item["permission"]
            else:
                absent.add((user, resource_type, resource_id))
        return wanted, absent, named

    def sync_grants(self, plan: tuple[dict, set, set], there: dict) -> tuple[list, list]:
        wanted, absent, named = plan
        prune = self.module.params["prune_grants"]
        before, after = [], []
        for user, user_id in sorted(there.items()):
            rows = self.client.list_grants(user, user_id) if user_id is not None else []
            held = {}
            for row in rows:
                key = (user, row["resource_type"], row["resource_pattern"])
                held[key] = row
                before.append(self.describe(*key, row["permission"]))
            for key, row in held.items():
                if key in wanted:
                    continue
                remove = key in absent or (user != self.admin_username and (
                    prune == "all" or (prune == "listed_resources" and key[1:] in named)))
                if not remove:
                    after.append(self.describe(*key, row["permission"]))
                    continue
                self.grants_out["revoked"].append(self.describe(*key, row["permission"]))
                if not self.check:
                    self.client.revoke(*key)
            for key, permission in sorted(wanted.items()):
                if key[0] != user:
                    continue
                after.append(self.describe(*key, permission))
                row = held.get(key)
                if row is None:
                    self.grants_out["granted"].append(self.describe(*key, permission))
                    if not self.check:
                        self.client.grant(*key, permission)
                elif row["permission"] != permission:
                    self.grants_out["changed"].append(self.describe(*key, permission))
                    if not self.check:
                        self.client.change_grant(row["role_id"], key[1], key[2], permission)
        return before, after


def grant_lines(grants: list) -> list[str]:
    return sorted(f"{g['user']} {g['resource_type']} {g['resource']}: {g['permission']}" for g in grants)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_ARGS,
            users={"type": "list", "elements": "dict", "default": [], "options": {
                "username": {"type": "str", "required": True, "aliases": ["name"]},
                "password": {"type": "str", "no_log": True},
                "admin": {"type": "bool", "default": False},
                "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            }},
            grants={"type": "list", "elements": "dict", "default": [], "options": {
                "user": {"type": "str", "required": True},
                "experiment": {"type": "str"},
                "registered_model": {"type": "str"},
                "permission": {"type": "str", "choices": GRANTABLE},
                "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            }},
            prune_users={"type": "bool", "default": True},
            prune_grants={"type": "str", "choices": ["all", "listed_resources", "none"], "default": "all"},
            update_password={"type": "str", "choices": ["always", "on_create"], "default": "always", "no_log": False},
            on_missing_resource={"type": "str", "choices": ["fail", "skip", "create"], "default": "fail"},
        ),
        supports_check_mode=True,
    )
    listed, grants = check_input(module)
    client = MlflowAuthClient(module)
    sync = Sync(module, client)
    try:
        own = listed.get(module.params["admin_username"])
        client.connect(fallback_password=own.get("password") if own else None)
        existing = {u["username"]: u for u in client.list_users()}
        # Every check, and every experiment's id, before the first change.
        plan = sync.plan_grants(grants, sync.future_users(existing, listed))
        there = sync.sync_users(existing, listed)
        grants_before, grants_after = sync.sync_grants(plan, there)
        if sync.pending_admin_password and not module.check_mode:
            client.update_password(module.params["admin_username"], sync.pending_admin_password)
    except MlflowAuthError as err:
        module.fail_json(msg=str(err), status=err.status, error_code=err.error_code,
                         users=sync.users_out, grants=sync.grants_out)
    users_out, grants_out = sync.users_out, sync.grants_out
    changed = any(users_out[k] for k in ("created", "deleted", "password_changed", "admin_changed")) or any(
        grants_out[k] for k in ("granted", "changed", "revoked"))
    module.exit_json(
        changed=changed,
        users=users_out,
        grants=grants_out,
        admin_password_rotated=client.admin_password_rotated,
        diff={
            "before": {"users": {name: bool(u.get("is_admin")) for name, u in existing.items()},
                       "grants": grant_lines(grants_before)},
            "after": {"users": users_out["present"], "grants": grant_lines(grants_after)},
        },
    )


if __name__ == "__main__":
    main()
