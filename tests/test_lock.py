"""The locks the server role installs MLflow from
(roles/server/files/locks/mlflow-<version>.txt, made by
scripts/lock-mlflow.py) match what the role pins: the MLflow version, every
driver of __server_store_packages at its version, MLflow's auth extra
(Flask-WTF, for server_auth=mlflow), pip, a hash for every entry;
every version the role or its tests install has one; the role refuses a
version without a lock; and uv, run the way the role runs it, really refuses
a package whose hash differs from the lock's or that the lock lacks.

The last tests talk to the package index through uv's normal configuration."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "roles" / "server" / "files" / "locks"
DEFAULTS = yaml.safe_load((ROOT / "roles/server/defaults/main.yml").read_text())
VARS = yaml.safe_load((ROOT / "roles/server/vars/main.yml").read_text())
UV_VERSION = yaml.safe_load((ROOT / "roles/python/defaults/main.yml").read_text())["python_uv_version"]
DEBIAN_FACTS = {
    "os_family": "Debian",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "service_mgr": "systemd",
}
LOCK_FILES = sorted(LOCKS.glob("mlflow-*.txt"))
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(.*?)(?=^[A-Za-z0-9]|\Z)", re.M | re.S)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(lock: Path) -> list[tuple[str, str, str]]:
    """(normalised name, version, the rest of the entry: marker, hashes, annotations)."""
    return [(normalise(m.group(1)), m.group(2), m.group(3)) for m in ENTRY.finditer(lock.read_text())]


def store_pins() -> list[tuple[str, str]]:
    pins = [pin for group in VARS["__server_store_packages"].values() for pin in group]
    return [(normalise(p.split("==")[0]), p.split("==")[1]) for p in pins]


def test_the_default_version_has_a_lock():
    assert (LOCKS / f"mlflow-{DEFAULTS['server_mlflow_version']}.txt").is_file(), (
        f"no lock for server_mlflow_version={DEFAULTS['server_mlflow_version']}: "
        f"run scripts/lock-mlflow.py {DEFAULTS['server_mlflow_version']}")


def test_every_version_the_tests_and_examples_install_has_a_lock():
    wanted = set()
    for path in [*ROOT.glob("molecule/*/molecule.yml"), *ROOT.glob("inventories/*/group_vars/*.yml")]:
        wanted |= set(re.findall(r"(?:stack_upgrade_from|server_mlflow_version):\s*\"?(\d+\.\d+\.\d+)", path.read_text()))
    assert wanted, "found no MLflow version in molecule/ or inventories/"
    missing = sorted(v for v in wanted if not (LOCKS / f"mlflow-{v}.txt").is_file())
    assert not missing, f"no lock for {missing}: run scripts/lock-mlflow.py {' '.join(missing)}"


@pytest.mark.parametrize("lock", LOCK_FILES, ids=[p.name for p in LOCK_FILES])
def test_lock_matches_the_role(lock):
    version = re.match(r"mlflow-(\d+\.\d+\.\d+)\.txt$", lock.name).group(1)
    found = entries(lock)
    pinned: dict[str, set[str]] = {}
    for name, ver, _ in found:
        pinned.setdefault(name, set()).add(ver)
    assert pinned.get("mlflow") == {version}, f"{lock.name} pins mlflow {pinned.get('mlflow')}"
    for name, ver in store_pins():
        assert pinned.get(name) == {ver}, (
            f"{lock.name}: {name}=={ver} of __server_store_packages is {sorted(pinned.get(name, [])) or 'missing'} "
            f"in the lock: run scripts/lock-mlflow.py {version}")
    assert "pip" in pinned, f"{lock.name} has no pip (the venv's pip comes from the lock)"
    # server_auth=mlflow installs mlflow[auth]: MLflow's basic-auth app refuses to start without Flask-WTF.
    for name in ("flask-wtf", "wtforms"):
        assert name in pinned, (f"{lock.name} lacks {name} (mlflow[auth], for server_auth=mlflow): "
                                f"run scripts/lock-mlflow.py {version}")
    via = " ".join(rest for name, _, rest in found if name == "flask-wtf")
    assert "# via mlflow" in via, f"{lock.name}: flask-wtf is not there for MLflow's auth extra ({via!r})"
    unhashed = [f"{name}=={ver}" for name, ver, rest in found if "--hash=sha256:" not in rest]
    assert not unhashed, f"{lock.name}: entries without a hash: {unhashed}"
    text = lock.read_text()
    assert f"#    scripts/lock-mlflow.py {version}\n" in text, f"{lock.name} was not made by scripts/lock-mlflow.py"
    assert "-r requirements.in" in text
    # Shipped in the collection: a few hundred KB, not megabytes.
    assert lock.stat().st_size < 512 * 1024, f"{lock.name} is {lock.stat().st_size // 1024} KiB"


def test_role_refuses_a_version_without_a_lock(run_role, refused):
    # The lock is checked past preflight (see below).
    result = run_role("server", {"server_mlflow_version": "3.17.99"}, facts=DEBIAN_FACTS, whole=True, skip=("python",))
    refused(result, ["No lock for MLflow 3.17.99", "'locks/mlflow-3.17.99.txt' is not a file",
                     "scripts/lock-mlflow.py 3.17.99"], not_shown=["Create the venv"])


def test_role_refuses_a_lock_without_the_stores_driver(run_role, refused, tmp_path):
    good = (LOCKS / f"mlflow-{DEFAULTS['server_mlflow_version']}.txt").read_text()
    lock = tmp_path / "no-psycopg2.txt"
    lock.write_text(re.sub(r"^psycopg2-binary==.*?(?=^[a-z])", "", good, flags=re.M | re.S))
    # The lock is checked past preflight: the whole role in check mode, but the python role
    # (its apt check: most of a run's CPU; the lock check reads nothing of it).
    result = run_role("server", {"server_pip_lock": str(lock), "server_backend_store_uri": "postgresql://mlflow@db/mlflow"},
                      facts=DEBIAN_FACTS, whole=True, skip=("python",))
    refused(result, [f"The lock '{lock}' lacks psycopg2-binary==2.9.13"], not_shown=["Create the venv"])


# uv as the role runs it: the pinned version (the project's venv has it, requirements.txt).
def _uv() -> str:
    uv = str(Path(sys.executable).parent / "uv")
    if not Path(uv).is_file():
        uv = shutil.which("uv") or ""
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    assert version == UV_VERSION, f"{uv} is uv {version}, the role pins {UV_VERSION}"
    return uv


def _install(uv: str, venv: Path, lock: Path, *packages: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k == "UV_CACHE_DIR"}
    return subprocess.run([uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--require-hashes",
                           "--no-build", *extra, "--constraint", str(lock), *packages],
                          capture_output=True, text=True, env=env, check=False)


@pytest.fixture(scope="module")
def uv_venv(tmp_path_factory):
    uv = _uv()
    venv = tmp_path_factory.mktemp("lock") / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    return uv, venv


def test_uv_refuses_a_package_whose_hash_differs(uv_venv, tmp_path):
    """The same small locked package from the real lock (installs) and from a
    copy whose hashes of it were altered (refused), as the role installs."""
    uv, venv = uv_venv
    lock = LOCKS / f"mlflow-{DEFAULTS['server_mlflow_version']}.txt"
    six = next(f"six=={ver}" for name, ver, _ in entries(lock) if name == "six")
    altered = tmp_path / "altered.txt"
    text = lock.read_text()
    block = re.search(r"^six==.*?(?=^[a-z])", text, re.M | re.S).group(0)
    altered.write_text(text.replace(block, re.sub(r"sha256:[0-9a-f]{8}", "sha256:00000000", block)))
    bad = _install(uv, venv, altered, six, extra=("--reinstall",))
    assert bad.returncode != 0, bad.stdout + bad.stderr
    assert "Hash mismatch" in bad.stderr, bad.stderr
    good = _install(uv, venv, lock, six, extra=("--reinstall",))
    assert good.returncode == 0, good.stderr


def test_uv_refuses_a_package_the_lock_lacks(uv_venv):
    uv, venv = uv_venv
    lock = LOCKS / f"mlflow-{DEFAULTS['server_mlflow_version']}.txt"
    result = _install(uv, venv, lock, "requests-toolbelt==1.0.0")
    assert result.returncode != 0
    assert "must have a hash" in result.stderr, result.stderr


@pytest.mark.parametrize("platform", ["x86_64-manylinux_2_36", "aarch64-manylinux_2_36"])
@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_every_locked_package_has_a_wheel(uv_venv, platform, python):
    """Debian 12 (Python 3.11, glibc 2.36) and 13 (3.13), both architectures:
    with every store's driver, the role's --no-build install resolves (a dry
    run), so no package would need a build step."""
    uv, venv = uv_venv
    version = DEFAULTS["server_mlflow_version"]
    packages = [f"mlflow[auth]=={version}", *(f"{n}=={v}" for n, v in store_pins())]
    result = _install(uv, venv, LOCKS / f"mlflow-{version}.txt", *packages,
                      extra=("--dry-run", "--python-platform", platform, "--python-version", python))
    assert result.returncode == 0, result.stderr
    assert f"mlflow=={version}" in result.stderr
