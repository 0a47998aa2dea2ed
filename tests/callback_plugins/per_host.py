"""Test-only stdout callback: Ansible's default output, and beside it the
same text split by host, written as JSON to $PER_HOST_OUTPUT at the end.

tests/conftest.py runs many preflight cases of one role as many hosts of one
play (one ansible-playbook instead of one per case); each case then reads
only what its own host printed, as if it had run alone: the task banner of
every task it ran, then that task's result lines."""
from __future__ import annotations

import json
import os

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

DOCUMENTATION = """
name: per_host
type: stdout
short_description: default output, also split by host (tests only)
description: Ansible's default output; each host's part is written as JSON to $PER_HOST_OUTPUT.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
"""


def _host_task_name(task, result) -> str:
    """The task name as templated for this host (the banner of a play with
    many hosts is templated without host variables)."""
    name = result.task_name
    data = task.get_ds()
    raw = str(data.get("name") or "") if isinstance(data, dict) else ""
    if "{{" in raw:
        try:
            from ansible.template import Templar, trust_as_template

            manager = task._variable_manager
            variables = manager.get_vars(play=task.get_play(), host=result._host, task=task)
            name = Templar(loader=task._loader, variables=variables).template(trust_as_template(raw))
        except Exception:  # noqa: BLE001 - keep the name as the play templated it
            pass
    role = task._role.get_name() + " : " if getattr(task, "_role", None) else ""
    return "%s%s" % (role, name)


def _per_host(method_name):
    def method(self, result, *args, **kwargs):
        host = result._host.get_name()
        printed: list[str] = []
        display = self._display
        real_display = display.display

        def recording(msg="", *a, **kw):
            printed.append(str(msg))
            return real_display(msg, *a, **kw)

        display.display = recording
        try:
            return getattr(DefaultCallback, method_name)(self, result, *args, **kwargs)
        finally:
            del display.display
            # Banners are the play's, not this host's: each host gets its own.
            printed = [line for line in printed if not line.startswith("\nTASK [") and not line.startswith("TASK [")]
            if printed:
                sink = self.per_host_text.setdefault(host, [])
                task = result._task
                if self.per_host_task.get(host) != task._uuid:
                    self.per_host_task[host] = task._uuid
                    sink.append("TASK [%s]" % _host_task_name(task, result))
                sink.extend(printed)

    method.__name__ = method_name
    return method


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "per_host"

    def __init__(self):
        super().__init__()
        self.per_host_text: dict[str, list[str]] = {}
        self.per_host_task: dict[str, str] = {}

    for _name in (
        "v2_runner_on_ok", "v2_runner_on_failed", "v2_runner_on_skipped", "v2_runner_on_unreachable",
        "v2_runner_item_on_ok", "v2_runner_item_on_failed", "v2_runner_item_on_skipped", "v2_runner_retry",
    ):
        locals()[_name] = _per_host(_name)
    del _name

    def v2_playbook_on_stats(self, stats):
        super().v2_playbook_on_stats(stats)
        path = os.environ.get("PER_HOST_OUTPUT")
        if not path:
            return
        hosts = set(stats.processed) | set(self.per_host_text)
        report = {}
        for host in hosts:
            summary = stats.summarize(host)
            recap = "%s : %s" % (host, "    ".join("%s=%s" % (key, summary.get(key, 0)) for key in (
                "ok", "changed", "unreachable", "failures", "skipped", "rescued", "ignored")))
            report[host] = {
                "failed": bool(stats.failures.get(host) or stats.dark.get(host)),
                "output": "\n".join(self.per_host_text.get(host, []) + ["PLAY RECAP", recap.replace("failures=", "failed=")]),
            }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(report, handle)
