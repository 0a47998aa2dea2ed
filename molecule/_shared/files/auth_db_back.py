"""Puts the auth database of MLflow's basic-auth app one Alembic revision
back (MLflow's own migration scripts, their downgrade), as the database of an
older MLflow would be, so that an upgrade test migrates it. Run with the MLflow
venv's Python as the server's user; the database URI is read from the role's
auth configuration (MLFLOW_AUTH_CONFIG_PATH), never from a command line.

    runuser -u mlflow -- /opt/mlflow/venv/bin/python - < auth_db_back.py

Prints the revision before and after."""
import configparser
import os

# Before MLflow is imported: its client telemetry off (offline, its thread unsets a
# variable while requests reads the environment: a KeyError at random).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import sqlalchemy  # noqa: E402
from alembic import command  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402
from mlflow.server.auth.db.utils import _get_alembic_config  # noqa: E402

CONFIG = "/etc/mlops-mlflow/auth/basic_auth.ini"


def revision(url: str) -> str | None:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": "alembic_version_auth"}).get_current_revision()


config = configparser.ConfigParser()
config.read(CONFIG)
url = config["mlflow"]["database_uri"]
before = revision(url)
command.downgrade(_get_alembic_config(url), "-1")
print(f"{before} -> {revision(url)}")
