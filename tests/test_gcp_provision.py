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
  each IAM policy, the unconditional roles/cloudsql.client binding of an
  earlier version in place) -> the inventory plugin -> provision again (no
  write) -> provision in check mode (no write) -> refusals (the VM on
  another network; a network whose rules open SSH to the internet: no
  write) -> a stopped VM (refused when asked, else started; the tier and
  the TLS mode changed, the admin password set again, generated; an old
  objectAdmin binding on the bucket removed) -> teardown without
  confirmation (no request) -> teardown while someone else's Cloud SQL
  instance uses the deployment's network (no write) -> teardown of the Cloud
  SQL deployment (bucket
  kept, the other deployment untouched, its network, subnet, private
  services access and reserved range gone) -> teardown of its bucket with
  old object versions -> teardown again (nothing left, nothing changed).

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
ADMIN_PASSWORD = "admin-password-for-the-double-only"
COMPUTE = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}"
BUCKET_ROLES = ["roles/storage.objectCreator", "roles/storage.objectViewer"]


def sa(name):
    return f"{name}-vm@{PROJECT}.iam.gserviceaccount.com"


def network_url(name):
    """The deployment's own network, as Compute names it."""
    return f"{COMPUTE}/global/networks/{name}-net"


def condition(name):
    """The IAM condition of the deployment's roles/cloudsql.client binding."""
    return {"title": f"mlflow-{name}-cloudsql",
            "description": f"Cloud SQL instance {name}-db of MLflow deployment {name} only",
            "expression": f'resource.name == "projects/{PROJECT}/instances/{name}-db" '
                          f'&& resource.service == "sqladmin.googleapis.com"'}


def member_bindings(policy, member):
    """{(role, condition title or None)} of one member in a stored policy."""
    return {(b["role"], (b.get("condition") or {}).get("title")) for b in policy["bindings"] if member in b["members"]}


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
            "objects", "sql_instances", "sql_databases", "sql_users", "networks", "subnetworks", "global_addresses",
            "connections")})


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
            "db_client_database", "db_client_user", "db_client_password", "db_client_sslmode",
            "db_client_admin_user", "db_client_admin_password", "db_client_admin_database"]


