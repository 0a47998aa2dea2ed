"""Census of a playbook run for benchmarks/rerun.py: for each task that ran
(not skipped on every host), its role, whether its action runs a module on
the host or stays on the controller, and its wall time (task start to the
next task's start, as profile_tasks counts it). Written as JSON to the file
named by BENCH_CENSUS_FILE at the end of the run."""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: task_census
    type: aggregate
    short_description: tasks per role, host module vs controller-only, with their times
    description: Writes a JSON list of the tasks of a run to BENCH_CENSUS_FILE (benchmarks only).
"""

# Actions that never start a module on the target.
CONTROLLER_ONLY = {
    "set_fact", "assert", "debug", "fail", "meta", "include_tasks", "import_tasks", "include_role",
    "import_role", "add_host", "group_by", "include_vars", "set_stats", "pause", "validate_argument_spec",
}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_census"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tasks: list[dict] = []
        self.current: dict | None = None

    def _close(self) -> None:
        if self.current is not None:
            self.current["seconds"] = round(time.monotonic() - self.current.pop("_start"), 3)
            self.tasks.append(self.current)
            self.current = None

    def _start(self, task) -> None:
        self._close()
        action = task.action.rsplit(".", 1)[-1]
        delegate = task.delegate_to or ""
        role = task._role.get_name() if task._role else "(play)"
        self.current = {
            "role": role.rsplit(".", 1)[-1], "name": task.get_name(), "action": action,
            "where": "controller" if action in CONTROLLER_ONLY or delegate in ("localhost", "127.0.0.1")
            else "host",
            "ran": False, "calls": 0, "hosts": [], "_start": time.monotonic(),
        }

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def _ran(self, result, *args, **kwargs) -> None:
        if self.current is None:
            return
        self.current["ran"] = True
        host = result._host.get_name()
        if host not in self.current["hosts"]:
            self.current["hosts"].append(host)
        items = result._result.get("results")
        # One module call per item that ran (a loop), else one.
        ran_items = [r for r in items if not r.get("skipped")] if isinstance(items, list) else None
        self.current["calls"] += len(ran_items) if ran_items is not None else 1
        # A module on localhost (local_infra's docker_* modules) runs on the controller too.
        if self.current["where"] == "host" and self.current["hosts"] == ["localhost"]:
            self.current["where"] = "localhost"

    v2_runner_on_ok = _ran
    v2_runner_on_failed = _ran
    v2_runner_on_unreachable = _ran

    def v2_playbook_on_include(self, included_file):
        if self.current is not None:
            self.current["ran"] = True

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("BENCH_CENSUS_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                json.dump(self.tasks, out)
