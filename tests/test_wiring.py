"""The roles wire themselves, and the inventory wins: in a play that lists
db_client and server (as playbooks/mlflow_server.yml does), server's
defaults take db_client's results, a value from the inventory replaces
them, and db_client leaves the dump scripts to db_server on a database host.

The roles' tasks are skipped (--tags show): what is resolved is what the
roles would read, also when their own tasks do not run (a tag of another
role, say). Nothing is installed; no container is needed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NAMES = ["server_backend_store_uri", "server_pre_upgrade_command", "db_client_dump_scripts"]


def test_server_takes_db_clients_results_and_the_inventory_wins(tmp_path):
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {
        "hosts": {
            "plain": dict(local),
            "pg": dict(local, db_client_engine="postgresql", db_client_password="p@ss/w:rd", db_client_host="db.example"),
            "mine": dict(local, db_client_engine="postgresql", db_client_password="x",
                         server_pre_upgrade_command=["/usr/local/bin/my-backup"],
                         server_backend_store_uri="postgresql://u:p@elsewhere/db"),
        },
        "children": {"db_servers": {"hosts": {
            "single-vm": dict(local, db_client_engine="mysql", db_client_password="x", db_server_engine="mariadb")}}},
    }}
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    play = [{
        "hosts": "all", "gather_facts": False,
        "tasks": [
            {"ansible.builtin.import_role": {"name": "mlops.mlflow.db_client"}},
            {"ansible.builtin.import_role": {"name": "mlops.mlflow.server"}},
            {"name": "Write what the roles would read", "tags": ["show"], "no_log": True,
             "ansible.builtin.copy": {"dest": str(tmp_path) + "/{{ inventory_hostname }}.json", "mode": "0600",
                                      "content": "{{ dict(names | zip(names | map('extract', vars))) | to_json }}"},
             "vars": {"names": NAMES}, "delegate_to": "localhost"},
        ],
    }]
    (tmp_path / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.json"), "--tags", "show",
         str(tmp_path / "play.json")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    seen = {host: json.loads((tmp_path / f"{host}.json").read_text()) for host in ("plain", "pg", "mine", "single-vm")}
    # No engine: SQLite and no dump command.
    assert seen["plain"] == {"server_backend_store_uri": "sqlite:////var/lib/mlflow/mlflow.db",
                             "server_pre_upgrade_command": [], "db_client_dump_scripts": True}
    # db_client's URI (every part percent-encoded) and its dump script.
    assert seen["pg"]["server_backend_store_uri"] == (
        "postgresql+psycopg2://mlflow:p%40ss%2Fw%3Ard@db.example:5432/mlflow?sslmode=prefer")
    assert seen["pg"]["server_pre_upgrade_command"] == ["/usr/local/sbin/mlflow-db-dump"]
    # The inventory wins over both defaults.
    assert seen["mine"]["server_backend_store_uri"] == "postgresql://u:p@elsewhere/db"
    assert seen["mine"]["server_pre_upgrade_command"] == ["/usr/local/bin/my-backup"]
    # On a database host, db_server owns the local dump scripts; db_client leaves them alone.
    assert seen["single-vm"]["db_client_dump_scripts"] is False
    assert seen["single-vm"]["server_backend_store_uri"].startswith("mysql+pymysql://mlflow:x@127.0.0.1:3306/mlflow?")
    assert "p@ss/w:rd" not in result.stdout
