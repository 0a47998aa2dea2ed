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
    ],
)
def test_bad_input_fails_in_preflight(run_role, variables, expected):
    result = run_role("python", variables, facts=DEBIAN_FACTS)
    assert result.rc != 0, result.output
    assert expected in result.output, result.output
    # Nothing past preflight ran.
    assert "Install Python 3 with venv and pip" not in result.output


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