def _refusal_play(name: str, settings: dict) -> dict:
    """The role with settings it must refuse; the refusal is rescued so that the next play runs."""
    return {"name": name, "hosts": "localhost", "gather_facts": False, "vars": settings, "tasks": [{
        "name": name, "block": [{"ansible.builtin.include_role": {"name": "mlops.mlflow.gcp_infra"}}],
        "rescue": [{"name": f"Refused: {name}", "ansible.builtin.debug": {"msg": f"refused: {name}"}}]}]}


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
                    "gcp_infra_db_password": PASSWORD, "gcp_infra_db_admin_password": ADMIN_PASSWORD,
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
        # The plain deployment's VM is on its own network: naming another one must stop the run; and a network
        # whose rules let the internet reach SSH (the default network's default-allow-ssh) must not be used.
        refusals = tmp / "refusals.yml"
        refusals.write_text(json.dumps([
            _refusal_play("Another network for an existing VM", {"mlflow_deployment_name": PLAIN,
                                                                 "gcp_infra_network": "default"}),
            _refusal_play("A network open to SSH", {"mlflow_deployment_name": "mlflow-dflt",
                                                   "gcp_infra_network": "default"})]))
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
        # What an earlier version of the role left: roles/cloudsql.client on the whole project.
        with double.state.lock:
            double.api._project_policy(PROJECT)["bindings"].append(
                {"role": "roles/cloudsql.client", "members": [f"serviceAccount:{sa(SQL)}"]})
        runs = Runs()
        runs["first"] = run(provision)
        runs["added"] = json.loads(dump.read_text()) if dump.exists() else {}
        runs["old_form"] = json.loads(old_form.read_text()) if old_form.exists() else {}
        if runs["first"].proc.returncode != 0:  # the rest would only repeat the failure
            (tmp / "first.log").write_text(runs["first"].output)
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
        runs["refusals"] = run(refusals)
        double.stop_instance(PROJECT, ZONE, f"{SQL}-vm")
        # (Cloud SQL left out of this run: it reaches the VM sooner, and nothing is written either way.)
        runs["stopped_refused"] = run(provision_sql, "-e", "gcp_infra_start_stopped_vm=false", "-e", "gcp_infra_cloudsql=false")
        double.sql_maintenance(PROJECT, f"{SQL}-db")  # changes must wait until it is RUNNABLE again
        dump.unlink()
        # What an earlier version of the role left on the bucket: roles/storage.objectAdmin for the VM.
        with double.state.lock:
            double.state.bucket_policies[bucket(SQL)]["bindings"].append(
                {"role": "roles/storage.objectAdmin", "members": [f"serviceAccount:{sa(SQL)}"]})
        # The same run changes the tier and the TLS mode and sets the admin's password again, an empty one this
        # time, which the role generates into gcp_infra_credentials_dir (default: credentials/ beside the
        # inventory): the two other Cloud SQL writes.
        runs["stopped"] = run(provision_sql, "-e", "gcp_infra_cloudsql_tier=db-custom-2-7680",
                              "-e", "gcp_infra_cloudsql_ssl_mode=TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
                              "-e", "gcp_infra_cloudsql_update_password=true", "-e", "gcp_infra_db_admin_password=")
        generated = tmp / "credentials" / f"{SQL}-db-admin"
        runs["generated"] = ((generated.read_text().strip(), generated.stat().st_mode & 0o777)
                             if generated.exists() else (None, None))
        runs["added_after_start"] = json.loads(dump.read_text()) if dump.exists() else {}
        runs["refused"] = run(teardown_sql)
        # Someone else's Cloud SQL instance on the deployment's network: teardown must not cut it off.
        sqladmin = f"https://sqladmin.googleapis.com/v1/projects/{PROJECT}/instances"
        made = double.call("POST", sqladmin, {
            "name": "someone-elses-db", "region": "europe-west1", "databaseVersion": "POSTGRES_16",
            "settings": {"tier": "db-custom-1-3840", "edition": "ENTERPRISE", "userLabels": {"team": "other"},
                         "ipConfiguration": {"ipv4Enabled": False,
                                             "privateNetwork": f"projects/{PROJECT}/global/networks/{SQL}-net"}}})
        for _ in range(2):
            double.call("GET", made[1]["selfLink"])
        runs["foreign_sql"] = run(teardown_sql, "-e", "test_confirm=true")
        gone = double.call("DELETE", f"{sqladmin}/someone-elses-db")
        for _ in range(2):
            double.call("GET", gone[1]["selfLink"])
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


def test_own_network_and_subnet_as_sent(gcp):
    """Each deployment gets its own custom mode network and a subnet in the region, never `default`."""
    _, runs, _ = gcp
    first = runs["first"]
    networks = {r.body["name"]: r for r in first.sent("compute.networks.insert")}
    subnets = {r.body["name"]: r for r in first.sent("compute.subnetworks.insert")}
    assert set(networks) == {f"{n}-net" for n in (PLAIN, SQL)} and set(subnets) == {f"{n}-subnet" for n in (PLAIN, SQL)}
    for name in (PLAIN, SQL):
        net = networks[f"{name}-net"]
        assert net.status == 200 and net.body["autoCreateSubnetworks"] is False
        sub = subnets[f"{name}-subnet"]
        assert sub.status == 200 and sub.path == f"/compute/v1/projects/{PROJECT}/regions/europe-west1/subnetworks"
        assert sub.body["network"] == network_url(name) and sub.body["ipCidrRange"] == "10.20.0.0/24"
        assert sub.body["privateIpGoogleAccess"] is True
        # Custom mode: the network holds the role's subnet only, and no firewall rule but the role's two.
        stored = first.state["networks"][(PROJECT, f"{name}-net")]["resource"]
        assert stored["subnetworks"] == [f"{COMPUTE}/regions/europe-west1/subnetworks/{name}-subnet"]
        rules = {n for (pr, n), f in first.state["firewalls"].items() if f["network"] == network_url(name)}
        assert rules == {f"{name}-allow-web", f"{name}-allow-ssh"}
    # The project's default network (made for the double's old-form check below) comes with default-allow-ssh
    # from 0.0.0.0/0, which is why the role does not use it.
    default_ssh = first.state["firewalls"][(PROJECT, "default-allow-ssh")]
    assert default_ssh["sourceRanges"] == ["0.0.0.0/0"] and default_ssh["network"].endswith("/networks/default")


