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


# -- networks, subnets, private services access ------------------------------------------------

GLOBAL_OPS = f"{COMPUTE}/global/operations"


def done(double, answer):
    """Polls a Compute operation or a google.longrunning one until it is done; returns its last state."""
    assert answer[0] == 200, answer
    url = answer[1].get("selfLink") or f"https://servicenetworking.googleapis.com/v1/{answer[1]['name']}"
    for _ in range(5):
        state = double.call("GET", url)[1]
        if state.get("status") == "DONE" or state.get("done"):
            return state
    raise AssertionError(f"never done: {state}")


def test_default_network_comes_with_ssh_open_to_the_internet(tmp_path):
    # Google's pre-populated rules of a project's default network: default-allow-ssh from 0.0.0.0/0.
    with Double(tmp_path) as fresh:
        rules = {r["name"]: r for r in fresh.call("GET", f"{COMPUTE}/global/firewalls")[1]["items"]}
    assert rules["default-allow-ssh"]["sourceRanges"] == ["0.0.0.0/0"]
    assert rules["default-allow-ssh"]["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
    assert rules["default-allow-ssh"]["network"] == NETWORK


def test_custom_network_subnet_and_their_rules(tmp_path):
    with Double(tmp_path) as d:
        net = f"{COMPUTE}/global/networks"
        assert d.call("POST", net, {"name": "legacy"})[0] == 400  # no autoCreateSubnetworks: a legacy network
        op = done(d, d.call("POST", net, {"name": "own-net", "autoCreateSubnetworks": False}))
        assert "error" not in op
        own = d.call("GET", f"{net}/own-net")[1]
        assert own["autoCreateSubnetworks"] is False and "subnetworks" not in own and own["mtu"] == 1460
        subnets = f"{COMPUTE}/regions/europe-west1/subnetworks"
        body = {"name": "own-subnet", "network": own["selfLink"], "ipCidrRange": "10.20.0.0/24",
                "privateIpGoogleAccess": True, "region": "europe-west1"}
        assert d.call("POST", subnets, dict(body, ipCidrRange="10.20.0.5/24"))[0] == 400  # not the first address
        assert d.call("POST", subnets, dict(body, ipCidrRange="10.20.0.0/30"))[0] == 400  # smaller than /29
        assert d.call("POST", subnets, dict(body, region="us-central1"))[0] == 400
        done(d, d.call("POST", subnets, body))
        overlap = d.call("POST", subnets, dict(body, name="other", ipCidrRange="10.20.0.128/25"))
        assert overlap[0] == 400 and "conflicts" in message(overlap)
        stored = d.call("GET", f"{subnets}/own-subnet")[1]
        assert stored["gatewayAddress"] == "10.20.0.1" and stored["privateIpGoogleAccess"] is True
        assert d.call("GET", f"{net}/own-net")[1]["subnetworks"] == [stored["selfLink"]]
        # A VM on a custom mode network needs a subnet; with one, its address comes from it.
        vm = {"name": "vm", "machineType": "zones/europe-west1-b/machineTypes/e2-medium",
              "disks": [{"boot": True, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
              "networkInterfaces": [{"network": own["selfLink"]}]}
        instances = f"{COMPUTE}/zones/europe-west1-b/instances"
        refused = d.call("POST", instances, vm)
        assert refused[0] == 400 and "Subnetwork should be specified" in message(refused)
        vm["networkInterfaces"] = [{"network": own["selfLink"],
                                    "subnetwork": f"projects/{PROJECT}/regions/europe-west1/subnetworks/own-subnet"}]
        done(d, d.call("POST", instances, vm))
        assert d.call("GET", f"{instances}/vm")[1]["networkInterfaces"][0]["networkIP"].startswith("10.20.0.")
        # Nothing in use can be deleted: the network has a subnet (and a rule), the subnet a VM.
        done(d, d.call("POST", f"{COMPUTE}/global/firewalls", firewall("own-rule", network=own["selfLink"])))
        busy = d.call("DELETE", f"{net}/own-net")
        assert busy[0] == 400 and "already being used" in message(busy)
        assert d.call("DELETE", f"{subnets}/own-subnet")[0] == 400
        for url in (f"{instances}/vm", f"{COMPUTE}/global/firewalls/own-rule", f"{subnets}/own-subnet", f"{net}/own-net"):
            assert "error" not in done(d, d.call("DELETE", url)), url
        assert d.call("GET", f"{net}/own-net")[0] == 404
        assert d.errors == []


def test_private_services_access_and_its_removal(tmp_path):
    """The reserved range and the Service Networking connection Cloud SQL's private IP needs; the
    connection cannot be deleted while Cloud SQL keeps its side (days after a deletion): the peering
    is removed with Compute instead."""
    with Double(tmp_path, private_services_access=()) as d:
        net = f"{COMPUTE}/global/networks"
        done(d, d.call("POST", net, {"name": "sql-net", "autoCreateSubnetworks": False}))
        url = d.call("GET", f"{net}/sql-net")[1]["selfLink"]
        private = f"projects/{PROJECT}/global/networks/sql-net"
        no_access = d.call("POST", f"{SQLADMIN}/instances", cloudsql("db", edition="ENTERPRISE", ipConfiguration={
            "ipv4Enabled": False, "privateNetwork": private}))
        assert no_access[0] == 400 and "SERVICE_NETWORKING_NOT_ENABLED" in message(no_access)
        addresses = f"{COMPUTE}/global/addresses"
        reserved = {"name": "sql-google-services", "address": "10.21.0.0", "prefixLength": 20, "addressType": "INTERNAL",
                    "purpose": "VPC_PEERING", "network": url}
        assert d.call("POST", addresses, dict(reserved, addressType="EXTERNAL"))[0] == 400
        done(d, d.call("POST", addresses, reserved))
        connections = "https://servicenetworking.googleapis.com/v1/services/servicenetworking.googleapis.com/connections"
        by_id = d.call("POST", connections, {"network": f"projects/{PROJECT}/global/networks/sql-net",
                                             "reservedPeeringRanges": ["sql-google-services"]})
        assert by_id[0] == 400 and "project number" in message(by_id)
        assert d.call("POST", connections, {"network": "projects/123456789012/global/networks/sql-net",
                                            "reservedPeeringRanges": ["missing"]})[0] == 400
        op = done(d, d.call("POST", connections, {"network": "projects/123456789012/global/networks/sql-net",
                                                  "reservedPeeringRanges": ["sql-google-services"]}))
        assert "error" not in op
        assert [p["name"] for p in d.call("GET", f"{net}/sql-net")[1]["peerings"]] == ["servicenetworking-googleapis-com"]
        created = d.call("POST", f"{SQLADMIN}/instances", cloudsql("db", edition="ENTERPRISE", ipConfiguration={
            "ipv4Enabled": False, "privateNetwork": private}))
        done(d, created)
        done(d, d.call("DELETE", f"{SQLADMIN}/instances/db"))
        # The range and the network are held by the peering; the connection by Cloud SQL.
        assert d.call("DELETE", f"{addresses}/sql-google-services")[0] == 400
        assert d.call("DELETE", f"{net}/sql-net")[0] == 400
        refused = done(d, d.call("POST", f"{connections}/servicenetworking-googleapis-com",
                                 {"consumerNetwork": "projects/123456789012/global/networks/sql-net"}))
        assert refused["error"]["code"] == 9 and "Producer services" in refused["error"]["message"]
        removed = done(d, d.call("POST", f"{net}/sql-net/removePeering", {"name": "servicenetworking-googleapis-com"}))
        assert "error" not in removed
        for target in (f"{addresses}/sql-google-services", f"{net}/sql-net"):
            assert "error" not in done(d, d.call("DELETE", target)), target
        assert d.errors == []


def test_connection_deleted_when_nothing_uses_it(tmp_path):
    with Double(tmp_path, private_services_access=()) as d:
        net = f"{COMPUTE}/global/networks"
        done(d, d.call("POST", net, {"name": "psa-net", "autoCreateSubnetworks": False}))
        url = d.call("GET", f"{net}/psa-net")[1]["selfLink"]
        done(d, d.call("POST", f"{COMPUTE}/global/addresses", {
            "name": "r", "address": "10.30.0.0", "prefixLength": 24, "addressType": "INTERNAL", "purpose": "VPC_PEERING",
            "network": url}))
        connections = "https://servicenetworking.googleapis.com/v1/services/servicenetworking.googleapis.com/connections"
        consumer = "projects/123456789012/global/networks/psa-net"
        done(d, d.call("POST", connections, {"network": consumer, "reservedPeeringRanges": ["r"]}))
        listed = d.call("GET", f"{connections}?network={consumer}")[1]["connections"]
        assert listed == [{"network": consumer, "reservedPeeringRanges": ["r"], "peering": "servicenetworking-googleapis-com",
                           "service": "services/servicenetworking.googleapis.com"}]
        deleted = done(d, d.call("POST", f"{connections}/servicenetworking-googleapis-com", {"consumerNetwork": consumer}))
        assert "error" not in deleted and "peerings" not in d.call("GET", f"{net}/psa-net")[1]
        assert d.errors == []


# -- conditional IAM bindings -----------------------------------------------------------------

def test_conditional_bindings_need_policy_version_3(tmp_path):
    with Double(tmp_path) as d:
        url = f"https://cloudresourcemanager.googleapis.com/v1/projects/{PROJECT}"
        account = d.call("POST", f"https://iam.googleapis.com/v1/projects/{PROJECT}/serviceAccounts",
                         {"accountId": "vm-account"})[1]["email"]
        cond = {"title": "one-instance", "expression": f'resource.name == "projects/{PROJECT}/instances/db" '
                                                       f'&& resource.service == "sqladmin.googleapis.com"'}
        binding = {"role": "roles/cloudsql.client", "members": [f"serviceAccount:{account}"], "condition": cond}
        policy = d.call("POST", url + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}})[1]
        v1 = d.call("POST", url + ":setIamPolicy", {"policy": dict(policy, bindings=policy["bindings"] + [binding])})
        assert v1[0] == 400 and "version 3" in message(v1)
        untitled = dict(binding, condition={"expression": cond["expression"]})
        assert d.call("POST", url + ":setIamPolicy", {"policy": dict(policy, version=3, bindings=[untitled])})[0] == 400
        basic = dict(binding, role="roles/viewer")
        assert d.call("POST", url + ":setIamPolicy", {"policy": dict(policy, version=3, bindings=[basic])})[0] == 400
        written = d.call("POST", url + ":setIamPolicy",
                         {"policy": dict(policy, version=3, bindings=policy["bindings"] + [binding])})
        assert written[0] == 200 and written[1]["version"] == 3
        # Version 3 shows the condition; a version 1 read hides it behind <role>_withcond_<hash>.
        v3 = d.call("POST", url + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}})[1]
        assert binding in v3["bindings"]
        old = d.call("POST", url + ":getIamPolicy", {})[1]
        assert old["version"] == 1 and any(b["role"].startswith("roles/cloudsql.client" + "_withcond_") for b in old["bindings"])
        assert all("condition" not in b for b in old["bindings"])
        # Writing that back is refused, and so is a version 1 write with the etag.
        assert d.call("POST", url + ":setIamPolicy", {"policy": old})[0] == 400
        plain = [b for b in v3["bindings"] if "condition" not in b]
        assert d.call("POST", url + ":setIamPolicy", {"policy": dict(v3, version=1, bindings=plain)})[0] == 400
        assert d.errors == []


