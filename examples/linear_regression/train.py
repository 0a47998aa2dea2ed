"""Linear regression y = w*x + b by full-batch gradient descent, in pure
Python: the smallest training loop that behaves like a real one (a loss that
falls epoch by epoch, a model at the end).

MLflow sees it through a callback, the way Keras' or Lightning's loggers
work: the loop knows nothing of MLflow; MlflowCallback.on_epoch_end logs the
epoch's metrics with step=epoch, on_train_end logs the model file.

Run by `mlflow run` (MLFLOW_RUN_ID is set: this process logs into the run the
launcher made) or directly (`python train.py --epochs 5`: a new run)."""
import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time

import mlflow


class MlflowCallback:
    """Training hooks that log to the active MLflow run."""

    def on_train_begin(self, params):
        # Under `mlflow run` the launcher has logged the MLproject's parameters
        # already (as given: "20" or "20.0"); log only what it did not.
        mlflow.log_params({k: v for k, v in params.items() if k not in _active_params()})

    def on_epoch_end(self, epoch, logs):
        mlflow.log_metrics(logs, step=epoch)

    def on_train_end(self, model):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.json")
            with open(path, "w", encoding="utf-8") as out:
                json.dump(model, out, indent=2, sort_keys=True)
                out.write("\n")
            with open(path, "rb") as stream:
                digest = hashlib.sha256(stream.read()).hexdigest()
            mlflow.log_artifact(path, artifact_path="model")
        # What was uploaded, so that anyone can check the stored copy's bytes.
        mlflow.set_tags({"model.format": "json-linear-v1", "model.sha256": digest})


def _active_params():
    run = mlflow.active_run()
    return mlflow.tracking.MlflowClient().get_run(run.info.run_id).data.params if run else {}


def make_data(samples, noise, rng):
    xs = [rng.uniform(-1.0, 1.0) for _ in range(samples)]
    ys = [3.0 * x + 2.0 + rng.gauss(0.0, noise) for x in xs]
    return xs, ys


def mse(w, b, xs, ys):
    return sum((w * x + b - y) ** 2 for x, y in zip(xs, ys)) / len(xs)


def train(args, callbacks):
    rng = random.Random(args.seed)
    xs, ys = make_data(args.samples, args.noise, rng)
    split = int(len(xs) * 0.8)
    train_x, train_y, val_x, val_y = xs[:split], ys[:split], xs[split:], ys[split:]
    w, b = 0.0, 0.0
    for cb in callbacks:
        cb.on_train_begin(dict(vars(args), train_samples=len(train_x), val_samples=len(val_x)))
    for epoch in range(args.epochs):
        if epoch == args.fail_at_epoch:
            raise RuntimeError(f"training diverged at epoch {epoch} (fail_at_epoch={args.fail_at_epoch})")
        n = len(train_x)
        grad_w = sum(2 * (w * x + b - y) * x for x, y in zip(train_x, train_y)) / n
        grad_b = sum(2 * (w * x + b - y) for x, y in zip(train_x, train_y)) / n
        w -= args.learning_rate * grad_w
        b -= args.learning_rate * grad_b
        logs = {"loss": mse(w, b, train_x, train_y), "val_loss": mse(w, b, val_x, val_y)}
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        print(f"epoch {epoch}: loss={logs['loss']:.6f} val_loss={logs['val_loss']:.6f}", flush=True)
        if args.epoch_seconds > 0:
            time.sleep(args.epoch_seconds)
    model = {"w": w, "b": b, "epochs": args.epochs, "learning_rate": args.learning_rate, "seed": args.seed}
    for cb in callbacks:
        cb.on_train_end(model)
    return model


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number = lambda text: int(float(text))  # noqa: E731 (MLproject has no int type: 20.0 arrives as "20.0")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--epochs", type=number, default=20)
    parser.add_argument("--seed", type=number, default=0)
    parser.add_argument("--samples", type=number, default=200)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--epoch-seconds", type=float, default=0.0)
    parser.add_argument("--fail-at-epoch", type=number, default=-1)
    parser.add_argument("--run-label", default="")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    # Under `mlflow run`, start_run() resumes the run named by MLFLOW_RUN_ID.
    with mlflow.start_run(run_name=args.run_label or None):
        if args.run_label:
            mlflow.set_tag("run_label", args.run_label)
        model = train(args, [MlflowCallback()])
    print(json.dumps(model), flush=True)


if __name__ == "__main__":
    main()
