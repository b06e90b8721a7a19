"""Runs read back: Api().run(path) forms, and log_artifact / use_artifact on a finished run (wandb/apis/public/runs.py)."""

from __future__ import annotations

import pytest

import localreg as wandb


def _draft(text="x", name="data"):
    a = wandb.Artifact(name, "dataset")
    with a.new_file("f.txt") as f:
        f.write(text)
    return a


def test_run_path_forms(monkeypatch):
    """Api.run('entity/project/run_id'), ('project/run_id'), ('run_id'), ('entity/project/runs/run_id')."""
    monkeypatch.setenv("WANDB_ENTITY", "team")
    monkeypatch.setenv("WANDB_PROJECT", "demo")
    with wandb.init(id="first_run") as run:
        run.log_artifact(_draft())
    api = wandb.Api()
    for path in ("team/demo/first_run", "demo/first_run", "first_run", "team/demo/runs/first_run"):
        got = api.run(path)
        assert (got.entity, got.project, got.id) == ("team", "demo", "first_run")
        assert [a.name for a in got.logged_artifacts()] == ["data:v0"]
    with pytest.raises(wandb.CommError):
        api.run("demo/no_such_run")
    with pytest.raises(ValueError):
        api.run("a/b/c/d/e")


def test_api_run_log_artifact(monkeypatch):
    """Public Run.log_artifact(artifact): a saved artifact becomes an output of a finished run, with aliases and tags."""
    monkeypatch.setenv("WANDB_ENTITY", "team")
    with wandb.init(entity="team", project="demo") as live:
        pass
    api_run = wandb.Api().run("/".join(live.path.split("/")))
    art = _draft()
    art.save(project="demo")  # no run: logged on its own
    assert api_run.log_artifact(art, aliases=["manual"], tags=["hand-made"]) is art
    logged = api_run.logged_artifacts()
    assert [a.qualified_name for a in logged] == [art.qualified_name]
    fresh = wandb.Api().artifact(art.qualified_name)
    assert "manual" in fresh.aliases and fresh.tags == ["hand-made"]


def test_api_run_refusals_are_comm_errors():
    """Public Run.log_artifact / use_artifact: drafts, names and other projects are refused (CommError)."""
    with wandb.init(entity="team", project="demo", id="first_run") as live:
        live.log_artifact(_draft())
    api_run = wandb.Api().run("team/demo/first_run")
    for call in (lambda: api_run.log_artifact(_draft()), lambda: api_run.use_artifact(_draft()),
                 lambda: api_run.use_artifact("data:v0"), lambda: api_run.log_artifact("data:v0")):
        with pytest.raises(wandb.CommError):
            call()
    with wandb.init(entity="team", project="other") as other:
        elsewhere = other.log_artifact(_draft("y", "elsewhere"))
    with pytest.raises(wandb.CommError, match="different project"):
        api_run.log_artifact(elsewhere)
    assert [a.name for a in api_run.logged_artifacts()] == ["data:v0"]


def test_api_run_use_artifact():
    """Public Run.use_artifact(artifact): records the use on the finished run."""
    with wandb.init(entity="team", project="demo", id="producer") as live:
        live.log_artifact(_draft())
    with wandb.init(entity="team", project="demo", id="consumer"):
        pass
    api = wandb.Api()
    consumer = api.run("team/demo/consumer")
    consumer.use_artifact(api.artifact("team/demo/data:v0"))
    assert [a.name for a in consumer.used_artifacts()] == ["data:v0"]
