"""moto: playbooks/provision_aws.yml and teardown_aws.yml against a moto server
on 127.0.0.1, then boto3 reads back what moto stored.

moto stores settings without enforcing them (a public-access block blocks
nothing there, an instance never boots): these tests prove what the
playbooks ask AWS for, not how AWS behaves. docs/aws.md lists what only a
real account can show.

The tests of this module run in order and share one moto server:
provision (check mode first, then for real, with RDS) -> what is stored ->
second run changes nothing -> check mode changes nothing -> the aws_ec2
inventory lists the instance -> teardown removes everything tagged but the
bucket. Then a second deployment, its database alone (--tags
aws_infra_database): an RDS instance made before MLflow had its own user
(provisioning stops before it changes anything), then RDS MySQL
(require_secure_transport), run twice and torn down with its bucket (made
here with boto3, with object versions: aws_infra_delete_bucket). moto's RDS gets
the few answers of AWS it lacks (RDS_DEFAULT_VERSIONS, below).

The playbooks run as a user runs them: with a copy of inventories/aws whose
group_vars/all.yml holds the test's settings (no extra vars), so that the
host that provisioning finds (meta: refresh_inventory) and the host that the
inventory alone lists (playbooks/mlflow_server.yml on its own) can be
compared variable by variable."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REGION = "us-east-1"
NAME = "mlflow-moto"
BUCKET = "mlflow-moto-artifacts"
ADMIN_CIDR = "203.0.113.7/32"
DEBIAN_OWNER = "136693071363"
NEWEST_DEBIAN_AMI = "ami-0deb12000000000a1"


def _ami(ami_id: str, name: str, created: str, owner: str = DEBIAN_OWNER) -> dict:
    return {
        "creation_date": created,
        "ami_id": ami_id,
        "state": "available",
        "public": True,
        "owner_id": owner,
        "image_location": f"{owner}/{name}",
        "sriov": "simple",
        "root_device_type": "ebs",
        "root_device_name": "/dev/xvda",
        "description": name,
        "image_type": "machine",
        "platform": None,
        "architecture": "x86_64",
        "name": name,
        "virtualization_type": "hvm",
        "hypervisor": "xen",
    }


# Fake Debian AMIs under the Debian project's owner id, so that the lookup by
# owner and name is what picks the image (the newest one must win), and a
# decoy with the right name from another owner that must never be picked.
AMIS = [
    _ami("ami-0deb12000000000b2", "debian-12-amd64-20250101-1000", "2025-01-01T10:00:00.000Z"),
    _ami(NEWEST_DEBIAN_AMI, "debian-12-amd64-20260101-2000", "2026-01-01T20:00:00.000Z"),
    _ami("ami-0deb12000000000d4", "debian-13-amd64-20261101-0100", "2026-11-01T01:00:00.000Z"),
    _ami("ami-0bad00000000000c3", "debian-12-amd64-20991231-9999", "2099-12-31T23:59:00.000Z", owner="111122223333"),
]


# What moto's RDS leaves out and the role reads, as AWS answers it (moto
# 5.2): the engines' default versions (DescribeDBEngineVersions is not
# implemented; moto's own defaults are PostgreSQL 9.3 and MySQL 5.6) and the
# engine-default parameters of a new DB parameter group (moto lists only the
# ones set on it; amazon.aws.rds_instance_param_group reads their type and
# current value). Only the TLS parameters, with AWS's defaults: rds.force_ssl
# is 1 from PostgreSQL 15 on, require_secure_transport 0 on MySQL 8.0. And
# DescribeDBParameterGroups of a name that does not exist fails with
# DBParameterGroupNotFound, as on AWS (moto answers an empty list).
RDS_DEFAULT_VERSIONS = {"postgres": ("16.4", "postgres16"), "mysql": ("8.0.39", "mysql8.0")}


def _rds_engine_defaults(family: str) -> dict:
    if family.startswith("postgres"):
        major = family.removeprefix("postgres").split(".")[0]
        name, value = "rds.force_ssl", "1" if int(major) >= 15 else "0"
    elif family.startswith("mysql"):
        name, value = "require_secure_transport", "0"
    else:
        return {}
    return {name: {"ParameterName": name, "ParameterValue": value, "Description": "TLS only",
                   "Source": "engine-default", "ApplyType": "dynamic", "DataType": "boolean",
                   "AllowedValues": "0,1", "IsModifiable": True}}


def _serve_moto(argv: list[str]) -> None:
    """moto_server with the RDS behaviour above (run as `python test_aws_moto.py moto-server ...`)."""
    from moto.core.responses import ActionResult
    from moto.rds import exceptions, models, responses
    from moto.server import main

    models.DBInstance.default_engine_versions.update({k: v[0] for k, v in RDS_DEFAULT_VERSIONS.items()})
    created = models.DBParameterGroup.__init__

    def __init__(self, *args, **kwargs):
        created(self, *args, **kwargs)
        self.parameters.update(_rds_engine_defaults(self.family or ""))

    def describe_db_engine_versions(self):
        engine = self._get_param("Engine")
        if engine not in RDS_DEFAULT_VERSIONS or self._get_param("DefaultOnly") not in (True, "true"):
            raise NotImplementedError("only the default version of postgres and mysql is emulated")
        version, family = RDS_DEFAULT_VERSIONS[engine]
        return ActionResult({"DBEngineVersions": [
            {"Engine": engine, "EngineVersion": version, "DBParameterGroupFamily": family}]})

    described = models.RDSBackend.describe_db_parameter_groups

    def describe_db_parameter_groups(self, kwargs):
        found = described(self, kwargs)
        if kwargs.get("db_parameter_group_name") and not found:
            raise exceptions.DBParameterGroupNotFoundError(kwargs["db_parameter_group_name"])
        return found

    models.DBParameterGroup.__init__ = __init__
    models.RDSBackend.describe_db_parameter_groups = describe_db_parameter_groups
    responses.RDSResponse.describe_db_engine_versions = describe_db_engine_versions
    main(argv)


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 5000:  # MLflow's port
            return port


def _dummy_aws_env() -> dict[str, str]:
    """Fake credentials and no shared config: nothing can reach a real account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """A moto server on 127.0.0.1 and a free port; stopped after the module."""
    tmp = tmp_path_factory.mktemp("moto")
    amis = tmp / "amis.json"
    amis.write_text(json.dumps(AMIS))
    port = _free_port()
    env = dict(_dummy_aws_env(), MOTO_AMIS_PATH=str(amis))
    log = (tmp / "moto.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, __file__, "moto-server", "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=log,
        stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start: {(tmp / 'moto.log').read_text()}")
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aws")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "moto-test", "-f", str(tmp / "id_ed25519")], check=True
    )
    return tmp


