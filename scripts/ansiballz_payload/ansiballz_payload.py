"""Test runs only: one AnsiballZ payload per module for a whole test run.

Before ansible-core sends a module it builds its payload: it walks the
module's imports through every module_utils it needs (parsing each source)
and zips them. It keeps that payload in a directory of the one
ansible-playbook process (under its local temp directory, removed when the
process ends), so every ansible-playbook builds every module it uses again:
0.3 to 0.5 CPU-seconds per distinct module and process on this machine
(benchmarks/payload_cache.py), and a test run starts a few hundred of them.

This hook points that directory at one shared by the whole test run, named
in ANSIBALLZ_PAYLOAD_DIR, with one subdirectory per module source (a hash of
ansible-core's version, the module's path and its bytes), so a module is
built once per run and the payload of a changed module is never reused.
ansible-core's own code builds, locks (flock), writes and reads the entries;
nothing about what a module does changes. The test runners
(scripts/test-all.sh, scripts/pytest.sh, scripts/molecule-all.sh) make a new
directory (0700) for each run: the module_utils a module pulls in are not in
the key, and do not change during a run. A directory that is not this user's
or that others can write to is not used (a payload is a pickle).

Loaded by sitecustomize.py beside it, when the runners put this directory on
PYTHONPATH; never part of the collection or of `make up`.
"""
from __future__ import annotations

import contextvars
import hashlib
import importlib.abc
import os
import sys

_DIR = os.environ.get("ANSIBALLZ_PAYLOAD_DIR", "")
_TARGET = "ansible.executor.module_common"
_current = contextvars.ContextVar("ansiballz_payload_dir", default=None)


def _trusted(path: str) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_uid == os.geteuid() and not info.st_mode & 0o077


class _Constants:
    """ansible.constants for module_common, with DEFAULT_LOCAL_TMP pointing at
    the shared entry of the module being built (only while it is built)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        if name == "DEFAULT_LOCAL_TMP":
            shared = _current.get()
            if shared is not None:
                return shared
        return getattr(self._real, name)


def _patch(module_common) -> None:
    from ansible.release import __version__

    find = module_common._find_module_utils

    def _find_module_utils(*, module_name, b_module_data, module_path, **kwargs):
        key = hashlib.sha256(b"\0".join((__version__.encode(), os.fsencode(module_path or module_name),
                                         b_module_data))).hexdigest()[:40]
        token = _current.set(os.path.join(_DIR, key))
        try:
            return find(module_name=module_name, b_module_data=b_module_data, module_path=module_path, **kwargs)
        finally:
            _current.reset(token)

    module_common._find_module_utils = _find_module_utils
    module_common.C = _Constants(module_common.C)


class _Finder(importlib.abc.MetaPathFinder):
    """Patches module_common right after it is imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        try:
            from importlib.util import find_spec
            spec = find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def _exec_module(module):
            exec_module(module)
            try:
                _patch(module)
            except Exception:  # noqa: BLE001 - ansible-core changed: leave it as it is
                pass

        spec.loader.exec_module = _exec_module
        return spec


if _DIR and _trusted(_DIR):
    sys.meta_path.insert(0, _Finder())
