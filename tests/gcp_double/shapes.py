"""Compares answers captured from a real project with the double's, so the
double's shapes can be refreshed (docs/gcp.md, "Smoke test in a throw-away
project").

    python tests/gcp_double/shapes.py CAPTURED_DIR ANSWERS_JSON

CAPTURED_DIR holds one real answer per file, named after the discovery
method id that produced it (compute.firewalls.get.json,
sql.instances.get.json, storage.buckets.get.json ...). ANSWERS_JSON is what
the provisioning test writes when GCP_DOUBLE_ANSWERS names a file: the
double's last answer of each method id. For each method present in both it
prints

- `schema`: a captured field Google's discovery document does not know
  (the pinned google-api-python-client is older than the API: update it);
- `real only`: a field path Google returned and the double does not (a
  server-filled field the double should add, if a module or the role reads it);
- `double only`: a field path the double returns and Google did not (the
  double invents it, or it depends on settings: check and remove).

Field paths ignore list positions and map keys (labels, metadata items), and
values are not compared (ids, times and addresses differ by nature). Exits 1
when a `schema` or `double only` line was printed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from gcp_double.discovery import Catalog, ValidationError, check_response
else:
    from .discovery import Catalog, ValidationError, check_response


def paths(value, prefix="") -> set[str]:
    """Every field path of a JSON value; keys of label maps and of an
    aggregated list's scopes count as `*`."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if prefix.rsplit(".", 1)[-1] in ("labels", "userLabels") or (prefix == "items" and key.startswith("zones/")):
                key = "*"
            path = f"{prefix}.{key}" if prefix else key
            found.add(path)
            found |= paths(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= paths(item, prefix + "[]")
    return found


def compare(captured_dir: Path, answers: dict) -> list[str]:
    catalog = Catalog()
    methods = {m.id: m for m in catalog.methods}
    lines = []
    for path in sorted(captured_dir.glob("*.json")):
        method_id = path.stem
        real = json.loads(path.read_text())
        method = next((m for m in catalog.methods if m.id == method_id and m.api != "sqladmin.v1beta4"),
                      methods.get(method_id))
        if method is None:
            lines.append(f"{method_id}: not a method of the discovery documents (name the file <method id>.json)")
            continue
        try:
            check_response(method, real)
        except ValidationError as exc:
            lines.append(f"{method_id}: schema: {exc.message}")
        if method_id not in answers:
            lines.append(f"{method_id}: the double gave no answer of this method in the test run")
            continue
        real_paths, double_paths = paths(real), paths(answers[method_id])
        lines += [f"{method_id}: real only: {p}" for p in sorted(real_paths - double_paths)]
        lines += [f"{method_id}: double only: {p}" for p in sorted(double_paths - real_paths)]
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    lines = compare(Path(argv[0]), json.loads(Path(argv[1]).read_text()))
    for line in lines:
        print(line)
    return 1 if any(": schema:" in line or ": double only:" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
