"""Bad input to mlops.mlflow.tensorboard (and to nginx_proxy's TensorBoard
location) fails in preflight, naming the variable and the value, before
anything is installed; without tensorboard_enabled the role does nothing; the
role's lock pins its default TensorBoard with a hash for every entry.

The role cases run as the hosts of one playbook run (conftest's batches), the
nginx_proxy cases as a second one."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = yaml.safe_load((ROOT / "roles/tensorboard/defaults/main.yml").read_text())
DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "service_mgr": "systemd",
    "all_ipv6_addresses": [],
}
ON = {"tensorboard_enabled": True}
# What runs first after the role's preflight (the python role's preflight changes nothing).
PAST = "Install Python 3 with venv and pip"
FIRST_CHECK = "Check tensorboard_version and its lock"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (dict(ON, tensorboard_version="2.99.0"),
         ["tensorboard_version must be a release X.Y.Z with a lock", "tensorboard-2.99.0.txt' (not a file)"]),
        (dict(ON, tensorboard_version="latest"), ["got tensorboard_version='latest'"]),
        (dict(ON, tensorboard_logdir="logs"), ["tensorboard_logdir must be an absolute directory", "got 'logs'"]),
        (dict(ON, tensorboard_logdir="/etc"), ["tensorboard_logdir must be an absolute directory", "got '/etc'"]),
        (dict(ON, tensorboard_logdir="/home/alice/tb"), ["not under /home, /root or /run/user", "got '/home/alice/tb'"]),
        (dict(ON, tensorboard_venv="/usr"), ["tensorboard_venv and tensorboard_data_dir must be", "tensorboard_venv='/usr'"]),
        (dict(ON, tensorboard_logdir="/var/lib/tensorboard/logs"),
         ["tensorboard_logdir must not be inside tensorboard_data_dir", "tensorboard_logdir='/var/lib/tensorboard/logs'"]),
        (dict(ON, tensorboard_port=5000), ["tensorboard_port must be a port", "got 5000, the same as server_port=5000"]),
        (dict(ON, tensorboard_port=70000), ["tensorboard_port must be a port from 1 to 65535", "got 70000"]),
        (dict(ON, tensorboard_reload_interval=0), ["tensorboard_reload_interval must be at least 1", "tensorboard_reload_interval=0"]),
        (dict(ON, tensorboard_extra_args=["--bind_all"]), ["tensorboard_extra_args must not set --bind_all", '["--bind_all"]']),
        (dict(ON, tensorboard_extra_args=["--samples_per_plugin", "scalars=500", "--host=0.0.0.0"]),
         ["tensorboard_extra_args must not set --host", '"--host=0.0.0.0"']),
        (dict(ON, tensorboard_user="root"), ["tensorboard_user must be a system user name of its own", "got 'root'"]),
        (dict(ON, tensorboard_user="mlflow"), ["not MLflow's mlflow", "got 'mlflow'"]),
        (dict(ON, tensorboard_service_manager="docker"), ["tensorboard_service_manager", "docker"]),
    ],
)
def test_bad_input_fails_in_preflight(run_role, refused, variables, expected):
    result = run_role("tensorboard", variables, facts=DEBIAN_FACTS)
    refused(result, expected, not_shown=[PAST])


def test_good_input_passes_preflight(run_role):
    variables = dict(ON, tensorboard_logdir="/mnt/tensorboard", tensorboard_port=6007,
                     tensorboard_extra_args=["--samples_per_plugin", "scalars=5000"])
    result = run_role("tensorboard", variables, facts=DEBIAN_FACTS)
    # The preflight only (run_role): it passed.
    assert result.rc == 0, result.output


def test_without_tensorboard_enabled_the_role_does_nothing(run_role):
    # Bad values that preflight would refuse: the role ends before it.
    result = run_role("tensorboard", {"tensorboard_logdir": "/etc", "tensorboard_port": 5000}, facts=DEBIAN_FACTS)
    assert result.rc == 0, result.output
    assert FIRST_CHECK not in result.output and PAST not in result.output, result.output


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"nginx_proxy_tensorboard_upstream": "127.0.0.1:6006"},
         ["nginx_proxy_tensorboard_upstream must be empty (no /tensorboard/ location) or look like http://HOST:PORT",
          "got '127.0.0.1:6006'"]),
        ({"nginx_proxy_tensorboard_upstream": "http://127.0.0.1:6006/tensorboard"}, ["got 'http://127.0.0.1:6006/tensorboard'"]),
    ],
)
def test_nginx_proxy_tensorboard_upstream_bad_input(run_role, refused, variables, expected):
    users = [{"name": "mlflow", "password": "a-long-enough-test-password"}]
    result = run_role("nginx_proxy", dict({"nginx_proxy_users": users}, **variables), facts=DEBIAN_FACTS)
    refused(result, expected)


def test_the_lock_pins_the_default_version_with_hashes():
    lock = ROOT / "roles/tensorboard/files/locks" / f"tensorboard-{DEFAULTS['tensorboard_version']}.txt"
    assert lock.is_file(), f"no lock for tensorboard_version={DEFAULTS['tensorboard_version']} (roles/tensorboard/README.md)"
    entries = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(.*?)(?=^[A-Za-z0-9]|\Z)", lock.read_text(), re.M | re.S)
    pinned = {(name.lower(), version) for name, version, _ in entries}
    assert ("tensorboard", DEFAULTS["tensorboard_version"]) in pinned, sorted(pinned)
    unhashed = [name for name, _, rest in entries if "--hash=sha256:" not in rest]
    assert not unhashed, f"entries without a hash: {unhashed}"
