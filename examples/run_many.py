"""Launch several runs of an MLflow Project at once and wait for all of them.

    python run_many.py [--project DIR] [--experiment NAME]
                       [--set learning_rate=0.1,epochs=10 --set ...]

Each --set is one run's parameters (key=value, comma separated); without
any, three runs with three learning rates. The runs are started with
mlflow.projects.run(..., synchronous=False): each is a child process that
logs into its own run on the tracking server (MLFLOW_TRACKING_URI, the
credentials of ~/.mlflow/credentials or MLFLOW_TRACKING_USERNAME/PASSWORD,
MLFLOW_TRACKING_SERVER_CERT_PATH for a self-signed server: what the
mlops.mlflow.client role sets up). The driver waits for every run, prints
one JSON line per run (run id, parameters, status) and exits 1 if any run
failed.

env_manager="local": the runs use this Python (the client's venv). The
virtualenv/uv and docker environment managers build an environment per run
(docs/training-machines.md says when to use them)."""
import argparse
import json
import os
import sys
from pathlib import Path

import mlflow
import mlflow.projects
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

DEFAULT_SETS = [
    {"learning_rate": "0.05", "epochs": "10", "seed": "1"},
    {"learning_rate": "0.1", "epochs": "10", "seed": "2"},
    {"learning_rate": "0.2", "epochs": "10", "seed": "3"},
]


def parse_set(text):
    params = {}
    for pair in filter(None, text.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected key=value[,key=value...], got {text!r}")
        params[key.strip()] = value.strip()
    return params


def experiment_id(name):
    """The experiment's id, created if missing. Drivers on several machines
    may create it at the same moment: the loser finds the winner's."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=str(Path(__file__).resolve().parent / "linear_regression"),
                        help="project directory or Git URI (default: the linear_regression example)")
    parser.add_argument("--experiment", default="linear-regression", help="experiment name (created if missing)")
    parser.add_argument("--entry-point", default="main")
    parser.add_argument("--env-manager", default="local", choices=["local", "uv", "virtualenv", "conda"],
                        help="local (default): this Python; uv or virtualenv: an environment built from the "
                             "project's python_env.yaml, once, shared by the runs")
    parser.add_argument("--set", dest="sets", type=parse_set, action="append",
                        help="one run's parameters, key=value,...; repeat for more runs")
    args = parser.parse_args(argv)
    sets = args.sets or DEFAULT_SETS

    # The MLproject's command says `python`: the runs must find this venv's
    # interpreter (and MLflow in it) first, whatever PATH the caller had.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

    experiment = experiment_id(args.experiment)
    submitted = []
    for params in sets:
        run = mlflow.projects.run(
            uri=args.project,
            entry_point=args.entry_point,
            parameters=params,
            experiment_id=experiment,
            env_manager=args.env_manager,
            synchronous=False,
        )
        submitted.append((run, params))
        print(f"started run {run.run_id} with {params}", file=sys.stderr, flush=True)

    failed = 0
    for run, params in submitted:
        ok = run.wait()
        failed += 0 if ok else 1
        print(json.dumps({"run_id": run.run_id, "params": params, "status": run.get_status(),
                          "experiment": args.experiment}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
