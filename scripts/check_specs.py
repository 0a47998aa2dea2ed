#!/usr/bin/env python3
"""Every role's defaults/main.yml and meta/argument_specs.yml list the same
variables, with the same default values, and every variable is named after
its role. Prints what differs and exits 1 if anything does."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# Roles whose public variables may also carry a shorter prefix that users
# know from the cloud (aws_region, gcp_project ...), besides <role>_.
EXTRA_PREFIXES = {
    "aws_infra": ("aws_",),
    "gcp_infra": ("gcp_",),
}


def check_role(role: Path) -> list[str]:
    problems: list[str] = []
    name = role.name
    defaults_file = role / "defaults" / "main.yml"
    spec_file = role / "meta" / "argument_specs.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    defaults = defaults or {}
    if not spec_file.exists():
        return [f"{name}: meta/argument_specs.yml is missing"]
    spec = yaml.safe_load(spec_file.read_text())
    options = spec["argument_specs"]["main"].get("options") or {}
    for var in sorted(set(defaults) - set(options)):
        problems.append(f"{name}: {var} is in defaults/main.yml but not in meta/argument_specs.yml")
    for var in sorted(set(options) - set(defaults)):
        if not options[var].get("required"):
            problems.append(f"{name}: {var} is in meta/argument_specs.yml but not in defaults/main.yml")
    for var in sorted(set(defaults) & set(options)):
        if "default" in options[var] and options[var]["default"] != defaults[var]:
            problems.append(
                f"{name}: {var} defaults to {defaults[var]!r} in defaults/main.yml "
                f"but {options[var]['default']!r} in meta/argument_specs.yml"
            )
        if not options[var].get("description"):
            problems.append(f"{name}: {var} has no description in meta/argument_specs.yml")
    prefixes = (f"{name}_", *EXTRA_PREFIXES.get(name, ()))
    for var in sorted(set(defaults) | set(options)):
        if not var.startswith(prefixes):
            allowed = " or ".join(f"'{p}'" for p in prefixes)
            problems.append(f"{name}: {var} does not start with {allowed}")
    return problems


def main() -> int:
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    problems = [p for role in roles for p in check_role(role)]
    for problem in problems:
        print(problem)
    print(f"check_specs: {len(roles)} roles, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
