"""Compiles the modules the MLflow server loads at start (fed to the venv's
Python on stdin, as root, right after an install). Python writes their
bytecode next to them, so the server, which cannot write into its root-owned
venv, starts without compiling them in memory, and nothing else of the
venv's ~8000 modules costs CPU at install time (uv's --compile-bytecode
compiles all of them: about four times the CPU)."""
import importlib
import importlib.util

for name in (
    "mlflow.server",
    "mlflow.server.fastapi_app",
    "mlflow.server.handlers",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.store.artifact.local_artifact_repo",
    "mlflow.store.artifact.s3_artifact_repo",
    "mlflow.store.artifact.gcs_artifact_repo",
    # MLflow's basic-auth app (server_auth mlflow); without its extra (Flask-WTF) it cannot load, and is not needed.
    "mlflow.server.auth",
):
    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        try:
            importlib.import_module(name)
        except ImportError:
            if name != "mlflow.server.auth":
                raise
