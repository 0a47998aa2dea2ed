"""Off-site copies of MLflow's database dumps (mlops.mlflow.db_client), run
with the MLflow venv's Python as root: by the mlflow-db-offsite.service unit
(in the MLflow server's environment, read by systemd from its 0600 env file)
and by mlflow-db-restore --from-bucket (which passes --env-file).

The bucket is reached through MLflow's own artifact repositories (S3 with
MLFLOW_S3_ENDPOINT_URL and the AWS settings or the instance's role, GCS with
its credentials or the instance's service account): the code and the
credentials the server already has, nothing installed besides.

    python mlflow-db-offsite.py --uri URI [--database DB] [--env-file FILE] COMMAND
      dump-upload [--auth] --keep N   mlflow-db-dump [--auth], upload the dump,
                                      keep the newest N copies of its database
                                      (named by the dump, DB unless given)
      list                            the copies of DB in URI, newest first
      fetch latest|NAME --dir DIR     download a copy of DB into DIR (0600), print its path

Only objects named as mlflow-db-dump names its files (DB-<UTC stamp>[-LABEL]
.dump|.sql.gz) directly below URI count; nothing else there is touched.
Exit status 0, 1 (the error on stderr, the journal under the unit), 2 usage."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

DUMP = "/usr/local/sbin/mlflow-db-dump"
STAMP = r"[0-9]{8}T[0-9]{6}\.[0-9]{3}Z(?:-[A-Za-z0-9._-]+)?\.(?:dump|sql\.gz)"


def load_env_file(path: str) -> None:
    """KEY="value" lines as mlops.mlflow.service writes them (\\ and \" escaped), or KEY=value."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    pos = 0
    line_re = re.compile(r'[ \t]*([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\n]*)[ \t]*(?:\n|$)', re.S)
    while pos < len(text):
        match = line_re.match(text, pos)
        if match:
            key, value = match.group(1), match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.S)
            os.environ[key] = value
            pos = match.end()
        else:  # a comment or a blank line
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end + 1


def repository(uri: str):
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(uri)


def copies(repo, database: str) -> list[str]:
    """Names of the copies of the database, newest first (the stamp sorts)."""
    pattern = re.compile(re.escape(database) + "-" + STAMP + "$")
    names = [os.path.basename(info.path.rstrip("/")) for info in repo.list_artifacts() if not info.is_dir]
    return sorted((name for name in names if pattern.match(name)), reverse=True)


def dump_upload(args, repo) -> int:
    command = [DUMP] + (["--auth"] if args.auth else [])
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        print(f"offsite: {' '.join(command)} failed (exit {result.returncode}); nothing uploaded", file=sys.stderr)
        return 1
    path = result.stdout.strip().splitlines()[-1]
    match = re.match("([A-Za-z_][A-Za-z0-9_]*)-" + STAMP + "$", os.path.basename(path))
    if not match or (args.database and match.group(1) != args.database):
        print(f"offsite: {path} is not a dump of {args.database or 'a database'}", file=sys.stderr)
        return 1
    args.database = match.group(1)
    print(f"offsite: dumped {os.path.basename(path)} ({os.path.getsize(path)} bytes)", flush=True)
    repo.log_artifact(path)
    names = copies(repo, args.database)
    if os.path.basename(path) not in names:
        print(f"offsite: {os.path.basename(path)} is not listed in {args.uri} after the upload", file=sys.stderr)
        return 1
    print(f"offsite: uploaded {os.path.basename(path)} to {args.uri}", flush=True)
    if args.keep > 0:
        for old in names[args.keep:]:
            repo.delete_artifacts(old)
            print(f"offsite: deleted {old} (keeping the newest {args.keep})", flush=True)
    print(f"offsite: {min(len(names), args.keep) if args.keep > 0 else len(names)} copies of {args.database} in {args.uri}")
    return 0


def fetch(args, repo) -> int:
    names = copies(repo, args.database)
    if args.name == "latest":
        if not names:
            print(f"offsite: no copy of database {args.database} in {args.uri}", file=sys.stderr)
            return 1
        name = names[0]
    elif args.name in names:
        name = args.name
    else:
        print(f"offsite: no copy named {args.name!r} of database {args.database} in {args.uri}", file=sys.stderr)
        return 1
    # Always the bucket's copy (a local dump of the same name is replaced).
    target = os.path.join(args.dir, name)
    os.umask(0o077)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        downloaded = repo.download_artifacts(name, tmp)
        os.chmod(downloaded, 0o600)
        os.replace(downloaded, target)
    print(target)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--database")
    parser.add_argument("--env-file")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("dump-upload")
    up.add_argument("--auth", action="store_true")
    up.add_argument("--keep", type=int, required=True)
    sub.add_parser("list")
    get = sub.add_parser("fetch")
    get.add_argument("name")
    get.add_argument("--dir", required=True)
    args = parser.parse_args()
    if args.env_file:
        load_env_file(args.env_file)
    if args.command != "dump-upload" and not args.database:
        parser.error(f"{args.command} needs --database")
    repo = repository(args.uri)
    if args.command == "dump-upload":
        return dump_upload(args, repo)
    if args.command == "list":
        for name in copies(repo, args.database):
            print(name)
        return 0
    return fetch(args, repo)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001 -- one line in the journal, and a failed unit
        print(f"offsite: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
