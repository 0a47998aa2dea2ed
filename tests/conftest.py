"""Shared helpers: run a role of this collection against a throw-away local
host in check mode, so that preflight checks can be tested without a target.

Facts can be handed in (a fake OS family, say) through the test-only module
tests/library/fake_facts.py; without them the host's real facts are gathered. Preflight runs before any
change, and --check keeps a role that got past it from changing anything.

Speed: one ansible-playbook costs a few seconds of CPU before its first task,
and the preflight tests need over a hundred of them. So the cases of one role
run as the hosts of one play (`run_batch`): each case is a local host with
its own variables (include_vars, above everything but set_fact and extra
vars) and facts, and reads back only what its own host printed
(tests/callback_plugins/per_host.py). `run_role` does that by itself: on its
first call it asks every selected test that needs nothing but `run_role`,
`refused` and its parameters which role, variables and facts it runs
(calling it with a recorder that stops at the first run_role call), runs
those in one batch per role, and then answers those calls from the batch.
The batches are made per test file: pytest-xdist (`--dist loadfile`) runs
each file on one worker, so no worker runs another's batch.
Roles whose tasks compare hosts (run_once, ansible_play_hosts, hostvars)
are never batched, or only the cases that cannot reach those tasks (_ALONE):
there, other cases would be other hosts of one fleet.

A case runs the role's preflight only (`--tags <role>_preflight`; the pre_tasks
here are tagged always, and so is the role's argument spec check): a case
that passes then costs a few CPU-seconds, not the 27 of the server role's
whole check-mode run (the python role's apt check, the install tasks up to
the venv), and a refusal proves that preflight refused. A test whose check
lies past preflight asks for the whole role (run_role(..., whole=True),
optionally skip=(tags,) to leave out what it does not need).

Facts cost CPU per host too: fake_facts runs on the controller (an action,
tests/action_plugins/fake_facts.py, instead of a Python started for each
host: about half a second of CPU each), and a batch gathers the real facts
of this machine once for all its cases that want them
(tests/action_plugins/gather_once.py: about a second each). A role that
cannot read facts (_reads_facts: ansible.cfg turns inject_facts_as_vars
off, so only through ansible_facts or a module that reads them) gets none:
carrying this machine's facts on every host of a batch costs the controller
a fifth of the batch's CPU (a copy per host and task)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# MLflow's client telemetry off in this process and the ones it starts (the
# tests that use MLflow's client): offline, its thread unsets a variable while
# requests reads the environment, a KeyError at random.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


@dataclass
class PlaybookResult:
    rc: int
    output: str


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_LIBRARY=str(ROOT / "tests" / "library"),
        # fake_facts and gather_once on the controller (tests/action_plugins).
        ANSIBLE_ACTION_PLUGINS=str(ROOT / "tests" / "action_plugins"),
    )
    return env


def _ansible_playbook(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False,
    )


_FACT_READERS = re.compile(
    r"ansible_facts|ansible_local|gather_facts|include_role|import_role"
    r"|\b(?:ansible\.builtin\.|ansible\.legacy\.)?(?:setup|package|service):")


def _reads_facts(role: str) -> bool:
    """Whether `role` can read the facts of its host: a file of it (docs aside)
    names ansible_facts, ansible_local, gather_facts or a module that reads
    facts itself (setup, package, service), or it runs or depends on another
    role."""
    base = ROOT / "roles" / role
    meta = base / "meta" / "main.yml"
    if meta.exists() and re.search(r"^dependencies:\s*\n\s*-", meta.read_text(), re.M):
        return True
    return any(_FACT_READERS.search(path.read_text(errors="replace"))
               for path in base.rglob("*") if path.is_file() and path.suffix != ".md")


def _tags(role: str, whole: bool, skip: tuple[str, ...] = ()) -> list[str]:
    """ansible-playbook's tag arguments: the role's preflight only (every role
    tags its preflight <role>_preflight), or the whole role but the tags
    `skip`."""
    return (["--skip-tags", ",".join(skip)] if skip else []) if whole else ["--tags", f"{role}_preflight"]


def run_batch(role: str, cases: dict[str, tuple[dict, dict | None]], workdir: Path,
              env: dict[str, str] | None = None, whole: bool = True,
              skip: tuple[str, ...] = ()) -> dict[str, PlaybookResult]:
    """Runs `role` in check mode once (whole=False: its preflight only;
    skip: tags left out of a whole run), each
    case {id: (variables, facts)} a local host of its own (facts None: this
    machine's, if the role reads facts); returns {id: PlaybookResult} with
    that host's part of the output, failed when that host failed. `env` adds
    to the environment of ansible-playbook (a value of None removes the
    variable)."""
    workdir.mkdir(parents=True, exist_ok=True)
    hosts = {f"case{i:03d}": case_id for i, case_id in enumerate(cases)}
    vars_dir = workdir / "case_vars"
    vars_dir.mkdir(exist_ok=True)
    inventory = {"all": {"hosts": {}}}
    for host, case_id in hosts.items():
        variables, facts = cases[case_id]
        (vars_dir / f"{host}.json").write_text(json.dumps(variables))
        inventory["all"]["hosts"][host] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "test_case_facts": facts,
        }
    (workdir / "hosts.yml").write_text(json.dumps(inventory))
    # (A task that no host runs still costs a worker process per host: left out.)
    pre_tasks = [
        {"name": "Case variables", "ansible.builtin.include_vars": {"file": f"{vars_dir}/{{{{ inventory_hostname }}}}.json"},
         "tags": ["always"]},
    ]
    if any(facts is not None for _, facts in cases.values()):
        pre_tasks.append({"name": "Fake facts", "fake_facts": {"facts": "{{ test_case_facts }}"},
                          "when": "test_case_facts is not none", "tags": ["always"]})
    if _reads_facts(role) and any(facts is None for _, facts in cases.values()):
        # The real facts, gathered once for every case that gets them: the hosts are all this machine.
        pre_tasks.append({"name": "Gather facts", "gather_once": {"cache": str(workdir / "facts.pickle")},
                          "when": "test_case_facts is none", "tags": ["always"]})
    playbook = [{
        "name": f"Apply {role}",
        "hosts": "all",
        "gather_facts": False,
        "pre_tasks": pre_tasks,
        "roles": [{"role": f"mlops.mlflow.{role}"}],
    }]
    (workdir / "play.yml").write_text(json.dumps(playbook))
    report = workdir / "per_host.json"
    report.unlink(missing_ok=True)
    (workdir / "facts.pickle").unlink(missing_ok=True)
    run_env = _env(workdir)
    for key, value in (env or {}).items():
        if value is None:
            run_env.pop(key, None)
        else:
            run_env[key] = value
    run_env.update(
        ANSIBLE_STDOUT_CALLBACK="per_host",
        ANSIBLE_CALLBACK_PLUGINS=str(TESTS / "callback_plugins"),
        PER_HOST_OUTPUT=str(report),
    )
    proc = _ansible_playbook(["--check", *_tags(role, whole, skip), "-i", str(workdir / "hosts.yml"),
                              str(workdir / "play.yml")], workdir, run_env)
    every_host = proc.stdout + proc.stderr
    parts = json.loads(report.read_text()) if report.exists() else {}
    results = {}
    for host, case_id in hosts.items():
        part = parts.get(host)
        if part is None:
            # The play never reached this host (a syntax error, say): the whole output tells why.
            results[case_id] = PlaybookResult(proc.returncode or 1, every_host)
        else:
            results[case_id] = PlaybookResult(2 if part["failed"] else 0, part["output"])
    return results


_CROSS_HOST = re.compile(r"\brun_once\b|ansible_play_hosts|hostvars\[")


# Roles whose cross-host tasks are known: only the cases that reach them run
# alone (server: the fleet-wide KEK check with the AI gateway on, the run_once
# migration on a shared, non-SQLite database, and with server_auth mlflow the
# auth database's run_once migration and once-per-fleet user sync on a shared
# database that preflight accepts; its default beside a SQLite store is a
# SQLite file of each host's own).
_SHARED_AUTH_DB = re.compile(r"^(postgresql|mysql|mssql)(\+[a-z0-9]+)?://")


def _shared_store(variables: dict) -> bool:
    return not str(variables.get("server_backend_store_uri", "sqlite:")).startswith("sqlite:")


_ALONE = {
    "server": lambda variables: bool(variables.get("server_ai_gateway"))
    or _shared_store(variables)
    or (variables.get("server_auth") == "mlflow"
        and bool(_SHARED_AUTH_DB.match(str(variables.get("server_auth_database_uri", ""))))),
}
# The same for a run of the preflight only: the server's preflight compares
# hosts for the gateway's KEK and, with server_auth mlflow, for a shared
# tracking store or auth database; the run_once migration is past preflight.
_ALONE_PREFLIGHT = {
    "server": lambda variables: bool(variables.get("server_ai_gateway"))
    or (variables.get("server_auth") == "mlflow"
        and (_shared_store(variables)
             or bool(_SHARED_AUTH_DB.match(str(variables.get("server_auth_database_uri", "")))))),
}


def _batchable(role: str, variables: dict, whole: bool = True) -> bool:
    alone = _ALONE if whole else _ALONE_PREFLIGHT
    if role in alone:
        return not alone[role](variables)
    tasks = ROOT / "roles" / role / "tasks"
    files = tasks.glob("*.yml") if whole else tasks.glob("preflight*.yml")
    return tasks.is_dir() and not any(_CROSS_HOST.search(f.read_text()) for f in files)


def _key(role: str, variables: dict, facts: dict | None, whole: bool = False, skip: tuple[str, ...] = ()) -> str:
    return json.dumps([role, variables, facts, whole, list(skip)], sort_keys=True, default=str)


class _Recorded(Exception):
    def __init__(self, call):
        super().__init__()
        self.call = call


_BATCHED: dict[str, dict[str, PlaybookResult]] = {}


def _prepare_batches(items) -> dict[str, PlaybookResult]:
    """Asks each test of `items` that can be asked (see the module doc) for
    its first run_role call; runs them in one batch per role."""
    allowed = {"run_role", "refused"}
    calls: dict[tuple[str, bool], dict[str, tuple[dict, dict | None]]] = {}

    def recorder(role, variables, facts=None, whole=False, skip=()):
        raise _Recorded((role, variables, facts, whole, tuple(skip)))

    for item in items:
        argnames = getattr(getattr(item, "_fixtureinfo", None), "argnames", None)
        if argnames is None or "run_role" not in argnames:
            continue
        params = dict(getattr(getattr(item, "callspec", None), "params", {}))
        if not set(argnames) <= allowed | set(params):
            continue
        kwargs = {name: params[name] for name in argnames if name in params}
        kwargs["run_role"] = recorder
        if "refused" in argnames:
            kwargs["refused"] = lambda *args, **kw: None
        try:
            item.obj(**kwargs)
        except _Recorded as recorded:
            role, variables, facts, whole, skip = recorded.call
            if _batchable(role, variables, whole):
                calls.setdefault((role, whole, skip), {})[_key(role, variables, facts, whole, skip)] = (variables, facts)
        except Exception:  # noqa: BLE001 - the test will run for real and say what is wrong
            continue
    answers: dict[str, PlaybookResult] = {}
    workdir = Path(tempfile.mkdtemp(prefix="preflight-batches-"))
    for n, ((role, whole, skip), cases) in enumerate(calls.items()):
        if len(cases) > 1:
            answers.update(run_batch(role, cases, workdir / f"{role}-{n}", whole=whole, skip=skip))
    return answers


@pytest.fixture
def run_role(tmp_path: Path, request):
    """run_role(role, variables, facts=None, whole=False, skip=()) -> PlaybookResult:
    the role's preflight only (its tag <role>_preflight; the role's argument
    spec check is tagged always), or with whole=True the whole role but the
    tags in `skip`, in check mode. A case that passes preflight costs a few CPU-seconds so, against
    about 27 for the server role's whole run (the python role's apt check,
    the install tasks up to the venv)."""

    def _run(role: str, variables: dict, facts: dict | None = None, whole: bool = False,
             skip: tuple[str, ...] = ()) -> PlaybookResult:
        path = str(request.node.path)
        if path not in _BATCHED:
            _BATCHED[path] = _prepare_batches([item for item in request.session.items if str(item.path) == path])
        batched = _BATCHED[path].get(_key(role, variables, facts, whole, tuple(skip)))
        if batched is not None:
            return batched
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(
            json.dumps(
                {
                    "all": {
                        "hosts": {
                            "target": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable,
                            }
                        }
                    }
                }
            )
        )
        playbook = tmp_path / "play.yml"
        playbook.write_text(
            json.dumps(
                [
                    {
                        "name": f"Apply {role}",
                        "hosts": "target",
                        "gather_facts": facts is None and _reads_facts(role),
                        "pre_tasks": [{"name": "Fake facts", "fake_facts": {"facts": facts},
                                       "tags": ["always"]}] if facts else [],
                        "roles": [{"role": f"mlops.mlflow.{role}"}],
                    }
                ]
            )
        )
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps(variables))
        proc = _ansible_playbook(["--check", *_tags(role, whole, tuple(skip)), "-i", str(inventory), "-e", f"@{extra}", str(playbook)],
                                 tmp_path, _env(tmp_path))
        return PlaybookResult(proc.returncode, proc.stdout + proc.stderr)

    return _run


@pytest.fixture
def refused():
    """refused(result, expected, not_shown=()) -> None: the run failed, its output
    holds every text of `expected` and none of `not_shown` (task names of what
    must not have run, secrets that must not be echoed)."""

    def _check(result: PlaybookResult, expected, not_shown=()) -> None:
        assert result.rc != 0, result.output
        for text in expected:
            assert text in result.output, result.output
        for text in not_shown:
            assert text not in result.output, f"{text!r} in the output:\n{result.output}"

    return _check
