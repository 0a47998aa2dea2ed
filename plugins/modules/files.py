#!/usr/bin/python
# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""Several files with their content, owner, group and mode in one module
call."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Several files with their content, owner, group and mode in one module call
description:
  - Writes each file of a list with the content given (rendered on the controller, for example with the
    C(ansible.builtin.template) lookup), and sets its owner, group and mode, like one M(ansible.builtin.copy)
    task per file, in one module call on the host.
  - An unchanged M(ansible.builtin.template) or M(ansible.builtin.copy) task costs two module calls on the host
    (a C(stat), then a C(file) for the attributes), each a Python start and a connection round trip; this module
    compares and writes the whole list in one. The roles of this collection use it for the files they render.
  - A new content is written to a temporary file in the same directory, made 0600 at creation and given its
    owner, group and mode before it is renamed over the old file, so no reader ever sees a half-written file
    or one with looser permissions.
  - The directories must exist (M(mlops.mlflow.paths) makes them).
version_added: 0.2.0
author: mlops.mlflow contributors
options:
  files:
    description: The files, written in the order given.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file on the host.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      owner:
        description: Owner (name or UID).
        type: str
      group:
        description: Group (name or GID).
        type: str
      mode:
        description: Mode, as an octal string such as C("0644").
        type: raw
      validate:
        description:
          - A command that checks the new content before it replaces the file; C(%s) stands for the temporary
            file. A non-zero exit leaves the old file in place and fails the task.
        type: str
notes:
  - Supports check mode and diff mode. The diff shows the old and new content of each changed file;
    without I(mode), a new file is 0600.
    for a file with secrets, give the task I(diff=false) and I(no_log=true) (a task of its own).
"""

EXAMPLES = r"""
- name: Write nginx.conf and the site
  mlops.mlflow.files:
    files:
      - dest: /etc/nginx/nginx.conf
        content: "{{ lookup('ansible.builtin.template', 'nginx.conf.j2') }}"
        mode: "0644"
        validate: nginx -t -q -c %s
      - dest: /etc/nginx/sites-available/mlflow.conf
        content: "{{ lookup('ansible.builtin.template', 'site.conf.j2') }}"
        mode: "0644"
  register: written
  notify: Reload nginx

- name: Something only when the site changed
  ansible.builtin.debug:
    msg: the site changed
  when: written.results[1].changed
"""

RETURN = r"""
results:
  description: One entry per file, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    dest:
      description: The path.
      type: str
    changed:
      description: Whether the file's content or attributes changed (or would, in check mode).
      type: bool
    content_changed:
      description: Whether its content changed (or would).
      type: bool
"""

import os
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

# Larger or binary old contents are not put into the diff.
DIFF_MAX_BYTES = 64 * 1024


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_new(module: AnsibleModule, item: dict, data: bytes) -> None:
    """Temporary file in the same directory (0600 from the start), its final
    attributes, the validation, then a rename over the old file."""
    dest = item["dest"]
    directory = os.path.dirname(dest)
    if not os.path.isdir(directory):
        module.fail_json(msg=f"the directory of {dest} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(dest)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        file_args = module.load_file_common_arguments(
            {"path": tmp, "owner": item.get("owner"), "group": item.get("group"), "mode": item.get("mode")})
        if os.path.exists(dest) and item.get("mode") is None:
            os.chmod(tmp, os.stat(dest).st_mode & 0o7777)
        module.set_fs_attributes_if_different(file_args, False, expand=False)
        if item.get("validate"):
            if "%s" not in item["validate"]:
                module.fail_json(msg=f"{dest}: validate must contain %s: {item['validate']}")
            argv = [tmp if arg == "%s" else arg.replace("%s", tmp) for arg in shlex.split(item["validate"])]
            rc, out, err = module.run_command(argv)
            if rc != 0:
                module.fail_json(msg=f"{dest}: validation failed (rc={rc}); the old file is kept",
                                 stdout=out, stderr=err)
        os.rename(tmp, dest)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def ensure(module: AnsibleModule, item: dict) -> tuple[dict, dict | None]:
    dest = item["dest"]
    data = to_bytes(item["content"], errors="surrogate_or_strict")
    old = read(dest)
    content_changed = old != data
    diff = None
    if content_changed:
        before = ""
        if old is not None:
            before = (to_text(old, errors="surrogate_or_strict") if len(old) <= DIFF_MAX_BYTES and b"\0" not in old
                      else "(old content not shown: large or binary)\n")
        diff = {"before_header": dest, "after_header": dest, "before": before, "after": item["content"]}
        if not module.check_mode:
            write_new(module, item, data)
    changed = content_changed
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(
            {"path": dest, "owner": item.get("owner"), "group": item.get("group"), "mode": item.get("mode")})
        attr_diff: dict = {}
        changed = module.set_fs_attributes_if_different(file_args, changed, attr_diff, expand=False) or changed
        if attr_diff.get("before") and not content_changed:
            diff = {"before_header": dest, "after_header": dest,
                    "before": "".join(f"{key}: {value}\n" for key, value in attr_diff["before"].items()),
                    "after": "".join(f"{key}: {value}\n" for key, value in attr_diff["after"].items())}
    return {"dest": dest, "changed": changed, "content_changed": content_changed}, diff


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str", "required": True},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "raw"},
                    "validate": {"type": "str"},
                },
            },
        },
        supports_check_mode=True,
    )
    results, diffs = [], []
    for item in module.params["files"]:
        if not os.path.isabs(item["dest"]):
            module.fail_json(msg=f"files: '{item['dest']}' is not an absolute path")
        result, diff = ensure(module, item)
        results.append(result)
        if diff is not None:
            diffs.append(diff)
    # Only when asked for (--diff, and not diff: false on the task): a large
    # file's content would otherwise travel back to the controller for nothing.
    module.exit_json(changed=any(result["changed"] for result in results), results=results,
                     **({"diff": diffs} if module._diff else {}))


if __name__ == "__main__":
    main()
