"""Bad input to mlops.mlflow.python fails in preflight, naming the variable."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"python_pip_index_url": "ftp://mirror.invalid/simple"}, "python_pip_index_url must be empty or an https://"),
        ({"python_pip_index_url": "pypi.internal/simple"}, "got 'pypi.internal/simple'"),
        ({"python_pip_ca_bundle": "/nonexistent/ca.pem"}, "python_pip_ca_bundle must be the path of a PEM file"),
        ({"python_min_version": "3.8"}, "python_min_version must be 3.10 or newer"),
        ({"python_pip_timeout": "soon"}, "python_pip_timeout"),
        # A URL with credentials is shown masked.
        ({"python_pip_index_url": "ftp://bob:idx-secret-51d2@mirror.invalid/simple"},
         "got 'ftp://****@mirror.invalid/simple'"),
    ],
)
def test_bad_input_fails_in_preflight(run_role, variables, expected):
    result = run_role("python", variables, facts=DEBIAN_FACTS)
    assert result.rc != 0, result.output
    assert expected in result.output, result.output
    # Nothing past preflight ran.
    assert "Install Python 3 with venv and pip" not in result.output
    assert "idx-secret-51d2" not in result.output


def test_unsupported_os_family_fails_in_preflight(run_role):
    facts = dict(DEBIAN_FACTS, os_family="Plan9", distribution="Plan9")
    result = run_role("python", {}, facts=facts)
    assert result.rc != 0, result.output
    assert "ansible_facts['os_family']=Plan9" in result.output, result.output
    assert "supports the OS families Debian" in result.output


def test_good_input_passes_preflight(run_role):
    result = run_role("python", {"python_pip_index_url": "https://pypi.internal/simple"}, facts=DEBIAN_FACTS)
    # The preflight only (run_role): it passed.
    assert result.rc == 0, result.output


def test_too_old_python_fails_in_preflight(run_role):
    facts = dict(DEBIAN_FACTS, python={"executable": "/usr/bin/python3",
                                       "version": {"major": 3, "minor": 9, "micro": 2}})
    result = run_role("python", {}, facts=facts)
    assert result.rc != 0, result.output
    assert "python_executable=/usr/bin/python3 is Python 3.9.2" in result.output, result.output
    assert "python_min_version=3.10" in result.output
    assert "Install Python 3 with venv and pip" not in result.output


def test_index_credentials_never_shown(run_role, monkeypatch):
    """An index URL with credentials reaches neither the output (-v --diff)
    nor an environment variable of a command: uv gets a config file."""
    monkeypatch.setenv("ANSIBLE_DIFF_ALWAYS", "1")
    monkeypatch.setenv("ANSIBLE_VERBOSITY", "1")
    secret = "idx-secret-7e4b"
    result = run_role("python", {"python_pip_index_url": f"https://bob:{secret}@pypi.internal/simple"},
                      facts=DEBIAN_FACTS, whole=True)
    # The task that writes pip.conf and uv.toml (which hold the URL) ran.
    assert "Write the CA bundle and the configuration of pip and uv" in result.output, result.output
    assert secret not in result.output, result.output
    assert "UV_INDEX_URL" not in result.output


def test_uv_environment_points_at_the_config_file_not_the_url(tmp_path):
    """python_uv_environment, the role's result that the server role runs uv
    with, names the 0600 config file and never holds the index URL."""
    secret = "idx-secret-9a1c"
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"python_pip_index_url": f"https://bob:{secret}@pypi.internal/simple"},
        "roles": [{"role": "mlops.mlflow.python", "tags": ["python"]}],
        "tasks": [{"name": "Show", "ansible.builtin.copy": {
            "dest": str(tmp_path / "env.json"), "mode": "0600", "content": "{{ python_uv_environment | to_json }}"},
            "tags": ["show"]}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--tags", "show", str(play)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    uv_env = json.loads((tmp_path / "env.json").read_text())
    assert uv_env["UV_CONFIG_FILE"] == "/etc/mlops-mlflow/uv.toml"
    assert secret not in json.dumps(uv_env) and "UV_INDEX_URL" not in uv_env
