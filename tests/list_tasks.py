"""`ansible-playbook --list-tasks --tags TAG PLAYBOOK` for many (playbook,
tag) pairs in one Python process: the same command line, run by the same
code (ansible.cli.playbook.PlaybookCLI), without a Python start and an import
of Ansible for each pair (about 2 CPU-seconds each, 36 pairs in
tests/test_phase_tags.py).

Reads [[playbook, tag], ...] as JSON on stdin; prints {"<playbook> <tag>":
{"rc": ..., "stdout": ...}} as JSON. The one state the CLI keeps between
runs in one process, its global arguments and vault secrets, is reset
before each run; tests/test_phase_tags.py checks that a listing made here equals
one made by ansible-playbook itself."""
from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback


def main() -> int:
    from ansible.cli.playbook import PlaybookCLI
    from ansible.parsing.vault import VaultSecretsContext
    from ansible.utils.context_objects import GlobalCLIArgs

    jobs = json.load(sys.stdin)
    results = {}
    for playbook, tag in jobs:
        # The state the CLI keeps for its process: its arguments (else the first run's --tags stay) and
        # the vault secrets (set once per process).
        GlobalCLIArgs._Singleton__instance = None
        VaultSecretsContext._current = None
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            try:
                rc = PlaybookCLI(["ansible-playbook", "--list-tasks", "--tags", tag, playbook]).run()
            except SystemExit as exc:
                rc = exc.code
            except Exception:  # noqa: BLE001 - reported as a failed listing, the test prints it
                traceback.print_exc(file=text)
                rc = 250
        results[f"{playbook} {tag}"] = {"rc": rc, "stdout": text.getvalue()}
    json.dump(results, sys.__stdout__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
