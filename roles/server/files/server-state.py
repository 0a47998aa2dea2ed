# Prints, as JSON, what a re-run of mlops.mlflow.server compares: the MLflow
# version installed in the venv (argv[1]; "" when there is none), the venv's
# marker file (argv[2]) and the schema marker (argv[3]) ("" when missing).
import glob, json, sys
import importlib.metadata as metadata


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


site = glob.glob(sys.argv[1] + "/lib/python*/site-packages")
mlflow = [d.version for d in metadata.distributions(path=site) if (d.metadata["Name"] or "").lower() == "mlflow"]
print(json.dumps({"mlflow": mlflow[0] if mlflow else "", "venv_built": read(sys.argv[2]),
                  "schema_checked": read(sys.argv[3]).strip()}))
