"""Bad input to mlops.mlflow.python fails in preflight, naming the variable."""
import pytest

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
    # Past preflight, check mode reaches the install tasks.
    assert "Install Python 3 with venv and pip" in result.output, result.output


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
                      facts=DEBIAN_FACTS)
    assert "Set pip's package index" in result.output, result.output
    assert "Write uv's configuration (the package index)" in result.output, result.output
    assert secret not in result.output, result.output
    assert "UV_INDEX_URL" not in result.output
    assert "UV_CONFIG_FILE: /etc/mlops-mlflow/uv.toml" in result.output, result.output
