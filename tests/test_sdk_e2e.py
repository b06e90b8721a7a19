"""The W&B registry example, verbatim, through ``import localreg as wandb``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import localreg as wandb

ORG = "acme"
REGISTRY = "model"
COLLECTION = "best-classifier"
MODEL_BYTES = bytes(range(256)) * 64


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(MODEL_BYTES)
    return str(path)


def test_registry_example_round_trip(store, model_file, tmp_path):
    # the example from the W&B registry docs, unchanged but for the import
    run = wandb.init(entity="team", project="demo")
    artifact = wandb.Artifact(name="classifier", type="model")
    artifact.add_file(local_path=model_file)
    run.link_artifact(artifact=artifact, target_path=f"{ORG}/wandb-registry-{REGISTRY}/{COLLECTION}")
    run.finish()

    fetched = wandb.Api().artifact(f"{ORG}/wandb-registry-{REGISTRY}/{COLLECTION}:latest")
    assert fetched.is_link
    assert fetched.type == "model"
    assert fetched.qualified_name == f"{ORG}/wandb-registry-{REGISTRY}/{COLLECTION}:v0"
    assert fetched.source_qualified_name == "team/demo/classifier:v0"
    assert "latest" in fetched.aliases

    root = fetched.download()
    assert root == os.path.abspath(os.path.join("artifacts", "classifier:v0"))
    fetched.verify(root)
    with open(os.path.join(root, "model.pt"), "rb") as f:
        assert f.read() == MODEL_BYTES
    # the file landed under the working directory, as W&B puts it
    assert (tmp_path / "artifacts" / "classifier:v0" / "model.pt").read_bytes() == MODEL_BYTES
    # the draft object became the logged source version
    assert artifact.qualified_name == "team/demo/classifier:v0"
    assert fetched.logged_by().id == run.id


def test_registry_example_in_a_fresh_process(tmp_path, model_file):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import localreg as wandb

        ORG, REGISTRY, COLLECTION = {ORG!r}, {REGISTRY!r}, {COLLECTION!r}
        run = wandb.init(entity="team", project="demo")
        artifact = wandb.Artifact(name="classifier", type="model")
        artifact.add_file(local_path={model_file!r})
        run.link_artifact(artifact=artifact, target_path=f"{{ORG}}/wandb-registry-{{REGISTRY}}/{{COLLECTION}}")
        run.finish()

        fetched = wandb.Api().artifact(f"{{ORG}}/wandb-registry-{{REGISTRY}}/{{COLLECTION}}:latest")
        root = fetched.download(root="out")
        fetched.verify(root)
        print(fetched.qualified_name, fetched.source_qualified_name, run.id)
    """))
    env = dict(os.environ, LOCALREG_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    link_name, source_name, run_id = done.stdout.split()
    assert link_name == f"{ORG}/wandb-registry-{REGISTRY}/{COLLECTION}:v0"
    assert source_name == "team/demo/classifier:v0"
    assert (tmp_path / "out" / "model.pt").read_bytes() == MODEL_BYTES

    # what the other process wrote is there for this one too
    again = wandb.Api().artifact(f"{ORG}/wandb-registry-{REGISTRY}/{COLLECTION}:v0")
    assert again.source_qualified_name == "team/demo/classifier:v0"
    assert again.logged_by().id == run_id
    assert wandb.Api().run(f"team/demo/{run_id}").state == "finished"
    with open(again.file(root=str(tmp_path / "here")), "rb") as f:
        assert f.read() == MODEL_BYTES


def test_wandb_run_is_the_active_run():
    assert wandb.run is None
    run = wandb.init(project="demo")
    assert wandb.run is run
    run.finish()
    assert wandb.run is None
    run.finish()  # idempotent
    assert wandb.Api().run(run.path).state == "finished"


def test_context_manager_finishes_the_run():
    with wandb.init(entity="team", project="demo") as run:
        assert wandb.run is run
        artifact = wandb.Artifact("data", "dataset")
        with artifact.new_file("a.txt") as f:
            f.write("hello")
        run.log_artifact(artifact)
    assert wandb.run is None
    assert wandb.Api().run(f"team/demo/{run.id}").state == "finished"
    with pytest.raises(AttributeError):
        run.log_artifact(wandb.Artifact("more", "dataset"))


def test_context_manager_marks_a_failed_run_and_reraises():
    with pytest.raises(RuntimeError, match="boom"):
        with wandb.init(entity="team", project="demo") as run:
            raise RuntimeError("boom")
    assert wandb.run is None
    assert wandb.Api().run(f"team/demo/{run.id}").state == "failed"


def test_a_new_init_finishes_the_previous_run():
    first = wandb.init(project="demo")
    second = wandb.init(project="demo")
    assert wandb.run is second
    assert wandb.Api().run(first.path).state == "finished"
    assert wandb.Api().run(second.path).state == "running"
    wandb.finish()
    assert wandb.run is None


def test_module_level_verbs_use_the_active_run(make_files):
    with pytest.raises(AttributeError):
        wandb.log_artifact(wandb.Artifact("x", "dataset"))
    run = wandb.init(entity="team", project="demo")
    art = wandb.Artifact("x", "dataset")
    art.add_dir(make_files({"a.txt": "a"}))
    logged = wandb.log_artifact(art, aliases=["first"])
    assert logged.qualified_name == "team/demo/x:v0"
    used = wandb.use_artifact("x:first")
    assert used.qualified_name == "team/demo/x:v0"
    linked = wandb.link_artifact(logged, "acme/wandb-registry-dataset/xs")
    assert linked.qualified_name == "acme/wandb-registry-dataset/xs:v0"
    assert [a.qualified_name for a in run.used_artifacts()] == ["team/demo/x:v0"]
    wandb.finish()
