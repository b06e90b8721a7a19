"""Third-party libraries' own W&B artifact code runs on localreg, unchanged, with no real wandb installed.

Failure class: a library that logs or reads artifacts through ``import wandb``
breaks on localreg (a missing module path, member or argument). Each test
runs the library's real code path under the ``wandb_offline`` fixture,
then checks what it stored through localreg's API. The libraries come from
the ``integrations`` extra (dagster-wandb with ``--no-deps``: it requires
wandb, which must stay absent); with ``LOCALREG_REQUIRE_INTEGRATIONS=1``
(as in CI) a missing one fails instead of skipping.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import importlib.util
import os
import pickle
from pathlib import Path

import pytest

try:
    # imported at collection, before any test: numpy cannot be imported twice in a process, and
    # pytester's in-process runs (tests/test_plugin.py) drop the modules a run imported, numpy included
    import numpy  # noqa: F401
except ImportError:
    pass


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed (pip install -e '.[integrations]'; dagster-wandb with --no-deps)"
        if os.environ.get("LOCALREG_REQUIRE_INTEGRATIONS"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def no_real_wandb(request):
    """The real wandb package is absent: ``import wandb`` can only be localreg."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("wandb")
    assert importlib.util.find_spec("wandb") is None


# -- spaCy: spacy-loggers' WandbLogger ---------------------------------------------------------


def _spacy_project(root: Path) -> Path:
    """A tiny blank-English text classifier: training data, a dataset folder and a config using WandbLogger.v5."""
    import spacy
    from spacy.cli.init_config import init_config
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    db = DocBin()
    for text, positive in [("good great fine", 1), ("bad awful poor", 0), ("great good", 1), ("poor bad", 0)]:
        doc = nlp.make_doc(text)
        doc.cats = {"POS": float(positive), "NEG": float(not positive)}
        db.add(doc)
    db.to_disk(root / "train.spacy")
    (root / "corpus").mkdir()
    (root / "corpus" / "raw.txt").write_text("good great fine\nbad awful poor\n")
    config = init_config(lang="en", pipeline=["textcat"], optimize="efficiency")
    config["paths"]["train"] = config["paths"]["dev"] = str(root / "train.spacy")
    config["system"]["seed"] = 0
    config["training"].update({"max_steps": 4, "eval_frequency": 2, "max_epochs": 0})
    config["training"]["logger"] = {
        "@loggers": "spacy.WandbLogger.v5",
        "project_name": "spacy-demo",
        "run_name": "tiny-textcat",
        "model_log_interval": 2,
        "log_dataset_dir": str(root / "corpus"),
        "log_best_dir": str(root / "out" / "model-best"),
        "log_latest_dir": str(root / "out" / "model-last"),
    }
    config.to_disk(root / "config.cfg")
    return root / "config.cfg"


def test_spacy_wandb_logger_logs_checkpoints_and_models(no_real_wandb, wandb_offline, localreg_api, tmp_path):
    """spacy-loggers `spacy.WandbLogger.v5` in a real `spacy train`: dataset, checkpoints (with "" alias), best/last models."""
    _require("spacy_loggers")
    import spacy
    from spacy.cli.train import train

    train(_spacy_project(tmp_path), tmp_path / "out", use_gpu=-1)

    dataset = localreg_api.artifact("spacy-demo/dataset:latest")
    assert dataset.type == "dataset" and [f.path for f in dataset.files()] == ["dataset/raw.txt"]
    run = dataset.logged_by()
    assert run.name == "tiny-textcat" and run.state == "finished"  # wandb.run.name = ..., then wandb.join()

    # a checkpoint every 2 steps, as "pipeline_<run id>"; aliases "epoch E step S", "latest", and "best" or ""
    checkpoints = localreg_api.artifacts("checkpoint", f"spacy-demo/pipeline_{run.id}")
    assert [c.version for c in checkpoints] == ["v0", "v1"]
    steps = [c.metadata["step"] for c in checkpoints]
    assert steps == [2, 4]
    for c in checkpoints:
        assert f"epoch {c.metadata['epoch']} step {c.metadata['step']}" in c.aliases
        assert "" not in c.aliases
        assert f"pipeline_{run.id}/config.cfg" in [f.path for f in c.files()]
    assert "latest" in checkpoints[-1].aliases
    assert sum("best" in c.aliases for c in checkpoints) == 1

    best = localreg_api.artifact("spacy-demo/model_best:latest")
    last = localreg_api.artifact("spacy-demo/model_last:latest")
    assert best.type == last.type == "model"
    assert [r.id for r in [best.logged_by(), last.logged_by()]] == [run.id, run.id]
    # what was logged is a working pipeline: download it and classify with it
    folder = Path(last.download(root=str(tmp_path / "restored")))
    nlp = spacy.load(folder / "model_last")
    assert set(nlp("good great").cats) == {"POS", "NEG"}