def test_bucket_policy_with_a_condition_refuses_a_version_1_read(double):
    base = "https://storage.googleapis.com/storage/v1/b"
    body = {"name": "cond-bucket", "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}}}
    assert double.call("POST", f"{base}?project={PROJECT}", body)[0] == 200
    policy = double.call("GET", f"{base}/cond-bucket/iam?optionsRequestedPolicyVersion=3")[1]
    binding = {"role": "roles/storage.objectViewer", "members": ["user:someone@example.com"],
               "condition": {"title": "prefix", "expression": 'resource.name.startsWith("projects/_/buckets/cond-bucket/objects/a/")'}}
    assert double.call("PUT", f"{base}/cond-bucket/iam", dict(policy, version=3, bindings=policy["bindings"] + [binding]))[0] == 200
    assert double.call("GET", f"{base}/cond-bucket/iam")[0] == 400
    assert binding in double.call("GET", f"{base}/cond-bucket/iam?optionsRequestedPolicyVersion=3")[1]["bindings"]


# -- Cloud SQL TLS, bucket soft delete ----------------------------------------------------------

@pytest.mark.parametrize("ip, status", [
    ({"sslMode": "ENCRYPTED_ONLY"}, 200),
    ({"sslMode": "ENCRYPTED_ONLY", "requireSsl": False}, 200),
    ({"sslMode": "ENCRYPTED_ONLY", "requireSsl": True}, 400),
    ({"sslMode": "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", "requireSsl": True}, 200),
    ({"sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED", "requireSsl": True}, 400),
    ({"sslMode": "PLAINTEXT"}, 400),
])
def test_cloudsql_ssl_mode(tmp_path, ip, status):
    with Double(tmp_path) as d:
        body = cloudsql("tls-db", edition="ENTERPRISE")
        body["settings"]["ipConfiguration"].update(ip)
        answer = d.call("POST", f"{SQLADMIN}/instances", body)
        assert answer[0] == status, answer
        if status == 200:
            done(d, answer)
            stored = d.call("GET", f"{SQLADMIN}/instances/tls-db")[1]["settings"]["ipConfiguration"]
            assert stored["sslMode"] == ip["sslMode"]


@pytest.mark.parametrize("seconds, status", [(0, 200), (604800, 200), (2592000, 200), (7776000, 200),
                                             (86400, 400), (7776001, 400)])
def test_bucket_soft_delete_policy(double, seconds, status):
    base = "https://storage.googleapis.com/storage/v1/b"
    name = f"soft-{seconds}"
    assert double.call("POST", f"{base}?project={PROJECT}", {"name": name})[1]["softDeletePolicy"][
        "retentionDurationSeconds"] == "604800"  # Google's default: 7 days
    answer = double.call("PATCH", f"{base}/{name}", {"softDeletePolicy": {"retentionDurationSeconds": str(seconds)}})
    assert answer[0] == status, answer
    if status == 200:
        assert answer[1]["softDeletePolicy"]["retentionDurationSeconds"] == str(seconds)


def test_answers_break_no_schema(double):
    # Last: every answer of the module's double so far matched Google's response schemas.
    assert double.errors == []
