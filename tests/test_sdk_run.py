"""Runs: scopes, resuming, using artifacts and lineage, through ``import localreg as wandb``."""

from __future__ import annotations

import os

import pytest

import localreg as wandb
from localreg.errors import LocalregError


def log(run, name, content, type="dataset", **kw):
    art = wandb.Artifact(name, type)
    with art.new_file("data.txt") as f:
        f.write(content)
    return run.log_artifact(art, **kw)


# -- scopes ----------------------------------------------------------------------------------


def test_no_project_anywhere_is_uncategorized():
    run = wandb.init()
    assert run.project == "uncategorized"
    assert run.entity == "tester"  # the store's default entity comes from the user
    logged = log(run, "ds", "x")
    assert logged.qualified_name == "tester/uncategorized/ds:v0"
    assert wandb.Api().artifact("ds:v0").qualified_name == "tester/uncategorized/ds:v0"


def test_store_defaults_apply(store):
    run = wandb.init()
    assert (run.entity, run.project) == ("team", "demo")
    assert log(run, "ds", "x").qualified_name == "team/demo/ds:v0"


def test_wandb_environment_variables(monkeypatch):
    monkeypatch.setenv("WANDB_ENTITY", "wb-team")
    monkeypatch.setenv("WANDB_PROJECT", "wb-project")
    monkeypatch.setenv("WANDB_ORGANIZATION", "wb-org")
    run = wandb.init()
    assert (run.entity, run.project) == ("wb-team", "wb-project")
    logged = log(run, "ds", "x")
    assert logged.qualified_name == "wb-team/wb-project/ds:v0"
    linked = run.link_artifact(logged, "wandb-registry-dataset/all")
    assert linked.qualified_name == "wb-org/wandb-registry-dataset/all:v0"
    assert wandb.Api().artifact("ds:latest").qualified_name == "wb-team/wb-project/ds:v0"
    assert wandb.Api().artifact("wandb-registry-dataset/all:v0").source_qualified_name == logged.qualified_name


def test_localreg_variables_beat_wandb_ones(monkeypatch):
    for var, value in [("WANDB_ENTITY", "wb-team"), ("WANDB_PROJECT", "wb-project"),
                       ("WANDB_ORGANIZATION", "wb-org"), ("LOCALREG_ENTITY", "lr-team"),
                       ("LOCALREG_PROJECT", "lr-project"), ("LOCALREG_ORG", "lr-org")]:
        monkeypatch.setenv(var, value)
    run = wandb.init()
    assert (run.entity, run.project) == ("lr-team", "lr-project")
    linked = run.link_artifact(log(run, "ds", "x"), "wandb-registry-dataset/all")
    assert linked.qualified_name == "lr-org/wandb-registry-dataset/all:v0"
    assert linked.source_qualified_name == "lr-team/lr-project/ds:v0"
    assert [r.name for r in wandb.Api().registries()] == ["dataset", "model"]
    assert wandb.Api().registry("dataset").organization == "lr-org"


def test_explicit_arguments_beat_everything(monkeypatch):
    monkeypatch.setenv("LOCALREG_ENTITY", "lr-team")
    monkeypatch.setenv("LOCALREG_PROJECT", "lr-project")
    monkeypatch.setenv("LOCALREG_ORG", "lr-org")
    run = wandb.init(entity="mine", project="here")
    logged = log(run, "ds", "x")
    assert logged.qualified_name == "mine/here/ds:v0"
    linked = run.link_artifact(logged, "my-org/wandb-registry-dataset/all")
    assert linked.qualified_name == "my-org/wandb-registry-dataset/all:v0"
    # a run's own entity/project scope its short refs, not the environment
    assert run.use_artifact("ds:v0").qualified_name == "mine/here/ds:v0"
    api = wandb.Api(overrides={"entity": "mine", "project": "here", "organization": "my-org"})
    assert api.artifact("ds:v0").qualified_name == "mine/here/ds:v0"
    assert api.artifact("wandb-registry-dataset/all:v0").qualified_name == "my-org/wandb-registry-dataset/all:v0"
    assert not wandb.Api().artifact_exists("ds:v0")  # lr-team/lr-project has no such artifact


