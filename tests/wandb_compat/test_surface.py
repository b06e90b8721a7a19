"""The rest of the everyday surface: collection type change, new_draft, history_step, ArtifactTTL, registry
rename, checkout, automations, registry ids, Api().client."""

from __future__ import annotations

import base64
import datetime
import os

import pytest

import localreg as wandb
from compat_fixtures import api, run  # noqa: F401  (pytest fixtures)


def _log(run, name="ds", text="x", type="dataset", **kw):
    a = wandb.Artifact(name, type)
    with a.new_file("f.txt") as f:
        f.write(text)
    return run.log_artifact(a, **kw)


def test_collection_type_change_with_save(run, api):
    """ArtifactCollection.type = ...; save(): a source collection (sequence) changes type, versions follow."""
    _log(run)
    coll = api.artifact_collection("dataset", "team/demo/ds")
    coll.type = "raw-data"
    coll.save()
    assert api.artifact_collection("raw-data", "team/demo/ds").type == "raw-data"
    assert api.artifact("team/demo/ds:v0").type == "raw-data"


def test_collection_change_type_and_refusals(run, api):
    """ArtifactCollection.change_type(t) (deprecated form); bad types and link collections are refused."""
    logged = _log(run)
    coll = api.artifact_collection("dataset", "team/demo/ds")
    coll.change_type("cleaned")
    assert api.artifact("team/demo/ds:v0").type == "cleaned"
    coll.type = "a/b"
    with pytest.raises(ValueError, match="Failed to save artifact collection 'ds'"):
        coll.save()
    assert api.artifact("team/demo/ds:v0").type == "cleaned"  # nothing written
    org = api.store.default("org")
    reg = api.create_registry("anything", visibility="organization", organization=org)
    link = logged.link(f"{org}/{reg.full_name}/golden")
    with pytest.raises(ValueError, match="sequence"):
        link.collection.type = "other"


def test_new_draft(run, api):
    """Artifact.new_draft(): same name/type/files/metadata; logs as the next version of the source collection."""
    v0 = _log(run, text="zero")
    v0.metadata = {"k": 1}
    v0.save()
    draft = api.artifact("team/demo/ds:v0").new_draft()
    assert draft.is_draft() and draft.name == "ds" and draft.type == "dataset"
    assert draft.metadata == {"k": 1} and [f.path for f in draft.files()] == ["f.txt"]
    with draft.new_file("g.txt") as f:
        f.write("more")
    v1 = run.log_artifact(draft)
    assert v1.version == "v1" and sorted(f.path for f in v1.files()) == ["f.txt", "g.txt"]


def test_new_draft_stays_in_its_project(run, api):
    """Run.log_artifact of a draft from new_draft() in another project/entity: ValueError (W&B's words)."""
    _log(run)
    draft = api.artifact("team/demo/ds:v0").new_draft()
    with pytest.raises(ValueError, match="exists in project 'demo'"):
        with wandb.init(entity="team", project="elsewhere") as other:
            other.log_artifact(draft)
    with pytest.raises(ValueError, match="owned by entity 'team'"):
        with wandb.init(entity="someone", project="demo") as other:
            other.log_artifact(draft)
    assert [v.version for v in api.artifacts("dataset", "team/demo/ds")] == ["v0"]


def test_log_another_type_under_a_name(run):
    """Run.log_artifact: a name that exists with another type is ValueError('... already exists with type ...')."""
    _log(run)
    with pytest.raises(ValueError, match="already exists with type 'dataset'"):
        _log(run, text="other", type="model")


def test_history_step(api):
    """Artifact.history_step: the run's history step when the version was logged (None before any log)."""
    with wandb.init(entity="team", project="demo") as run:
        for i in range(2):
            _log(run, text=str(i))
            wandb.log({"metric": 5})
    assert api.artifact("team/demo/ds:v0").history_step is None
    assert api.artifact("team/demo/ds:v1").history_step == 0


def test_ttl_inherit(run, api):
    """wandb.ArtifactTTL.INHERIT: an inherited TTL (localreg has no team TTL policy, so none) once logged."""
    a = wandb.Artifact("ttl", "dataset")
    with a.new_file("f.txt") as f:
        f.write("x")
    a.ttl = datetime.timedelta(days=3)
    logged = run.log_artifact(a)
    assert logged.ttl is not None and abs(logged.ttl - datetime.timedelta(days=3)) < datetime.timedelta(seconds=2)
    logged.ttl = wandb.ArtifactTTL.INHERIT
    with pytest.raises(wandb.errors.ArtifactNotLoggedError):
        logged.ttl  # unknown until saved, as in W&B
    logged.save()
    assert api.artifact("team/demo/ttl:v0").ttl is None


def test_registry_rename_through_save(api):
    """Registry.name = ...; save(): a rename (not a new registry); the old name no longer loads."""
    org = api.store.default("org")
    reg = api.create_registry("test", visibility="organization", organization=org, description="kept")
    reg.name = "new-name"
    reg.save()
    assert reg.name == "new-name" and reg.full_name == "wandb-registry-new-name"
    with pytest.raises(ValueError, match="Failed to load registry"):
        api.registry("test", org)
    again = api.registry("new-name", org)
    assert again.description == "kept" and again.id == reg.id
    core = api.registry("model", org)
    core.name = "renamed-core"
    with pytest.raises(ValueError):
        core.save()


def test_registry_id_is_wandb_shaped(api):
    """Registry.id: base64 of 'Project:<n>', read-only (W&B's GraphQL id)."""
    org = api.store.default("org")
    reg = api.create_registry("ids", visibility="organization", organization=org)
    assert base64.b64decode(reg.id).decode().startswith("Project:")
    with pytest.raises(AttributeError):
        reg.id = "x"


def test_checkout(run, api, tmp_path):
    """Artifact.checkout(root=None): ./artifacts/<name> (no version) holds exactly the version's files."""
    _log(run, text="zero")
    stale = os.path.join("artifacts", "ds", "bogus")
    os.makedirs(os.path.dirname(stale))
    with open(stale, "w") as f:
        f.write("delete me")
    path = api.artifact("team/demo/ds:v0").checkout()
    assert path == os.path.abspath(os.path.join("artifacts", "ds"))
    assert os.listdir(path) == ["f.txt"]


def test_automations_empty(api):
    """Api.automations(): localreg has no automations, so the listing is empty."""
    assert list(api.automations()) == []


def test_client_is_not_graphql(api):
    """Api.client: exists (W&B code reaches for it) but has no GraphQL server behind it: CommError on execute."""
    with pytest.raises(wandb.CommError, match="no GraphQL server"):
        api.client.execute("query { viewer { id } }")