# -- Dagster: dagster-wandb's W&B IO manager -----------------------------------------------------


def test_dagster_io_manager_materializes_and_loads_artifacts(no_real_wandb, wandb_offline, localreg_api, tmp_path):
    """dagster-wandb `wandb_artifacts_io_manager`: assets stored as artifacts (pickle, Table) and loaded back as inputs."""
    _require("dagster_wandb")
    from dagster import AssetIn, asset, make_values_resource, materialize
    from dagster_wandb import wandb_artifacts_io_manager, wandb_resource

    import wandb

    @asset(io_manager_key="wandb_artifacts_manager",
           metadata={"wandb_artifact_configuration": {"type": "dataset", "description": "raw", "aliases": ["", "first"]}})
    def numbers():
        return [1, 2, 3]

    @asset(io_manager_key="wandb_artifacts_manager",
           metadata={"wandb_artifact_configuration": {"type": "result"}})
    def doubled(numbers):
        return [2 * n for n in numbers]

    @asset(io_manager_key="wandb_artifacts_manager")
    def scores():
        return wandb.Table(columns=["name", "score"], data=[["a", 1], ["b", 2]])

    @asset(io_manager_key="wandb_artifacts_manager",
           ins={"scores": AssetIn(metadata={"wandb_artifact_configuration": {"get": "Table"}})})
    def best(scores):
        return max(scores.data, key=lambda row: row[1])[0]

    resources = {
        "wandb_config": make_values_resource(entity=str, project=str),
        "wandb_resource": wandb_resource.configured({"api_key": "unused-offline"}),
        "wandb_artifacts_manager": wandb_artifacts_io_manager.configured(
            {"base_dir": str(tmp_path / "dagster"), "cache_duration_in_minutes": 0}),
    }
    # in a thread of its own: Dagster makes and closes an event loop per run, and cannot (it leaves a
    # coroutine unawaited) where an earlier test in this process left one marked running
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(
            materialize, [numbers, doubled, scores, best], resources=resources,
            run_config={"resources": {"wandb_config": {"config": {"entity": "test-team", "project": "dagster-demo"}}}},
        ).result()
    assert result.success
    assert result.output_for_node("best") == "b"

    stored = {c.name: c for c in localreg_api.artifact_collections("test-team/dagster-demo")}
    assert sorted(stored) == ["best", "doubled", "numbers", "scores"]
    first = localreg_api.artifact("test-team/dagster-demo/numbers:first")
    assert (first.type, first.description, first.version) == ("dataset", "raw", "v0")
    assert sorted(first.aliases) == ["dagster-run-0ab2e48b", "first", "latest"]  # "" named nothing
    assert first.metadata["source_integration"] == "dagster_wandb"
    # every output is read back through localreg as the value the asset returned
    for name, value in [("numbers", [1, 2, 3]), ("doubled", [2, 4, 6]), ("best", "b")]:
        root = Path(localreg_api.artifact(f"test-team/dagster-demo/{name}:latest").download(root=str(tmp_path / name)))
        assert pickle.loads((root / "output.pickle").read_bytes()) == value
    table = localreg_api.artifact("test-team/dagster-demo/scores:latest").get("Table")
    assert table == wandb.Table(columns=["name", "score"], data=[["a", 1], ["b", 2]])

    # one W&B run (the IO manager's run id, resumed with resume="allow") wrote and read them all
    run = localreg_api.run("test-team/dagster-demo/0ab2e48b-6d63-4ff5-b160-662cc60145f4")
    assert sorted(a.name.split(":")[0] for a in run.logged_artifacts()) == sorted(stored)
    assert sorted(a.name.split(":")[0] for a in run.used_artifacts()) == ["numbers", "scores"]
    events = {e.asset_key.path[0]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert events["doubled"]["wandb_run_url"].value == f"localreg://test-team/dagster-demo/runs/{run.id}"
    assert events["doubled"]["wandb_artifact_version"].value == "v0"
