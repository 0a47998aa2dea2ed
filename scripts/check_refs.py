#!/usr/bin/env python3
"""Repository files cite no file that does not exist in the repository.

Looks in every file git tracks (text only) for paths into the repository's
own folders (roles/..., docs/..., playbooks/..., tests/..., scripts/...,
inventories/..., molecule/..., ...) and for the relative targets of Markdown
links, and reports each one that names no file or folder of the checkout.
Paths with placeholders (<name>, {{ var }}, *, $VAR), generated ones
(build/, .venv/, .collections/), the user's copy of an inventory that the
docs tell them to make (inventories/mine) and Google IAM role names
(roles/storage.admin) are not checked; a path that exists in some role
(meta/argument_specs.yml) counts as that role-relative path.

Exit 1 when something dangles; prints file:line: path for each."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top-level folders whose paths are checked wherever they are cited.
FOLDERS = ("roles", "docs", "playbooks", "inventories", "scripts", "tests", "molecule", "benchmarks",
           "changelogs", "plugins", "meta", ".config", ".ci")
PATH = re.compile(r"(?<![\w./~-])(?:\.\./)*(?:" + "|".join(re.escape(f) for f in FOLDERS) + r")/[A-Za-z0-9_.@/-]*[A-Za-z0-9_/-]")
# Bare names of top-level documents: README.md, QUALITY.md, TESTBED.md ...
DOC = re.compile(r"(?<![\w./-])([A-Z][A-Z0-9_-]*\.md)\b")
# Known dangling references (none now); anything new fails.
KNOWN: set[tuple[str, str]] = set()
# Markdown links to relative targets: [text](target) or [text](target#anchor).
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(?:#[^)]*)?\)")
SKIP_FILES = re.compile(r"(^|/)(changelog\.yaml)$|\.(png|jpg|gz|whl)$")
# Paths the docs tell users to make: the copy of an example inventory.
USER_MADE = ("inventories/mine",)
# Google Cloud IAM roles (roles/storage.admin, roles/viewer ...) are not paths.
IAM_ROLE = re.compile(r"^roles/([a-z]+\.[A-Za-z0-9.]+|owner|viewer|editor)$")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def _exists(target: Path) -> bool:
    try:
        return target.resolve().exists()
    except OSError:
        return False


def check(files: list[str] | None = None, root: Path = ROOT) -> list[str]:
    problems = []
    for rel in files if files is not None else _tracked():
        if SKIP_FILES.search(rel) or rel == "scripts/check_refs.py":  # (its own table of known ones)
            continue
        path = root / rel
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            cited = []
            for match in PATH.finditer(line):
                rest = line[match.end():match.end() + 3]
                if rest[:1] in ("*", "<", "{", "$") or rest[:2] == "{{":
                    continue  # a pattern or a placeholder follows
                cited.append((match.group(0), None))
            if rel.endswith(".md"):
                cited += [(m.group(1), path.parent) for m in LINK.finditer(line)]
            cited += [(m.group(1), None) for m in DOC.finditer(line)]
            for target, base in cited:
                clean = target.rstrip("./")
                if not clean or any(c in clean for c in "<>{}$*") or IAM_ROLE.match(clean):
                    continue
                if clean.startswith(USER_MADE):
                    continue
                if base is None:
                    # Relative to the repository root, or (../..) to the citing file.
                    candidates = [root / clean.removeprefix("./")] if not clean.startswith("../") else []
                    candidates.append(path.parent / clean)
                else:
                    candidates = [base / clean]
                # A path relative to a role (meta/argument_specs.yml: every role's).
                candidates += list((root / "roles").glob(f"*/{clean}")) if base is None else []
                if not any(_exists(c) for c in candidates) and (rel, target) not in KNOWN:
                    problems.append(f"{rel}:{number}: {target}")
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(problem)
    print(f"check_refs: {len(problems)} dangling file references")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
