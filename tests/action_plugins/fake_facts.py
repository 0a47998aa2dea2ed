"""Test-only action for tests/library/fake_facts.py: returns the facts it is
given, on the controller. The same result as the module's (Ansible sets a
module's and an action's ansible_facts as the host's facts alike), without
starting a Python on the target for each host: a preflight batch has dozens
of hosts (tests/conftest.py). The module stays for plays that do not load
this directory."""
from __future__ import annotations

import json

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("facts",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        facts = self._task.args.get("facts")
        if not isinstance(facts, dict):
            raise AnsibleActionFail(f"facts must be a dict, got {type(facts).__name__}")
        # Through JSON, as a module's result would come back: plain data only.
        result.update(changed=False, ansible_facts=json.loads(json.dumps(facts)))
        return result
