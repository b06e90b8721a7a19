"""MLflow's steps of bench/s3.py, each run in a process of its own in the peers' venv.

    python bench/s3steps.py STEP '{"json": "arguments"}'

MLflow has no CLI verb for logging a folder to a run, so its steps call the
Python API a user would (``mlflow.log_artifacts``, ``mlflow.artifacts.download_artifacts``)
with a SQLite tracking store and an S3 artifact root; the endpoint comes from
``MLFLOW_S3_ENDPOINT_URL`` and the credentials from the ``AWS_*`` variables,
set by the driver. Importing MLflow and opening the tracking store are not
timed (they make no S3 request); the run and its upload or download are.
Prints one JSON object on its last line of output.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable

STEPS: dict[str, Callable[..., dict]] = {}


def step(fn: Callable[..., dict]) -> Callable[..., dict]:
    STEPS[fn.__name__] = fn
    return fn


def _client(root: str, bucket: str | None = None):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    exp = mlflow.get_experiment_by_name("bench")
    if exp is not None:
        exp_id = exp.experiment_id
    else:
        assert bucket, "the first step of a root names the bucket"
        exp_id = mlflow.create_experiment("bench", artifact_location=f"s3://{bucket}/mlflow")
    return mlflow, exp_id


@step
def ml_log(root: str, bucket: str, src: str) -> dict:
    mlflow, exp_id = _client(root, bucket)
    os.sync()
    t0 = time.perf_counter()
    with mlflow.start_run(experiment_id=exp_id) as run:
        if os.path.isdir(src):
            mlflow.log_artifacts(src, artifact_path="data")
        else:
            mlflow.log_artifact(src, artifact_path="data")
    seconds = time.perf_counter() - t0
    with open(os.path.join(root, "last_run.json"), "w") as f:
        json.dump({"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri}, f)
    return {"seconds": seconds, "run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri}


@step
def ml_get(root: str, dest: str) -> dict:
    mlflow, _exp = _client(root)
    with open(os.path.join(root, "last_run.json")) as f:
        run_id = json.load(f)["run_id"]
    os.makedirs(dest, exist_ok=True)
    os.sync()
    t0 = time.perf_counter()
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data", dst_path=dest)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "path": path}


def main() -> None:
    name = sys.argv[1]
    args: dict[str, Any] = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = STEPS[name](**args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
