"""playbooks/connection_info.yml (the end of site.yml) for a server that is not
the local container: the client settings beside the inventory name the
server's URL, the first user, that user's password (the inventory's, else the
generated file's) and, with a self-signed certificate, the copy clients trust
(MLFLOW_TRACKING_SERVER_CERT_PATH); never an insecure flag. Run on the
controller only: the play touches no host."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, _ansible_playbook, _env


def _settings(path: Path) -> dict[str, str]:
    return dict(shlex.split(line)[0].split("=", 1) for line in path.read_text().splitlines() if line.strip())


def _run(tmp_path: Path, host_vars: dict, *extra: str):
    inventory = tmp_path / "inv"
    (inventory / "credentials").mkdir(parents=True, exist_ok=True)
    (inventory / "credentials" / "vm1-alice").write_text("gen'd \"pass\" $x\n")
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"mlflow_target": "none"},
        "children": {"mlflow_servers": {"hosts": {"vm1": host_vars}}}}}))
    result = _ansible_playbook(["-i", str(inventory), str(ROOT / "playbooks" / "connection_info.yml"), *extra],
                               tmp_path, _env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    return inventory / "mlflow.env", result.stdout


@pytest.mark.parametrize(
    ("tls_mode", "port", "url", "cert"),
    [
        ("self_signed", 443, "https://mlflow.example.com", True),
        ("acme", 8443, "https://mlflow.example.com:8443", False),
        ("off", 443, "http://mlflow.example.com", False),
    ],
)
def test_client_settings_of_a_vm(tmp_path, tls_mode, port, url, cert):
    env_file, output = _run(tmp_path, {
        "nginx_proxy_tls_mode": tls_mode, "nginx_proxy_https_port": port,
        "nginx_proxy_server_names": ["mlflow.example.com", "other.example.com"],
        # What inventories/example writes: no vault value, so the password is generated.
        "nginx_proxy_users": [{"name": "alice", "password": "{{ vault_alice_password | default(omit) }}"}, {"name": "bob"}],
    })
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    settings = _settings(env_file)
    expected = {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": "alice",
                "MLFLOW_TRACKING_PASSWORD": "gen'd \"pass\" $x"}
    if cert:
        expected["MLFLOW_TRACKING_SERVER_CERT_PATH"] = str(tmp_path / "inv" / "credentials" / "vm1.crt")
    assert settings == expected
    assert "INSECURE" not in env_file.read_text()
    assert "gen'd" not in output  # the password itself is never printed


def test_the_inventorys_password_wins(tmp_path):
    env_file, output = _run(tmp_path, {
        "nginx_proxy_tls_mode": "self_signed", "nginx_proxy_server_names": ["mlflow.example.com"],
        "nginx_proxy_users": [{"name": "alice", "password": "{{ vault_alice_password | default(omit) }}"}],
    }, "-e", "vault_alice_password=from-the-vault-1234")
    assert _settings(env_file)["MLFLOW_TRACKING_PASSWORD"] == "from-the-vault-1234"
    assert "from-the-vault-1234" not in output


def test_mlflow_auth_writes_the_admins_settings(tmp_path):
    """server_auth mlflow: the same block names the admin and writes its settings to mlflow-admin.env (0600)."""
    env_file, output = _run(tmp_path, {
        "nginx_proxy_tls_mode": "self_signed", "nginx_proxy_server_names": ["mlflow.example.com"],
        "nginx_proxy_users": [{"name": "alice"}],
        "server_auth": "mlflow", "server_auth_admin_username": "root-of-mlflow",
        "server_auth_admin_password": "{{ vault_admin_password }}",
    }, "-e", "vault_admin_password=admin-from-the-vault-1234")
    admin_file = env_file.parent / "mlflow-admin.env"
    assert oct(admin_file.stat().st_mode & 0o777) == "0o600"
    assert _settings(admin_file) == {
        "MLFLOW_TRACKING_URI": "https://mlflow.example.com", "MLFLOW_TRACKING_USERNAME": "root-of-mlflow",
        "MLFLOW_TRACKING_PASSWORD": "admin-from-the-vault-1234",
        "MLFLOW_TRACKING_SERVER_CERT_PATH": str(tmp_path / "inv" / "credentials" / "vm1.crt")}
    assert _settings(env_file)["MLFLOW_TRACKING_USERNAME"] == "alice"
    output = " ".join(output.split())  # the callback wraps long lines
    assert "the MLflow admin, who manages users and grants, is root-of-mlflow" in output
    assert f"set -a; . {admin_file}; set +a" in output
    assert "server_auth_admin_password" in output  # the inventory's password: named, not printed
    assert "admin-from-the-vault-1234" not in output and "gen'd" not in output


def test_htpasswd_mode_removes_the_admins_settings(tmp_path):
    stale = tmp_path / "inv" / "mlflow-admin.env"
    stale.parent.mkdir(parents=True)
    stale.write_text("MLFLOW_TRACKING_USERNAME=admin\n")
    env_file, output = _run(tmp_path, {"nginx_proxy_users": [{"name": "alice"}]})
    assert env_file.exists() and not stale.exists()
    assert "the MLflow admin," not in output


def test_a_generated_admin_password_is_named_by_its_file(tmp_path):
    (tmp_path / "inv" / "credentials").mkdir(parents=True)
    (tmp_path / "inv" / "credentials" / "vm1-admin").write_text("generated-admin-password-1234\n")
    env_file, output = _run(tmp_path, {
        "nginx_proxy_users": [{"name": "alice"}], "server_auth": "mlflow",
        # What inventories/local does: the password lookup of the file beside the others.
        "server_auth_admin_password": "{{ lookup('ansible.builtin.file', inventory_dir ~ '/credentials/vm1-admin') }}",
    })
    assert _settings(env_file.parent / "mlflow-admin.env")["MLFLOW_TRACKING_PASSWORD"] == "generated-admin-password-1234"
    assert "admin password: " + str(tmp_path / "inv" / "credentials" / "vm1-admin") in " ".join(output.split())
    assert "generated-admin-password-1234" not in output
