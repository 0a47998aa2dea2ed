# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""The filter mlops.mlflow.inventory_home: where controller-side files of a
deployment go by default (generated passwords, client settings)."""
from __future__ import annotations

import os

DOCUMENTATION = r"""
---
name: inventory_home
short_description: The directory of the inventory in use
version_added: 0.2.0
author: mlops.mlflow contributors
description:
  - Returns the first inventory source that is a directory, or the directory of the first one that is a file
    (the C(-i) argument of ansible-playbook, as the magic variable C(ansible_inventory_sources) lists them);
    the fallback when no source is a path (C(-i host1,host2,)).
  - The roles put the files they generate on the controller there by default (the C(credentials) directory
    beside the inventory), so that they live with the user's project and never inside an installed collection.
positional: fallback
options:
  _input:
    description: The inventory sources, normally C(ansible_inventory_sources).
    type: list
    elements: str
    required: true
  fallback:
    description: Returned when no source is an existing path (for example C(playbook_dir)).
    type: str
    required: true
"""

EXAMPLES = r"""
nginx_proxy_password_dir: "{{ ansible_inventory_sources | mlops.mlflow.inventory_home(playbook_dir) }}/credentials"
"""

RETURN = r"""
_value:
  description: An absolute directory path.
  type: str
"""


def inventory_home(sources, fallback):
    for source in sources or []:
        path = os.path.abspath(os.path.expanduser(str(source)))
        if os.path.isdir(path):
            return path
        if os.path.isfile(path):
            return os.path.dirname(path)
    return str(fallback)


class FilterModule:
    def filters(self):
        return {"inventory_home": inventory_home}
