"""The test plugin mlops.mlflow.system_path (plugins/test/system_path.py),
which every role's preflight uses to refuse a system directory as a directory
of its own. Pure Python: the plugin is imported from the checkout."""
from __future__ import annotations

import importlib.util

import pytest

from conftest import ROOT

_SPEC = importlib.util.spec_from_file_location("system_path", ROOT / "plugins" / "test" / "system_path.py")
system_path_module = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(system_path_module)
system_path = system_path_module.TestModule().tests()["system_path"]


@pytest.mark.parametrize(
    "path",
    [
        "/", "//", "/etc", "/etc/", "/etc/mlflow", "/usr", "/usr/local/mlflow", "/boot/x", "/var/lib",
        "/var/lib/dpkg", "/var/lib/dpkg/info", "/var/lib/apt", "/var/lib/systemd/x", "/run", "/run/mlflow",
        "/home", "/root", "/tmp", "/var/tmp", "/opt", "/srv", "/proc/1", "/sys/fs", "/dev/shm", "/lib/systemd/system",
        "/srv/../etc", "/srv/./..", "/var/lib/mlflow/../../../usr/bin", "/var/log/journal/x", "/var/spool/cron",
    ],
)
def test_system_directories_are_refused(path):
    assert system_path(path) is True


@pytest.mark.parametrize(
    "path",
    [
        "/var/lib/mlflow", "/var/lib/mlflow/artifacts", "/srv/mlflow", "/opt/mlflow/venv", "/var/backups/mlflow",
        "/var/backups/mlflow-db", "/home/alice/mlflow", "/data", "/mnt/disk1/mlflow", "/var/www/acme",
        "/etcetera/mlflow", "/usrdata", "/running", "/var/lib/dpkg-like",
        # Not paths: the roles' own checks decide about these.
        "", "relative/dir", "s3://bucket/prefix", "gs://bucket", None, 42,
    ],
)
def test_directories_of_their_own_pass(path):
    assert system_path(path) is False
