"""playbooks/provision_gcp.yml and teardown_gcp.yml against a local HTTPS
double of the Google APIs (tests/gcp_double/server.py).

The google.cloud modules build their URLs in code (compute.googleapis.com,
storage.googleapis.com, iam.googleapis.com, oauth2.googleapis.com), so the
test does not change the URLs: it changes name resolution, in-process, for
ansible-playbook and every module it runs (tests/gcp_double/sitecustomize.py
on PYTHONPATH). *.googleapis.com resolves to the double on 127.0.0.1, the
double's certificate is trusted through REQUESTS_CA_BUNDLE, every other name
fails to resolve and every non-loopback connection is refused (and logged):
no real Google endpoint can be reached, and the test fails if anything tried.

What this proves: the requests the playbooks make (what is created, with
which settings), that a second run makes no write request and reports
changed=0, that teardown removes exactly what was made, and the hosts
add_host puts in the inventory. What it does not prove: that the real APIs
accept these requests (permissions, quotas, API enablement, org policies),
that their answers look exactly like the double's, or that the VM boots and
answers SSH. Only a real project shows those (docs/gcp.md)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gcp_double.server import Double, service_account_key

ROOT = Path(__file__).resolve().parent.parent
GUARD = Path(__file__).resolve().parent / "gcp_double"
PROJECT = "mlops-test-project"
NAME = "mlflow-test"
SA = f"{NAME}-vm@{PROJECT}.iam.gserviceaccount.com"
BUCKET = f"{PROJECT}-{NAME}-artifacts"


@pytest.fixture
def gcp(tmp_path):
    with Double(tmp_path) as double:
        key = service_account_key(tmp_path / "key.json", PROJECT)
        blocked = tmp_path / "blocked.log"
        inventory = tmp_path / "hosts.json"
        inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        dump = tmp_path / "added_hosts.json"
        wrapper = tmp_path / "provision_and_dump.yml"
        wrapper.write_text(json.dumps([
            {"name": "Provision", "ansible.builtin.import_playbook": str(ROOT / "playbooks" / "provision_gcp.yml")},
            {"name": "Dump the added hosts", "hosts": "localhost", "gather_facts": False, "tasks": [{
                "name": "Write the added hosts",
                "ansible.builtin.copy": {
                    "dest": str(dump), "mode": "0600",
                    "content": "{{ dict(groups['mlflow_servers'] | zip(groups['mlflow_servers'] | map('extract', hostvars)"
                               " | map('dict2items') | map('selectattr', 'key', 'in', ['ansible_host', 'ansible_user',"
                               " 'server_artifacts_destination', 'gcp_infra_cloudsql_instance_connection_name',"
                               " 'db_client_host']) | map('items2dict'))) | to_json }}"},
                "changed_when": False}]},
        ]))
        variables = tmp_path / "vars.json"
        variables.write_text(json.dumps({
            "gcp_project": PROJECT,
            "gcp_zone": "europe-west1-b",
            "gcp_admin_ranges": ["203.0.113.7/32"],
            "mlflow_deployment_name": NAME,
            "gcp_infra_auth_kind": "serviceaccount",
            "gcp_infra_service_account_file": str(key),
            "gcp_infra_ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LW9ubHktZm9yLXRoZS10ZXN0 test",
            # The VM's address is the double's (a documentation address): never wait for SSH on it.
            "gcp_infra_ssh_wait_timeout": 0,
        }))
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")
               and not k.startswith(("GOOGLE_", "GCP_", "CLOUDSDK_"))}
        env.update(
            PYTHONPATH=str(GUARD),
            GCP_DOUBLE_PORT=str(double.port),
            GCP_DOUBLE_BLOCKED_LOG=str(blocked),
            REQUESTS_CA_BUNDLE=str(double.ca),
            SSL_CERT_FILE=str(double.ca),
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )

        def run(playbook: Path, *extra: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                 "-e", f"@{variables}", *extra, str(playbook)],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)

        double.run = run
        double.wrapper = wrapper
        double.dump = dump
        double.blocked = blocked
        yield double


def recap_changed(output: str) -> int:
    match = re.search(r"^localhost\s+: ok=\d+\s+changed=(\d+)", output, re.M)
    assert match, output[-3000:]
    return int(match.group(1))


def test_provision_twice_then_teardown(gcp):
    state = gcp.state

    first = gcp.run(gcp.wrapper)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    assert recap_changed(first.stdout) > 0

    # The service account of the VM; its only role is on the bucket.
    assert list(state.service_accounts) == [SA]
    assert not any(host == "cloudresourcemanager.googleapis.com" for _, host, _ in state.requests)
    policy = state.bucket_policies[BUCKET]
    assert [b["role"] for b in policy["bindings"] if f"serviceAccount:{SA}" in b["members"]] == ["roles/storage.objectAdmin"]

    # Firewall rules by network tag: 80/443 from the ingress ranges, 22 from the admin range only.
    web, ssh = state.firewalls[f"{NAME}-allow-web"], state.firewalls[f"{NAME}-allow-ssh"]
    assert web["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
    assert web["sourceRanges"] == ["0.0.0.0/0"] and web["targetTags"] == [NAME]
    assert ssh["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
    assert ssh["sourceRanges"] == ["203.0.113.7/32"] and ssh["targetTags"] == [NAME]
    opened = {p for rule in state.firewalls.values() for a in rule["allowed"] for p in a.get("ports", ["all"])}
    assert opened == {"22", "80", "443"}, opened  # never 5000, 5432, 3306 or all ports

    # The bucket: uniform bucket-level access, public access prevention enforced, versioning, labels.
    bucket = state.buckets[BUCKET]
    assert bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
    assert bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["labels"]["mlflow-deployment"] == NAME
    assert bucket["location"] == "EUROPE-WEST1"

    # The VM: Debian 12, the deployment's service account (not the default compute one), shielded, tagged, labelled.
    vm = state.instances[f"{NAME}-vm"]
    assert vm["serviceAccounts"][0]["email"] == SA
    assert vm["shieldedInstanceConfig"] == {
        "enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
    assert vm["disks"][0]["initializeParams"]["sourceImage"] == "projects/debian-cloud/global/images/family/debian-12"
    assert vm["tags"]["items"] == [NAME]
    assert vm["labels"]["mlflow-deployment"] == NAME
    metadata = {item["key"]: item["value"] for item in vm["metadata"]["items"]}
    assert metadata["ssh-keys"].startswith("mlflow-admin:ssh-ed25519 ")
    assert metadata["block-project-ssh-keys"] == "TRUE"

    # add_host: the VM in mlflow_servers, reached at its external address, artifacts in the bucket.
    added = json.loads(gcp.dump.read_text())
    nat_ip = vm["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
    assert added == {f"{NAME}-vm": {
        "ansible_host": nat_ip, "ansible_user": "mlflow-admin",
        "server_artifacts_destination": f"gs://{BUCKET}/mlflow",
        "gcp_infra_cloudsql_instance_connection_name": ""}}

    # Second run: nothing to change, and no write request at all.
    before = len(state.requests)
    second = gcp.run(gcp.wrapper)
    assert second.returncode == 0, second.stdout[-5000:]
    assert recap_changed(second.stdout) == 0, second.stdout[-5000:]
    assert [r for r in state.requests[before:] if r[0] != "GET" and r[1] != "oauth2.googleapis.com"] == []

    # Teardown refuses without the confirmation, before any request.
    before = len(state.requests)
    refused = gcp.run(ROOT / "playbooks" / "teardown_gcp.yml")
    assert refused.returncode != 0
    assert f"gcp_infra_teardown_confirm={NAME}" in refused.stdout
    assert len(state.requests) == before

    # Teardown with it removes what was made (the bucket and its artifacts stay by default).
    down = gcp.run(ROOT / "playbooks" / "teardown_gcp.yml", "-e", f"gcp_infra_teardown_confirm={NAME}")
    assert down.returncode == 0, down.stdout[-5000:]
    assert state.instances == {} and state.firewalls == {} and state.service_accounts == {}
    assert list(state.buckets) == [BUCKET]
    assert not any(f"serviceAccount:{SA}" in b["members"] for b in state.bucket_policies[BUCKET]["bindings"])
    again = gcp.run(ROOT / "playbooks" / "teardown_gcp.yml", "-e", f"gcp_infra_teardown_confirm={NAME}")
    assert again.returncode == 0 and recap_changed(again.stdout) == 0, again.stdout[-5000:]

    # With gcp_infra_teardown_bucket, the (empty) bucket goes too.
    gone = gcp.run(ROOT / "playbooks" / "teardown_gcp.yml", "-e", f"gcp_infra_teardown_confirm={NAME}",
                   "-e", "gcp_infra_teardown_bucket=true")
    assert gone.returncode == 0, gone.stdout[-5000:]
    assert state.buckets == {}

    # Nothing tried to reach anything but the double.
    assert not gcp.blocked.exists(), gcp.blocked.read_text()
    hosts = {host for _, host, _ in state.requests}
    # iamcredentials: google-auth's own lookup of the key's regional access boundary (the double
    # answers 404, which google-auth tolerates); the rest are the APIs the playbooks call.
    assert hosts <= {"oauth2.googleapis.com", "iam.googleapis.com", "compute.googleapis.com",
                     "storage.googleapis.com", "iamcredentials.googleapis.com"}, hosts