def test_private_services_access_on_the_own_network(gcp):
    """With Cloud SQL, the role reserves a range on its network and connects it to Google's services
    (Service Networking, named by the project's number) before it creates the instance."""
    _, runs, _ = gcp
    first = runs["first"]
    ranges = first.sent("compute.globalAddresses.insert")
    assert [(r.body["name"], r.status) for r in ranges] == [(f"{SQL}-google-services", 200)]
    assert {k: ranges[0].body[k] for k in ("address", "prefixLength", "addressType", "purpose", "network")} == {
        "address": "10.21.0.0", "prefixLength": 16, "addressType": "INTERNAL", "purpose": "VPC_PEERING",
        "network": network_url(SQL)}
    connects = first.sent("servicenetworking.services.connections.create")
    assert len(connects) == 1 and connects[0].status == 200
    assert connects[0].path == "/v1/services/servicenetworking.googleapis.com/connections"
    assert connects[0].body == {"network": f"projects/123456789012/global/networks/{SQL}-net",
                                "reservedPeeringRanges": [f"{SQL}-google-services"]}
    polls = first.sent("servicenetworking.operations.get")
    assert polls and polls[-1].answer["done"] is True and "error" not in polls[-1].answer
    order = [r.method_id for r in first.requests]
    assert order.index("servicenetworking.services.connections.create") < order.index("sql.instances.insert")
    # The deployment without Cloud SQL needs none of it.
    assert all(PLAIN not in json.dumps(r.body) for r in ranges + connects)


