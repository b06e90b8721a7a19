"""One measured step of one system, run in a process of its own by bench/compare.py.

    python bench/steps.py STEP '{"json": "arguments"}'

Prints one JSON object on its last line of output. Steps named ``lr_*`` run
localreg in the main interpreter; ``ml_*`` (MLflow 3), ``wb_*`` (W&B offline)
and ``dvc_*`` (DVC without git) run in the peers' virtual environment. Every
step imports its system and opens its store or client first, then flushes
pending writes (``os.sync``) and times only the verb: import and start-up
costs are measured on their own by the driver.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import tree_bytes, version_path  # noqa: E402

STEPS: dict[str, Callable[..., dict]] = {}


def step(fn: Callable[..., dict]) -> Callable[..., dict]:
    STEPS[fn.__name__] = fn
    return fn


def clock() -> float:
    os.sync()  # pending writes make file creation 20x slower here: start every step alike
    return time.perf_counter()


def _err(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


# -- localreg -----------------------------------------------------------------------


def _lr_store(home: str):
    from localreg.store import Store

    return Store(home, org="acme", project="bench")


@step
def lr_log(home: str, src: str, name: str, type: str, immutable: bool = False) -> dict:
    from localreg import ingest, versions
    from localreg.objects import Objects

    store = _lr_store(home)
    t0 = clock()
    if immutable:
        # what Artifact.add_file(policy="immutable") does: hash once, hard-link the file in
        files = ingest.collect_dir(src) if os.path.isdir(src) else [(os.path.basename(src), src)]
        entries = Objects(store).add_files(files, link=True)
        v, created = versions.log_version(store, name=name, type=type, entries=entries)
    else:
        v, created = ingest.log_path(store, src, name=name, type=type)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "created": created, "version": v.qualified_name,
            "blob_bytes": tree_bytes(os.path.join(home, "blobs"))}


def _time_commits(store) -> list[float]:
    """Accumulate the time spent in COMMIT (the fsync of SQLite's WAL, synchronous=FULL)."""
    spent = [0.0]
    commit = store._commit

    def timed(db) -> None:
        t = time.perf_counter()
        try:
            commit(db)
        finally:
            spent[0] += time.perf_counter() - t

    store._commit = timed
    return spent


@step
def lr_publish(home: str, name: str, target: str, alias: str, extra: int = 0) -> dict:
    from localreg import registries, versions

    store = _lr_store(home)
    source = versions.resolve(store, name)  # the version in hand, as after run.log_artifact
    spent = _time_commits(store)
    t0 = clock()
    link = registries.link(store, source, target, aliases=[alias])
    seconds = time.perf_counter() - t0
    commit = spent[0]
    # the same verb again in a warm process: other collections of the same registry
    warm = []
    for i in range(extra):
        t = time.perf_counter()
        registries.link(store, source, f"{target}-warm{i}", aliases=[alias])
        warm.append(time.perf_counter() - t)
    return {"seconds": seconds, "commit": commit, "link": link.qualified_name,
            "warm_median": statistics.median(warm) if warm else None}


@step
def lr_materialize(home: str, ref: str, dest: str, link_mode: str = "copy") -> dict:
    from localreg import versions
    from localreg.objects import Objects

    store = _lr_store(home)
    t0 = clock()
    v = versions.resolve(store, ref)
    Objects(store).materialize(versions.entries(store, v), dest, link_mode=link_mode)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "version": v.source_qualified_name}


@step
def lr_versions(home: str, root: str, count: int, name: str = "model-c") -> dict:
    from localreg import ingest

    store = _lr_store(home)
    times = []
    for k in range(count):
        t0 = clock()
        v, created = ingest.log_path(store, version_path(root, k), name=name, type="model")
        times.append(time.perf_counter() - t0)
        assert created, f"version {k} deduplicated"
    return {"times": times, "store_bytes": tree_bytes(os.path.join(home, "blobs")),
            "db_bytes": tree_bytes(os.path.join(home, "localreg.db")) + tree_bytes(os.path.join(home, "localreg.db-wal"))}


