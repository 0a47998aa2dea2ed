"""The collection as others install it: built with ansible-galaxy, installed
into a folder outside the checkout, used by playbooks that are not part of
this repository, with no ansible.cfg of ours and a clean HOME (so that a copy
of the collection that ansible-lint leaves in ~/.ansible/collections cannot
stand in for the installed one). Nothing here needs a container:

- `--syntax-check` of `mlops.mlflow.site` and of a user's playbook that
  reuses server, nginx_proxy, service and db_client by FQCN;
- real runs (connection local, check mode): `mlops.mlflow.site` with
  mlflow_target=none against an inventory whose groups are empty, and the
  installed roles' preflights refusing bad input with their fail_msg.

It also runs the checkout's root site.yml (the mission's
`ansible-playbook site.yml`) the same way. A deployment from the installed
collection onto a machine is the Molecule scenario existing_vm: its
dependency step builds and installs the collection, and its converge runs
`mlops.mlflow.site` from there over SSH."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _clean_env(home: Path, collections: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(home), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return env


def _run(tool: str, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(user's directory, environment): the collection built and installed there, nothing else of the repo."""
    base = tmp_path_factory.mktemp("installed")
    home, build, user = base / "home", base / "build", base / "project"
    for path in (home, build, user):
        path.mkdir()
    env = _clean_env(home, base / "collections")
    built = _run("ansible-galaxy", ["collection", "build", "--output-path", str(build), str(ROOT)], base, env)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next(build.glob("mlops-mlflow-*.tar.gz"))
    names = tarfile.open(tarball).getnames()
    assert "playbooks/site.yml" in names and "site.yml" not in names
    done = _run("ansible-galaxy", ["collection", "install", "--offline", "-p", str(base / "collections"), str(tarball)],
                base, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (base / "collections" / "ansible_collections" / "mlops" / "mlflow" / "roles" / "server").is_dir()
    assert not (home / ".ansible" / "collections" / "ansible_collections" / "mlops").exists()
    (user / "hosts.yml").write_text(json.dumps({"all": {
        "hosts": {"target": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        "children": {"mlflow_servers": {"hosts": {}}, "db_servers": {"hosts": {}}}}}))
    return user, env


# A playbook of a user's own project: the roles by FQCN, nothing of this repository.
USER_PLAYBOOK = [
    {
        "name": "A tracking server behind nginx",
        "hosts": "mlflow_servers",
        "become": True,
        "roles": [
            {"role": "mlops.mlflow.db_client"},
            {"role": "mlops.mlflow.server"},
            {"role": "mlops.mlflow.nginx_proxy", "vars": {"nginx_proxy_server_names": ["mlflow.example.com"]}},
        ],
    },
    {
        "name": "An unrelated daemon under the service role",
        "hosts": "target",
        "become": True,
        "roles": [{"role": "mlops.mlflow.service", "vars": {
            "service_name": "hello", "service_command": ["/usr/bin/python3", "-m", "http.server", "8099"]}}],
    },
]


def test_syntax_of_the_installed_site_and_of_a_users_playbook(installed):
    user, env = installed
    (user / "play.yml").write_text(json.dumps(USER_PLAYBOOK))
    for playbook in ("mlops.mlflow.site", "play.yml"):
        result = _run("ansible-playbook", ["-i", "hosts.yml", "--syntax-check", playbook], user, env)
        assert result.returncode == 0, f"{playbook}:\n{result.stdout}{result.stderr}"


def test_installed_site_runs_with_target_none_against_empty_groups(installed):
    user, env = installed
    result = _run("ansible-playbook", ["-i", "hosts.yml", "mlops.mlflow.site", "-e", "mlflow_target=none"], user, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configure the MLflow servers" in result.stdout
    assert "skipping: no hosts matched" in result.stdout


@pytest.mark.parametrize(
    ("role", "variables", "message"),
    [
        ("nginx_proxy", {"nginx_proxy_server_names": ["not a name"]},
         'nginx_proxy_server_names must be a non-empty list of host names'),
        ("service", {"service_name": "hello", "service_command": ["python3", "-m", "http.server"]},
         'service_command must be a non-empty argument list whose first item is an absolute path; got ["python3", "-m", "http.server"]'),
    ],
)
def test_installed_roles_refuse_bad_input_in_preflight(installed, role, variables, message):
    user, env = installed
    play = user / f"bad_{role}.yml"
    play.write_text(json.dumps([{"hosts": "target", "gather_facts": False,
                                 "roles": [{"role": f"mlops.mlflow.{role}", "vars": variables}]}]))
    result = _run("ansible-playbook", ["-i", "hosts.yml", "--check", play.name], user, env)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout + result.stderr


def test_root_site_yml_of_the_checkout(tmp_path):
    """`ansible-playbook site.yml` from the repository root, with the checkout's ansible.cfg."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"mlflow_servers": {"hosts": {}}, "db_servers": {"hosts": {}}}}}))
    env = dict(_clean_env(tmp_path, ROOT / ".collections"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    syntax = _run("ansible-playbook", ["--syntax-check", "site.yml"], ROOT, env)
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    result = _run("ansible-playbook", ["-i", str(inventory), "site.yml", "-e", "mlflow_target=none"], ROOT, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configure the MLflow servers" in result.stdout
