"""One retention pass of MLflow (mlops.mlflow.retention), run by the
mlflow-retention.service unit with the MLflow venv's Python, as MLflow's
user, in MLflow's own environment (the server's 0600 env file, read by
systemd: MLFLOW_BACKEND_STORE_URI, MLFLOW_ARTIFACTS_DESTINATION and the
cloud settings of server_env).

    python mlflow-retention.py --older-than-days N [--report-orphans]

1. `mlflow gc --older-than Nd`: runs (and logged models, experiments) in the
   deleted lifecycle stage for more than N days are removed from the
   tracking store with their artifacts. MLflow's own command, called in this
   process: the store URI (it may hold a password) is handed over here,
   never on a command line (`ps` shows only the arguments above).
   The artifacts of a proxied-artifacts server are `mlflow-artifacts:/...`
   URIs, which MLflow's client resolves through the server's HTTP API; here
   they resolve to the same path under MLFLOW_ARTIFACTS_DESTINATION, the
   way the server itself does, through MLflow's artifact repositories
   (local directory, S3, GCS alike), so no HTTP call and no login is needed.
   The directory of a removed run that the local store leaves empty is
   removed too.
2. With --report-orphans, a report of the artifact directories below the
   destination that no run, logged model or trace of the tracking store
   references, and of experiment directories whose experiment is gone:
   listed, with their size on a local store; never deleted.

Everything goes to stdout (the journal); a last line sums the pass up:
    retention: {"deleted_runs": .., "orphaned_dirs": .., "orphaned_bytes": ..}
Exit status 0, or 1 (with the error in the journal) when gc failed."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

# The subdirectories of an experiment's directory that hold one directory per
# object (MLflow 3: logged models and traces); any other entry is a run's.
NESTED = ("models", "traces")


def relative(uri: str, destination: str) -> str | None:
    """The path below the destination of an artifact URI, or None when it
    lies elsewhere (an experiment with an artifact location of its own)."""
    if uri.startswith("mlflow-artifacts:"):
        rel = urlparse(uri).path
    elif uri.rstrip("/").startswith(destination.rstrip("/") + "/"):
        rel = uri.rstrip("/")[len(destination.rstrip("/")):]
    elif uri.startswith("file://") and not destination.startswith(("file:", "s3:", "gs:")):
        return relative(urlparse(uri).path, destination)
    else:
        return None
    rel = rel.strip("/")
    if any(part in ("", ".", "..") for part in rel.split("/")) and rel:
        return None
    return rel


def register_destination(destination: str) -> None:
    """mlflow-artifacts:/<path> -> <destination>/<path>, in this process."""
    from mlflow.store.artifact.artifact_repository_registry import _artifact_repository_registry as registry

    def factory(artifact_uri, tracking_uri=None, registry_uri=None):
        rel = relative(artifact_uri, destination)
        if rel is None:
            raise ValueError(f"refusing an artifact URI outside the destination: {artifact_uri}")
        target = destination.rstrip("/") + ("/" + rel if rel else "")
        return registry.get_artifact_repository(target, tracking_uri=tracking_uri, registry_uri=registry_uri)

    registry.register("mlflow-artifacts", factory)


def local_root(destination: str) -> Path | None:
    parsed = urlparse(destination)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else destination)
    return None


def run_gc(store, store_uri: str, destination: str, days: float) -> int:
    from mlflow.cli import cli

    root = local_root(destination)
    millis = int(days * 86400 * 1000)
    run_ids = store._get_deleted_runs(older_than=millis)
    doomed = []
    if root is not None:
        for run_id in run_ids:
            rel = relative(store.get_run(run_id).info.artifact_uri or "", destination)
            if rel:
                doomed.append(root / rel)
    print(f"retention: mlflow gc --older-than {days:g}d: {len(run_ids)} run(s) deleted more than {days:g} days ago",
          flush=True)
    cli.main(args=["gc", "--older-than", f"{days:g}d", "--backend-store-uri", store_uri,
                   "--artifacts-destination", destination, "--tracking-uri", store_uri],
             prog_name="mlflow", standalone_mode=False)
    # A local store leaves <experiment>/<run> behind once <run>/artifacts is gone.
    for path in doomed:
        for directory in (path, path.parent) if path.name == "artifacts" else (path,):
            if not directory.is_dir():
                continue
            try:
                directory.rmdir()
            except OSError:
                break
    return len(run_ids)


def referenced(store, destination: str) -> tuple[set[str], set[str]]:
    """The owner directories (relative paths without a trailing /artifacts)
    that the tracking store references, and its experiment ids."""
    from sqlalchemy import text

    owners: set[str] = set()
    queries = [
        "SELECT artifact_uri FROM runs",
        "SELECT artifact_location FROM logged_models",
        "SELECT value FROM trace_tags WHERE key = 'mlflow.artifactLocation'",
    ]
    with store.engine.connect() as conn:
        for query in queries:
            for (uri,) in conn.execute(text(query)):
                rel = relative(uri or "", destination)
                if rel:
                    owners.add(rel[: -len("/artifacts")] if rel.endswith("/artifacts") else rel)
        experiments = {str(row[0]) for row in conn.execute(text("SELECT experiment_id FROM experiments"))}
    return owners, experiments


def report_orphans(store, destination: str) -> tuple[int, int]:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    owners, experiments = referenced(store, destination)
    repo = get_artifact_repository(destination)
    root = local_root(destination)
    orphans = []
    for top in repo.list_artifacts():
        if not top.is_dir:
            continue
        if top.path not in experiments:
            orphans.append(top.path)
            continue
        for entry in repo.list_artifacts(top.path):
            if not entry.is_dir:
                continue
            if entry.path.rsplit("/", 1)[-1] in NESTED:
                candidates = [e.path for e in repo.list_artifacts(entry.path) if e.is_dir]
            else:
                candidates = [entry.path]
            orphans += [path for path in candidates if path not in owners]
    total = 0
    for path in sorted(orphans):
        size = ""
        if root is not None:
            nbytes = sum(f.stat().st_size for f in (root / path).rglob("*") if f.is_file() and not f.is_symlink())
            total += nbytes
            size = f" ({nbytes} bytes)"
        print(f"retention: not referenced by any run, logged model or trace (kept): {path}{size}", flush=True)
    return len(orphans), total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--older-than-days", type=float, required=True)
    parser.add_argument("--report-orphans", action="store_true")
    args = parser.parse_args()
    store_uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
    destination = os.environ["MLFLOW_ARTIFACTS_DESTINATION"]
    # mlflow gc reads the tracking URI at import (its option's default): the store.
    os.environ["MLFLOW_TRACKING_URI"] = store_uri
    register_destination(destination)
    from mlflow.tracking._tracking_service.utils import _get_store

    store = _get_store(store_uri, destination)
    summary = {"deleted_runs": run_gc(store, store_uri, destination, args.older_than_days)}
    if args.report_orphans:
        if hasattr(store, "engine"):
            summary["orphaned_dirs"], summary["orphaned_bytes"] = report_orphans(store, destination)
        else:
            print("retention: no report of unreferenced artifacts (the tracking store is not a database)")
    print("retention: " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