@pytest.fixture(scope="module")
def boto(moto):
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return lambda service: session.client(service, endpoint_url=moto)


def _variables(moto: str, workdir: Path, **extra) -> dict:
    return {
        "aws_region": REGION,
        "aws_endpoint_url": moto,
        "aws_admin_ranges": [ADMIN_CIDR],
        "mlflow_deployment_name": NAME,
        "aws_infra_bucket": BUCKET,
        "aws_infra_ssh_public_key_file": str(workdir / "id_ed25519.pub"),
        "aws_infra_credentials_dir": str(workdir / "credentials"),
        "aws_infra_database": "rds",
        # moto's RDS leaves StorageThroughput out of gp3 instances, which
        # amazon.aws.rds_instance reads on every later run: gp2 here.
        "aws_infra_rds_storage_type": "gp2",
        **extra,
    }


def _inventory_env(moto: str) -> dict[str, str]:
    """What the aws_ec2 plugin of inventories/aws reads from the environment."""
    return dict(_dummy_aws_env(), AWS_REGION=REGION, AWS_ENDPOINT_URL=moto, MLFLOW_DEPLOYMENT_NAME=NAME)


def _write_inventory(workdir: Path, variables: dict) -> Path:
    """A copy of inventories/aws (as docs/aws.md tells users to make one) with
    `variables` on top of its group_vars/all.yml, and the controller's
    localhost (connection local, this Python for boto3) beside it."""
    import shutil

    import yaml

    inventory = workdir / "inventory"
    shutil.rmtree(inventory, ignore_errors=True)
    shutil.copytree(ROOT / "inventories" / "aws", inventory)
    group_vars = inventory / "group_vars" / "all.yml"
    group_vars.write_text(yaml.safe_dump({**yaml.safe_load(group_vars.read_text()), **variables}))
    (inventory / "localhost.yml").write_text(json.dumps(
        {"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    return inventory


def run_playbook(workdir: Path, playbook: str, variables: dict, *args: str,
                 write_inventory: bool = True) -> subprocess.CompletedProcess:
    inventory = _write_inventory(workdir, variables) if write_inventory else workdir / "inventory"
    env = dict(
        _inventory_env(variables["aws_endpoint_url"]),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="false",
        ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-local"),
    )
    return _ansible("ansible-playbook", ["-i", str(inventory), playbook, *args], env, 600)


def _ansible(tool: str, args: list[str], env: dict, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _recap(result: subprocess.CompletedProcess) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith("localhost ") and "ok=" in line)


# What the roles of playbooks/mlflow_server.yml read on an AWS host, resolved
# (templated) the way the roles see them.
RESOLVED = [
    "group_names", "ansible_host", "ansible_user", "ansible_ssh_private_key_file", "ansible_ssh_common_args",
    "server_artifacts_destination", "server_env", "nginx_proxy_server_names", "server_public_names", "nginx_proxy_tls_mode",
    "db_client_engine", "db_client_host", "db_client_port", "db_client_database", "db_client_user",
    "db_client_password", "db_client_sslmode", "db_client_ssl_ca_url", "db_client_ssl_ca",
    "db_client_admin_user", "db_client_admin_password", "db_client_admin_database",
]
ADMIN = "mlflow_admin"  # aws_infra_db_admin_user's default: the RDS master user


def _dump_play(dump: Path) -> dict:
    """A play that writes the resolved RESOLVED variables of every host of mlflow_servers."""
    return {
        "name": "Dump the variables of the MLflow servers",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"__names": RESOLVED},
        "tasks": [
            {
                "name": "Resolve them",
                "ansible.builtin.set_fact": {"__dump": "{{ __dump | default({}) | combine({item: dict(__names | zip("
                                             "__names | map('extract', hostvars[item])))}) }}"},
                "loop": "{{ groups['mlflow_servers'] | default([]) }}",
                "no_log": True,
            },
            {
                "name": "Write them",
                "ansible.builtin.copy": {"dest": str(dump), "mode": "0600", "content": "{{ __dump | default({}) | to_json }}"},
                "check_mode": False,
                "changed_when": False,
                "no_log": True,
            },
        ],
    }


def _provision_and_dump(workdir: Path, variables: dict, *args: str,
                        write_inventory: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
    """provision_aws.yml, then a play that writes what the inventory gives the new host."""
    dump = workdir / "hostvars.json"
    dump.unlink(missing_ok=True)
    wrapper = workdir / "provision_and_dump.yml"
    wrapper.write_text(json.dumps([
        {"ansible.builtin.import_playbook": str(ROOT / "playbooks" / "provision_aws.yml")}, _dump_play(dump)]))
    result = run_playbook(workdir, str(wrapper), variables, *args, write_inventory=write_inventory)
    return result, json.loads(dump.read_text()) if dump.exists() else {}


def _inventory_alone(workdir: Path, variables: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """The same dump without provisioning: what mlflow_server.yml alone would see."""
    dump = workdir / "hostvars-alone.json"
    dump.unlink(missing_ok=True)
    play = workdir / "dump_alone.yml"
    play.write_text(json.dumps([_dump_play(dump)]))
    result = run_playbook(workdir, str(play), variables)
    return result, json.loads(dump.read_text()) if dump.exists() else {}


@pytest.fixture(scope="module")
def provisioned(moto, workdir, boto):
    """Check mode on an empty account, then the real first run."""
    variables = _variables(moto, workdir)
    check = run_playbook(workdir, "playbooks/provision_aws.yml", variables, "--check", "--diff")
    assert check.returncode == 0, check.stdout + check.stderr
    tag = [{"Name": "tag:mlflow_deployment", "Values": [NAME]}]
    created_in_check_mode = {
        "instances": boto("ec2").describe_instances(Filters=tag)["Reservations"],
        "security groups": boto("ec2").describe_security_groups(Filters=tag)["SecurityGroups"],
        "key pairs": boto("ec2").describe_key_pairs(Filters=tag)["KeyPairs"],
        "buckets": [b for b in boto("s3").list_buckets()["Buckets"] if b["Name"] == BUCKET],
        "roles": boto("iam").list_roles(PathPrefix="/mlops-mlflow/")["Roles"],
        "databases": boto("rds").describe_db_instances()["DBInstances"],
        "parameter groups": [g for g in boto("rds").describe_db_parameter_groups()["DBParameterGroups"]
                             if g["DBParameterGroupName"].startswith(NAME)],
    }
    assert not any(created_in_check_mode.values()), created_in_check_mode
    first, hosts = _provision_and_dump(workdir, variables, "--diff")
    assert first.returncode == 0, first.stdout + first.stderr
    return {"check": check, "first": first, "hosts": hosts, "variables": variables}


def _sg(boto, name: str) -> dict:
    groups = boto("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    assert len(groups) == 1, groups
    return groups[0]


def _plain(value):
    """ansible-inventory --list marks strings as unsafe: {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _tags(items) -> dict:
    return {t["Key"]: t["Value"] for t in items or []}


def test_check_mode_on_an_empty_account_reports_changes(provisioned):
    # (the fixture asserts that it created nothing)
    assert "changed=0" not in _recap(provisioned["check"])
    assert "failed=0" in _recap(provisioned["check"])


def test_server_security_group_rules_exactly(provisioned, boto):
    sg = _sg(boto, f"{NAME}-server")
    assert _tags(sg["Tags"])["mlflow_deployment"] == NAME
    rules = sorted(
        (p["IpProtocol"], p["FromPort"], p["ToPort"], tuple(sorted(r["CidrIp"] for r in p.get("IpRanges", []))),
         tuple(p.get("UserIdGroupPairs", [])), tuple(p.get("Ipv6Ranges", [])))
        for p in sg["IpPermissions"]
    )
    assert rules == [
        ("tcp", 22, 22, (ADMIN_CIDR,), (), ()),
        ("tcp", 80, 80, ("0.0.0.0/0",), (), ()),
        ("tcp", 443, 443, ("0.0.0.0/0",), (), ()),
    ]
    open_ports = {port for p in sg["IpPermissions"] for port in range(p["FromPort"], p["ToPort"] + 1)}
    assert not open_ports & {5000, 5432, 3306}


def test_database_security_group_admits_only_the_server_group(provisioned, boto):
    server = _sg(boto, f"{NAME}-server")
    db = _sg(boto, f"{NAME}-database")
    assert [
        (p["IpProtocol"], p["FromPort"], p["ToPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]], p["IpRanges"], p.get("Ipv6Ranges", []))
        for p in db["IpPermissions"]
    ] == [("tcp", 5432, 5432, [server["GroupId"]], [], [])]


def test_one_instance_with_imdsv2_the_profile_and_an_encrypted_root_volume(provisioned, boto):
    ec2 = boto("ec2")
    reservations = ec2.describe_instances(
        Filters=[{"Name": "tag:mlflow_deployment", "Values": [NAME]}, {"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 1, "check mode must not have created an instance, the first run exactly one"
    vm = instances[0]
    assert vm["ImageId"] == NEWEST_DEBIAN_AMI  # the newest image of the Debian owner, not the decoy
    assert vm["MetadataOptions"]["HttpTokens"] == "required"
    assert vm["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert vm["MetadataOptions"]["HttpEndpoint"] == "enabled"
    assert vm["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/mlops-mlflow/{NAME}-server")
    assert [g["GroupName"] for g in vm["SecurityGroups"]] == [f"{NAME}-server"]
    assert vm["KeyName"] == NAME
    assert _tags(vm["Tags"])["mlflow_artifacts"] == f"s3://{BUCKET}/mlflow"
    root = [m for m in vm["BlockDeviceMappings"] if m["DeviceName"] == vm["RootDeviceName"]]
    assert len(root) == 1
    volume = ec2.describe_volumes(VolumeIds=[root[0]["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Encrypted"] is True
    assert volume["Size"] == 20
    # No user data: nothing (no static key) is handed to the VM that way.
    user_data = ec2.describe_instance_attribute(InstanceId=vm["InstanceId"], Attribute="userData")
    assert not user_data.get("UserData", {}).get("Value")


def test_key_pair_is_the_users_public_key(provisioned, boto, workdir):
    pairs = boto("ec2").describe_key_pairs(KeyNames=[NAME], IncludePublicKey=True)["KeyPairs"]
    assert len(pairs) == 1
    assert _tags(pairs[0]["Tags"])["mlflow_deployment"] == NAME
    public_key = (workdir / "id_ed25519.pub").read_text().split()[1]
    assert public_key in pairs[0].get("PublicKey", public_key)


def test_bucket_is_private_encrypted_versioned_and_tls_only(provisioned, boto):
    s3 = boto("s3")
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    assert _tags(s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"])["mlflow_deployment"] == NAME
    ownership = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_iam_policy_reaches_only_the_bucket(provisioned, boto):
    iam = boto("iam")
    role = f"{NAME}-server"
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["artifacts-bucket"]
    document = iam.get_role_policy(RoleName=role, PolicyName="artifacts-bucket")["PolicyDocument"]
    resources = [r for s in document["Statement"] for r in s["Resource"]]
    assert sorted(resources) == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/mlflow/*"]
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert all(a.startswith("s3:") and "*" not in a for a in actions), actions
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    profiles = iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == [role]


def test_rds_is_private_encrypted_and_behind_the_database_group(provisioned, boto, workdir):
    db = boto("rds").describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"][0]
    assert db["PubliclyAccessible"] is False
    assert db["StorageEncrypted"] is True
    assert db["Engine"] == "postgres"
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [_sg(boto, f"{NAME}-database")["GroupId"]]
    assert db["BackupRetentionPeriod"] == 7
    assert _tags(db["TagList"])["mlflow_deployment"] == NAME
    for name in (f"{NAME}-db", f"{NAME}-db-admin"):
        password_file = workdir / "credentials" / name
        assert password_file.stat().st_mode & 0o777 == 0o600
        assert password_file.read_text().strip() not in provisioned["first"].stdout + provisioned["check"].stdout


def test_rds_master_user_is_the_admin_not_mlflow(provisioned, boto, workdir):
    db = boto("rds").describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"][0]
    assert db["MasterUsername"] == ADMIN
    admin = (workdir / "credentials" / f"{NAME}-db-admin").read_text().strip()
    mlflow = (workdir / "credentials" / f"{NAME}-db").read_text().strip()
    assert len(admin) == 32 and admin != mlflow


def test_rds_parameter_group_requires_tls_and_is_attached(provisioned, boto):
    rds = boto("rds")
    # The engine's default version (16.4 from the emulated DescribeDBEngineVersions): family postgres16.
    group = f"{NAME}-postgres16"
    db = rds.describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"][0]
    assert [g["DBParameterGroupName"] for g in db["DBParameterGroups"]] == [group]
    [found] = rds.describe_db_parameter_groups(DBParameterGroupName=group)["DBParameterGroups"]
    assert found["DBParameterGroupFamily"] == "postgres16"
    assert _tags(rds.list_tags_for_resource(ResourceName=found["DBParameterGroupArn"])["TagList"])["mlflow_deployment"] == NAME
    parameters = {p["ParameterName"]: p for p in rds.describe_db_parameters(DBParameterGroupName=group)["Parameters"]}
    assert parameters["rds.force_ssl"]["ParameterValue"] == "1"


def test_provisioned_host_gets_its_settings_from_the_inventory(provisioned, boto, workdir):
    hosts = provisioned["hosts"]
    assert list(hosts) == [NAME]
    host = hosts[NAME]
    vm = boto("ec2").describe_instances(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Reservations"][0]["Instances"][0]
    db = boto("rds").describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"][0]
    assert host["ansible_host"] == vm["PublicIpAddress"]
    assert host["ansible_user"] == "admin"
    assert host["ansible_ssh_private_key_file"] == str(workdir / "id_ed25519")
    assert host["server_artifacts_destination"] == f"s3://{BUCKET}/mlflow"
    assert host["server_env"] == {"AWS_DEFAULT_REGION": REGION}
    assert host["nginx_proxy_server_names"] == [vm["PublicDnsName"]]
    assert host["server_public_names"] == [vm["PublicDnsName"]]
    # No DNS name of the user's: self-signed (Let's Encrypt does not issue for amazonaws.com names).
    assert host["nginx_proxy_tls_mode"] == "self_signed"
    assert host["db_client_engine"] == "postgresql"
    assert host["db_client_host"] == db["Endpoint"]["Address"]
    assert host["db_client_port"] == 5432
    # MLflow logs in as its own user, over TLS checked against the RDS CA bundle of the region.
    assert host["db_client_user"] == "mlflow"
    assert host["db_client_database"] == "mlflow"
    assert host["db_client_sslmode"] == "verify-full"
    assert host["db_client_ssl_ca_url"] == f"https://truststore.pki.rds.amazonaws.com/{REGION}/{REGION}-bundle.pem"
    assert host["db_client_ssl_ca"] == f"/etc/ssl/certs/rds-{REGION}-bundle.pem"
    assert host["db_client_password"] == (workdir / "credentials" / f"{NAME}-db").read_text().strip()
    # The master user creates that user and database (db_client, with the admin's credentials).
    admin_password = (workdir / "credentials" / f"{NAME}-db-admin").read_text().strip()
    assert host["db_client_admin_user"] == ADMIN
    assert host["db_client_admin_password"] == admin_password
    assert host["db_client_admin_database"] == "postgres"
    # The admin password is in that one variable (an argument of db_client's
    # modules), in no other variable the roles put on the VM and in no tag.
    others = {k: v for k, v in host.items() if k != "db_client_admin_password"}
    assert admin_password not in json.dumps(others)
    assert admin_password not in json.dumps(vm["Tags"]) + json.dumps(db["TagList"])
    assert _tags(vm["Tags"])["mlflow_database_admin_user"] == ADMIN
    assert "db_servers" not in host["group_names"]  # RDS: no database on the instance
    assert "rds_clients" in host["group_names"]
    assert not any("AWS_ACCESS_KEY_ID" in json.dumps(v) or "AWS_SECRET" in json.dumps(v) for v in host.values())


def test_inventory_alone_configures_the_same_host_the_same_way(provisioned, workdir):
    """site.yml (provision, refresh_inventory, configure) and mlflow_server.yml
    alone resolve every variable the roles read to the same value."""
    result, alone = _inventory_alone(workdir, provisioned["variables"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert alone == provisioned["hosts"]


USER_DNS_NAME = "mlflow.moto.example"


@pytest.fixture(scope="module")
def second_run(provisioned, workdir):
    """provision_aws.yml again, with a setting of the user's in the copy's
    group_vars/mlflow_servers.yml (mlflow_dns_name, which no task of
    provisioning reads), and the dump of what the inventory then gives the host."""
    original = (ROOT / "inventories" / "aws" / "group_vars" / "mlflow_servers.yml").read_text()
    assert 'mlflow_dns_name: ""' in original
    _write_inventory(workdir, provisioned["variables"])
    user_file = workdir / "inventory" / "group_vars" / "mlflow_servers.yml"
    user_file.write_text(original.replace('mlflow_dns_name: ""', f"mlflow_dns_name: {USER_DNS_NAME}"))
    try:
        return _provision_and_dump(workdir, provisioned["variables"], write_inventory=False)
    finally:
        _write_inventory(workdir, provisioned["variables"])


def test_the_users_group_vars_win(second_run):
    """What the user writes in group_vars reaches the host that provisioning
    found (meta: refresh_inventory): provisioning sets no host variable."""
    result, hosts = second_run
    assert result.returncode == 0, result.stdout + result.stderr
    host = hosts[NAME]
    assert host["nginx_proxy_server_names"] == [USER_DNS_NAME]
    assert host["server_public_names"] == [USER_DNS_NAME]
    # A DNS name of the user's: a certificate from Let's Encrypt.
    assert host["nginx_proxy_tls_mode"] == "acme"


def test_second_run_changes_nothing(second_run):
    second, hosts = second_run
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed=0" in _recap(second), second.stdout
    assert list(hosts) == [NAME]


def test_check_and_diff_mode_after_provisioning_change_nothing(provisioned, workdir):
    check = run_playbook(workdir, "playbooks/provision_aws.yml", provisioned["variables"], "--check", "--diff")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "changed=0" in _recap(check), check.stdout


def test_aws_ec2_inventory_lists_the_instance(provisioned, moto, boto, tmp_path):
    env = dict(
        _inventory_env(moto),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
    )
    # The plugin's file alone, without the group_vars beside it: what the plugin itself sets.
    (tmp_path / "aws_ec2.yml").write_text((ROOT / "inventories" / "aws" / "aws_ec2.yml").read_text())
    inventory_args = ["-i", str(tmp_path / "aws_ec2.yml"), "--list"]
    result = _ansible("ansible-inventory", inventory_args, env, 120)
    assert result.returncode == 0, result.stderr
    inventory = _plain(json.loads(result.stdout))
    assert inventory["mlflow_servers"]["hosts"] == [NAME]
    assert NAME not in inventory.get("db_servers", {}).get("hosts", [])  # RDS, not a local database
    assert inventory["rds_clients"]["hosts"] == [NAME]  # group_vars/rds_clients.yml: admin and CA bundle
    host = inventory["_meta"]["hostvars"][NAME]
    vm = boto("ec2").describe_instances(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Reservations"][0]["Instances"][0]
    assert host["ansible_host"] == vm["PublicIpAddress"]
    # What group_vars read: the instance's own attributes and tags.
    assert host["tags"]["mlflow_artifacts"] == f"s3://{BUCKET}/mlflow"
    assert host["tags"]["mlflow_database"] == "rds"
    assert host["placement"]["region"] == REGION
    # The plugin sets no variable of a role: those come from group_vars, which win.
    assert not [k for k in host if k.startswith(("server_", "nginx_proxy_", "db_client_", "db_server_"))]
    # Another deployment's tag lists nothing.
    other = _ansible("ansible-inventory", inventory_args, dict(env, MLFLOW_DEPLOYMENT_NAME="someone-else"), 120)
    assert other.returncode == 0, other.stderr
    assert NAME not in json.loads(other.stdout)["_meta"]["hostvars"]


def test_teardown_refuses_without_confirmation(provisioned, workdir, boto):
    result = run_playbook(workdir, "playbooks/teardown_aws.yml", provisioned["variables"])
    assert result.returncode != 0
    assert f"Confirm with -e aws_infra_teardown_confirm={NAME}" in result.stdout
    assert "Find the deployment's instances" not in result.stdout
    assert boto("rds").describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"]


def test_teardown_removes_everything_tagged_and_keeps_the_bucket(provisioned, workdir, boto):
    ec2, iam = boto("ec2"), boto("iam")
    # Something of someone else's in the same account that must stay.
    bystander = ec2.create_security_group(GroupName="bystander", Description="not ours")["GroupId"]
    variables = dict(provisioned["variables"], aws_infra_teardown_confirm=NAME)
    result = run_playbook(workdir, "playbooks/teardown_aws.yml", variables)
    assert result.returncode == 0, result.stdout + result.stderr
    tag = [{"Name": "tag:mlflow_deployment", "Values": [NAME]}]
    states = {i["State"]["Name"] for r in ec2.describe_instances(Filters=tag)["Reservations"] for i in r["Instances"]}
    assert states <= {"terminated"}
    assert ec2.describe_security_groups(Filters=tag)["SecurityGroups"] == []
    assert ec2.describe_key_pairs(Filters=tag)["KeyPairs"] == []
    assert [g["GroupId"] for g in ec2.describe_security_groups(GroupIds=[bystander])["SecurityGroups"]] == [bystander]
    assert [d for d in boto("rds").describe_db_instances()["DBInstances"] if d["DBInstanceIdentifier"] == NAME] == []
    assert [g for g in boto("rds").describe_db_subnet_groups()["DBSubnetGroups"] if g["DBSubnetGroupName"] == NAME] == []
    assert [g for g in boto("rds").describe_db_parameter_groups()["DBParameterGroups"]
            if g["DBParameterGroupName"].startswith(NAME)] == []
    assert iam.list_roles(PathPrefix="/mlops-mlflow/")["Roles"] == []
    assert iam.list_instance_profiles(PathPrefix="/mlops-mlflow/")["InstanceProfiles"] == []
    # The artifacts stay unless aws_infra_delete_bucket is true.
    assert BUCKET in [b["Name"] for b in boto("s3").list_buckets()["Buckets"]]
    assert f"Kept the bucket {BUCKET}" in result.stdout
    # (aws_infra_delete_bucket=true: the other deployment's teardown, test_teardown_deletes_the_tagged_bucket_when_asked)


OTHER = "mlflow-moto-mysql"
OTHER_BUCKET = f"{OTHER}-artifacts"


def _rds_state(boto, name: str) -> dict:
    """What moto stores of deployment `name`'s RDS: its instances and parameter groups (with their parameters)."""
    rds = boto("rds")
    groups = [g for g in rds.describe_db_parameter_groups()["DBParameterGroups"] if g["DBParameterGroupName"].startswith(name)]
    return {
        "instances": [d for d in rds.describe_db_instances()["DBInstances"] if d["DBInstanceIdentifier"] == name],
        "groups": {g["DBParameterGroupName"]: dict(g, Parameters={
            p["ParameterName"]: p for p in rds.describe_db_parameters(DBParameterGroupName=g["DBParameterGroupName"])["Parameters"]})
            for g in groups},
    }


@pytest.fixture(scope="module")
def other_deployment(moto, boto, tmp_path_factory):
    """A second deployment, OTHER, with its database alone (`--tags
    aws_infra_database`: preflight, the security groups and the DB subnet
    group it stands on, the database; the bucket, IAM and the instance are
    the main deployment's). First as one made before MLflow had its own user:
    an RDS instance with MLflow's user as master (made here with boto3)
    stops provisioning. That instance removed, the same deployment as RDS
    MySQL of a given version: first run, second run, teardown (without a
    final snapshot, with aws_infra_delete_bucket: the bucket made here goes
    too). Each step's output and what moto stored after it."""
    tmp = tmp_path_factory.mktemp("aws-other")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "id_ed25519")], check=True)
    play = tmp / "aws_infra.yml"
    play.write_text(json.dumps([{"name": "AWS", "hosts": "localhost", "gather_facts": False,
                                 "roles": [{"role": "mlops.mlflow.aws_infra"}]}]))
    database_only = ("--tags", "aws_infra_database")
    rds = boto("rds")
    steps: dict = {}
    legacy = _variables(moto, tmp, mlflow_deployment_name=OTHER, aws_infra_bucket=OTHER_BUCKET)
    mysql = _variables(moto, tmp, mlflow_deployment_name=OTHER, aws_infra_bucket=OTHER_BUCKET,
                       aws_infra_database_engine="mysql", aws_infra_rds_engine_version="8.0.39",
                       aws_infra_db_admin_user="dba")
    try:
        # The deployment's bucket (--tags aws_infra_database makes none): tagged, versioned, an object
        # overwritten once (two versions) beside another; teardown with aws_infra_delete_bucket deletes it all.
        s3 = boto("s3")
        s3.create_bucket(Bucket=OTHER_BUCKET)
        s3.put_bucket_tagging(Bucket=OTHER_BUCKET, Tagging={"TagSet": [{"Key": "mlflow_deployment", "Value": OTHER}]})
        s3.put_bucket_versioning(Bucket=OTHER_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for key, body in (("mlflow/1/model.pkl", b"v1"), ("mlflow/1/model.pkl", b"v2"), ("mlflow/1/notes.txt", b"n")):
            s3.put_object(Bucket=OTHER_BUCKET, Key=key, Body=body)
        steps["versions"] = len(s3.list_object_versions(Bucket=OTHER_BUCKET)["Versions"])
        rds.create_db_instance(DBInstanceIdentifier=OTHER, Engine="postgres", EngineVersion="16.4",
                               DBInstanceClass="db.t4g.micro", AllocatedStorage=20, MasterUsername="mlflow",
                               MasterUserPassword="old-master-password", Tags=[{"Key": "mlflow_deployment", "Value": OTHER}])
        steps["legacy"] = run_playbook(tmp, str(play), legacy, *database_only)
        steps["after legacy"] = _rds_state(boto, OTHER)
        rds.delete_db_instance(DBInstanceIdentifier=OTHER, SkipFinalSnapshot=True)
        steps["first"] = run_playbook(tmp, str(play), mysql, *database_only)
        steps["after first"] = _rds_state(boto, OTHER)
        steps["admin password"] = (tmp / "credentials" / f"{OTHER}-db-admin").read_text().strip()
        steps["second"] = run_playbook(tmp, str(play), mysql, *database_only)
    finally:
        steps["down"] = run_playbook(tmp, str(play), dict(mysql, aws_infra_state="absent", aws_infra_teardown_confirm=OTHER,
                                                          aws_infra_delete_bucket=True, aws_infra_rds_final_snapshot=False))
        steps["after down"] = _rds_state(boto, OTHER)
        steps["buckets after down"] = [b["Name"] for b in boto("s3").list_buckets()["Buckets"]]
    return steps


def _step(steps: dict, name: str):
    if name not in steps:
        pytest.fail(f"step {name!r} of the other deployment did not run: an earlier one failed")
    return steps[name]


def test_rds_made_with_mlflow_as_master_stops_with_the_way_on(other_deployment):
    """A deployment made before MLflow had its own user: RDS's master user is
    MLflow's (it cannot be renamed). The role stops before touching RDS and
    says how to keep that master as the admin (docs/aws.md)."""
    result = _step(other_deployment, "legacy")
    assert result.returncode != 0
    output = " ".join(result.stdout.split())
    for text in (f"RDS {OTHER} exists with master user 'mlflow', but aws_infra_db_admin_user is 'mlflow_admin'",
                 "aws_infra_db_admin_user: mlflow", f"{OTHER}-db to ", f"{OTHER}-db-admin", "mlflow_app",
                 "Upgrading an RDS deployment"):
        assert text in output, result.stdout
    assert "DB parameter group that refuses connections without TLS" not in result.stdout
    # It stops first: before the security groups, the key pair and the DB subnet group are made or updated.
    assert "Security group of RDS" not in result.stdout
    after = _step(other_deployment, "after legacy")
    assert after["groups"] == {}
    assert [d["MasterUsername"] for d in after["instances"]] == ["mlflow"]


def test_rds_mysql_requires_secure_transport(other_deployment):
    """RDS MySQL of a given version: its parameter group has the family of
    that version and require_secure_transport 1 (AWS's default is 0: the role
    changes it), attached; the master user is the admin; a second run changes
    nothing; teardown removes the group and the instance."""
    group = f"{OTHER}-mysql8-0"
    first = _step(other_deployment, "first")
    assert first.returncode == 0, first.stdout + first.stderr
    after = _step(other_deployment, "after first")
    [db] = after["instances"]
    assert db["Engine"] == "mysql"
    assert db["MasterUsername"] == "dba"
    assert [g["DBParameterGroupName"] for g in db["DBParameterGroups"]] == [group]
    assert list(after["groups"]) == [group]
    assert after["groups"][group]["DBParameterGroupFamily"] == "mysql8.0"
    assert after["groups"][group]["Parameters"]["require_secure_transport"]["ParameterValue"] == "1"
    assert _step(other_deployment, "admin password") not in first.stdout
    second = _step(other_deployment, "second")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed=0" in _recap(second), second.stdout
    down = other_deployment["down"]
    assert down.returncode == 0, down.stdout + down.stderr
    assert other_deployment["after down"] == {"instances": [], "groups": {}}


def test_teardown_deletes_the_tagged_bucket_when_asked(other_deployment):
    """aws_infra_delete_bucket=true: the deployment's bucket goes too, with
    every object version in it (an S3 bucket must be empty to be deleted);
    the main deployment's bucket, kept by its own teardown, stays."""
    assert _step(other_deployment, "versions") == 3
    down = other_deployment["down"]
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Kept the bucket" not in down.stdout
    buckets = _step(other_deployment, "buckets after down")
    assert OTHER_BUCKET not in buckets
    assert BUCKET in buckets

if __name__ == "__main__" and sys.argv[1:2] == ["moto-server"]:
    _serve_moto(sys.argv[2:])
