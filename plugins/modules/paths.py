#!/usr/bin/python
# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""Directories, symbolic links and absent paths with their owner, group and
mode: a list of them in one module call."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: paths
short_description: Several directories, links and absent paths in one module call
description:
  - Brings each path of a list to its state (a directory, a symbolic link, or absent) with its owner,
    group and mode, like one M(ansible.builtin.file) task per path, in one module call on the host.
  - A loop over M(ansible.builtin.file) runs the module once per item, and each run costs a Python start
    and a connection round trip; this module does the list in one. The roles of this collection use it for
    the directories and links they own.
  - The paths are handled in the order given, so a directory can be listed before what goes into it.
version_added: 0.2.0
author: mlops.mlflow contributors
options:
  paths:
    description: The paths and the state each must be in.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      state:
        description:
          - C(directory) creates the directory (and missing parents, as M(ansible.builtin.file) does) and sets
            its owner, group and mode; an existing path of another type is an error.
          - C(link) makes a symbolic link to I(src), replacing a link that points elsewhere; an existing file
            or directory in its place is an error.
          - C(absent) removes a file or link, or a directory with its content.
        type: str
        choices: [directory, link, absent]
        default: directory
      src:
        description: Target of the link (I(state=link)).
        type: path
      owner:
        description: Owner (name or UID). Of the link itself for I(state=link).
        type: str
      group:
        description: Group (name or GID). Of the link itself for I(state=link).
        type: str
      mode:
        description: Mode, as an octal string such as C("0750") (not used for links).
        type: raw
notes:
  - Supports check mode and diff mode. Changes of owner, group and mode are reported per path
    in I(results) and in the diff.
"""

EXAMPLES = r"""
- name: The data directories and the site link
  mlops.mlflow.paths:
    paths:
      - {path: /var/lib/mlflow, owner: mlflow, group: mlflow, mode: "0750"}
      - {path: /var/lib/mlflow/artifacts, owner: mlflow, group: mlflow, mode: "0750"}
      - {path: /etc/nginx/sites-enabled/mlflow.conf, state: link, src: /etc/nginx/sites-available/mlflow.conf}
      - {path: /etc/nginx/sites-enabled/default, state: absent}
"""

RETURN = r"""
results:
  description: One entry per path, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path.
      type: str
    state:
      description: The state asked for.
      type: str
    changed:
      description: Whether this path changed (or would, in check mode).
      type: bool
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule


def current_type(path: str) -> str:
    if os.path.islink(path):
        return "link"
    if os.path.isdir(path):
        return "directory"
    if os.path.exists(path):
        return "file"
    return "absent"


def make_directory(module: AnsibleModule, path: str) -> None:
    """Creates the directory and its missing parents (0755 less the umask,
    as the file module does); owner, group and mode are set afterwards."""
    try:
        os.makedirs(path)
    except OSError as err:
        module.fail_json(msg=f"could not create the directory {path}: {err}")


def remove(module: AnsibleModule, path: str, kind: str) -> None:
    try:
        if kind == "directory":
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as err:
        module.fail_json(msg=f"could not remove {path}: {err}")


def ensure(module: AnsibleModule, item: dict) -> tuple[bool, dict, dict]:
    path, state = item["path"], item["state"]
    kind = current_type(path)
    before = {"path": path, "state": kind}
    after = {"path": path, "state": state}
    changed = False

    if state == "absent":
        if kind != "absent":
            changed = True
            if not module.check_mode:
                remove(module, path, kind)
        return changed, before, after

    if state == "directory":
        if kind not in ("absent", "directory"):
            module.fail_json(msg=f"{path} is a {kind}, not a directory: remove it first")
        if kind == "absent":
            changed = True
            if module.check_mode:
                return changed, before, after
            make_directory(module, path)
    else:  # link
        if not item.get("src"):
            module.fail_json(msg=f"{path}: state=link needs src")
        after["src"] = item["src"]
        if kind == "link":
            before["src"] = os.readlink(path)
        if kind not in ("absent", "link"):
            module.fail_json(msg=f"{path} is a {kind}, not a symbolic link: remove it first")
        if kind == "absent" or before.get("src") != item["src"]:
            changed = True
            if module.check_mode:
                return changed, before, after
            try:
                if kind == "link":
                    os.unlink(path)
                os.symlink(item["src"], path)
            except OSError as err:
                module.fail_json(msg=f"could not link {path} to {item['src']}: {err}")

    file_args = module.load_file_common_arguments(
        {"path": path, "owner": item.get("owner"), "group": item.get("group"),
         "mode": None if state == "link" else item.get("mode")})
    # The attributes of the link itself, not of its target.
    diff: dict = {}
    changed = module.set_fs_attributes_if_different(file_args, changed, diff, expand=False) or changed
    for key in ("owner", "group", "mode"):
        if key in diff.get("before", {}):
            before[key] = diff["before"][key]
            after[key] = diff["after"][key]
    return changed, before, after


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "state": {"type": "str", "choices": ["directory", "link", "absent"], "default": "directory"},
                    "src": {"type": "path"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "raw"},
                },
            },
        },
        supports_check_mode=True,
    )
    results, befores, afters = [], [], []
    for item in module.params["paths"]:
        if not os.path.isabs(item["path"]):
            module.fail_json(msg=f"paths: '{item['path']}' is not an absolute path")
        changed, before, after = ensure(module, item)
        results.append({"path": item["path"], "state": item["state"], "changed": changed})
        if changed:
            befores.append(before)
            afters.append(after)
    module.exit_json(
        changed=any(result["changed"] for result in results),
        results=results,
        diff={"before": {"paths": befores}, "after": {"paths": afters}},
    )


if __name__ == "__main__":
    main()
