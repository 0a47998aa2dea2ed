"""Google's own API descriptions, as the GCP double's rule book.

The discovery documents are read from the installed google-api-python-client
package (googleapiclient/discovery_cache/documents/<api>.<version>.json,
pinned in requirements-dev.txt), never copied into this repository. From
them this module

- finds the method a request calls (host + path + HTTP method -> method id,
  path parameters), the way Google's front end routes it;
- checks the query parameters (known to the method or standard), the path
  parameters (their documented patterns) and the request body against the
  method's request schema: unknown fields, JSON types and formats, enum
  values, fields the schema marks output only ("readOnly" or "[Output Only]"
  in the description), fields a method marks required;
- checks the double's own answers against the response schema (no field that
  does not exist, none marked "[Input Only]"), so its answers cannot drift
  from Google's shapes either.

What it does not know is what Google's servers check beyond the schema
(resource references, edition/tier rules, permissions...): server.py adds
the few of those this project depends on."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# API name.version -> extra roots the same methods answer on (besides the
# document's rootUrl + servicePath). Compute and Storage are also served
# under www.googleapis.com, and the google.cloud modules use both hosts.
ALIASES = {
    "compute.v1": ["https://www.googleapis.com/compute/v1/"],
    "storage.v1": ["https://www.googleapis.com/storage/v1/"],
}
APIS = ("compute.v1", "storage.v1", "iam.v1", "cloudresourcemanager.v1", "sqladmin.v1", "sqladmin.v1beta4",
        "servicenetworking.v1")

# Fields that are output only in the schema, but that Google's servers accept
# in a request when they hold the only value they can hold: `kind` (the
# google.cloud modules send it in every body; Compute documents "Always
# compute#firewall").
TOLERATED_OUTPUT_ONLY = {"kind"}


def documents_dir() -> Path:
    import googleapiclient  # noqa: PLC0415 - only the package's data is used

    path = Path(googleapiclient.__file__).resolve().parent / "discovery_cache" / "documents"
    if not path.is_dir():
        raise RuntimeError(f"no discovery documents in {path}: is google-api-python-client installed?")
    return path


@lru_cache(maxsize=None)
def document(name: str) -> dict:
    return json.loads((documents_dir() / f"{name}.json").read_text())


@dataclass
class Method:
    api: str  # e.g. compute.v1
    id: str  # e.g. compute.firewalls.insert
    http_method: str
    roots: list[str]
    path: str  # flatPath, relative to the roots
    spec: dict
    regex: re.Pattern = field(init=False)
    params: list[str] = field(init=False)

    def __post_init__(self):
        self.params = []
        pattern = ""
        for part in re.split(r"(\{\+?[^}]+\})", self.path):
            if part.startswith("{"):
                name = part.strip("{}+")
                self.params.append(name)
                pattern += "(.+)" if part.startswith("{+") else "([^/]+?)"
            else:
                pattern += re.escape(part)
        self.regex = re.compile(pattern)

    @property
    def literal_length(self) -> int:
        return len(re.sub(r"\{[^}]+\}", "", self.path))


class ValidationError(Exception):
    """A request Google would refuse with 400 INVALID_ARGUMENT."""

    def __init__(self, message: str, reason: str = "invalid", status: int = 400):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status


def _methods(resource: dict):
    for method in resource.get("methods", {}).values():
        yield method
    for child in resource.get("resources", {}).values():
        yield from _methods(child)


class Catalog:
    """Every method of APIS, routable by URL."""

    def __init__(self, apis=APIS):
        self.methods: list[Method] = []
        for api in apis:
            doc = document(api)
            roots = [doc["rootUrl"] + doc.get("servicePath", "")] + ALIASES.get(api, [])
            for spec in _methods(doc):
                self.methods.append(Method(api, spec["id"], spec["httpMethod"], roots,
                                           spec.get("flatPath") or spec["path"], spec))

    def route(self, http_method: str, url: str) -> tuple[Method, dict[str, str]] | None:
        """(method, raw path parameters) of the most specific match, or None."""
        best = None
        for method in self.methods:
            if method.http_method != http_method:
                continue
            for root in method.roots:
                if not url.startswith(root):
                    continue
                match = method.regex.fullmatch(url[len(root):])
                if match and (best is None or method.literal_length > best[0].literal_length):
                    best = (method, dict(zip(method.params, match.groups())))
        return best


def _output_only(prop: dict) -> bool:
    description = prop.get("description", "")
    return bool(prop.get("readOnly")) or "[Output Only]" in description or description.startswith("Output only.")


def _input_only(prop: dict) -> bool:
    return "[Input Only]" in prop.get("description", "")


_INT = re.compile(r"-?[0-9]+")


def _check_scalar(kind: str, fmt: str | None, value, where: str):
    if kind == "string":
        if fmt in ("int64", "uint64"):
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INT.fullmatch(value))):
                raise ValidationError(f"Invalid value at '{where}' ({fmt}), {json.dumps(value)}")
            if fmt == "uint64" and int(value) < 0:
                raise ValidationError(f"Invalid value at '{where}' (uint64), {json.dumps(value)}")
            return
        if not isinstance(value, str):
            raise ValidationError(f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}")
        return
    if kind == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and _INT.fullmatch(value))
        if not ok:
            raise ValidationError(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")
        if fmt == "uint32" and int(value) < 0:
            raise ValidationError(f"Invalid value at '{where}' (TYPE_UINT32), {json.dumps(value)}")
        return
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"Invalid value at '{where}' (TYPE_DOUBLE), {json.dumps(value)}")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValidationError(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}")
        return
    if kind == "any":
        return
    raise ValidationError(f"the double cannot check type {kind} at '{where}'")


class Schemas:
    """Validation of JSON values against the schemas of one API."""

    def __init__(self, api: str):
        self.api = api
        self.schemas = document(api)["schemas"]

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        return schema

    def check(self, schema: dict, value, where: str, direction: str, method_id: str = "",
              tolerated_unknown: frozenset = frozenset()):
        """Raises ValidationError. direction: request (refuses output-only
        fields) or response (refuses input-only fields)."""
        schema = self.resolve(schema)
        if "enum" in schema:
            _check_scalar("string", None, value, where)
            if value not in schema["enum"]:
                raise ValidationError(f"Invalid value at '{where}' ({self.api} enum), {json.dumps(value)}")
            return
        kind = schema.get("type", "object" if "properties" in schema or "additionalProperties" in schema else "any")
        if kind == "array":
            if not isinstance(value, list):
                raise ValidationError(f"Invalid value at '{where}', {json.dumps(value)[:80]}: a list is expected")
            for index, item in enumerate(value):
                self.check(schema.get("items", {}), item, f"{where}[{index}]", direction, method_id, tolerated_unknown)
            return
        if kind == "object":
            if not isinstance(value, dict):
                raise ValidationError(f"Invalid value at '{where}', {json.dumps(value)[:80]}: an object is expected")
            properties = schema.get("properties")
            if properties is None:
                extra = schema.get("additionalProperties", {})
                for key, item in value.items():
                    self.check(extra, item, f"{where}[{key!r}]", direction, method_id, tolerated_unknown)
                return
            for key, item in value.items():
                prop = properties.get(key)
                if prop is None:
                    if key in tolerated_unknown:
                        continue
                    raise ValidationError(
                        f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field.")
                if direction == "request" and _output_only(prop):
                    allowed = key in TOLERATED_OUTPUT_ONLY and (item == prop.get("default") or item in re.findall(
                        r"[a-z]+#[A-Za-z]+", prop.get("description", "")))
                    if not allowed:
                        raise ValidationError(
                            f"Invalid value for field '{where}.{key}': {json.dumps(item)[:80]}. "
                            f"The field is output only and cannot be set in a request.")
                if direction == "response" and _input_only(prop):
                    raise ValidationError(f"response carries the input-only field {where}.{key}")
                self.check(prop, item, f"{where}.{key}", direction, method_id)
            if direction == "request" and method_id:
                for key, prop in properties.items():
                    if method_id in prop.get("annotations", {}).get("required", []) and key not in value:
                        raise ValidationError(f"Required field '{where}.{key}' is missing.", reason="required")
            return
        _check_scalar(kind, schema.get("format"), value, where)


_STANDARD_QUERY = {"$.xgafv", "access_token", "alt", "callback", "fields", "key", "oauth_token", "prettyPrint",
                   "quotaUser", "uploadType", "upload_protocol", "userIp"}


def check_query(method: Method, query: dict[str, list[str]]):
    params = method.spec.get("parameters", {})
    standard = set(document(method.api).get("parameters", {})) | _STANDARD_QUERY
    for name, values in query.items():
        spec = params.get(name)
        if spec is None or spec.get("location") != "query":
            if name in standard:
                continue
            raise ValidationError(f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. "
                                  f"Field '{name}' could not be found in request message.")
        if len(values) > 1 and not spec.get("repeated"):
            raise ValidationError(f"query parameter {name} given {len(values)} times")
        for value in values:
            if spec.get("type") == "boolean" and value not in ("true", "false"):
                raise ValidationError(f"Invalid value for boolean query parameter {name}: {value!r}")
            if spec.get("type") == "integer" and not _INT.fullmatch(value):
                raise ValidationError(f"Invalid value for integer query parameter {name}: {value!r}")
            if "enum" in spec and value not in spec["enum"]:
                raise ValidationError(f"Invalid value for {name}: {value!r}; allowed: {spec['enum']}")
    for name, spec in params.items():
        if spec.get("location") == "query" and spec.get("required") and name not in query:
            raise ValidationError(f"Required parameter {name} is missing.", reason="required")


def check_path(method: Method, path_params: dict[str, str]):
    params = method.spec.get("parameters", {})
    for name, value in path_params.items():
        pattern = params.get(name, {}).get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            # Google's patterns for {+name} parameters hold the whole resource name.
            if not re.fullmatch(pattern.lstrip("^").rstrip("$"), value):
                raise ValidationError(f"Invalid value for field '{name}': '{value}'. Must be a match of regex '{pattern}'")


@lru_cache(maxsize=None)
def schemas(api: str) -> Schemas:
    return Schemas(api)


def check_request(method: Method, body, tolerated_unknown: frozenset = frozenset()):
    request = method.spec.get("request")
    if request is None:
        if body not in (None, {}):
            raise ValidationError(f"{method.id} takes no request body; got {json.dumps(body)[:120]}")
        return
    if body is None:
        raise ValidationError(f"{method.id} needs a request body ({request['$ref']})", reason="required")
    schemas(method.api).check(request, body, "resource", "request", method.id, tolerated_unknown)


def check_response(method: Method, payload):
    response = method.spec.get("response")
    if response is None or payload is None:
        return
    schemas(method.api).check(response, payload, "response", "response")