def test_project_with_entity_in_init(store):
    run = wandb.init(project="other")
    assert (run.entity, run.project) == ("team", "other")


@pytest.mark.parametrize("kw", [{"entity": "a b"}, {"project": "a/b"}, {"id": "x:y"}])
def test_bad_scope_names_are_refused(kw):
    with pytest.raises(ValueError):
        wandb.init(**kw)
    assert wandb.run is None


def test_init_accepts_wandb_arguments(tmp_path):
    run = wandb.init(project="demo", name="nice-run", job_type="train", config={"lr": 0.1},
                     mode="offline", dir=str(tmp_path), reinit=True, tags=["a"], notes="n",
                     group="g", settings=wandb.Settings(silent=True))
    assert run.name == "nice-run"
    assert run.job_type == "train"
    assert run.config.lr == 0.1
    run.config.batch = 32
    run.config["epochs"] = 3
    run.config.update({"opt": "adam"})
    run.log({"loss": 0.5})
    run.log({"loss": 0.25})
    assert run.summary["loss"] == 0.25
    run.finish()
    back = wandb.Api().run(run.path)
    assert back.config == {"lr": 0.1, "batch": 32, "epochs": 3, "opt": "adam"}
    assert back.name == "nice-run" and back.job_type == "train"


def test_init_with_the_same_id_resumes_the_run():
    first = wandb.init(entity="team", project="demo", id="run-1", config={"a": 1})
    log(first, "ds", "x")
    first.finish()
    again = wandb.init(entity="team", project="demo", id="run-1", config={"b": 2})
    assert again.id == "run-1"
    assert again.path == first.path
    assert wandb.Api().run("team/demo/run-1").state == "running"
    log(again, "ds", "y")
    again.finish()
    back = wandb.Api().run("team/demo/run-1")
    assert back.config == {"a": 1, "b": 2}
    assert [a.version for a in back.logged_artifacts()] == ["v0", "v1"]
    assert back.state == "finished"


# -- using and lineage ------------------------------------------------------------------------


@pytest.fixture
def produced(store):
    """``team/demo/ds`` v0..v1 (v1 aliased "best") logged by run "producer", and a link of v0."""
    with wandb.init(entity="team", project="demo", id="producer", job_type="etl") as run:
        v0 = log(run, "ds", "zero")
        log(run, "ds", "one", aliases=["best"])
        run.link_artifact(v0, "acme/wandb-registry-dataset/golden", aliases=["gold"])
    return run


@pytest.mark.parametrize("ref, expected", [
    ("ds:best", "v1"),
    ("ds:v0", "v0"),
    ("ds", "v1"),
    ("demo/ds:v0", "v0"),
    ("team/demo/ds:latest", "v1"),
])
def test_use_artifact_refs(produced, ref, expected):
    with wandb.init(entity="team", project="demo") as run:
        used = run.use_artifact(ref)
        assert used.version == expected
        assert used.source_qualified_name == f"team/demo/ds:{expected}"
        assert [a.qualified_name for a in run.used_artifacts()] == [f"team/demo/ds:{expected}"]
    assert [r.id for r in used.used_by()] == [run.id]


def test_use_artifact_registry_path_records_use_on_source_and_link(produced):
    with wandb.init(entity="team", project="train", id="consumer") as run:
        used = run.use_artifact("acme/wandb-registry-dataset/golden:gold", type="dataset")
        assert used.is_link
        assert used.qualified_name == "acme/wandb-registry-dataset/golden:v0"
        assert used.source_qualified_name == "team/demo/ds:v0"
        root = used.download()
        assert root == os.path.abspath(os.path.join("artifacts", "ds:v0"))
        with open(os.path.join(root, "data.txt")) as f:
            assert f.read() == "zero"
    api = wandb.Api()
    source = api.artifact("team/demo/ds:v0")
    link = api.artifact("acme/wandb-registry-dataset/golden:latest")
    assert [r.id for r in source.used_by()] == ["consumer"]
    assert [r.id for r in link.used_by()] == ["consumer"]
    assert source.logged_by().id == "producer"
    assert link.logged_by().id == "producer"
    assert link.logged_by().job_type == "etl"
    assert api.artifact("team/demo/ds:v1").used_by() == []


