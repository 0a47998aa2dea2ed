"""Bad input to mlops.mlflow.server and mlops.mlflow.service fails in
preflight (or in the argument spec), naming the variable, the value and what
is allowed, before anything on the host changes; a password in the backend
URI is never echoed."""
from pathlib import Path

import pytest

DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "service_mgr": "systemd",
}
SECRET = "pw-never-shown-7f3a"
# MLflow's public development default (mlflow/utils/crypto.py DEFAULT_KEK_PASSPHRASE).
KEK_DEFAULT = "mlflow-default-kek-passphrase-for-development-only"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"server_mlflow_version": "2.22.0"}, ["server_mlflow_version must be a release X.Y.Z at or above", "'2.22.0'"]),
        (
            {"server_mlflow_version": "3.16.1"},
            ["at or above 3.17.0", "got '3.16.1', affected by CVE-2026-116690, CVE-2026-115886, GHSA-26p8-2jq9-3vq9",
             "server_mlflow_allow_vulnerable_version=true accepts it"],
        ),
        ({"server_mlflow_version": "3.9.0"}, ["got '3.9.0', affected by CVE-2026-8147"]),
        ({"server_mlflow_version": "latest"}, ["server_mlflow_version must be a release", "'latest'"]),
        (
            {"server_backend_store_uri": f"oracle://mlflow:{SECRET}@db/mlflow"},
            ["server_backend_store_uri must be a SQLAlchemy URI", "oracle://mlflow:****@db/mlflow"],
        ),
        ({"server_backend_store_uri": "sqlite:relative.db"}, ["server_backend_store_uri must be", "sqlite:relative.db"]),
        ({"server_artifacts_destination": ""}, ["server_artifacts_destination must be an absolute directory", "got ''"]),
        (
            {"server_artifacts_destination": "relative/artifacts"},
            ["server_artifacts_destination must be", "'relative/artifacts'"],
        ),
        ({"server_artifacts_destination": "s3://Bad_Bucket"}, ["server_artifacts_destination must be", "s3://Bad_Bucket"]),
        ({"server_host": "0.0.0.0"}, ["server_host must be a loopback address", "got '0.0.0.0'"]),
        (
            {"server_data_dir": "/srv/../etc", "server_backup_dir": "/"},
            ["must be a directory of its own, not a system directory",
             "server_data_dir='/srv/../etc', server_artifacts_destination='/srv/../etc/artifacts', server_backup_dir='/'"],
        ),
        ({"server_venv": "/usr"}, ["not a system directory", "got server_venv='/usr'."]),
        ({"server_port": 70000}, ["server_port must be 1-65535 (got 70000)"]),
        ({"server_workers": 0}, ["server_workers at least 1 (got 0)"]),
        ({"server_public_names": ["mlflow example.com"]}, ["server_public_names entries must be host names", "'mlflow example.com'"]),
        ({"server_pre_upgrade_command": ["dump.sh"]}, ["server_pre_upgrade_command must be empty or", '["dump.sh"]']),
        ({"server_service_manager": "supervisord"}, ["server_service_manager", "supervisord", "systemd, tmux"]),
        ({"server_installer": "conda"}, ["server_installer", "conda", "uv, pip"]),
        ({"server_socket": "/tmp/mlflow.sock"}, ["server_socket must be empty (TCP) or a socket path", "got server_socket='/tmp/mlflow.sock'"]),
        ({"server_socket": "/run/mlflow.sock"}, ["in a directory of its own under /run", "got server_socket='/run/mlflow.sock'"]),
        (
            {"server_socket": "/run/mlflow/mlflow.sock", "server_service_manager": "tmux"},
            ["with server_service_manager=systemd", "server_service_manager=tmux"],
        ),
        (
            {"server_socket": "/run/mlflow/mlflow.sock", "server_job_execution": True},
            ["server_job_execution=false", "server_job_execution=True"],
        ),
        (
            {"server_ai_gateway": True},
            ["server_ai_gateway=true needs server_crypto_kek_passphrase", "at least 16 characters", "got an empty value"],
        ),
        (
            {"server_ai_gateway": True, "server_crypto_kek_passphrase": KEK_DEFAULT},
            ["server_ai_gateway=true needs server_crypto_kek_passphrase", "got that default"],
        ),
    ],
)
def test_server_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("server", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Create the user", SECRET])


def test_server_old_version_needs_the_escape_and_warns(run_role):
    result = run_role("server", {"server_mlflow_version": "3.13.0", "server_mlflow_allow_vulnerable_version": True},
                      facts=DEBIAN_FACTS)
    # (run_role runs the preflight only: rc 0 is "preflight passed")
    assert result.rc == 0, result.output
    assert "WARNING: server_mlflow_allow_vulnerable_version=true installs MLflow 3.13.0" in result.output
    # 3.13.0 predates the file read (3.10.0-3.16.1) too.
    assert "affected by CVE-2026-116690, CVE-2026-115886, GHSA-26p8-2jq9-3vq9." in result.output


def test_advisories_are_documented():
    """The floor and its advisories live in roles/server/vars/main.yml; the
    docs that repeat them name every advisory and the floor."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    advisories = yaml.safe_load((root / "roles/server/vars/main.yml").read_text())["__server_mlflow_advisories"]
    floor = max((a["fixed"] for a in advisories), key=lambda v: tuple(int(p) for p in v.split(".")))
    assert floor == "3.17.0"
    for doc in ("docs/security.md", "roles/server/README.md"):
        text = (root / doc).read_text()
        assert f"floor ({floor})" in text or f"floor is {floor}" in text, doc
        for advisory in advisories:
            for ident in advisory["id"].split(" / "):
                assert ident in text, f"{ident} missing in {doc}"


def test_server_short_kek_passphrase_is_refused_unshown(run_role, refused):
    short = "kek-7f3a-short"
    result = run_role("server", {"server_ai_gateway": True, "server_crypto_kek_passphrase": short},
                      facts=DEBIAN_FACTS)
    refused(result, ["server_ai_gateway=true needs server_crypto_kek_passphrase", "got a shorter one"],
            not_shown=["Create the user", short])


def test_server_gateway_with_a_good_passphrase_passes(run_role):
    result = run_role("server", {"server_ai_gateway": True, "server_crypto_kek_passphrase": SECRET},
                      facts=DEBIAN_FACTS)
    assert result.rc == 0, result.output
    assert SECRET not in result.output


def _run_fleet(tmp_path: Path, hosts: dict, play_vars: dict) -> tuple[int, str]:
    """Preflight of mlops.mlflow.server on several local hosts with their own
    inventory variables (a fleet), in check mode."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {name: dict(base, **v) for name, v in hosts.items()}}}))
    playbook = tmp_path / "fleet_play.yml"
    playbook.write_text(json.dumps([{
        "name": "Preflight of a fleet",
        "hosts": "all",
        "gather_facts": False,
        "vars": play_vars,
        "pre_tasks": [{"name": "Fake facts", "fake_facts": {"facts": DEBIAN_FACTS}}],
        "tasks": [{"name": "Preflight", "ansible.builtin.include_role": {
            "name": "mlops.mlflow.server", "tasks_from": "preflight"}}],
    }]))
    env = dict(__import__("os").environ,
               ANSIBLE_CONFIG=str(root / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(root / ".collections"),
               ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
               ANSIBLE_LIBRARY=str(root / "tests" / "library"))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--check", "-i", str(inventory), str(playbook)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_fleet_with_different_kek_passphrases_is_refused(tmp_path):
    other = "another-passphrase-9c1d"
    rc, output = _run_fleet(tmp_path, {
        "web1": {"server_crypto_kek_passphrase": SECRET},
        "web2": {"server_crypto_kek_passphrase": other},
        "web3": {"server_crypto_kek_passphrase": SECRET},
        # Without the gateway its passphrase does not matter.
        "web4": {"server_ai_gateway": False, "server_crypto_kek_passphrase": "unused-passphrase-0000"},
    }, {"server_ai_gateway": "{{ inventory_hostname != 'web4' }}"})
    assert rc != 0, output
    assert "server_crypto_kek_passphrase must be the same on every host of the play" in output, output
    assert "hold 2 different ones: [web1, web3] [web2]" in output, output
    for secret in (SECRET, other, "unused-passphrase-0000"):
        assert secret not in output


def test_fleet_with_one_kek_passphrase_passes(tmp_path):
    rc, output = _run_fleet(tmp_path, {
        "web1": {"server_crypto_kek_passphrase": SECRET},
        "web2": {"server_crypto_kek_passphrase": SECRET},
    }, {"server_ai_gateway": True})
    assert rc == 0, output
    assert SECRET not in output


# server_env keys that would undo a guarantee, with the hint preflight gives for each.
RESERVED_ENV = {
    "MLFLOW_HOST": "use server_host (loopback only)",
    "MLFLOW_PORT": "use server_port",
    "MLFLOW_WORKERS": "use server_workers",
    "MLFLOW_SERVER_ALLOWED_HOSTS": "use server_public_names",
    "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "use server_cors_allowed_origins",
    "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE": "no variable, MLflow's security middleware stays on",
    "MLFLOW_SERVER_X_FRAME_OPTIONS": "no variable, MLflow's SAMEORIGIN default stays",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "use server_job_execution",
    "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "no variable, it runs user-supplied code in the server process",
    "MLFLOW_ENABLE_REMOTE_ASSISTANT": "no variable, it runs a shell and coding agents on the server",
    "MLFLOW_ENABLE_AI_GATEWAY": "use server_ai_gateway",
    "MLFLOW_CRYPTO_KEK_PASSPHRASE": "use server_crypto_kek_passphrase",
    "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "no variable, MLflow's SSRF guard stays on",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "no variable, MLflow's SSRF guard stays on",
    "MLFLOW_GUNICORN_OPTS": "no variable, gunicorn switches MLflow's security middleware off",
    "MLFLOW_UVICORN_OPTS": "use server_socket (other uvicorn options can bind other addresses",
    "UVICORN_UDS": "no variable, uvicorn's own settings",
    "UVICORN_FORWARDED_ALLOW_IPS": "no variable, uvicorn's own settings",
    "FORWARDED_ALLOW_IPS": "no variable, it decides whose X-Forwarded-For uvicorn believes",
    "MLFLOW_BACKEND_STORE_URI": "use server_backend_store_uri",
    "MLFLOW_REGISTRY_STORE_URI": "use server_registry_store_uri",
    "MLFLOW_ARTIFACTS_DESTINATION": "use server_artifacts_destination",
    "MLFLOW_DEFAULT_ARTIFACT_ROOT": "use server_artifacts_destination",
    "MLFLOW_SERVE_ARTIFACTS": "no variable, artifacts are always proxied",
    "MLFLOW_EXPOSE_PROMETHEUS": "use server_prometheus_dir",
    "MLFLOW_STATIC_PREFIX": "no variable, nginx's locations assume no prefix",
    "MLFLOW_DISABLE_TELEMETRY": "no variable, telemetry stays off",
    "HOME": "use server_data_dir",
}


def test_server_env_cannot_undo_a_guarantee(run_role, refused):
    """Every key of the role's list (and a few uvicorn ones) is refused with its hint."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    reserved = yaml.safe_load((root / "roles/server/vars/main.yml").read_text())["__server_env_reserved"]
    assert set(RESERVED_ENV) - {"UVICORN_UDS", "UVICORN_FORWARDED_ALLOW_IPS"} <= set(reserved)
    hints = dict(reserved, **RESERVED_ENV)
    env = {key: f"{SECRET}-{n}" for n, key in enumerate(hints)}
    env["AWS_DEFAULT_REGION"] = "eu-west-1"  # allowed
    result = run_role("server", {"server_env": env}, facts=DEBIAN_FACTS)
    refused(result, ["server_env must not set"], not_shown=["Create the user", SECRET, "AWS_DEFAULT_REGION"])
    # The message is wrapped (and quotes doubled) by the YAML output callback.
    message = " ".join(result.output.split()).replace("''", "'")
    for key, hint in hints.items():
        assert f"{key}: {hint}" in message, f"{key}: {hint}"


def test_server_env_one_key_is_named_with_its_variable(run_role, refused):
    result = run_role("server", {"server_env": {"MLFLOW_SERVER_ALLOWED_HOSTS": "*", "TZ": "UTC"}},
                      facts=DEBIAN_FACTS)
    refused(result, ["server_env must not set MLFLOW_SERVER_ALLOWED_HOSTS: MLFLOW_SERVER_ALLOWED_HOSTS: "
                     "use server_public_names."], not_shown=["Create the user", "TZ"])


def test_server_good_input_passes_preflight(run_role):
    result = run_role("server", {"server_backend_store_uri": f"postgresql://mlflow:{SECRET}@db:5432/mlflow"},
                      facts=DEBIAN_FACTS)
    # The preflight only (run_role): it passed.
    assert result.rc == 0, result.output
    assert SECRET not in result.output


SERVICE_OK = {"service_name": "demo", "service_command": ["/usr/bin/sleep", "infinity"]}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (dict(SERVICE_OK, service_manager="upstart"), ["service_manager", "upstart", "systemd, tmux"]),
        (dict(SERVICE_OK, service_name="my service"), ["service_name must be a unit/session name", "'my service'"]),
        (dict(SERVICE_OK, service_user_home="/home"), ["not a system directory", "got service_user_home='/home'"]),
        (dict(SERVICE_OK, service_command=["sleep", "1"]), ["service_command must be a non-empty argument list", '["sleep", "1"]']),
        (dict(SERVICE_OK, service_env={"BAD-NAME": "x"}), ["service_env keys must be environment variable names", "'BAD-NAME'"]),
        (dict(SERVICE_OK, service_env={"TOKEN": f"{SECRET}\nINJECTED=1"}), ["service_env[TOKEN] must be a single line"]),
        ({"service_command": ["/usr/bin/true"]}, ["service_name"]),
    ],
)
def test_service_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("service", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=["Write the env file", SECRET])


def test_service_systemd_manager_needs_systemd(run_role):
    result = run_role("service", SERVICE_OK, facts=dict(DEBIAN_FACTS, service_mgr="sysvinit"))
    assert result.rc != 0, result.output
    assert "service_manager=systemd but this host's service manager is 'sysvinit'" in result.output
    assert "use service_manager=tmux" in result.output


def test_schema_marker_does_not_derive_from_the_password(tmp_path):
    """The schema marker (shown by --diff) hashes the version and the store
    URI without its password and query string."""
    import hashlib
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    playbook = tmp_path / "marker.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars_files": [str(root / "roles/server/defaults/main.yml"), str(root / "roles/server/vars/main.yml")],
        "tasks": [{"ansible.builtin.debug": {"msg": "MARKER {{ __server_schema_wanted }} ID {{ __server_backend_store_id }}"}}],
    }]))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e",
         json.dumps({"server_backend_store_uri":
                     f"postgresql+psycopg2://mlflow:{SECRET}%40/x@db:5432/mlflow?sslmode=require"})],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                 ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET not in proc.stdout
    assert "ID postgresql+psycopg2://mlflow@db:5432/mlflow" in proc.stdout, proc.stdout
    expected = hashlib.sha256(b"3.17.2 postgresql+psycopg2://mlflow@db:5432/mlflow").hexdigest()
    assert f"MARKER {expected}" in proc.stdout, proc.stdout