@step
def lr_build_links(home: str, sources: int, links: int, registry: str = "bench") -> dict:
    """Many registry links through the library's verbs, in one transaction (setup, not a measure)."""
    from localreg import registries, versions
    from localreg.objects import Entry, Objects

    store = _lr_store(home)
    objects = Objects(store)
    t0 = time.perf_counter()
    registries.create_registry(store, registry)
    with store.transaction():
        srcs = []
        for i in range(sources):
            digest, size = objects.add_bytes(f"weights {i}\n".encode())
            v, _ = versions.log_version(store, name="model-l", type="model", entries=[Entry("w.txt", digest, size)])
            srcs.append(v)
        colls = -(-links // sources)
        made = 0
        for c in range(colls):
            for i, v in enumerate(srcs):
                if made == links:
                    break
                registries.link(store, v, f"acme/wandb-registry-{registry}/c{c:05d}",
                                aliases=["prod"] if i == sources // 2 else None)
                made += 1
    seconds = time.perf_counter() - t0
    count = store.db.execute("SELECT count(*) FROM versions WHERE source_id IS NOT NULL").fetchone()[0]
    return {"seconds": seconds, "links": count, "collections": colls}


@step
def lr_resolve(home: str, ref: str, n: int = 200) -> dict:
    from localreg import versions

    store = _lr_store(home)
    count = store.db.execute("SELECT count(*) FROM versions WHERE source_id IS NOT NULL").fetchone()[0]
    t0 = clock()
    v = versions.resolve(store, ref)
    first = time.perf_counter() - t0
    times = []
    for _ in range(n):
        t = time.perf_counter()
        versions.resolve(store, ref)
        times.append(time.perf_counter() - t)
    return {"seconds": statistics.median(times), "first": first, "links": count,
            "version": v.qualified_name, "source": v.source_qualified_name}


# -- MLflow 3: SQLite backend, local artifact root --------------------------------------


def _ml_client(root: str):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    exp = mlflow.get_experiment_by_name("bench")  # creates the tables on first use
    exp_id = exp.experiment_id if exp else mlflow.create_experiment(
        "bench", artifact_location=os.path.join(root, "artifacts"))
    return mlflow, MlflowClient(), exp_id


def _ml_log_one(mlflow, exp_id: str, src: str) -> Any:
    with mlflow.start_run(experiment_id=exp_id) as run:
        if os.path.isdir(src):
            mlflow.log_artifacts(src, artifact_path="data")
        else:
            mlflow.log_artifact(src, artifact_path="data")
    return run


@step
def ml_log(root: str, src: str) -> dict:
    mlflow, _client, exp_id = _ml_client(root)
    t0 = clock()
    run = _ml_log_one(mlflow, exp_id, src)
    seconds = time.perf_counter() - t0
    with open(os.path.join(root, "last_run.json"), "w") as f:
        json.dump({"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri}, f)
    return {"seconds": seconds, "run_id": run.info.run_id,
            "store_bytes": tree_bytes(os.path.join(root, "artifacts"))}


@step
def ml_publish(root: str, model: str, alias: str) -> dict:
    _mlflow, client, _exp = _ml_client(root)
    with open(os.path.join(root, "last_run.json")) as f:
        last = json.load(f)
    t0 = clock()
    client.create_registered_model(model)
    mv = client.create_model_version(model, source=f"{last['artifact_uri']}/data", run_id=last["run_id"])
    client.set_registered_model_alias(model, alias, mv.version)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "version": mv.version}


@step
def ml_materialize(root: str, model: str, alias: str, dest: str) -> dict:
    mlflow, _client, _exp = _ml_client(root)
    t0 = clock()
    path = mlflow.artifacts.download_artifacts(f"models:/{model}@{alias}", dst_path=dest)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "path": path}


@step
def ml_versions(root: str, vroot: str, count: int) -> dict:
    mlflow, _client, exp_id = _ml_client(root)
    times = []
    for k in range(count):
        t0 = clock()
        _ml_log_one(mlflow, exp_id, version_path(vroot, k))
        times.append(time.perf_counter() - t0)
    return {"times": times, "store_bytes": tree_bytes(os.path.join(root, "artifacts")),
            "db_bytes": tree_bytes(os.path.join(root, "mlflow.db"))}


# -- W&B offline (WANDB_MODE=offline; the driver points every wandb folder into root) ------


def _wb_dirs(root: str) -> list[str]:
    return [os.path.join(root, d) for d in ("run", "data", "cache", "artifacts")]


def _wb_bytes(root: str) -> int:
    return sum(tree_bytes(d) for d in _wb_dirs(root) if os.path.exists(d))


def _wb_init(root: str, name: str):
    import wandb

    t0 = time.perf_counter()
    run = wandb.init(project="bench", dir=os.path.join(root, "run"), job_type="bench")
    return wandb, run, time.perf_counter() - t0


def _wb_artifact(wandb, name: str, type: str, src: str):
    art = wandb.Artifact(name, type=type)
    if os.path.isdir(src):
        art.add_dir(src)
    else:
        art.add_file(src)
    return art


@step
def wb_log(root: str, src: str, name: str, type: str) -> dict:
    wandb, run, init_s = _wb_init(root, name)
    t0 = clock()
    run.log_artifact(_wb_artifact(wandb, name, type, src))
    run.finish()  # the artifact is written out (staged, recorded in the run file) by now
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "init": init_s, "store_bytes": _wb_bytes(root)}


@step
def wb_publish(root: str, src: str, name: str, type: str, target: str, alias: str) -> dict:
    """Try to link offline: W&B refuses; report what it says."""
    wandb, run, _ = _wb_init(root, name)
    art = _wb_artifact(wandb, name, type, src)
    run.log_artifact(art)
    out: dict[str, Any] = {"possible": True}
    try:
        run.link_artifact(art, target, aliases=[alias])
    except Exception as e:
        out = {"possible": False, "error": f"run.link_artifact: {_err(e)}"}
    try:
        art.link(target, aliases=[alias])
    except Exception as e:
        out["error_artifact_link"] = f"Artifact.link: {_err(e)}"
    run.finish()
    return out


@step
def wb_materialize(root: str, name: str, target: str, alias: str, dest: str) -> dict:
    """Try to read offline, both ways W&B offers; report what it says."""
    wandb, run, _ = _wb_init(root, name)
    out: dict[str, Any] = {"possible": False}
    try:
        run.use_artifact(f"{name}:latest").download(dest)
        out["possible"] = True
    except Exception as e:
        out["error"] = f"run.use_artifact: {_err(e)}"
    run.finish()
    try:
        wandb.Api().artifact(f"{target}:{alias}").download(dest)
        out["possible"] = True
    except Exception as e:
        out["error_api"] = f"Api().artifact: {_err(e)}"
    return out


@step
def wb_versions(root: str, vroot: str, count: int) -> dict:
    wandb, run, _ = _wb_init(root, "model-c")
    times = []
    for k in range(count):
        t0 = clock()
        run.log_artifact(_wb_artifact(wandb, "model-c", "model", version_path(vroot, k)))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    run.finish()
    times[-1] += time.perf_counter() - t0  # finish waits for the queued artifacts
    return {"times": times, "store_bytes": _wb_bytes(root)}


# -- DVC without git (dvc init --no-scm) ----------------------------------------------------


def _dvc_repo(ws: str):
    from dvc.repo import Repo

    if not os.path.isdir(os.path.join(ws, ".dvc")):
        Repo.init(ws, no_scm=True)
    os.chdir(ws)  # dvc add wants its targets inside the repo, as the CLI does
    return Repo(ws)


def _quiet():
    # DVC prints progress and "Initialized ..." to stdout: keep the last line ours
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())


