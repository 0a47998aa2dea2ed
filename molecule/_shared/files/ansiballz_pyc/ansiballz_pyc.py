"""Test bed only: a bytecode cache for Ansible's modules in the test containers.

Every Ansible task sends its module with the module_utils it imports as a
zip (AnsiballZ), and the target's Python imports them from that zip. Python
never keeps bytecode for sources it imports from a zip, so every task
compiles ansible/module_utils/basic.py and the rest again: about half of the
CPU a test container spends on a task (benchmarks/connection.py). This hook
keeps the compiled code of those sources, keyed by the Python's magic
number, the file's path inside the payload and a hash of its source, so a
source is compiled once per container. Nothing else changes: the same
source runs, compiled by the same Python.

Loaded by a .pth file that molecule/_shared/create.yml mounts into the test
containers only (never into `make up`'s container or a user's host): there,
only root writes the cache, /var/cache/ansiballz-pyc (other users' module
runs read it). pytest's playbooks run their modules on this machine, with
the venv's Python: scripts/test-all.sh and `make pytest` put this directory
on PYTHONPATH (sitecustomize.py loads the hook) and name a cache of the
test run's own in ANSIBALLZ_PYC_DIR (0700, written by the user who runs the
tests). Any error falls back to Python's own compile.
"""
import os
import zipimport

_DIR = os.environ.get("ANSIBALLZ_PYC_DIR") or "/var/cache/ansiballz-pyc"
_MARK = "_payload.zip" + os.sep
_compile = zipimport._compile_source


def _refile(code, filename):
    """The code object with co_filename set to this run's path, nested ones too."""
    consts = tuple(_refile(c, filename) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _compile_source(pathname, source):
    at = pathname.find(_MARK)
    if at < 0 or "ansible_" not in pathname:
        return _compile(pathname, source)
    import hashlib  # here, not at start-up: most Pythons started here are not Ansible's
    import importlib.util
    import marshal

    key = hashlib.sha256(importlib.util.MAGIC_NUMBER + pathname[at + len(_MARK):].encode()
                         + b"\0" + source).hexdigest()
    path = os.path.join(_DIR, key)
    try:
        # Only a directory that root or this user owns and no one else can
        # write to is read (or written: by its owner only).
        info = os.stat(_DIR)
        trusted = info.st_uid in (0, os.geteuid()) and not info.st_mode & 0o022
    except OSError:
        info, trusted = None, False
    if trusted:
        try:
            with open(path, "rb") as cached:
                return _refile(marshal.load(cached), pathname)
        except Exception:  # noqa: BLE001 - no or unreadable entry: compile
            pass
    code = _compile(pathname, source)
    if info is None and os.geteuid() == 0 and _DIR == "/var/cache/ansiballz-pyc":
        try:
            os.makedirs(_DIR, mode=0o755, exist_ok=True)
            info, trusted = os.stat(_DIR), True
        except OSError:
            return code
    if trusted and info.st_uid == os.geteuid():
        try:
            tmp = "%s.%d" % (path, os.getpid())
            with open(tmp, "wb") as out:
                marshal.dump(code, out)
            os.replace(tmp, path)
        except OSError:
            pass
    return code


zipimport._compile_source = _compile_source
