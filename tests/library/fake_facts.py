#!/usr/bin/python
"""Test-only module: returns the facts it is given, so that a test can make a
local host look like another OS (os_family, distribution, ...)."""
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"facts": {"type": "dict", "required": True}}, supports_check_mode=True)
    module.exit_json(changed=False, ansible_facts=module.params["facts"])


if __name__ == "__main__":
    main()