def test_firewall_bodies_as_sent(gcp):
    _, runs, _ = gcp
    sent = {b["name"]: b for b in (r.body for r in runs["first"].sent("compute.firewalls.insert"))}
    sent.pop("old-form-allow-web", None)  # the module's old form, below
    assert set(sent) == {f"{n}-allow-{k}" for n in (PLAIN, SQL) for k in ("web", "ssh")}
    for name in (PLAIN, SQL):
        web, ssh = sent[f"{name}-allow-web"], sent[f"{name}-allow-ssh"]
        # The exact network sent: a full URL, the project once (1.10.2 doubled a partial one).
        assert web["network"] == ssh["network"] == network_url(name)
        assert web["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
        assert web["sourceRanges"] == ["0.0.0.0/0"] and web["targetTags"] == [name]
        assert ssh["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
        assert ssh["sourceRanges"] == ["203.0.113.7/32"] and ssh["targetTags"] == [name]
    opened = {p for body in sent.values() for a in body["allowed"] for p in a.get("ports", ["all"])}
    assert opened == {"22", "80", "443"}, opened  # never 5000, 5432, 3306 or all ports
    # The network's rules were read (the check for other rules open to SSH) before any was made.
    order = [r.method_id for r in runs["first"].requests]
    assert order.index("compute.firewalls.list") < order.index("compute.firewalls.insert")


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
    patches = {r.path.rsplit("/", 1)[1]: r for r in runs["first"].sent("storage.buckets.patch")}
    for name in (PLAIN, SQL):
        record = sent[bucket(name)]
        assert record.query["project"] == [PROJECT]
        body = record.body
        assert body["iamConfiguration"] == {"uniformBucketLevelAccess": {"enabled": True},
                                            "publicAccessPrevention": "enforced"}
        assert body["versioning"] == {"enabled": True}
        assert body["labels"]["mlflow-deployment"] == name
        assert body["location"] == "EUROPE-WEST1"
        # Soft delete: what is deleted or overwritten stays restorable for 30 days (the bucket came with 7).
        assert patches[bucket(name)].body == {"softDeletePolicy": {"retentionDurationSeconds": str(30 * 86400)}}
        assert patches[bucket(name)].status == 200
        stored = runs["first"].state["buckets"][bucket(name)]
        assert stored["softDeletePolicy"]["retentionDurationSeconds"] == str(30 * 86400)


def test_vm_as_sent(gcp):
    _, runs, _ = gcp
    sent = {r.body["name"]: r.body for r in runs["first"].sent("compute.instances.insert")}
    for name in (PLAIN, SQL):
        vm = sent[f"{name}-vm"]
        assert vm["serviceAccounts"] == [{"email": sa(name), "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
        assert vm["shieldedInstanceConfig"] == {
            "enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
        assert vm["disks"][0]["initializeParams"]["sourceImage"] == "projects/debian-cloud/global/images/family/debian-12"
        assert vm["networkInterfaces"][0]["network"] == network_url(name)
        assert vm["networkInterfaces"][0]["subnetwork"] == f"projects/{PROJECT}/regions/europe-west1/subnetworks/{name}-subnet"
        assert vm["machineType"].endswith(f"/projects/{PROJECT}/zones/{ZONE}/machineTypes/e2-medium")
        assert vm["tags"] == {"items": [name]}
        assert vm["labels"]["mlflow-deployment"] == name
        metadata = {item["key"]: item["value"] for item in vm["metadata"]["items"]}
        assert metadata["ssh-keys"].startswith("mlflow-admin:ssh-ed25519 ")
        assert metadata["block-project-ssh-keys"] == "TRUE"
    # The stored VM is what Google would answer: no input-only initializeParams, full links, an address of its subnet.
    stored = runs["first"].state["instances"][(PROJECT, ZONE, f"{PLAIN}-vm")]
    assert "initializeParams" not in stored["disks"][0]
    assert stored["networkInterfaces"][0]["subnetwork"] == f"{COMPUTE}/regions/europe-west1/subnetworks/{PLAIN}-subnet"
    assert stored["networkInterfaces"][0]["networkIP"].startswith("10.20.0.")


def test_operations_polled_to_done(gcp):
    _, runs, _ = gcp
    requests = runs["first"].requests
    inserts = [r for r in requests if r.status == 200 and r.method_id in (
        "compute.networks.insert", "compute.subnetworks.insert", "compute.globalAddresses.insert",
        "compute.firewalls.insert", "compute.instances.insert", "sql.instances.insert", "sql.users.insert")]
    # 2 networks, 2 subnets, 1 reserved range, 4 rules, 2 VMs; the Cloud SQL instance and its admin user
    assert len(inserts) == 2 + 2 + 1 + 4 + 2 + 2, [r.method_id for r in inserts]
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


def test_bucket_roles_create_and_read_only(gcp):
    """The VM may create and read objects, and delete none: no current object, no old version."""
    _, runs, _ = gcp
    for name in (PLAIN, SQL):
        policy = runs["first"].state["bucket_policies"][bucket(name)]
        assert member_bindings(policy, f"serviceAccount:{sa(name)}") == {(r, None) for r in BUCKET_ROLES}
        written = [r for r in runs["first"].sent("storage.buckets.setIamPolicy")
                   if r.path.endswith(f"/b/{bucket(name)}/iam") and r.status == 200][0]
        roles = {b["role"] for b in written.body["bindings"] if f"serviceAccount:{sa(name)}" in b["members"]}
        assert roles == set(BUCKET_ROLES)
        assert not roles & {"roles/storage.objectAdmin", "roles/storage.objectUser", "roles/storage.admin"}
    reads = runs["first"].sent("storage.buckets.getIamPolicy")
    assert reads and all(r.query["optionsRequestedPolicyVersion"] == ["3"] for r in reads)


def test_bucket_binding_survives_a_concurrent_change(gcp):
    _, runs, _ = gcp
    policy = runs["first"].state["bucket_policies"][bucket(PLAIN)]
    members = {(b["role"], m) for b in policy["bindings"] for m in b["members"]}
    assert ("roles/storage.objectCreator", f"serviceAccount:{sa(PLAIN)}") in members
    assert ("roles/storage.objectViewer", "user:someone-else@example.com") in members  # not lost
    # The write carried the etag it had read (what makes the conflict visible instead of lost).
    last = [r for r in runs["first"].sent("storage.buckets.setIamPolicy") if r.status == 200][0]
    assert last.body["etag"]
    # Only the bucket, never the project, for the deployment without Cloud SQL.
    project_writes = [r for r in runs["first"].sent("cloudresourcemanager.projects.setIamPolicy")]
    assert all(f"serviceAccount:{sa(PLAIN)}" not in json.dumps(r.body) for r in project_writes)


def test_old_bucket_role_removed(gcp):
    """roles/storage.objectAdmin left by an earlier version is taken away: the VM's roles on the bucket are
    exactly gcp_infra_bucket_roles."""
    _, runs, _ = gcp
    run = runs["stopped"]
    writes = [r for r in run.sent("storage.buckets.setIamPolicy") if r.status == 200]
    assert len(writes) == 1
    held = {b["role"] for b in writes[0].body["bindings"] if f"serviceAccount:{sa(SQL)}" in b["members"]}
    assert held == set(BUCKET_ROLES)
    policy = run.state["bucket_policies"][bucket(SQL)]
    assert member_bindings(policy, f"serviceAccount:{sa(SQL)}") == {(r, None) for r in BUCKET_ROLES}


def test_cloudsql_instance_as_sent(gcp):
    _, runs, _ = gcp
    inserts = runs["first"].sent("sql.instances.insert")
    assert len(inserts) == 1 and inserts[0].status == 200
    assert inserts[0].host == "sqladmin.googleapis.com" and inserts[0].path == f"/v1/projects/{PROJECT}/instances"
    body = inserts[0].body
    assert body["name"] == f"{SQL}-db" and body["region"] == "europe-west1" and body["databaseVersion"] == "POSTGRES_16"
    settings = body["settings"]
    assert settings["edition"] == "ENTERPRISE" and settings["tier"] == "db-custom-1-3840"
    # Private IP only, on the deployment's own network, and no connection without TLS.
    assert settings["ipConfiguration"] == {"ipv4Enabled": False,
                                           "privateNetwork": f"projects/{PROJECT}/global/networks/{SQL}-net",
                                           "sslMode": "ENCRYPTED_ONLY"}
    assert settings["backupConfiguration"] == {"enabled": True}
    assert settings["userLabels"]["mlflow-deployment"] == SQL
    stored = runs["first"].state["sql_instances"][(PROJECT, f"{SQL}-db")]
    assert stored["state"] == "RUNNABLE" and stored["ipAddresses"] == [
        {"type": "PRIVATE", "ipAddress": stored["ipAddresses"][0]["ipAddress"]}]
    assert stored["settings"]["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    # Polled until DONE before anything else touched the instance.
    polls = [r for r in runs["first"].requests if r.method_id == "sql.operations.get"]
    assert polls and all(r.status == 200 for r in polls)


def test_cloudsql_admin_user_as_sent(gcp):
    """The Admin API makes one user, the admin (a cloudsqlsuperuser member); MLflow's user and database are
    db_client's to make on the VM, owned by MLflow's user."""
    _, runs, _ = gcp
    assert runs["first"].sent("sql.databases.insert") == []
    users = runs["first"].sent("sql.users.insert")
    assert len(users) == 1 and users[0].status == 200
    assert users[0].body == {"name": "mlflow_admin", "password": ADMIN_PASSWORD}  # no host: PostgreSQL users have none
    stored = runs["first"].state["sql_users"][(PROJECT, f"{SQL}-db")]
    assert set(stored) == {"postgres", "mlflow_admin"} and stored["mlflow_admin"]["password"] == ADMIN_PASSWORD
    assert ADMIN_PASSWORD not in runs["first"].output and PASSWORD not in runs["first"].output


def test_cloudsql_client_binding_on_the_one_instance(gcp):
    _, runs, _ = gcp
    reads = runs["first"].sent("cloudresourcemanager.projects.getIamPolicy")
    assert reads and all(r.body == {"options": {"requestedPolicyVersion": 3}} for r in reads)
    writes = runs["first"].sent("cloudresourcemanager.projects.setIamPolicy")
    assert [r.status for r in writes] == [409, 200], [(r.status, r.body) for r in writes]  # concurrent change, retried
    sent = writes[-1].body["policy"]
    assert sent["version"] == 3 and sent["etag"]
    member = f"serviceAccount:{sa(SQL)}"
    ours = [b for b in sent["bindings"] if member in b["members"]]
    assert ours == [{"role": "roles/cloudsql.client", "members": [member], "condition": condition(SQL)}]
    policy = runs["first"].state["project_policies"][PROJECT]
    assert policy["version"] == 3
    # The unconditional binding an earlier version made is gone; nobody else's binding was touched.
    assert member_bindings(policy, member) == {("roles/cloudsql.client", f"mlflow-{SQL}-cloudsql")}
    members = {(b["role"], m) for b in policy["bindings"] for m in b["members"]}
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
    # MLflow connects as its own user, the owner of its database; db_client creates both as the admin that
    # provisioning made through the Admin API, whose password stays on the controller (an argument of the
    # database modules, no file on the VM).
    assert (vm["db_client_database"], vm["db_client_user"], vm["db_client_password"]) == ("mlflow", "mlflow", PASSWORD)
    assert (vm["db_client_admin_user"], vm["db_client_admin_password"], vm["db_client_admin_database"]) == (
        "mlflow_admin", ADMIN_PASSWORD, "postgres")
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


def test_refusals_write_nothing(gcp):
    """A VM on another network than the one named, and a network whose rules let the internet reach SSH:
    both stop the run before anything is written."""
    _, runs, _ = gcp
    run = runs["refusals"]
    assert re.search(r"^localhost\s+:.* failed=0 .* rescued=2", run.output, re.M), run.output[-5000:]
    assert run.writes == [], [(r.method_id, r.path) for r in run.writes]
    assert f"VM {PLAIN}-vm is on network '{PLAIN}-net'" in run.output
    assert "gcp_infra_network=mlflow-test-net" in run.output
    assert "Firewall rule default-allow-ssh of network default lets 0.0.0.0/0" in run.output
    assert "gcloud compute firewall-rules delete default-allow-ssh" in run.output


def test_stopped_vm_refused_when_asked(gcp):
    _, runs, _ = gcp
    refused = runs["stopped_refused"]
    assert refused.proc.returncode != 0
    assert f"VM {SQL}-vm is TERMINATED" in refused.output
    assert "gcp_infra_start_stopped_vm=true" in refused.output
    assert refused.writes == []
    # Refused first: right after the VM was read, before the network, the firewall rules, the bucket.
    assert [r.method_id for r in refused.requests if r.method_id] == ["compute.instances.list"], [
        r.method_id for r in refused.requests]


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
    assert patch.body == {"settings": {"tier": "db-custom-2-7680",
                                       "ipConfiguration": {"sslMode": "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"},
                                       "settingsVersion": "1"}}
    assert patch.status == 200
    # An empty gcp_infra_db_admin_password: generated on the controller (0600) and sent, never shown.
    generated, mode = runs["generated"]
    assert generated and re.fullmatch(r"[A-Za-z0-9]{32}", generated) and mode == 0o600, (generated is None, mode)
    assert user.query == {"name": ["mlflow_admin"]} and user.body == {"password": generated} and user.status == 200
    stored = run.state["sql_instances"][(PROJECT, f"{SQL}-db")]["settings"]
    assert stored["tier"] == "db-custom-2-7680" and stored["settingsVersion"] == "2"
    assert stored["ipConfiguration"]["sslMode"] == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    assert generated not in run.output and PASSWORD not in run.output and ADMIN_PASSWORD not in run.output


# -- teardown --------------------------------------------------------------------

def test_teardown_refused_without_confirmation(gcp):
    _, runs, _ = gcp
    refused = runs["refused"]
    assert refused.proc.returncode != 0
    assert f"gcp_infra_teardown_confirm={SQL}" in refused.output
    assert refused.requests == []


def test_teardown_stops_for_someone_elses_cloudsql_on_the_network(gcp):
    _, runs, _ = gcp
    run = runs["foreign_sql"]
    assert run.proc.returncode != 0
    assert "Cloud SQL instance someone-elses-db is not labelled mlflow-deployment=mlflow-sql" in run.output
    assert "Nothing was removed" in run.output
    assert run.writes == [], [(r.method_id, r.path) for r in run.writes]


def test_teardown_removes_what_was_made_and_keeps_the_bucket(gcp):
    _, runs, _ = gcp
    down = runs["down"]
    assert down.proc.returncode == 0, down.output[-6000:]
    before, state = runs["stopped"].state, down.state
    # Exactly the deployment's resources are gone; the other deployment's stay.
    assert set(before["instances"]) - set(state["instances"]) == {(PROJECT, ZONE, f"{SQL}-vm")}
    assert set(before["firewalls"]) - set(state["firewalls"]) == {(PROJECT, f"{SQL}-allow-web"), (PROJECT, f"{SQL}-allow-ssh")}
    assert {k for k in state["firewalls"] if k[1].startswith("mlflow-")} == {
        (PROJECT, f"{PLAIN}-allow-web"), (PROJECT, f"{PLAIN}-allow-ssh")}
    # Its network, subnet and reserved range too; the other deployment's and the default network stay.
    assert set(before["networks"]) - set(state["networks"]) == {(PROJECT, f"{SQL}-net")}
    assert (PROJECT, f"{PLAIN}-net") in state["networks"] and (PROJECT, "default") in state["networks"]
    assert set(before["subnetworks"]) - set(state["subnetworks"]) == {(PROJECT, "europe-west1", f"{SQL}-subnet")}
    assert list(state["subnetworks"]) == [(PROJECT, "europe-west1", f"{PLAIN}-subnet")]
    assert state["global_addresses"] == {}
    assert list(state["service_accounts"]) == [sa(PLAIN)]
    assert state["sql_instances"] == {}
    assert sorted(state["buckets"]) == sorted([bucket(PLAIN), bucket(SQL)])  # kept unless asked
    assert not any(f"serviceAccount:{sa(SQL)}" in b["members"] for b in state["bucket_policies"][bucket(SQL)]["bindings"])
    assert any(f"serviceAccount:{sa(PLAIN)}" in b["members"] for b in state["bucket_policies"][bucket(PLAIN)]["bindings"])
    policy = state["project_policies"][PROJECT]
    assert not any(f"serviceAccount:{sa(SQL)}" in b["members"] for b in policy["bindings"])
    assert ("roles/viewer", "user:someone-else@example.com") in {(b["role"], m) for b in policy["bindings"] for m in b["members"]}
    removed = [r for r in down.sent("cloudresourcemanager.projects.setIamPolicy") if r.status == 200]
    assert len(removed) == 1 and removed[0].body["policy"]["version"] == 3
    deletes = down.sent("sql.instances.delete")
    assert [r.path for r in deletes] == [f"/v1/projects/{PROJECT}/instances/{SQL}-db"]


def test_teardown_removes_the_network_after_what_used_it(gcp):
    """The network goes last: after the VM, the rules and Cloud SQL; its private services connection is
    refused (Cloud SQL keeps its side for days after a deletion), so the peering is removed with Compute,
    then the reserved range, the subnet and the network."""
    _, runs, _ = gcp
    down = runs["down"]
    order = [r.method_id for r in down.writes]
    assert order[-5:] == ["servicenetworking.services.connections.deleteConnection", "compute.networks.removePeering",
                          "compute.globalAddresses.delete", "compute.subnetworks.delete", "compute.networks.delete"], order
    for earlier in ("compute.instances.delete", "compute.firewalls.delete", "sql.instances.delete"):
        assert order.index(earlier) < order.index("servicenetworking.services.connections.deleteConnection")
    (delete,) = down.sent("servicenetworking.services.connections.deleteConnection")
    assert delete.path == "/v1/services/servicenetworking.googleapis.com/connections/servicenetworking-googleapis-com"
    assert delete.body == {"consumerNetwork": f"projects/123456789012/global/networks/{SQL}-net"}
    refused = [r.answer for r in down.sent("servicenetworking.operations.get") if (r.answer or {}).get("done")]
    assert refused and "Producer services" in refused[-1]["error"]["message"]
    (removal,) = down.sent("compute.networks.removePeering")
    assert removal.path == f"/compute/v1/projects/{PROJECT}/global/networks/{SQL}-net/removePeering"
    assert removal.body == {"name": "servicenetworking-googleapis-com"} and removal.status == 200
    assert [r.status for r in down.sent("compute.networks.delete")] == [200]


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
                     "cloudresourcemanager.googleapis.com", "servicenetworking.googleapis.com"}, hosts
    unrouted = [(r.method, r.host, r.path) for r in double.state.requests
                if not r.method_id and r.host not in ("oauth2.googleapis.com", "iamcredentials.googleapis.com")]
    assert unrouted == []
    assert double.errors == []
