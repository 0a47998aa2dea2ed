#!/usr/bin/env python3
"""Writes, from each role's meta/argument_specs.yml (the one source of every
variable's description):
- the variables table of the role's README, between the markers
  <!-- BEGIN VARIABLES --> and <!-- END VARIABLES -->;
- the comment above each variable in defaults/main.yml (the comment lines
  right above it; a file header stays when a blank line separates it).

    scripts/role_docs.py          rewrite the tables and the comments
    scripts/role_docs.py --check  exit 1 when one is out of date
"""
from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN VARIABLES -->", "<!-- END VARIABLES -->"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(spec_file: Path) -> str:
    options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options") or {}
    rows = ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for name, opt in options.items():
        kind = opt.get("type", "str")
        if kind == "list" and opt.get("elements"):
            kind = f"list of {opt['elements']}"
        if opt.get("choices"):
            kind += " (" + ", ".join(str(c) for c in opt["choices"]) + ")"
        if opt.get("required"):
            default = "**required**"
        elif "default" in opt:
            default = "`" + json.dumps(opt["default"]) + "`"
        else:
            default = ""
        desc = opt.get("description", "")
        if isinstance(desc, list):
            desc = " ".join(desc)
        rows.append(f"| `{name}` | {_cell(kind)} | {_cell(default)} | {_cell(desc)} |")
    return "\n".join(rows)


def _description(opt: dict) -> str:
    desc = opt.get("description", "")
    if isinstance(desc, list):
        desc = " ".join(desc)
    return re.sub(r"\b[CIV]\(([^)]*)\)", r"\1", " ".join(str(desc).split()))


def defaults_with_comments(defaults: Path, spec_file: Path) -> str:
    """defaults/main.yml with the comment block above each variable replaced
    by its description from the spec, wrapped at 118 columns."""
    options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options") or {}
    lines = defaults.read_text().splitlines()
    out: list[str] = []
    for line in lines:
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if match and match.group(1) in options:
            while out and out[-1].startswith("#"):
                out.pop()
            out += ["# " + part for part in textwrap.wrap(_description(options[match.group(1)]), 116)]
        out.append(line)
    return "\n".join(out) + "\n"


def render(readme: Path, spec_file: Path) -> str:
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme}: markers {BEGIN} / {END} are missing")
    return pattern.sub(lambda _: f"{BEGIN}\n{table(spec_file)}\n{END}", text)


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for role in sorted((ROOT / "roles").iterdir()):
        readme, spec = role / "README.md", role / "meta" / "argument_specs.yml"
        if not spec.exists():
            continue
        if not readme.exists():
            stale.append(f"{readme.relative_to(ROOT)} is missing")
            continue
        new = render(readme, spec)
        if new != readme.read_text():
            if check:
                stale.append(f"{readme.relative_to(ROOT)}: variables table is out of date (run scripts/role_docs.py)")
            else:
                readme.write_text(new)
        defaults = role / "defaults" / "main.yml"
        if defaults.exists():
            new = defaults_with_comments(defaults, spec)
            if new != defaults.read_text():
                if check:
                    stale.append(f"{defaults.relative_to(ROOT)}: a comment differs from the spec's description "
                                 "(the spec is the source: run scripts/role_docs.py)")
                else:
                    defaults.write_text(new)
    for line in stale:
        print(line)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