def test_use_artifact_errors(produced):
    with wandb.init(entity="team", project="demo") as run:
        with pytest.raises(LookupError) as info:
            run.use_artifact("ds:nope")
        assert isinstance(info.value, LocalregError)
        assert "ds:nope" in str(info.value) and "team/demo" in str(info.value)
        with pytest.raises(LookupError):
            run.use_artifact("missing:latest")
        with pytest.raises(LookupError):
            run.use_artifact("acme/wandb-registry-nope/golden:latest")
        with pytest.raises(ValueError):
            run.use_artifact("ds:v0", type="model")
        with pytest.raises(ValueError):
            run.use_artifact("a/b/c/d:v0")
        assert run.used_artifacts() == []


def test_use_the_same_artifact_twice_is_one_use(produced):
    with wandb.init(entity="team", project="demo") as run:
        run.use_artifact("ds:v0")
        run.use_artifact("team/demo/ds:v0")
        assert len(run.used_artifacts()) == 1
    assert len(wandb.Api().artifact("team/demo/ds:v0").used_by()) == 1


def test_logged_and_used_artifacts_of_a_run(produced):
    api = wandb.Api()
    producer = api.run("team/demo/producer")
    assert [a.qualified_name for a in producer.logged_artifacts()] == ["team/demo/ds:v0", "team/demo/ds:v1"]
    assert producer.used_artifacts() == []
    with wandb.init(entity="team", project="demo", id="second") as run:
        run.use_artifact("ds:v1")
        out = log(run, "derived", "d")
        assert [a.qualified_name for a in run.logged_artifacts()] == ["team/demo/derived:v0"]
        assert [a.qualified_name for a in run.used_artifacts()] == ["team/demo/ds:v1"]
    assert out.logged_by().id == "second"
    assert [r.id for r in api.artifact("team/demo/ds:v1").used_by()] == ["second"]


def test_use_a_draft_logs_it_without_a_producer(store):
    with wandb.init(entity="team", project="demo") as run:
        art = wandb.Artifact("local-input", "dataset")
        with art.new_file("a.txt") as f:
            f.write("a")
        used = run.use_artifact(art)
        assert used.version == "v0"
        assert [a.qualified_name for a in run.used_artifacts()] == ["team/demo/local-input:v0"]
        assert run.logged_artifacts() == []


def test_log_artifact_from_a_path(store, make_files):
    src = make_files({"a.txt": "a", "b/c.txt": "c"})
    with wandb.init(entity="team", project="demo") as run:
        logged = run.log_artifact(src, name="folder", type="dataset", aliases=["x"])
        assert logged.qualified_name == "team/demo/folder:v0"
        assert sorted(logged.manifest.entries) == ["a.txt", "b/c.txt"]
        single = run.log_artifact(os.path.join(src, "a.txt"), name="single", type="dataset")
        assert [e.path for e in single.files()] == ["a.txt"]


def test_finished_run_refuses_work(store):
    run = wandb.init(entity="team", project="demo")
    logged = log(run, "ds", "x")
    run.finish()
    for call in (lambda: run.log_artifact(wandb.Artifact("y", "dataset")),
                 lambda: run.use_artifact("ds:v0"),
                 lambda: run.link_artifact(logged, "wandb-registry-dataset/x"),
                 lambda: run.log({"a": 1})):
        with pytest.raises(LocalregError):
            call()
    assert wandb.Api().artifact("team/demo/ds:v0").used_by() == []
