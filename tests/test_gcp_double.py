"""The GCP double itself (tests/gcp_double): it must refuse what Google
refuses, or the provisioning tests prove nothing. Plain HTTPS requests to
it, no Ansible: each case is a body the real API is documented to refuse
(or accept), most of them bodies that google.cloud 1.10.2 or an earlier
version of the role really sent."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gcp_double import discovery
from gcp_double.server import Double

PROJECT = "mlops-test-project"
COMPUTE = f"https://compute.googleapis.com/compute/v1/projects/{PROJECT}"
SQLADMIN = f"https://sqladmin.googleapis.com/v1/projects/{PROJECT}"
NETWORK = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/default"


@pytest.fixture(scope="module")
def double(tmp_path_factory):
    with Double(tmp_path_factory.mktemp("double")) as running:
        yield running


def firewall(name, **changes):
    body = {"kind": "compute#firewall", "name": name, "network": NETWORK, "direction": "INGRESS", "priority": 1000,
            "allowed": [{"IPProtocol": "tcp", "ports": ["80", "443"]}], "sourceRanges": ["0.0.0.0/0"],
            "targetTags": ["mlflow"]}
    body.update(changes)
    return body


def message(answer):
    return answer[1]["error"]["message"]


def test_documents_come_from_the_installed_package():
    path = discovery.documents_dir()
    assert "googleapiclient" in path.parts and "site-packages" in str(path)
    repo = Path(__file__).resolve().parent.parent
    assert not list(repo.glob("tests/**/compute.v1.json")), "discovery documents must not be copied into the repo"
    assert discovery.document("compute.v1")["schemas"]["Firewall"]["properties"]["network"]["type"] == "string"


def test_old_malformed_firewall_body_is_refused(double):
    # What gcp_compute_firewall 1.10.2 sends for network.selfLink: projects/P/global/networks/default
    # (the role's old form): it prefixes .../compute/v1/projects/{project}/ to anything not a full URL.
    old = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/projects/{PROJECT}/global/networks/default"
    answer = double.call("POST", f"{COMPUTE}/global/firewalls", firewall("old-allow-web", network=old))
    assert answer[0] == 400, answer
    assert "resource.network" in message(answer) and "malformed" in message(answer)
    assert not [op for op in double.state.operations.values() if "old-allow-web" in op.resource["targetLink"]]
    assert [r.status for r in double.state.calls("compute.firewalls.insert")][-1] == 400


@pytest.mark.parametrize("network", [
    NETWORK,
    f"projects/{PROJECT}/global/networks/default",
    "global/networks/default",
    f"https://compute.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/default",
])
def test_documented_network_forms_are_accepted(double, network):
    name = f"ok-{abs(hash(network)) % 10**6}"
    answer = double.call("POST", f"{COMPUTE}/global/firewalls", firewall(name, network=network))
    assert answer[0] == 200, answer
    op = answer[1]
    assert op["status"] == "PENDING" and op["targetLink"].startswith("https://www.googleapis.com/compute/v1/")
    # PENDING -> RUNNING -> DONE, one step per poll; the rule exists once DONE, with the full network URL.
    assert double.call("GET", f"{COMPUTE}/global/firewalls/{name}")[0] == 404
    assert [double.call("GET", op["selfLink"])[1]["status"] for _ in range(3)] == ["RUNNING", "DONE", "DONE"]
    stored = double.call("GET", op["targetLink"])[1]
    assert stored["network"] == NETWORK
    assert stored["selfLink"] == f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/firewalls/{name}"
    assert stored["logConfig"] == {"enable": False} and stored["disabled"] is False and stored["id"].isdigit()


@pytest.mark.parametrize("changes, expected", [
    ({"network": "projects/other-project-1/global/networks/default"}, "Cross-project"),
    ({"network": "global/networks/missing"}, "was not found"),
    ({"network": "networks/default"}, "malformed"),
    ({"colour": "blue"}, 'Unknown name "colour"'),
    ({"priority": "high"}, "resource.priority"),
    ({"allowed": {"IPProtocol": "tcp"}}, "a list is expected"),
    ({"direction": "SIDEWAYS"}, "resource.direction"),
    ({"selfLink": NETWORK}, "output only"),
    ({"id": "123"}, "output only"),
    ({"kind": "compute#instance"}, "output only"),
    ({"sourceRanges": ["10.0.0.0/33"]}, "IPCidrRange"),
    ({"allowed": [{"IPProtocol": "tcp", "ports": ["99999"]}]}, "ports"),
])
def test_bad_firewall_bodies_are_refused(double, changes, expected):
    answer = double.call("POST", f"{COMPUTE}/global/firewalls", firewall("bad-rule", **changes))
    assert answer[0] in (400, 404), answer
    assert expected in message(answer), message(answer)


def test_unknown_query_parameter_and_method_are_refused(double):
    answer = double.call("GET", f"{COMPUTE}/zones/europe-west1-b/instances?colour=blue")
    assert answer[0] == 400 and "colour" in message(answer)
    assert double.call("GET", f"{COMPUTE}/zones/europe-west1-b/nosuchthing")[0] == 404
    assert double.call("GET", f"{COMPUTE}/zones/europe-west1-b/instances", token="wrong")[0] == 401


def cloudsql(name, **settings):
    body = {"name": name, "region": "europe-west1", "databaseVersion": "POSTGRES_16",
            "settings": {"tier": "db-custom-1-3840", "availabilityType": "ZONAL",
                         "ipConfiguration": {"ipv4Enabled": False,
                                             "privateNetwork": f"projects/{PROJECT}/global/networks/default"},
                         "backupConfiguration": {"enabled": True}}}
    body["settings"].update(settings)
    return body


def test_cloudsql_postgres16_without_edition_refuses_custom_tiers(double):
    # The role's old request (gcp_sql_instance cannot send settings.edition).
    answer = double.call("POST", f"{SQLADMIN}/instances", cloudsql("old-db"))
    assert answer[0] == 400 and "Invalid Tier (db-custom-1-3840) for (ENTERPRISE_PLUS)" in message(answer)
    answer = double.call("POST", f"{SQLADMIN}/instances", cloudsql("plus-db", edition="ENTERPRISE_PLUS",
                                                                     tier="db-perf-optimized-N-2"))
    assert answer[0] == 200, answer
    answer = double.call("POST", f"{SQLADMIN}/instances", cloudsql("custom-db", edition="ENTERPRISE",
                                                                     tier="db-custom-1-1024"))
    assert answer[0] == 400 and "3840" in message(answer)


def test_cloudsql_instance_lifecycle(double):
    name = "life-db"
    answer = double.call("POST", f"{SQLADMIN}/instances", cloudsql(name, edition="ENTERPRISE"))
    assert answer[0] == 200, answer
    op = answer[1]
    assert op["kind"] == "sql#operation" and op["status"] == "PENDING" and op["operationType"] == "CREATE"
    assert op["targetLink"] == f"{SQLADMIN}/instances/{name}"
    instance = double.call("GET", f"{SQLADMIN}/instances/{name}")[1]
    assert instance["state"] == "PENDING_CREATE"
    # One operation at a time: no database while it is being created.
    busy = double.call("POST", f"{SQLADMIN}/instances/{name}/databases", {"name": "mlflow"})
    assert busy[0] in (400, 409), busy
    assert [double.call("GET", op["selfLink"])[1]["status"] for _ in range(2)] == ["RUNNING", "DONE"]
    instance = double.call("GET", f"{SQLADMIN}/instances/{name}")[1]
    assert instance["state"] == "RUNNABLE" and instance["settings"]["edition"] == "ENTERPRISE"
    assert instance["connectionName"] == f"{PROJECT}:europe-west1:{name}"
    assert instance["ipAddresses"][0]["type"] == "PRIVATE"
    # PostgreSQL users are listed without host (what breaks gcp_sql_user 1.10.2: KeyError 'host').
    users = double.call("GET", f"{SQLADMIN}/instances/{name}/users")[1]["items"]
    assert users and all("host" not in user for user in users)
    # A stale settingsVersion is refused; the deleted name stays taken.
    stale = double.call("PATCH", f"{SQLADMIN}/instances/{name}", {"settings": {"tier": "db-custom-2-7680",
                                                                               "settingsVersion": "0"}})
    assert stale[0] == 412, stale
    deleted = double.call("DELETE", f"{SQLADMIN}/instances/{name}")[1]
    assert [double.call("GET", deleted["selfLink"])[1]["status"] for _ in range(2)] == ["RUNNING", "DONE"]
    again = double.call("POST", f"{SQLADMIN}/instances", cloudsql(name, edition="ENTERPRISE"))
    assert again[0] == 409 and "one week" in message(again)


def test_cloudsql_private_ip_needs_private_services_access(tmp_path):
    with Double(tmp_path, private_services_access=()) as bare:
        answer = bare.call("POST", f"{SQLADMIN}/instances", cloudsql("db", edition="ENTERPRISE"))
    assert answer[0] == 400 and "SERVICE_NETWORKING_NOT_ENABLED" in message(answer)


def test_iam_policy_etag_and_new_service_accounts(tmp_path):
    with Double(tmp_path, sa_propagation=1) as fresh:
        url = f"https://cloudresourcemanager.googleapis.com/v1/projects/{PROJECT}"
        created = fresh.call("POST", f"https://iam.googleapis.com/v1/projects/{PROJECT}/serviceAccounts",
                             {"accountId": "new-account", "serviceAccount": {"displayName": "x"}})
        assert created[0] == 200 and created[1]["email"] == f"new-account@{PROJECT}.iam.gserviceaccount.com"
        policy = fresh.call("POST", url + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}})[1]
        binding = {"role": "roles/cloudsql.client", "members": [f"serviceAccount:{created[1]['email']}"]}
        new = dict(policy, bindings=policy["bindings"] + [binding])
        refused = fresh.call("POST", url + ":setIamPolicy", {"policy": new})
        assert refused[0] == 400 and "does not exist" in message(refused)  # not usable yet
        assert fresh.call("POST", url + ":setIamPolicy", {"policy": new})[0] == 200
        stale = fresh.call("POST", url + ":setIamPolicy", {"policy": new})  # the etag read before that write
        assert stale[0] == 409 and "concurrent policy changes" in message(stale)
        ghost = dict(policy, bindings=[{"role": "roles/viewer", "members": [f"serviceAccount:ghost@{PROJECT}.iam."
                                                                                 "gserviceaccount.com"]}])
        ghost.pop("etag")
        assert fresh.call("POST", url + ":setIamPolicy", {"policy": ghost})[0] == 400


def test_bucket_rules(double):
    base = "https://storage.googleapis.com/storage/v1/b"
    body = {"name": "rules-bucket", "location": "europe-west1", "versioning": {"enabled": True},
            "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"}}
    assert double.call("POST", base, body)[0] == 400  # the project query parameter is required
    created = double.call("POST", f"{base}?project={PROJECT}", body)
    assert created[0] == 200 and created[1]["location"] == "EUROPE-WEST1"
    assert created[1]["selfLink"] == "https://www.googleapis.com/storage/v1/b/rules-bucket"
    policy = double.call("GET", f"{base}/rules-bucket/iam")[1]
    public = dict(policy, bindings=policy["bindings"] + [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}])
    assert double.call("PUT", f"{base}/rules-bucket/iam", public)[0] == 412  # public access prevention
    double.put_object("rules-bucket", "a/b.txt", generations=2)
    assert double.call("DELETE", f"{base}/rules-bucket")[0] == 409  # old versions left
    listed = double.call("GET", f"{base}/rules-bucket/o?versions=true")[1]["items"]
    for item in listed:
        assert double.call("DELETE", f"{base}/rules-bucket/o/a%2Fb.txt?generation={item['generation']}")[0] == 204
    assert double.call("DELETE", f"{base}/rules-bucket")[0] == 204


def test_shapes_compares_captured_answers(double, tmp_path):
    from gcp_double import shapes

    answer = double.answers["compute.firewalls.get"]
    real = json.loads(json.dumps(answer))
    real["sourceTags"] = ["web"]  # Google returned a field the double did not
    del real["logConfig"]  # the double returned one Google did not
    (tmp_path / "compute.firewalls.get.json").write_text(json.dumps(real))
    (tmp_path / "sql.instances.get.json").write_text(json.dumps({"name": "x", "colour": "blue"}))
    lines = shapes.compare(tmp_path, double.answers)
    assert "compute.firewalls.get: real only: sourceTags" in lines
    assert "compute.firewalls.get: double only: logConfig" in lines
    assert "compute.firewalls.get: double only: logConfig.enable" in lines
    assert any(line.startswith("sql.instances.get: schema:") and "colour" in line for line in lines)
    assert shapes.paths({"labels": {"a": "1"}, "items": [{"k": 1}]}) == {"labels", "labels.*", "items", "items[].k"}


def test_answers_break_no_schema(double):
    assert double.errors == []
