"""The collection's own modules (plugins/modules), run by ansible-playbook on
the controller against a temporary directory: mlops.mlflow.paths and
mlops.mlflow.files, each first run, re-run, check mode, diff and refusals.
One playbook records every result; the assertions read them and the files."""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from conftest import ROOT, _ansible_playbook, _env

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    d: "{{ base }}"
    results: {}
  tasks:
    - name: paths, first run
      mlops.mlflow.paths:
        paths:
          - {path: "{{ d }}/data/deep", mode: "0750"}
          - {path: "{{ d }}/link", state: link, src: "{{ d }}/data"}
          - {path: "{{ d }}/gone", state: absent}
      register: paths_first
    - name: paths, re-run
      mlops.mlflow.paths:
        paths:
          - {path: "{{ d }}/data/deep", mode: "0750"}
          - {path: "{{ d }}/link", state: link, src: "{{ d }}/data"}
          - {path: "{{ d }}/gone", state: absent}
      register: paths_again
    - name: paths, check mode (a new directory, a link moved, a tree removed)
      mlops.mlflow.paths:
        paths:
          - {path: "{{ d }}/checked", mode: "0700"}
          - {path: "{{ d }}/link", state: link, src: "{{ d }}/data/deep"}
          - {path: "{{ d }}/tree", state: absent}
      check_mode: true
      diff: true
      register: paths_check
    - name: paths, the link moved and the tree removed for real
      mlops.mlflow.paths:
        paths:
          - {path: "{{ d }}/link", state: link, src: "{{ d }}/data/deep"}
          - {path: "{{ d }}/tree", state: absent}
          - {path: "{{ d }}/data/deep", mode: "0700"}
      register: paths_moved
    - name: paths, a file where a directory is asked for
      mlops.mlflow.paths:
        paths:
          - {path: "{{ d }}/plain"}
      register: paths_refused
      ignore_errors: true
    - name: files, first run
      mlops.mlflow.files:
        files:
          - {dest: "{{ d }}/one.conf", content: "one\\n", mode: "0640"}
          - {dest: "{{ d }}/two.conf", content: "two\\n", mode: "0644"}
      register: files_first
    - name: files, re-run
      mlops.mlflow.files:
        files:
          - {dest: "{{ d }}/one.conf", content: "one\\n", mode: "0640"}
          - {dest: "{{ d }}/two.conf", content: "two\\n", mode: "0644"}
      register: files_again
    - name: files, check mode with a new content
      mlops.mlflow.files:
        files:
          - {dest: "{{ d }}/one.conf", content: "ONE\\n", mode: "0640"}
          - {dest: "{{ d }}/two.conf", content: "two\\n", mode: "0644"}
      check_mode: true
      diff: true
      register: files_check
    - name: files, a content that fails its validation
      mlops.mlflow.files:
        files:
          - {dest: "{{ d }}/one.conf", content: "bad\\n", mode: "0640", validate: "grep -q good %s"}
      register: files_invalid
      ignore_errors: true
    - name: files, a content that passes it, and a mode change alone
      mlops.mlflow.files:
        files:
          - {dest: "{{ d }}/one.conf", content: "good\\n", mode: "0640", validate: "grep -q good %s"}
          - {dest: "{{ d }}/two.conf", content: "two\\n", mode: "0600"}
      register: files_valid
    - name: Record the results
      ansible.builtin.copy:
        dest: "{{ d }}/results.json"
        content: >-
          {{ dict(['paths_first', 'paths_again', 'paths_check', 'paths_moved', 'paths_refused',
                   'files_first', 'files_again', 'files_check', 'files_invalid', 'files_valid']
                  | zip([paths_first, paths_again, paths_check, paths_moved, paths_refused,
                         files_first, files_again, files_check, files_invalid, files_valid])) | to_json }}
        mode: "0600"
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("modules")
    base = work / "target"
    (base / "tree" / "sub").mkdir(parents=True)
    (base / "tree" / "sub" / "file").write_text("x")
    (base / "gone").write_text("x")
    (base / "plain").write_text("x")
    playbook = work / "modules.yml"
    playbook.write_text(PLAYBOOK)
    env = _env(work)
    proc = _ansible_playbook(["-i", "localhost,", "-e", f"base={base}", "-e",
                              f"ansible_python_interpreter={sys.executable}", str(playbook)], ROOT, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return base, json.loads((base / "results.json").read_text())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_paths_first_run_and_rerun(run: tuple[Path, dict]) -> None:
    base, results = run
    assert results["paths_first"]["changed"] is True
    assert [r["changed"] for r in results["paths_first"]["results"]] == [True, True, True]
    assert results["paths_again"]["changed"] is False
    assert not (base / "gone").exists()


def test_paths_check_mode_changes_nothing(run: tuple[Path, dict]) -> None:
    base, results = run
    check = results["paths_check"]
    assert [r["changed"] for r in check["results"]] == [True, True, True]
    assert not (base / "checked").exists()
    assert check["diff"]["after"]["paths"][1]["src"] == str(base / "data" / "deep")


def test_paths_link_moved_tree_removed_mode_set(run: tuple[Path, dict]) -> None:
    base, results = run
    assert os.readlink(base / "link") == str(base / "data" / "deep")
    assert not (base / "tree").exists()
    assert mode(base / "data" / "deep") == 0o700
    assert [r["changed"] for r in results["paths_moved"]["results"]] == [True, True, True]


def test_paths_refuses_a_file_for_a_directory(run: tuple[Path, dict]) -> None:
    _, results = run
    assert results["paths_refused"]["failed"] is True
    assert "is a file, not a directory" in results["paths_refused"]["msg"]


def test_files_write_compare_and_check_mode(run: tuple[Path, dict]) -> None:
    base, results = run
    assert [r["changed"] for r in results["files_first"]["results"]] == [True, True]
    assert results["files_again"]["changed"] is False
    check = results["files_check"]
    assert [r["content_changed"] for r in check["results"]] == [True, False]
    assert check["diff"][0]["before"] == "one\n" and check["diff"][0]["after"] == "ONE\n"


def test_files_validation_keeps_the_old_file(run: tuple[Path, dict]) -> None:
    base, results = run
    assert results["files_invalid"]["failed"] is True
    assert "validation failed" in results["files_invalid"]["msg"]
    assert (base / "one.conf").read_text() == "good\n"  # the later valid run wrote it
    assert not list(base.glob(".one.conf.*"))  # no temporary file left behind


def test_files_mode_only_change_and_final_state(run: tuple[Path, dict]) -> None:
    base, results = run
    valid = results["files_valid"]["results"]
    assert valid[0]["content_changed"] is True
    assert valid[1] == {"dest": str(base / "two.conf"), "changed": True, "content_changed": False}
    assert mode(base / "one.conf") == 0o640
    assert mode(base / "two.conf") == 0o600


def test_inventory_home_filter(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "plugins" / "filter"))
    from inventory_home import inventory_home

    inventory = tmp_path / "mine"
    inventory.mkdir()
    hosts = inventory / "hosts.yml"
    hosts.write_text("all: {}\n")
    assert inventory_home([str(inventory)], "/fallback") == str(inventory)
    assert inventory_home([str(hosts)], "/fallback") == str(inventory)
    assert inventory_home(["host1,host2,", str(hosts)], "/fallback") == str(inventory)
    assert inventory_home(["host1,"], "/fallback") == "/fallback"
