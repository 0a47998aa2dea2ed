# Copyright: mlops.mlflow contributors
# Apache License 2.0 (see galaxy.yml)
"""The test mlops.mlflow.system_path: a directory that a role must never take
over (create, chown, chmod, fill) because the operating system owns it."""
from __future__ import annotations

import posixpath

DOCUMENTATION = r"""
---
name: system_path
short_description: Whether a path is a system directory or lies inside one
version_added: 0.3.0
author: mlops.mlflow contributors
description:
  - True for a path that a role must not use as a directory of its own (data, artifacts, backups, a web root,
    a working directory), because the roles create such directories, give them to a service user and restrict
    their modes. That is C(/) and the top-level shared directories themselves (C(/home), C(/var), C(/var/lib), C(/opt),
    C(/srv), C(/mnt), C(/media), C(/tmp), C(/var/tmp), C(/root)), and anything inside the directories the
    operating system owns (C(/etc), C(/usr), C(/boot), C(/bin), C(/sbin), C(/lib*), C(/proc), C(/sys), C(/dev),
    C(/run), C(/var/lib/dpkg), C(/var/lib/apt), C(/var/lib/systemd), C(/var/cache/apt), C(/var/log/journal),
    C(/var/spool), C(/var/mail)).
  - The path is normalised first (C(//), C(.), C(..) and a trailing C(/)), so C(/srv/../etc) is C(/etc).
  - False for an empty value, a relative path or a URL (C(s3://...)); the roles' own checks refuse or accept those.
options:
  _input:
    description: The path.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check server_data_dir
  ansible.builtin.assert:
    that: server_data_dir is not mlops.mlflow.system_path
    fail_msg: "server_data_dir must not be a system directory; got '{{ server_data_dir }}'."
"""

RETURN = r"""
_value:
  description: Whether the path is a system directory or inside one.
  type: bool
"""

# The directories themselves: shared parents of everyone's directories.
EXACT = frozenset({
    "/", "/home", "/var", "/var/lib", "/var/cache", "/var/log", "/var/backups", "/opt", "/srv", "/mnt", "/media",
    "/tmp", "/var/tmp", "/root",
})
# The directories and everything inside them.
TREES = (
    "/etc", "/usr", "/boot", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys", "/dev",
    "/run", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/systemd", "/var/cache/apt", "/var/log/journal", "/var/spool",
    "/var/mail", "/var/run", "/var/lock",
)


def system_path(path) -> bool:
    """True when path is one of EXACT or lies in one of TREES."""
    if not isinstance(path, str) or not path.startswith("/"):
        return False
    norm = posixpath.normpath(path)
    # normpath keeps a leading '//' (POSIX allows it a meaning); treat it as '/'.
    norm = "/" + norm.lstrip("/")
    if norm in EXACT:
        return True
    return any(norm == tree or norm.startswith(tree + "/") for tree in TREES)


class TestModule:
    """Jinja2 tests of the collection."""

    def tests(self):
        return {"system_path": system_path}
