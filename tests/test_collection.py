"""The collection builds into a clean artifact, and the spec checker works."""
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_refs  # noqa: E402
import check_specs  # noqa: E402


def test_collection_builds_clean(tmp_path):
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run(
        [str(galaxy), "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    artifact = next(tmp_path.glob("mlops-mlflow-*.tar.gz"))
    names = tarfile.open(artifact).getnames()
    assert "roles/python/tasks/main.yml" in names
    assert "meta/runtime.yml" in names
    for banned in ("molecule/", "tests/", "inventories/", ".ci/", ".venv/", "build/", ".collections/"):
        assert not any(n.startswith(banned) for n in names), banned
    assert artifact.stat().st_size < 1_000_000


def _called_collections() -> set[str]:
    """Every namespace.collection named as a module, filter or lookup
    prefix in what the collection ships (roles, playbooks, plugins)."""
    found: set[str] = set()
    pattern = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*")
    for folder in ("roles", "playbooks", "plugins"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".yml", ".yaml", ".j2", ".py") and path.is_file():
                for namespace, name in pattern.findall(path.read_text()):
                    found.add(f"{namespace}.{name}")
    known = {"amazon.aws", "google.cloud", "community.general", "community.crypto", "community.docker",
             "community.postgresql", "community.mysql", "ansible.posix", "ansible.utils"}
    return found & known


def test_every_called_collection_is_a_declared_dependency():
    import yaml

    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    requirements = {c["name"]: c["version"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    called = _called_collections()
    assert {"amazon.aws", "google.cloud", "community.docker"} <= called  # the scan finds what is there
    assert called <= set(galaxy), called - set(galaxy)
    assert requirements == galaxy


def test_all_roles_have_matching_specs():
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    assert roles
    problems = [p for r in roles for p in check_specs.check_role(r)]
    assert problems == []


def test_spec_checker_reports_a_mismatch(tmp_path):
    role = tmp_path / "demo"
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text("demo_a: 1\ndemo_b: x\nother: 2\n")
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n"
        "      demo_a: {type: int, default: 2, description: a}\n"
        "      demo_c: {type: str, description: c}\n"
    )
    problems = check_specs.check_role(role)
    text = "\n".join(problems)
    assert "demo_b is in defaults/main.yml but not in meta/argument_specs.yml" in text
    assert "demo_c is in meta/argument_specs.yml but not in defaults/main.yml" in text
    assert "demo_a defaults to 1" in text
    assert "other does not start with 'demo_'" in text


def test_spec_checker_allows_the_cloud_prefix_of_the_infra_roles(tmp_path):
    for role_name, good, bad in (("aws_infra", "aws_region", "gcp_project"), ("gcp_infra", "gcp_project", "aws_region")):
        role = tmp_path / role_name
        (role / "defaults").mkdir(parents=True)
        (role / "meta").mkdir()
        (role / "defaults" / "main.yml").write_text(f"{role_name}_a: 1\n{good}: x\n{bad}: y\n")
        (role / "meta" / "argument_specs.yml").write_text(
            "argument_specs:\n  main:\n    options:\n"
            f"      {role_name}_a: {{type: int, default: 1, description: a}}\n"
            f"      {good}: {{type: str, default: x, description: good}}\n"
            f"      {bad}: {{type: str, default: y, description: bad}}\n"
        )
        problems = check_specs.check_role(role)
        assert problems == [f"{role_name}: {bad} does not start with '{role_name}_' or '{good.split('_')[0]}_'"]


def test_no_dangling_file_references():
    assert check_refs.check() == []


def test_reference_checker_reports_what_dangles(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "roles" / "demo" / "meta").mkdir(parents=True)
    (tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml").write_text("")
    (tmp_path / "docs" / "there.md").write_text("")
    # (Built from pieces, so that this file cites nothing that dangles.)
    d = "docs/"
    (tmp_path / "docs" / "guide.md").write_text(
        f"See {d}there.md and {d}gone.md, [a link](there.md), [a broken one](../nowhere.md),\n"
        "meta/argument_specs.yml of every role, roles/storage.admin (IAM), inventories/mine (yours),\n"
        f"{d}<name>.md and {'QUALITY'}.md.\n")
    problems = check_refs.check([f"{d}guide.md"], root=tmp_path)
    assert problems == [f"{d}guide.md:1: {d}gone.md", f"{d}guide.md:1: ../nowhere.md", f"{d}guide.md:3: {'QUALITY'}.md"]


def test_defaults_comments_come_from_the_spec(tmp_path):
    import role_docs

    (tmp_path / "defaults.yml").write_text("---\n# Header.\n\n# An old comment\n# on two lines.\ndemo_a: 1\ndemo_b: x  # noqa\n")
    (tmp_path / "spec.yml").write_text(
        "argument_specs:\n  main:\n    options:\n"
        "      demo_a: {type: int, default: 1, description: [The first C(demo) value., Second paragraph.]}\n"
        "      demo_b: {type: str, default: x, description: B.}\n"
    )
    assert role_docs.defaults_with_comments(tmp_path / "defaults.yml", tmp_path / "spec.yml") == (
        "---\n# Header.\n\n# The first demo value. Second paragraph.\ndemo_a: 1\n# B.\ndemo_b: x  # noqa\n"
    )


def test_a_plain_checkout_resolves_the_collection_without_make(tmp_path):
    """The README's manual set-up: a checkout (here `git archive` of HEAD, so
    nothing `make` made) with only a venv finds mlops.mlflow through its own
    ansible.cfg and the tracked link in .collections/, with a clean HOME (no
    copy of the collection that a tool left in ~/.ansible) and no ANSIBLE_*
    variable of ours."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True)
    assert (checkout / ".collections/ansible_collections/mlops/mlflow").is_symlink()
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "-i", "inventories/example", "site.yml"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "was not found" not in result.stdout + result.stderr


def _plugin_names(kind: str) -> list[str]:
    folder = {"module": "modules", "filter": "filter", "test": "test"}[kind]
    return sorted(f"mlops.mlflow.{p.stem}" for p in (ROOT / "plugins" / folder).glob("*.py")
                  if p.stem != "__init__")


def test_every_plugin_documents_itself_in_ansible_doc():
    """`ansible-doc <plugin>` (the text a user reads) renders for every module,
    filter and test, and every description is text: a line of a plain YAML
    scalar holding ': ' turns into a mapping, which ansible-doc's JSON output
    carries but its text view refuses."""
    import yaml

    env = {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_NOCOLOR": "1",
           "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(ROOT / ".cache" / "doc-home")}
    for kind in ("module", "filter", "test"):
        names = _plugin_names(kind)
        assert names, kind
        shown = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-t", kind, *names],
                               capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
        assert shown.returncode == 0 and "ERROR" not in shown.stderr, shown.stderr
        for name in names:
            assert f"mlops.mlflow.{name.rsplit('.', 1)[1]}" in shown.stdout, name
        described = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "--json", "-t", kind, *names],
                                   capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=True)
        for name, entry in yaml.safe_load(described.stdout).items():
            doc = entry["doc"]
            texts = [doc.get("short_description", "")] + list(doc.get("description", []))
            texts += [line for opt in doc.get("options", {}).values()
                      for line in ([opt["description"]] if isinstance(opt["description"], str) else opt["description"])]
            for text in texts:
                assert isinstance(text, str), f"{name}: a description is not text: {text!r}"