@step
def dvc_log(ws: str, src: str, name: str) -> dict:
    with _quiet():
        repo = _dvc_repo(ws)
        out = os.path.join(ws, name)
        if not os.path.exists(out):
            # dvc add takes files inside its workspace: place the data there first (not timed)
            if os.path.isdir(src):
                shutil.copytree(src, out)
            else:
                shutil.copyfile(src, out)
        t0 = clock()
        repo.add(name)
        seconds = time.perf_counter() - t0
        repo.close()
    return {"seconds": seconds, "store_bytes": tree_bytes(os.path.join(ws, ".dvc", "cache"))}


@step
def dvc_publish(ws: str, name: str, registry: str, alias: str) -> dict:
    """No registry without git (GTO tags git commits): stand in with a copy of the .dvc pointer."""
    os.makedirs(registry, exist_ok=True)
    t0 = clock()
    shutil.copyfile(os.path.join(ws, f"{name}.dvc"), os.path.join(registry, f"{name}@{alias}.dvc"))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds}


@step
def dvc_materialize(ws: str, name: str, registry: str, alias: str, dest: str) -> dict:
    """A new workspace sharing the first one's cache; resolve = read the pointer; then dvc checkout."""
    with _quiet():
        os.makedirs(dest)
        repo = _dvc_repo(dest)
        with repo.config.edit() as conf:
            conf["cache"]["dir"] = os.path.join(ws, ".dvc", "cache")
        repo.close()
        from dvc.repo import Repo

        repo = Repo(dest)
        t0 = clock()
        shutil.copyfile(os.path.join(registry, f"{name}@{alias}.dvc"), os.path.join(dest, f"{name}.dvc"))
        repo.checkout()
        seconds = time.perf_counter() - t0
        repo.close()
    return {"seconds": seconds}


@step
def dvc_versions(ws: str, vroot: str, count: int) -> dict:
    with _quiet():
        repo = _dvc_repo(ws)
        times = []
        for k in range(count):
            shutil.copyfile(version_path(vroot, k), os.path.join(ws, "model.bin"))  # a training run's output
            t0 = clock()
            repo.add("model.bin")
            times.append(time.perf_counter() - t0)
        repo.close()
    return {"times": times, "store_bytes": tree_bytes(os.path.join(ws, ".dvc", "cache"))}


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = STEPS[name](**args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
