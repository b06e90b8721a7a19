"""Run.log_model / use_model / link_model (wandb/sdk/wandb_run.py)."""

from __future__ import annotations

import os
import pathlib

import pytest

import localreg as wandb


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "boom.txt"
    p.write_text("testing")
    return p


def test_log_model_then_use_model(model_file):
    """Run.log_model(path, name) then Run.use_model('name:v0'): type 'model'; returns the single file's path."""
    with wandb.init(entity="team", project="demo") as run:
        assert run.log_model(model_file, "test-model") is None
    with wandb.init(entity="team", project="demo") as run:
        path = run.use_model("test-model:v0")
        assert path == os.path.join(os.path.abspath("artifacts"), "test-model:v0", "boom.txt")
        assert pathlib.Path(path).read_text() == "testing"
    art = wandb.Api().artifact("team/demo/test-model:latest")
    assert art.type == "model"
    assert [r.id for r in art.used_by()] == [run.id]


def test_log_model_default_name_and_aliases(model_file):
    """Run.log_model(path): name defaults to run-<run id>-<basename>; aliases are applied with latest."""
    with wandb.init(entity="team", project="demo") as run:
        run.log_model(model_file, aliases=["best"])
        art = wandb.Api().artifact(f"team/demo/run-{run.id}-boom.txt:best")
        assert set(art.aliases) == {"latest", "best"}


def test_use_model_folder_returns_folder(tmp_path):
    """Run.use_model: a model of several files gives the download folder."""
    (tmp_path / "m").mkdir()
    for n in ("a.bin", "b.bin"):
        (tmp_path / "m" / n).write_bytes(n.encode())
    with wandb.init(entity="team", project="demo") as run:
        run.log_model(tmp_path / "m", "two")
        path = run.use_model("two:latest")
    assert sorted(os.listdir(path)) == ["a.bin", "b.bin"] and os.path.isabs(path)


def test_use_model_refuses_other_types(model_file):
    """Run.use_model on an artifact whose type lacks 'model': AssertionError, and no use is recorded."""
    with wandb.init(entity="team", project="demo") as run:
        run.log_artifact(model_file, name="test-data", type="data")
        with pytest.raises(AssertionError, match="only use this method for 'model' artifacts"):
            run.use_model("test-data:v0")
    assert wandb.Api().artifact("team/demo/test-data:v0").used_by() == []


def test_use_model_accepts_model_like_types(model_file):
    """Run.use_model: any type containing 'model' (e.g. 'my-model') is a model."""
    with wandb.init(entity="team", project="demo") as run:
        run.log_artifact(model_file, name="tuned", type="my-model")
        assert run.use_model("tuned:v0").endswith("boom.txt")


def test_link_model_refuses_a_path_in_the_name(model_file):
    """Run.link_model(path, 'entity/x'): AssertionError, nothing logged."""
    with wandb.init(entity="team", project="demo") as run:
        with pytest.raises(AssertionError, match="only the name of the registered model"):
            run.link_model(model_file, "team/demo/thing", "m")
    assert not wandb.Api().artifact_exists("team/demo/m:v0")


def test_link_model_refuses_a_non_model_artifact(model_file):
    """Run.link_model with the name of an existing non-model artifact: AssertionError, no new version."""
    with wandb.init(entity="team", project="demo") as run:
        run.log_artifact(model_file, name="test_model", type="dataset")
        with pytest.raises(AssertionError, match="only use this method for 'model' artifacts"):
            run.link_model(model_file, "test_portfolio", "test_model")
    assert len(wandb.Api().artifacts("dataset", "team/demo/test_model")) == 1


def test_link_model_links_to_model_registry_project(model_file):
    """Run.link_model(path, 'portfolio', 'name'): logs a model and links it to <entity>/model-registry/<portfolio>."""
    with wandb.init(entity="team", project="demo") as run:
        try:
            linked = run.link_model(model_file, "test_portfolio", "test_model")
        except ValueError as e:  # project link collections are issue 11 item 4 (another branch)
            if "invalid target path" not in str(e):
                raise
            pytest.xfail(f"links to project collections are not in this branch: {e}")
    assert linked.qualified_name == "team/model-registry/test_portfolio:v0"
    with wandb.init(entity="team", project="demo") as run:
        path = run.use_model("model-registry/test_portfolio:v0")
    assert path == os.path.join(os.path.abspath("artifacts"), "test_model:v0", "boom.txt")
