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
    (inventory / "credentials").mkdir(parents=True)
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
