"""The twin cloud roles, aws_infra and gcp_infra, speak one vocabulary: each
concept they share is an option with the same name after the cloud prefix,
the same type and (where the clouds do not differ) the same default, in both
meta/argument_specs.yml. Both roles set their module_defaults in the same
place (their tasks/main.yml), and no play does. A rename in one role alone,
or an old name coming back, fails here. Nothing is run."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CLOUDS = {"aws": "aws_infra", "gcp": "gcp_infra"}

# suffix after "<cloud>_", and whether the default must be the same (after the
# cloud prefix is replaced): the deployment name's fallback, the bucket's name
# (GCS names are global: the project is part of it) and the SSH wait differ by cloud.
CONCEPTS = [
    ("infra_state", True),
    ("infra_deployment_name", False),
    ("admin_ranges", True),
    ("ingress_ranges", True),
    ("infra_bucket", False),
    ("infra_bucket_prefix", True),
    ("infra_teardown_confirm", True),
    ("infra_delete_bucket", True),
    ("infra_ssh_wait_timeout", False),
    ("infra_db_name", True),
    ("infra_db_user", True),
    ("infra_db_password", True),
    ("infra_db_admin_user", True),
    ("infra_db_admin_password", True),
    ("infra_credentials_dir", True),
]

# The names issue 16 retired (docs and changelogs may tell the story; nothing else uses them).
RETIRED = ["aws_admin_cidrs", "aws_ingress_cidrs", "aws_infra_bucket_name", "aws_infra_ssh_timeout",
           "gcp_infra_name", "gcp_infra_artifacts_prefix", "gcp_infra_teardown_bucket",
           "gcp_infra_cloudsql_password", "gcp_infra_cloudsql_user", "gcp_infra_cloudsql_database"]

MODULE_GROUPS = {"aws": "group/amazon.aws.aws", "gcp": "group/google.cloud.gcp"}


def _options(cloud: str) -> dict:
    spec = yaml.safe_load((ROOT / "roles" / CLOUDS[cloud] / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def _neutral(value, cloud: str):
    """A default with the cloud's prefix replaced, so that the two can be compared."""
    return re.sub(rf"\b{cloud}_", "<cloud>_", value) if isinstance(value, str) else value


@pytest.mark.parametrize("suffix,same_default", CONCEPTS, ids=[c[0] for c in CONCEPTS])
def test_both_roles_have_the_concept_with_the_same_shape(suffix, same_default):
    opts = {cloud: _options(cloud).get(f"{cloud}_{suffix}") for cloud in CLOUDS}
    missing = [f"{cloud}_{suffix}" for cloud, opt in opts.items() if opt is None]
    assert not missing, f"missing from meta/argument_specs.yml: {missing}"
    aws, gcp = opts["aws"], opts["gcp"]
    for key in ("type", "elements", "choices", "no_log"):
        assert aws.get(key) == gcp.get(key), (suffix, key, aws.get(key), gcp.get(key))
    if same_default:
        assert _neutral(aws.get("default"), "aws") == _neutral(gcp.get("default"), "gcp"), suffix


def test_the_deployment_name_defaults_to_mlflow_deployment_name_in_both():
    for cloud in CLOUDS:
        assert _options(cloud)[f"{cloud}_infra_deployment_name"]["default"].startswith(
            "{{ mlflow_deployment_name | default("), cloud


def test_retired_names_are_gone():
    places = [p for d in ("roles", "inventories", "playbooks", "docs", "molecule", "tests")
              for p in (ROOT / d).rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".md", ".py", ".j2")]
    places += [ROOT / "README.md", ROOT / "site.yml"]
    pattern = re.compile(r"\b(" + "|".join(RETIRED) + r")\b")
    found = [f"{p.relative_to(ROOT)}: {m.group(1)}" for p in places if p != Path(__file__).resolve()
             for m in pattern.finditer(p.read_text(errors="replace"))]
    assert found == []


def test_module_defaults_live_in_the_roles_tasks_main():
    for cloud, role in CLOUDS.items():
        main = yaml.safe_load((ROOT / "roles" / role / "tasks" / "main.yml").read_text())
        groups = [group for task in main for group in (task.get("module_defaults") or {})]
        assert groups == [MODULE_GROUPS[cloud]], (role, groups)
        for name in ("provision", "teardown"):
            plays = yaml.safe_load((ROOT / "playbooks" / f"{name}_{cloud}.yml").read_text())
            assert all("module_defaults" not in play for play in plays), f"playbooks/{name}_{cloud}.yml"
