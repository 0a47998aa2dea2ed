"""Test-only action: the result of ansible.builtin.setup, run for the first
host that asks and handed to every later one (the path given as `cache`
holds it, a lock beside it makes the others wait for the first). For
tests/conftest.py's preflight batches, whose hosts are all local hosts of
this machine: their facts are the same, and one setup run costs about a
second of CPU against the dozens of hosts of a batch."""
from __future__ import annotations

import fcntl
import pickle

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash


class ActionModule(ActionBase):
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("cache",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        cache = self._task.args["cache"]
        with open(f"{cache}.lock", "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(cache, "rb") as stored:
                    gathered = pickle.load(stored)
            except FileNotFoundError:
                gathered = self._execute_module(module_name="ansible.legacy.setup", module_args={}, task_vars=task_vars)
                self._remove_tmp_path(self._connection._shell.tmpdir)
                with open(cache, "wb") as stored:
                    pickle.dump(gathered, stored)
        result = merge_hash(result, gathered)
        # As for setup itself: -v does not print every fact.
        result["_ansible_verbose_override"] = True
        return result
