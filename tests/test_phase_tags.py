"""Every phase tag of every role (<role>_install, <role>_configure, ...) runs
alone: it selects the role's preflight too, which checks the input and loads
what the other phases read (OS-family vars, resolved ports).

What this proves, without a container:
- `ansible-playbook --list-tasks --tags <tag>` selects every task of the
  role's preflight.yml for each phase tag found in tasks/main.yml (static:
  what the tags select, not that the tasks then succeed; the listings are
  made in one process by tests/list_tasks.py, one of them compared with
  ansible-playbook's own);
- two phases really run alone (check mode, connection local, as root on this
  controller; nothing is changed): db_client_configure, which reads the port
  and the URI that preflight used to set as facts, and python_configure.
What it does not prove: that every phase of the roles that need a target
machine (nginx_proxy, server, db_server, service) succeeds alone on one;
the Molecule scenarios run the whole roles."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
    )


def _leaf_names(tasks: list) -> list[str]:
    names = []
    for task in tasks or []:
        if "block" in task:
            names += _leaf_names(task["block"]) + _leaf_names(task.get("rescue")) + _leaf_names(task.get("always"))
        else:
            names.append(task["name"])
    return names


def _tags_in(node) -> set[str]:
    """Every tag anywhere in a task file's tasks, blocks and their children."""
    if isinstance(node, list):
        return set().union(*(_tags_in(item) for item in node)) if node else set()
    if isinstance(node, dict):
        own = node.get("tags", [])
        found = {own} if isinstance(own, str) else set(own)
        return found.union(*(_tags_in(value) for key, value in node.items() if key != "tags"))
    return set()


def _phase_tags(role: str) -> list[str]:
    """The role's tags, from main.yml and every task file it imports (a sub-tag
    such as nginx_proxy_tls must run alone too)."""
    tags: set[str] = set()
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        tags |= _tags_in(yaml.safe_load(path.read_text()))
    return sorted(t for t in tags if t.startswith(f"{role}_") and t != f"{role}_preflight")


CASES = [(role, tag) for role in ROLES for tag in _phase_tags(role)]


def test_every_role_has_phase_tags():
    assert {role for role, _ in CASES} == set(ROLES)


@pytest.fixture(scope="module")
def listings(tmp_path_factory):
    """{(role, tag): (rc, output)} of `ansible-playbook --list-tasks --tags <tag>` on a play of the role, for
    every case, all made in one process (tests/list_tasks.py: the same CLI without a Python start and an
    import of Ansible per case, 36 of them)."""
    tmp = tmp_path_factory.mktemp("phase-tags")
    plays = {}
    for role in ROLES:
        plays[role] = tmp / f"{role}.json"
        plays[role].write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "roles": [f"mlops.mlflow.{role}"]}]))
    jobs = [[str(plays[role]), tag] for role, tag in CASES]
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "list_tasks.py")], input=json.dumps(jobs),
                            cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    return {(role, tag): (found[f"{plays[role]} {tag}"]["rc"], found[f"{plays[role]} {tag}"]["stdout"])
            for role, tag in CASES}, plays


def test_one_process_lists_what_ansible_playbook_lists(listings, tmp_path):
    """The listings made in one process are ansible-playbook's own: one case compared byte for byte."""
    found, plays = listings
    role, tag = CASES[0]
    alone = subprocess.run(
        [str(BIN / "ansible-playbook"), "--list-tasks", "--tags", tag, str(plays[role])],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )
    assert (alone.returncode, alone.stdout) == found[(role, tag)]


@pytest.mark.parametrize("role", ROLES)
def test_each_phase_tag_selects_the_preflight(role, listings):
    found, _ = listings
    preflight = _leaf_names(yaml.safe_load((ROOT / "roles" / role / "tasks" / "preflight.yml").read_text()))
    assert preflight
    for tag in _phase_tags(role):
        rc, output = found[(role, tag)]
        assert rc == 0, output
        listed = re.findall(rf"^\s+mlops\.mlflow\.{role} : (.*?)\tTAGS:", output, re.MULTILINE)
        missing = [name for name in preflight if not any(line.startswith(name.split("{{")[0].strip()) for line in listed)]
        assert not missing, f"--tags {tag} leaves out preflight tasks {missing}:\n{output}"


def _run_alone(tmp_path: Path, role: str, tag: str, variables: dict) -> subprocess.CompletedProcess:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"target": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{"hosts": "target", "gather_facts": False, "roles": [f"mlops.mlflow.{role}"]}]))
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "--check", "--diff", "--tags", tag, "-i", str(inventory), "-e", f"@{extra}", str(play)],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the check-mode runs read root-only paths")
def test_db_client_configure_runs_alone(tmp_path):
    result = _run_alone(tmp_path, "db_client", "db_client_configure", {
        "db_client_engine": "postgresql", "db_client_password": "not-a-real-one", "db_client_host": "127.0.0.1",
        "db_client_backup_dir": str(tmp_path / "dumps"),
    })
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Check db_client_password" in out  # preflight ran
    assert "Install the dump and restore scripts" in out  # the phase ran
    assert "Wait for the port" not in out  # and not the database phase
    assert "not-a-real-one" not in out
    # The script of the remote mode, with the port that preflight used to set as a fact.
    assert "--port=5432" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="the check-mode runs read root-only paths")
def test_python_configure_runs_alone(tmp_path):
    result = _run_alone(tmp_path, "python", "python_configure", {"python_pip_config_file": str(tmp_path / "pip.conf")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Load the variables of this OS family" in result.stdout
    assert "Write the CA bundle and the configuration of pip and uv" in result.stdout
    assert "Install Python 3 with venv and pip" not in result.stdout
    assert not (tmp_path / "pip.conf").exists()
