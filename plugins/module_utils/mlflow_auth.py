# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""HTTP client of MLflow's basic-auth app (``mlflow server --app-name
basic-auth``) for the modules mlflow_user, mlflow_permission and
mlflow_auth_sync: users, per-user grants on experiments and registered
models, and the name -> id lookups they need.

Only the standard library and ansible.module_utils.urls: the modules run on
whatever Python the target has, with no MLflow installed there.

The endpoints are those of MLflow 3.17 (mlflow/server/auth/routes.py):
users under /api/2.0/mlflow/users/*, per-user grants under
/api/3.0/mlflow/users/permissions/* (a grant is a row of the user's
synthetic role ``__user_<id>__`` in the active workspace), and
/api/3.0/mlflow/roles/permissions/* to change a grant in place."""
from __future__ import annotations

import json
import re
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.urls import open_url

# The options every module of this family takes (documented in each module:
# ansible-doc reads DOCUMENTATION as a literal, so the text is repeated there).
CONNECTION_ARGS = {
    "tracking_uri": {"type": "str", "default": "http://127.0.0.1:5000"},
    "admin_username": {"type": "str", "required": True},
    "admin_password": {"type": "str", "required": True, "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 30},
    "unix_socket": {"type": "path"},
}

# Permissions MLflow 3.17 accepts on one experiment or registered model
# (permissions.RESOURCE_GRANTABLE_PERMISSIONS). NO_PERMISSIONS is refused by
# the server on a resource: no grant plus default_permission says it.
GRANTABLE = ["READ", "USE", "EDIT", "MANAGE", "DENY"]

# The resource types these modules manage; grants of other types (prompts,
# scorers, gateway objects, wildcards of sub-resources) are left alone.
RESOURCE_TYPES = ("experiment", "registered_model")

# Without workspaces (MLFLOW_ENABLE_WORKSPACES unset) every grant lives in
# this one; the modules do not send a workspace and touch no other.
DEFAULT_WORKSPACE = "default"

_USERS = "/api/2.0/mlflow/users"
_GRANTS = "/api/3.0/mlflow/users/permissions"
_ROLE_PERMISSIONS = "/api/3.0/mlflow/roles/permissions"


class MlflowAuthError(Exception):
    """An answer of MLflow that is not the one expected."""

    def __init__(self, method: str, path: str, status: int, error_code: str = "", message: str = ""):
        self.method, self.path, self.status, self.error_code = method, path, status, error_code
        self.message = _clean(message)
        super().__init__(f"{method} {path}: HTTP {status} {error_code} {self.message}".strip())


def _clean(message: str) -> str:
    """MLflow puts the failed SQL statement in some messages, and for a user
    that already exists that statement holds the new password's hash: cut it
    off, whatever the statement, so no value derived from a password reaches
    the output."""
    message = message or ""
    for marker in (" Error: (", "[SQL:", "[parameters:"):
        if marker in message:
            message = message.split(marker, 1)[0]
    return re.sub(r"\s+", " ", message).strip()[:300]


class MlflowAuthClient:
    """One MLflow server, called as its admin (HTTP basic auth on every
    request; the server keeps no session)."""

    def __init__(self, module):
        params = module.params
        self.module = module
        self.base = params["tracking_uri"].rstrip("/")
        self.admin_username = params["admin_username"]
        self.admin_password = params["admin_password"]
        self.validate_certs = params["validate_certs"]
        self.ca_path = params["ca_path"]
        self.timeout = params["timeout"]
        # MLflow on a Unix socket (the server role's server_socket): the URL's
        # host only names the Host header then.
        self.unix_socket = params.get("unix_socket") or None
        # Set by connect(): the admin logged in with the fallback password
        # (a rotation already done by an earlier run).
        self.admin_password_rotated = False

    # -- transport -------------------------------------------------------

    def request(self, method: str, path: str, query: dict | None = None, body: dict | None = None,
                auth: tuple[str, str] | None = None, ok=(200,)) -> tuple[int, dict]:
        """Sends one request; returns (status, JSON body) for a status in
        `ok`, raises MlflowAuthError for any other. `auth` replaces the
        admin's credentials (a login check as another user)."""
        url = self.base + path + ("?" + urlencode(query) if query else "")
        username, password = auth or (self.admin_username, self.admin_password)
        data = json.dumps(body) if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(
                url, data=data, headers=headers, method=method,
                url_username=username, url_password=password, force_basic_auth=True,
                validate_certs=self.validate_certs, ca_path=self.ca_path, timeout=self.timeout,
                follow_redirects="none", use_proxy=self.unix_socket is None, unix_socket=self.unix_socket)
            status, raw = response.getcode(), response.read()
        except HTTPError as err:
            status = err.code
            try:
                raw = err.read()
            except Exception:  # noqa: BLE001 - an unreadable error body says nothing more
                raw = b""
        except URLError as err:
            raise MlflowAuthError(method, path, 0, "UNREACHABLE", f"{self._where()}: {err.reason}") from None
        except (OSError, ValueError) as err:
            raise MlflowAuthError(method, path, 0, "UNREACHABLE", f"{self._where()}: {err}") from None
        text = raw.decode("utf-8", "replace") if raw else ""
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            answer = {"message": text}
        if not isinstance(answer, dict):
            answer = {"value": answer}
        if status not in ok:
            raise MlflowAuthError(method, path, status, answer.get("error_code", ""), answer.get("message", ""))
        return status, answer

    def _where(self) -> str:
        return self.base + (f" (on the Unix socket {self.unix_socket})" if self.unix_socket else "")

    # -- logins ----------------------------------------------------------

    def login(self, username: str, password: str) -> dict | None:
        """The user as MLflow sees them when `password` is theirs, None when
        MLflow answers 401. /users/current is open to any authenticated user
        and reads nothing else, so it is the cheapest true login check."""
        status, answer = self.request("GET", _USERS + "/current", auth=(username, password), ok=(200, 401))
        return answer.get("user") if status == 200 else None

    def connect(self, fallback_password: str | None = None) -> None:
        """Checks the admin's credentials before anything is changed. When
        they fail and `fallback_password` (the admin's new password, when the
        task rotates it) works, an earlier run rotated it already: carry on
        with that one."""
        user = self.login(self.admin_username, self.admin_password)
        if user is None and fallback_password and fallback_password != self.admin_password:
            user = self.login(self.admin_username, fallback_password)
            if user is not None:
                self.admin_password = fallback_password
                self.admin_password_rotated = True
        if user is None:
            raise MlflowAuthError("GET", _USERS + "/current", 401, "UNAUTHENTICATED",
                                  f"MLflow refused the credentials of admin_username {self.admin_username}")
        if not user.get("is_admin"):
            raise MlflowAuthError("GET", _USERS + "/current", 403, "PERMISSION_DENIED",
                                  f"{self.admin_username} is not an MLflow admin")

    # -- users -----------------------------------------------------------

    def get_user(self, username: str) -> dict | None:
        status, answer = self.request("GET", _USERS + "/get", query={"username": username}, ok=(200, 404))
        return answer.get("user") if status == 200 else None

    def list_users(self) -> list[dict]:
        return self.request("GET", _USERS + "/list")[1].get("users", [])

    def create_user(self, username: str, password: str) -> dict:
        body = {"username": username, "password": password}
        return self.request("POST", _USERS + "/create", body=body)[1].get("user", {})

    def update_password(self, username: str, password: str) -> None:
        body = {"username": username, "password": password}
        if username == self.admin_username:
            # MLflow asks for the current password when a user changes their own.
            body["current_password"] = self.admin_password
        self.request("PATCH", _USERS + "/update-password", body=body)
        if username == self.admin_username:
            self.admin_password = password

    def update_admin(self, username: str, admin: bool) -> None:
        self.request("PATCH", _USERS + "/update-admin", body={"username": username, "is_admin": admin})

    def delete_user(self, username: str) -> None:
        self.request("DELETE", _USERS + "/delete", body={"username": username})

    # -- grants ----------------------------------------------------------

    def list_grants(self, username: str, user_id: int) -> list[dict]:
        """The user's own grants on experiments and registered models: the
        rows of their synthetic role in the default workspace. Rows that come
        from roles an admin made (RBAC) are not the user's to lose and are
        not returned."""
        answer = self.request("GET", _GRANTS + "/list", query={"username": username})[1]
        own = f"__user_{user_id}__"
        return [row for row in answer.get("permissions", [])
                if row.get("role_name") == own and row.get("workspace", DEFAULT_WORKSPACE) == DEFAULT_WORKSPACE
                and row.get("resource_type") in RESOURCE_TYPES
                # A wildcard ("*": every experiment) is no list item's to name.
                and row.get("resource_pattern") != "*"]

    def grant(self, username: str, resource_type: str, resource_id: str, permission: str) -> None:
        self.request("POST", _GRANTS + "/grant", body={
            "username": username, "resource_type": resource_type,
            "resource_id": resource_id, "permission": permission})

    def revoke(self, username: str, resource_type: str, resource_id: str) -> None:
        self.request("POST", _GRANTS + "/revoke", body={
            "username": username, "resource_type": resource_type, "resource_id": resource_id})

    def change_grant(self, role_id: int, resource_type: str, resource_id: str, permission: str) -> None:
        """Changes the permission of an existing grant in place (the per-user
        API has grant and revoke only; revoke then grant would leave a moment
        without the grant)."""
        rows = self.request("GET", _ROLE_PERMISSIONS + "/list", query={"role_id": str(role_id)})[1]
        for row in rows.get("role_permissions", []):
            if row.get("resource_type") == resource_type and row.get("resource_pattern") == resource_id:
                self.request("PATCH", _ROLE_PERMISSIONS + "/update",
                             body={"role_permission_id": row["id"], "permission": permission})
                return
        raise MlflowAuthError("GET", _ROLE_PERMISSIONS + "/list", 404, "RESOURCE_DOES_NOT_EXIST",
                              f"no {resource_type} grant {resource_id} in role {role_id}")

    # -- resources -------------------------------------------------------

    def experiment_id(self, name: str, create: bool = False) -> str | None:
        """The id of the experiment called `name` (deleted ones included, as
        MLflow keeps their grants), None when there is none and `create` is
        false."""
        status, answer = self.request("GET", "/api/2.0/mlflow/experiments/get-by-name",
                                      query={"experiment_name": name}, ok=(200, 404))
        if status == 200:
            return answer["experiment"]["experiment_id"]
        if not create:
            return None
        return self.request("POST", "/api/2.0/mlflow/experiments/create", body={"name": name})[1]["experiment_id"]

    def experiment_name(self, experiment_id: str) -> str | None:
        status, answer = self.request("GET", "/api/2.0/mlflow/experiments/get",
                                      query={"experiment_id": experiment_id}, ok=(200, 400, 404))
        return answer["experiment"]["name"] if status == 200 else None

    def registered_model_exists(self, name: str, create: bool = False) -> bool:
        """Registered models are granted by name: only their existence is
        checked (and, with `create`, made)."""
        status, _answer = self.request("GET", "/api/2.0/mlflow/registered-models/get",
                                       query={"name": name}, ok=(200, 404))
        if status == 200:
            return True
        if not create:
            return False
        self.request("POST", "/api/2.0/mlflow/registered-models/create", body={"name": name})
        return True


class Resources:
    """Name <-> id of the experiments and registered models a run names,
    each looked up once."""

    def __init__(self, client: MlflowAuthClient, on_missing: str = "fail", check_mode: bool = False):
        self.client, self.on_missing, self.check_mode = client, on_missing, check_mode
        self._ids: dict[tuple[str, str], str | None] = {}
        self._names: dict[tuple[str, str], str] = {}

    def resolve(self, resource_type: str, name: str, want: bool = True) -> str | None:
        """The id that grants on `name` carry, or None when it does not
        exist (and is not to be made). `want` is false for a grant being
        removed: nothing is made for it."""
        key = (resource_type, name)
        if key in self._ids and (self._ids[key] is not None or not want):
            return self._ids[key]
        create = want and self.on_missing == "create" and not self.check_mode
        if resource_type == "experiment":
            found = self.client.experiment_id(name, create=create)
        else:
            found = name if self.client.registered_model_exists(name, create=create) else None
        if found is None and want and self.on_missing == "create" and self.check_mode:
            # Would be made by a real run; a placeholder id keeps the plan.
            found = f"(new experiment {name})" if resource_type == "experiment" else name
        self._ids[key] = found
        if found is not None:
            self._names[(resource_type, found)] = name
        return found

    def name(self, resource_type: str, resource_id: str) -> str:
        """The name of a granted resource, for the output and the diff."""
        if resource_type != "experiment":
            return resource_id
        key = (resource_type, resource_id)
        if key not in self._names:
            self._names[key] = self.client.experiment_name(resource_id) or f"(experiment id {resource_id})"
        return self._names[key]

