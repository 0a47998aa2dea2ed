"""playbooks/provision_gcp.yml and teardown_gcp.yml, and the gcp_compute
inventory plugin, against the schema-checked double of the Google APIs
(tests/gcp_double/server.py).

The google.cloud modules build their URLs in code (compute.googleapis.com,
www.googleapis.com, storage.googleapis.com, sqladmin.googleapis.com ...), so
the test does not change the URLs: it changes name resolution, in-process,
for ansible-playbook and every module it runs (tests/gcp_double/sitecustomize.py
on PYTHONPATH). *.googleapis.com resolves to the double on 127.0.0.1, the
double's certificate is trusted through REQUESTS_CA_BUNDLE / SSL_CERT_FILE,
every other name fails to resolve and every non-loopback connection is
refused (and logged): no real Google endpoint can be reached, and the test
fails if anything tried.

The double checks each request against Google's discovery document of its
method and applies the server rules docs/gcp.md lists, so a body the real
API would refuse fails here too; the assertions are on what was SENT (the
recorded requests), not on what the double stored. One sequence, batched to
keep it fast (two deployments per run: `plain`, and `sql` with Cloud SQL):

  provision (a new service account refused twice, a concurrent change of
  each IAM policy) -> the inventory plugin -> provision again (no write) ->
  provision in check mode (no write) -> a stopped VM (refused when asked,
  else started; the password set again, generated) -> teardown without
  confirmation (no request) -> teardown of the Cloud SQL deployment (bucket
  kept, the other deployment untouched)
  -> teardown of its bucket with old object versions -> teardown again
  (nothing left, nothing changed).

What this does not prove (permissions, quotas, org policies, boot, the
proxy against a real instance...) is in docs/gcp.md."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gcp_double.server import Double, service_account_key

ROOT = Path(__file__).resolve().parent.parent
GUARD = Path(__file__).resolve().parent / "gcp_double"
PROJECT = "mlops-test-project"
ZONE = "europe-west1-b"
PLAIN, SQL = "mlflow-test", "mlflow-sql"
PASSWORD = "db-password-for-the-double-only"
NETWORK_URL = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/default"


def sa(name):
    return f"{name}-vm@{PROJECT}.iam.gserviceaccount.com"


def bucket(name):
    return f"{PROJECT}-{name}-artifacts"


def recap_changed(output: str) -> int:
    match = re.search(r"^localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output, re.M)
    assert match, output[-3000:]
    return int(match.group(1))


def snapshot(state):
    with state.lock:
        return copy.deepcopy({k: getattr(state, k) for k in (
            "service_accounts", "project_policies", "firewalls", "instances", "buckets", "bucket_policies",
            "objects", "sql_instances", "sql_databases", "sql_users")})


class Run:
    def __init__(self, proc, since, until, state, seconds=0.0):
        self.proc, self.output, self.seconds = proc, proc.stdout + proc.stderr, seconds
        self.requests = state.requests[since:until]
        self.state = snapshot(state)

    @property
    def writes(self):
        return [r for r in self.requests if r.is_write]

    def sent(self, method_id):
        return [r for r in self.requests if r.method_id == method_id]


# What the roles of playbooks/mlflow_server.yml read on the VM, resolved the way they see them.
RESOLVED = ["group_names", "ansible_host", "ansible_user", "server_artifacts_destination",
            "cloudsql_proxy_instance_connection_name", "db_client_engine", "db_client_host", "db_client_port",
            "db_client_database", "db_client_user", "db_client_password", "db_client_sslmode"]


def _resolve_play(dump: Path) -> dict:
    return {"name": "Resolve the variables of the MLflow servers", "hosts": "localhost", "gather_facts": False,
            "vars": {"__names": RESOLVED},
            "tasks": [
                {"name": "Resolve them", "ansible.builtin.set_fact": {
                    "__dump": "{{ __dump | default({}) | combine({item: dict(__names | zip("
                              "__names | map('extract', hostvars[item])))}) }}"},
                 "loop": "{{ groups['mlflow_servers'] | default([]) }}", "no_log": True},
                {"name": "Write them", "ansible.builtin.copy": {
                    "dest": str(dump), "mode": "0600", "content": "{{ __dump | default({}) | to_json }}"},
                 "check_mode": False, "changed_when": False, "no_log": True}]}


class Runs(dict):
    def __missing__(self, key):
        pytest.fail(f"run {key!r} did not happen: the first provisioning failed (see test_first_provision_succeeds)")


@pytest.fixture(scope="module")
def gcp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gcp")
    with Double(tmp, sa_propagation=2) as double:
        key = service_account_key(tmp / "key.json", PROJECT)
        blocked = tmp / "blocked.log"
        inventory = tmp / "hosts.json"
        inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        dump = tmp / "added_hosts.json"
        sql_vars = {"mlflow_deployment_name": SQL, "gcp_infra_cloudsql": True,
                    "gcp_infra_db_password": PASSWORD,
                    "cloudsql_proxy_checksum": "sha256:" + "0" * 64}
        plays = {
            "plain": {"name": "Provision plain", "vars": {"mlflow_deployment_name": PLAIN},
                      "ansible.builtin.import_playbook": str(ROOT / "playbooks" / "provision_gcp.yml")},
            "sql": {"name": "Provision sql", "vars": sql_vars,
                    "ansible.builtin.import_playbook": str(ROOT / "playbooks" / "provision_gcp.yml")},
            "dump": {"name": "Dump the added hosts", "hosts": "localhost", "gather_facts": False, "tasks": [{
                "name": "Write the added hosts",
                "ansible.builtin.copy": {
                    "dest": str(dump), "mode": "0600",
                    "content": "{{ dict(groups['mlflow_servers'] | zip(groups['mlflow_servers'] | map('extract', hostvars)"
                               " | map('dict2items') | map('selectattr', 'key', 'in', ['ansible_host', 'ansible_user',"
                               " 'server_artifacts_destination', 'cloudsql_proxy_instance_connection_name',"
                               " 'db_client_host', 'db_client_port', 'db_client_user', 'db_client_database'])"
                               " | map('items2dict'))) | to_json }}"},
                "changed_when": False}]},
        }
        # The role's old firewall request, through the real module: the double must refuse what Google refuses.
        old_form = tmp / "old_form.json"
        plays["old"] = {"name": "The old firewall network form", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Firewall rule with network projects/P/global/networks/default",
             "google.cloud.gcp_compute_firewall": {
                 "project": PROJECT, "auth_kind": "serviceaccount", "service_account_file": str(key),
                 "name": "old-form-allow-web", "network": {"selfLink": f"projects/{PROJECT}/global/networks/default"},
                 "allowed": [{"ip_protocol": "tcp", "ports": ["80"]}], "source_ranges": ["0.0.0.0/0"]},
             "register": "old_form", "ignore_errors": True},
            {"name": "Keep its answer", "ansible.builtin.copy": {"dest": str(old_form), "mode": "0600",
                                                                  "content": "{{ old_form | to_json }}"}}]}
        # Both deployments in one ansible-playbook (one start-up); later runs only the one with Cloud SQL,
        # whose path holds every task of the other.
        provision, provision_sql = tmp / "provision.yml", tmp / "provision_sql.yml"
        provision.write_text(json.dumps([plays["plain"], plays["sql"], plays["old"], plays["dump"]]))
        provision_sql.write_text(json.dumps([plays["sql"], plays["dump"]]))
        # Confirmed when the run says -e test_confirm=true.
        teardown_sql = tmp / "teardown_sql.yml"
        teardown_sql.write_text(json.dumps([{
            "name": f"Teardown {SQL}", "ansible.builtin.import_playbook": str(ROOT / "playbooks" / "teardown_gcp.yml"),
            "vars": {"mlflow_deployment_name": SQL, "gcp_infra_cloudsql": True,
                     "gcp_infra_teardown_confirm": "{{ '%s' if test_confirm | default(false) | bool else '' }}" % SQL}}]))
        variables = tmp / "vars.json"
        variables.write_text(json.dumps({
            "gcp_project": PROJECT,
            "gcp_zone": ZONE,
            "gcp_admin_ranges": ["203.0.113.7/32"],
            "gcp_infra_auth_kind": "serviceaccount",
            "gcp_infra_service_account_file": str(key),
            "gcp_infra_ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LW9ubHktZm9yLXRoZS10ZXN0 test",
            # The VM's address is the double's (a documentation address): never wait for SSH on it.
            "gcp_infra_ssh_wait_timeout": 0,
            # Retries and polls without waiting: the double moves on with each request.
            "gcp_infra_iam_retry_delay": 0,
            "gcp_infra_operation_poll_delay": 0,
        }))
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")
               and not k.startswith(("GOOGLE_", "GCP_", "CLOUDSDK_"))}
        env.update(
            PYTHONPATH=str(GUARD),
            GCP_DOUBLE_PORT=str(double.port),
            GCP_DOUBLE_BLOCKED_LOG=str(blocked),
            GCP_DOUBLE_FAST_POLL="0.05",  # the modules' 1 s between polls: the double moves on per poll
            REQUESTS_CA_BUNDLE=str(double.ca),
            SSL_CERT_FILE=str(double.ca),
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
            ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )
        bin_dir = Path(sys.executable).parent

        def run(playbook: Path, *extra: str, hosts: Path = inventory) -> Run:
            since, start = len(double.state.requests), time.monotonic()
            proc = subprocess.run(
                [str(bin_dir / "ansible-playbook"), "-i", str(hosts), "-e", f"@{variables}", *extra, str(playbook)],
                cwd=tmp, env=env, capture_output=True, text=True, timeout=600, check=False)
            return Run(proc, since, len(double.state.requests), double.state, time.monotonic() - start)

        def run_inventory() -> Run:
            source = yaml.safe_load((ROOT / "inventories" / "gcp" / "gcp_compute.yml").read_text())
            source.update(projects=[PROJECT], zones=[ZONE], filters=[f"labels.mlflow-deployment = {PLAIN}"],
                          auth_kind="serviceaccount", service_account_file=str(key))
            path = tmp / "inventory" / "gcp_compute.yml"
            path.parent.mkdir(exist_ok=True)
            path.write_text(yaml.safe_dump(source))
            since = len(double.state.requests)
            proc = subprocess.run([str(bin_dir / "ansible-inventory"), "-i", str(path), "--list"],
                                  cwd=tmp, env=env, capture_output=True, text=True, timeout=300, check=False)
            return Run(proc, since, len(double.state.requests), double.state)

        # Google: a new service account may take a while to be usable; someone else changes each IAM policy once.
        double.inject_conflict("storage.buckets.setIamPolicy")
        double.inject_conflict("cloudresourcemanager.projects.setIamPolicy")
        runs = Runs()
        runs["first"] = run(provision)
        runs["added"] = json.loads(dump.read_text()) if dump.exists() else {}
        runs["old_form"] = json.loads(old_form.read_text()) if old_form.exists() else {}
        if runs["first"].proc.returncode != 0:  # the rest would only repeat the failure
            yield double, runs, blocked
            return
        runs["inventory"] = run_inventory()
        # The user's inventory: a copy of inventories/gcp (group_vars and the gcp_compute plugin) with the
        # settings of the Cloud SQL deployment. Provisioning with it, then the inventory alone (what
        # mlflow_server.yml alone sees), each resolve the variables the roles read on the VM.
        user_inventory = tmp / "user_inventory"
        shutil.copytree(ROOT / "inventories" / "gcp", user_inventory)
        settings = yaml.safe_load((user_inventory / "group_vars" / "all.yml").read_text())
        settings.update(json.loads(variables.read_text()), **sql_vars, gcp_admin_ranges=["203.0.113.7/32"])
        (user_inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
        source = yaml.safe_load((user_inventory / "gcp_compute.yml").read_text())
        source.update(projects=[PROJECT], zones=[ZONE], filters=[f"labels.mlflow-deployment = {SQL}"],
                      auth_kind="serviceaccount", service_account_file=str(key))
        (user_inventory / "gcp_compute.yml").write_text(yaml.safe_dump(source))
        (user_inventory / "localhost.json").write_text(inventory.read_text())
        resolved_after, resolved_alone = tmp / "resolved_after.json", tmp / "resolved_alone.json"
        provision_resolve = tmp / "provision_resolve.yml"
        provision_resolve.write_text(json.dumps([plays["sql"], _resolve_play(resolved_after)]))
        alone = tmp / "alone.yml"
        alone.write_text(json.dumps([_resolve_play(resolved_alone)]))
        runs["second"] = run(provision_resolve, hosts=user_inventory)
        runs["resolved_after"] = json.loads(resolved_after.read_text()) if resolved_after.exists() else {}
        runs["alone"] = run(alone, hosts=user_inventory)
        runs["resolved_alone"] = json.loads(resolved_alone.read_text()) if resolved_alone.exists() else {}
        runs["check"] = run(provision_sql, "--check")
        double.stop_instance(PROJECT, ZONE, f"{SQL}-vm")
        # (Cloud SQL left out of this run: it reaches the VM sooner, and nothing is written either way.)
        runs["stopped_refused"] = run(provision_sql, "-e", "gcp_infra_start_stopped_vm=false", "-e", "gcp_infra_cloudsql=false")
        double.sql_maintenance(PROJECT, f"{SQL}-db")  # changes must wait until it is RUNNABLE again
        dump.unlink()
        # The same run changes the tier and sets the password again, an empty one this time, which the role
        # generates into gcp_infra_credentials_dir (default: credentials/ beside the inventory): the two other
        # Cloud SQL writes.
        runs["stopped"] = run(provision_sql, "-e", "gcp_infra_cloudsql_tier=db-custom-2-7680",
                              "-e", "gcp_infra_cloudsql_update_password=true", "-e", "gcp_infra_db_password=")
        generated = tmp / "credentials" / f"{SQL}-db"
        runs["generated"] = ((generated.read_text().strip(), generated.stat().st_mode & 0o777)
                             if generated.exists() else (None, None))
        runs["added_after_start"] = json.loads(dump.read_text()) if dump.exists() else {}
        runs["refused"] = run(teardown_sql)
        # The deployment with Cloud SQL: its teardown holds every task of the other's.
        runs["down"] = run(teardown_sql, "-e", "test_confirm=true")
        # Artifacts written and overwritten: live objects and noncurrent versions, over several pages.
        double.put_object(bucket(SQL), "mlflow/1/abc/artifacts/model.pkl", generations=3)
        double.put_object(bucket(SQL), "mlflow/1/abc/artifacts/notes.txt", generations=1)
        double.page_size = 2
        runs["plain_delete"] = double.call("DELETE", f"https://storage.googleapis.com/storage/v1/b/{bucket(SQL)}")
        runs["down_bucket"] = run(teardown_sql, "-e", "test_confirm=true", "-e", "gcp_infra_delete_bucket=true")
        runs["down_again"] = run(teardown_sql, "-e", "test_confirm=true", "-e", "gcp_infra_delete_bucket=true")
        if os.environ.get("GCP_DOUBLE_ANSWERS"):  # for tests/gcp_double/shapes.py (docs/gcp.md)
            Path(os.environ["GCP_DOUBLE_ANSWERS"]).write_text(json.dumps(double.answers, indent=1, sort_keys=True))
        for name, value in runs.items():  # for a look after a failure
            if isinstance(value, Run):
                (tmp / f"{name}.log").write_text(value.output)
        yield double, runs, blocked


# -- provision -----------------------------------------------------------------

def test_first_provision_succeeds(gcp):
    double, runs, _ = gcp
    first = runs["first"]
    assert first.proc.returncode == 0, first.output[-6000:]
    assert recap_changed(first.output) > 0
    assert re.search(r"^localhost\s+:.* failed=0 .* ignored=1", first.output, re.M)  # only the old form, on purpose
    assert double.errors == []


def test_firewall_bodies_as_sent(gcp):
    _, runs, _ = gcp
    sent = {b["name"]: b for b in (r.body for r in runs["first"].sent("compute.firewalls.insert"))}
    sent.pop("old-form-allow-web", None)  # the module's old form, below
    assert set(sent) == {f"{n}-allow-{k}" for n in (PLAIN, SQL) for k in ("web", "ssh")}
    for name in (PLAIN, SQL):
        web, ssh = sent[f"{name}-allow-web"], sent[f"{name}-allow-ssh"]
        # The exact network sent: a full URL, the project once (1.10.2 doubled a partial one).
        assert web["network"] == ssh["network"] == NETWORK_URL
        assert web["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
        assert web["sourceRanges"] == ["0.0.0.0/0"] and web["targetTags"] == [name]
        assert ssh["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
        assert ssh["sourceRanges"] == ["203.0.113.7/32"] and ssh["targetTags"] == [name]
    opened = {p for body in sent.values() for a in body["allowed"] for p in a.get("ports", ["all"])}
    assert opened == {"22", "80", "443"}, opened  # never 5000, 5432, 3306 or all ports


def test_old_firewall_form_is_refused_like_google_would(gcp):
    _, runs, _ = gcp
    # gcp_compute_firewall 1.10.2 with the role's old network form: it sends the project twice.
    assert runs["old_form"].get("failed") is True, runs["old_form"]
    sent = [r for r in runs["first"].sent("compute.firewalls.insert") if r.body["name"] == "old-form-allow-web"]
    assert [r.body["network"] for r in sent] == [
        f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/projects/{PROJECT}/global/networks/default"]
    assert sent[0].status == 400 and "malformed" in json.dumps(runs["old_form"])
    assert (PROJECT, "old-form-allow-web") not in runs["first"].state["firewalls"]


def test_bucket_as_sent(gcp):
    _, runs, _ = gcp
    sent = {r.body["name"]: r for r in runs["first"].sent("storage.buckets.insert")}
    for name in (PLAIN, SQL):
        record = sent[bucket(name)]
        assert record.query["project"] == [PROJECT]
        body = record.body
        assert body["iamConfiguration"] == {"uniformBucketLevelAccess": {"enabled": True},
                                            "publicAccessPrevention": "enforced"}
        assert body["versioning"] == {"enabled": True}
        assert body["labels"]["mlflow-deployment"] == name
        assert body["location"] == "EUROPE-WEST1"


def test_vm_as_sent(gcp):
    _, runs, _ = gcp
    sent = {r.body["name"]: r.body for r in runs["first"].sent("compute.instances.insert")}
    for name in (PLAIN, SQL):
        vm = sent[f"{name}-vm"]
        assert vm["serviceAccounts"] == [{"email": sa(name), "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
        assert vm["shieldedInstanceConfig"] == {
            "enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
        assert vm["disks"][0]["initializeParams"]["sourceImage"] == "projects/debian-cloud/global/images/family/debian-12"
        assert vm["networkInterfaces"][0]["network"] == NETWORK_URL
        assert vm["machineType"].endswith(f"/projects/{PROJECT}/zones/{ZONE}/machineTypes/e2-medium")
        assert vm["tags"] == {"items": [name]}
        assert vm["labels"]["mlflow-deployment"] == name
        metadata = {item["key"]: item["value"] for item in vm["metadata"]["items"]}
        assert metadata["ssh-keys"].startswith("mlflow-admin:ssh-ed25519 ")
        assert metadata["block-project-ssh-keys"] == "TRUE"
    # The stored VM is what Google would answer: no input-only initializeParams, full links.
    stored = runs["first"].state["instances"][(PROJECT, ZONE, f"{PLAIN}-vm")]
    assert "initializeParams" not in stored["disks"][0]
    assert stored["networkInterfaces"][0]["subnetwork"].startswith("https://www.googleapis.com/compute/v1/")


def test_operations_polled_to_done(gcp):
    _, runs, _ = gcp
    requests = runs["first"].requests
    inserts = [r for r in requests if r.status == 200 and r.method_id in (
        "compute.firewalls.insert", "compute.instances.insert", "sql.instances.insert", "sql.databases.insert",
        "sql.users.insert")]
    assert len(inserts) == 4 + 2 + 3, [r.method_id for r in inserts]  # 4 rules, 2 VMs; instance, database, user
    for insert in inserts:
        op = insert.answer
        assert op["status"] == "PENDING" and op["targetLink"].startswith("https://"), op
        polls = [r for r in requests if r.method_id.endswith("perations.get") and r.path.endswith("/" + op["name"])]
        # PENDING -> RUNNING -> DONE, and nothing done with the resource before.
        assert [r.answer["status"] for r in polls] == ["RUNNING", "DONE"], (insert.method_id, polls)
        assert polls[-1].answer["targetLink"] == op["targetLink"]


def test_service_account_retried_until_usable(gcp):
    _, runs, _ = gcp
    for name in (PLAIN, SQL):
        writes = [r for r in runs["first"].sent("storage.buckets.setIamPolicy") if r.path.endswith(f"/b/{bucket(name)}/iam")]
        # Refused twice ("does not exist"), once more for the concurrent change (plain), then written.
        assert sorted(r.status for r in writes) == ([200, 400, 400, 412] if name == PLAIN else [200, 400, 400]), \
            [(r.status, r.path) for r in writes]
    assert "FAILED - RETRYING" in runs["first"].output


def test_bucket_binding_survives_a_concurrent_change(gcp):
    _, runs, _ = gcp
    policy = runs["first"].state["bucket_policies"][bucket(PLAIN)]
    members = {(b["role"], m) for b in policy["bindings"] for m in b["members"]}
    assert ("roles/storage.objectAdmin", f"serviceAccount:{sa(PLAIN)}") in members
    assert ("roles/storage.objectViewer", "user:someone-else@example.com") in members  # not lost
    # The write carried the etag it had read (what makes the conflict visible instead of lost).
    last = [r for r in runs["first"].sent("storage.buckets.setIamPolicy") if r.status == 200][0]
    assert last.body["etag"]
    # Only the bucket, never the project, for the deployment without Cloud SQL.
    project_writes = [r for r in runs["first"].sent("cloudresourcemanager.projects.setIamPolicy")]
    assert all(f"serviceAccount:{sa(PLAIN)}" not in json.dumps(r.body) for r in project_writes)


def test_cloudsql_instance_as_sent(gcp):
    _, runs, _ = gcp
    inserts = runs["first"].sent("sql.instances.insert")
    assert len(inserts) == 1 and inserts[0].status == 200
    assert inserts[0].host == "sqladmin.googleapis.com" and inserts[0].path == f"/v1/projects/{PROJECT}/instances"
    body = inserts[0].body
    assert body["name"] == f"{SQL}-db" and body["region"] == "europe-west1" and body["databaseVersion"] == "POSTGRES_16"
    settings = body["settings"]
    assert settings["edition"] == "ENTERPRISE" and settings["tier"] == "db-custom-1-3840"
    assert settings["ipConfiguration"] == {"ipv4Enabled": False,
                                           "privateNetwork": f"projects/{PROJECT}/global/networks/default"}
    assert settings["backupConfiguration"] == {"enabled": True}
    assert settings["userLabels"]["mlflow-deployment"] == SQL
    stored = runs["first"].state["sql_instances"][(PROJECT, f"{SQL}-db")]
    assert stored["state"] == "RUNNABLE" and stored["ipAddresses"] == [
        {"type": "PRIVATE", "ipAddress": stored["ipAddresses"][0]["ipAddress"]}]
    # Polled until DONE before anything else touched the instance.
    polls = [r for r in runs["first"].requests if r.method_id == "sql.operations.get"]
    assert polls and all(r.status == 200 for r in polls)


def test_cloudsql_database_and_user_as_sent(gcp):
    _, runs, _ = gcp
    databases = runs["first"].sent("sql.databases.insert")
    assert [(r.body["name"], r.body.get("charset"), r.status) for r in databases] == [("mlflow", "UTF8", 200)]
    users = runs["first"].sent("sql.users.insert")
    assert len(users) == 1 and users[0].status == 200
    assert users[0].body == {"name": "mlflow", "password": PASSWORD}  # no host: PostgreSQL users have none
    assert runs["first"].state["sql_users"][(PROJECT, f"{SQL}-db")]["mlflow"]["password"] == PASSWORD
    assert PASSWORD not in runs["first"].output


def test_cloudsql_client_binding_on_the_project(gcp):
    _, runs, _ = gcp
    writes = runs["first"].sent("cloudresourcemanager.projects.setIamPolicy")
    assert [r.status for r in writes] == [409, 200], [(r.status, r.body) for r in writes]  # concurrent change, retried
    policy = runs["first"].state["project_policies"][PROJECT]
    members = {(b["role"], m) for b in policy["bindings"] for m in b["members"]}
    assert ("roles/cloudsql.client", f"serviceAccount:{sa(SQL)}") in members
    assert ("roles/viewer", "user:someone-else@example.com") in members
    assert not any(m == f"serviceAccount:{sa(PLAIN)}" for _, m in members)


def test_added_hosts(gcp):
    """Provisioning adds each VM with the address to reach it, and no variable of another role."""
    _, runs, _ = gcp
    added, state = runs["added"], runs["first"].state
    nat = {n: state["instances"][(PROJECT, ZONE, f"{n}-vm")]["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
           for n in (PLAIN, SQL)}
    assert added == {f"{n}-vm": {"ansible_host": nat[n]} for n in (PLAIN, SQL)}


def test_inventory_alone_configures_the_same_vm_the_same_way(gcp):
    """site.yml (provision, then configure) and mlflow_server.yml alone, both with the user's
    inventory (inventories/gcp), resolve every variable the roles read on the VM to the same value."""
    _, runs, _ = gcp
    assert runs["alone"].proc.returncode == 0, runs["alone"].output[-3000:]
    after, alone = runs["resolved_after"], runs["resolved_alone"]
    nat = runs["first"].state["instances"][(PROJECT, ZONE, f"{SQL}-vm")]["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
    assert list(after) == [f"{SQL}-vm"]
    assert after == alone
    vm = after[f"{SQL}-vm"]
    assert vm["ansible_host"] == nat and vm["ansible_user"] == "mlflow-admin"
    assert vm["server_artifacts_destination"] == f"gs://{bucket(SQL)}/mlflow"
    assert vm["cloudsql_proxy_instance_connection_name"] == f"{PROJECT}:europe-west1:{SQL}-db"
    assert (vm["db_client_engine"], vm["db_client_host"], vm["db_client_port"], vm["db_client_sslmode"]) == (
        "postgresql", "127.0.0.1", 5432, "disable")
    assert (vm["db_client_database"], vm["db_client_user"], vm["db_client_password"]) == ("mlflow", "mlflow", PASSWORD)
    assert "mlflow_servers" in vm["group_names"]


# -- the inventory plugin -------------------------------------------------------

def test_inventory_plugin_request_and_hosts(gcp):
    _, runs, _ = gcp
    inv = runs["inventory"]
    assert inv.proc.returncode == 0, inv.output[-3000:]
    lists = inv.sent("compute.instances.aggregatedList")
    assert len(lists) == 1 and lists[0].status == 200
    assert lists[0].host == "www.googleapis.com" and lists[0].path == f"/compute/v1/projects/{PROJECT}/aggregated/instances"
    assert lists[0].query == {"filter": [f"labels.mlflow-deployment = {PLAIN}"]}
    found = json.loads(inv.proc.stdout, object_hook=lambda o: o.get("__ansible_unsafe", o))
    nat = runs["first"].state["instances"][(PROJECT, ZONE, f"{PLAIN}-vm")]["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
    assert found["_meta"]["hostvars"][f"{PLAIN}-vm"]["ansible_host"] == nat
    assert found["mlflow_servers"]["hosts"] == [f"{PLAIN}-vm"]
    assert f"{SQL}-vm" not in found["_meta"]["hostvars"]
    assert inv.writes == []


# -- re-runs ---------------------------------------------------------------------

def test_second_provision_writes_nothing(gcp):
    _, runs, _ = gcp
    second = runs["second"]
    assert second.proc.returncode == 0, second.output[-6000:]
    assert recap_changed(second.output) == 0, second.output[-5000:]
    assert [(r.method, r.path) for r in second.writes] == []
    # The Cloud SQL path read what is there, and wrote nothing.
    assert second.sent("sql.instances.get") and second.sent("sql.users.list")


def test_check_mode_after_provision(gcp):
    _, runs, _ = gcp
    check = runs["check"]
    assert check.proc.returncode == 0, check.output[-6000:]
    assert recap_changed(check.output) == 0, check.output[-5000:]
    assert check.writes == []


def test_stopped_vm_refused_when_asked(gcp):
    _, runs, _ = gcp
    refused = runs["stopped_refused"]
    assert refused.proc.returncode != 0
    assert f"VM {SQL}-vm is TERMINATED" in refused.output
    assert "gcp_infra_start_stopped_vm=true" in refused.output
    assert refused.writes == []


def test_stopped_vm_started(gcp):
    _, runs, _ = gcp
    run = runs["stopped"]
    assert run.proc.returncode == 0, run.output[-6000:]
    assert [(r.method_id, r.path) for r in run.writes if r.method_id.startswith("compute.")] == [
        ("compute.instances.start", f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/{SQL}-vm/start")]
    vm = run.state["instances"][(PROJECT, ZONE, f"{SQL}-vm")]
    assert vm["status"] == "RUNNING"
    nat = vm["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
    assert runs["added_after_start"][f"{SQL}-vm"]["ansible_host"] == nat  # the new address
    assert nat != runs["first"].state["instances"][(PROJECT, ZONE, f"{SQL}-vm")]["networkInterfaces"][0][
        "accessConfigs"][0]["natIP"]


def test_cloudsql_changed_settings_and_password(gcp):
    _, runs, _ = gcp
    run = runs["stopped"]
    assert run.proc.returncode == 0, run.output[-6000:]
    sql_writes = [r for r in run.writes if r.method_id.startswith("sql.")]
    assert [r.method_id for r in sql_writes] == ["sql.instances.patch", "sql.users.update"]
    patch, user = sql_writes
    # The instance was in maintenance (left by the run before): read until RUNNABLE, then changed.
    reads = [r for r in run.requests if r.method_id == "sql.instances.get"]
    assert len(reads) >= 2 and run.requests.index(reads[1]) < run.requests.index(patch)
    # Only what differs, with the settingsVersion that was read.
    assert patch.body == {"settings": {"tier": "db-custom-2-7680", "settingsVersion": "1"}}
    assert patch.status == 200
    # An empty gcp_infra_db_password: generated on the controller (0600) and sent, never shown.
    generated, mode = runs["generated"]
    assert generated and re.fullmatch(r"[A-Za-z0-9]{32}", generated) and mode == 0o600, (generated is None, mode)
    assert user.query == {"name": ["mlflow"]} and user.body == {"password": generated} and user.status == 200
    stored = run.state["sql_instances"][(PROJECT, f"{SQL}-db")]["settings"]
    assert stored["tier"] == "db-custom-2-7680" and stored["settingsVersion"] == "2"
    assert generated not in run.output and PASSWORD not in run.output


# -- teardown --------------------------------------------------------------------

def test_teardown_refused_without_confirmation(gcp):
    _, runs, _ = gcp
    refused = runs["refused"]
    assert refused.proc.returncode != 0
    assert f"gcp_infra_teardown_confirm={SQL}" in refused.output
    assert refused.requests == []


def test_teardown_removes_what_was_made_and_keeps_the_bucket(gcp):
    _, runs, _ = gcp
    down = runs["down"]
    assert down.proc.returncode == 0, down.output[-6000:]
    before, state = runs["stopped"].state, down.state
    # Exactly the deployment's resources are gone; the other deployment's stay.
    assert set(before["instances"]) - set(state["instances"]) == {(PROJECT, ZONE, f"{SQL}-vm")}
    assert set(before["firewalls"]) - set(state["firewalls"]) == {(PROJECT, f"{SQL}-allow-web"), (PROJECT, f"{SQL}-allow-ssh")}
    assert set(state["firewalls"]) == {(PROJECT, f"{PLAIN}-allow-web"), (PROJECT, f"{PLAIN}-allow-ssh")}
    assert list(state["service_accounts"]) == [sa(PLAIN)]
    assert state["sql_instances"] == {}
    assert sorted(state["buckets"]) == sorted([bucket(PLAIN), bucket(SQL)])  # kept unless asked
    assert not any(f"serviceAccount:{sa(SQL)}" in b["members"] for b in state["bucket_policies"][bucket(SQL)]["bindings"])
    assert any(f"serviceAccount:{sa(PLAIN)}" in b["members"] for b in state["bucket_policies"][bucket(PLAIN)]["bindings"])
    policy = state["project_policies"][PROJECT]
    assert not any(f"serviceAccount:{sa(SQL)}" in b["members"] for b in policy["bindings"])
    assert ("roles/viewer", "user:someone-else@example.com") in {(b["role"], m) for b in policy["bindings"] for m in b["members"]}
    deletes = down.sent("sql.instances.delete")
    assert [r.path for r in deletes] == [f"/v1/projects/{PROJECT}/instances/{SQL}-db"]


def test_teardown_of_versioned_buckets(gcp):
    _, runs, _ = gcp
    assert runs["plain_delete"][0] == 409  # what deleting it with its old versions meets
    run = runs["down_bucket"]
    assert run.proc.returncode == 0, run.output[-6000:]
    deleted = [(r.path.rsplit("/o/", 1)[1], r.query["generation"][0]) for r in run.sent("storage.objects.delete")]
    assert len(deleted) == 4 and {name for name, _ in deleted} == {
        "mlflow%2F1%2Fabc%2Fartifacts%2Fmodel.pkl", "mlflow%2F1%2Fabc%2Fartifacts%2Fnotes.txt"}
    assert all(r.status == 204 for r in run.sent("storage.objects.delete"))
    assert len(run.sent("storage.objects.list")) >= 3  # pages of 2, then an empty list
    assert all(r.query["versions"] == ["true"] for r in run.sent("storage.objects.list"))
    assert [r.status for r in run.sent("storage.buckets.delete")] == [204]
    assert list(run.state["buckets"]) == [bucket(PLAIN)]


def test_teardown_again_changes_nothing(gcp):
    _, runs, _ = gcp
    again = runs["down_again"]
    assert again.proc.returncode == 0, again.output[-6000:]
    assert recap_changed(again.output) == 0, again.output[-5000:]
    assert again.writes == []


def test_nothing_reached_anything_but_the_double(gcp):
    double, runs, blocked = gcp
    assert not blocked.exists(), blocked.read_text()
    hosts = {r.host for r in double.state.requests}
    # iamcredentials: google-auth's own lookup of the key's regional access boundary (the double
    # answers 404, which google-auth tolerates); the rest are the APIs the playbooks call.
    assert hosts <= {"oauth2.googleapis.com", "iam.googleapis.com", "compute.googleapis.com", "www.googleapis.com",
                     "storage.googleapis.com", "iamcredentials.googleapis.com", "sqladmin.googleapis.com",
                     "cloudresourcemanager.googleapis.com"}, hosts
    unrouted = [(r.method, r.host, r.path) for r in double.state.requests
                if not r.method_id and r.host not in ("oauth2.googleapis.com", "iamcredentials.googleapis.com")]
    assert unrouted == []
    assert double.errors == []
