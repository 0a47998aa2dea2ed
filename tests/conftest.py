"""Shared helpers: run a role of this collection against a throw-away local
host in check mode, so that preflight checks can be tested without a target.

Facts can be handed in (a fake OS family, say) through the test-only module
tests/library/fake_facts.py; without them the host's real facts are gathered. Preflight runs before any
change, and --check keeps a role that got past it from changing anything."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class PlaybookResult:
    rc: int
    output: str


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_LIBRARY=str(ROOT / "tests" / "library"),
    )
    return env


@pytest.fixture
def run_role(tmp_path: Path):
    """run_role(role, variables, facts=None) -> PlaybookResult"""

    def _run(role: str, variables: dict, facts: dict | None = None) -> PlaybookResult:
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(
            json.dumps(
                {
                    "all": {
                        "hosts": {
                            "target": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable,
                            }
                        }
                    }
                }
            )
        )
        playbook = tmp_path / "play.yml"
        playbook.write_text(
            json.dumps(
                [
                    {
                        "name": f"Apply {role}",
                        "hosts": "target",
                        "gather_facts": facts is None,
                        "pre_tasks": [{"name": "Fake facts", "fake_facts": {"facts": facts}}] if facts else [],
                        "roles": [{"role": f"mlops.mlflow.{role}"}],
                    }
                ]
            )
        )
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps(variables))
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "--check",
                "-i",
                str(inventory),
                "-e",
                f"@{extra}",
                str(playbook),
            ],
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return PlaybookResult(proc.returncode, proc.stdout + proc.stderr)

    return _run


@pytest.fixture
def refused():
    """refused(result, expected, not_shown=()) -> None: the run failed, its output
    holds every text of `expected` and none of `not_shown` (task names of what
    must not have run, secrets that must not be echoed)."""

    def _check(result: PlaybookResult, expected, not_shown=()) -> None:
        assert result.rc != 0, result.output
        for text in expected:
            assert text in result.output, result.output
        for text in not_shown:
            assert text not in result.output, f"{text!r} in the output:\n{result.output}"

    return _check
