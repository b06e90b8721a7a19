"""Linking source versions into registry collections, through ``import localreg as wandb``."""

from __future__ import annotations

import pytest

import localreg as wandb
from localreg.errors import LocalregError
from tests.conftest import snapshot

TARGET = "acme/wandb-registry-model/classifier"


@pytest.fixture
def run(store):
    r = wandb.init(entity="team", project="demo")
    yield r
    r.finish()


def draft(name="m", type="model", content="weights"):
    art = wandb.Artifact(name, type)
    with art.new_file("model.bin") as f:
        f.write(content)
    return art


def test_link_result_names_link_and_source(run):
    source = run.log_artifact(draft())
    linked = run.link_artifact(source, TARGET, aliases=["production"])
    assert linked.is_link
    assert not source.is_link
    assert linked.name == "classifier:v0"
    assert linked.version == "v0"
    assert linked.qualified_name == f"{TARGET}:v0"
    assert linked.entity == "acme"
    assert linked.project == "wandb-registry-model"
    assert linked.source_name == "m:v0"
    assert linked.source_version == "v0"
    assert linked.source_qualified_name == "team/demo/m:v0"
    assert linked.source_entity == "team"
    assert linked.source_project == "demo"
    assert linked.source_artifact == source
    assert linked.source_artifact.qualified_name == "team/demo/m:v0"
    assert linked.source_collection.name == "m"
    assert linked.collection.name == "classifier"
    assert not linked.collection.is_sequence()
    assert sorted(linked.aliases) == ["latest", "production"]
    # the link has no files of its own: it reads the source's
    assert linked.digest == source.digest
    assert [e.path for e in linked.files()] == ["model.bin"]
    # aliases of the link stay on the link
    assert wandb.Api().artifact("team/demo/m:v0").aliases == ["latest"]
    assert [l.qualified_name for l in source.linked_artifacts] == [f"{TARGET}:v0"]
    assert source.source_artifact is source


def test_link_indexes_are_independent(run):
    v0 = run.log_artifact(draft(content="0"))
    v1 = run.log_artifact(draft(content="1"))
    v2 = run.log_artifact(draft(content="2"))
    assert v2.version == "v2"
    first = v2.link(TARGET)
    second = v0.link(TARGET, aliases=["old"])
    assert (first.version, first.source_version) == ("v0", "v2")
    assert (second.version, second.source_version) == ("v1", "v0")
    api = wandb.Api()
    assert api.artifact(f"{TARGET}:latest").source_version == "v0"
    assert api.artifact(f"{TARGET}:v0").aliases == []
    assert api.artifact(f"{TARGET}:old").version == "v1"
    # linking a version that is already in the collection makes no new index
    again = v0.link(TARGET, aliases=["again"])
    assert again.version == "v1"
    assert sorted(again.aliases) == ["again", "latest", "old"]
    assert len(api.artifacts("model", TARGET)) == 2
    # one source, several collections
    other = v0.link("acme/wandb-registry-model/other")
    assert other.version == "v0"
    assert sorted(l.qualified_name for l in v0.linked_artifacts) == [
        "acme/wandb-registry-model/classifier:v1", "acme/wandb-registry-model/other:v0",
    ]
    assert v1.linked_artifacts == []


def test_first_link_creates_the_collection_with_the_artifact_type(run):
    api = wandb.Api()
    assert not api.artifact_collection_exists(TARGET)
    reg = api.create_registry("shared", visibility="organization", organization="acme")
    assert reg.allow_all_artifact_types
    run.log_artifact(draft("ds", "dataset")).link("acme/wandb-registry-shared/tables")
    coll = api.artifact_collection("dataset", "acme/wandb-registry-shared/tables")
    assert coll.type == "dataset"
    assert coll.name == "tables"
    assert not coll.is_sequence()


def test_wrong_type_for_the_collection_writes_nothing(run, store):
    wandb.Api().create_registry("shared", organization="acme")
    run.log_artifact(draft("m", "model")).link("acme/wandb-registry-shared/mixed")
    ds = run.log_artifact(draft("ds", "dataset"))
    before = snapshot(store)
    with pytest.raises(ValueError, match="type") as info:
        ds.link("acme/wandb-registry-shared/mixed", aliases=["x"])
    assert isinstance(info.value, LocalregError)
    with pytest.raises(ValueError, match="type"):
        run.link_artifact(ds, "acme/wandb-registry-shared/mixed")
    assert snapshot(store) == before


def test_type_not_allowed_by_the_registry_writes_nothing(run, store):
    ds = run.log_artifact(draft("ds", "dataset"))
    before = snapshot(store)
    with pytest.raises(ValueError, match="allow") as info:
        run.link_artifact(ds, TARGET)  # the core model registry takes models only
    assert isinstance(info.value, LocalregError)
    wandb.Api().create_registry("restricted-reg", organization="acme", artifact_types=["model"])
    before = snapshot(store)
    with pytest.raises(ValueError):
        ds.link("acme/wandb-registry-restricted-reg/c")
    assert snapshot(store) == before
    assert not wandb.Api().artifact_collection_exists("acme/wandb-registry-restricted-reg/c")


def test_missing_registry_or_bad_target_writes_nothing(run, store):
    source = run.log_artifact(draft())
    before = snapshot(store)
    with pytest.raises(LookupError):
        source.link("acme/wandb-registry-nope/c")
    # "team/demo/c" is a project's link collection (W&B's portfolio): tests/wandb_compat/test_project_links.py
    for bad in ["team/demo/c/d", "acme/wandb-registry-model/c:v0", "acme/wandb-registry-model/a b"]:
        with pytest.raises(ValueError):
            source.link(bad)
    with pytest.raises(ValueError):
        source.link(TARGET, aliases=["v1"])
    assert snapshot(store) == before


def test_run_link_artifact_logs_a_draft_first(run):
    art = draft()
    linked = run.link_artifact(art, TARGET, aliases=["candidate"])
    assert art.version == "v0" and not art.is_link
    assert art.qualified_name == "team/demo/m:v0"
    assert linked.source_qualified_name == "team/demo/m:v0"
    assert art.logged_by().id == run.id
    assert [a.qualified_name for a in run.logged_artifacts()] == ["team/demo/m:v0"]


def test_artifact_link_logs_a_draft_first(run):
    art = draft()
    linked = art.link(TARGET)
    assert art.version == "v0"
    assert linked.qualified_name == f"{TARGET}:v0"
    assert linked.source_artifact == art
    assert art.logged_by().id == run.id


def test_artifact_link_without_a_run(store):
    art = draft()
    linked = art.link(TARGET)
    assert linked.source_qualified_name == "team/demo/m:v0"
    assert art.logged_by() is None


def test_draft_with_a_bad_target_is_not_logged(run):
    art = draft()
    with pytest.raises(ValueError):
        run.link_artifact(art, "four/parts/is/too-many")
    assert art.is_draft()
    assert not wandb.Api().artifact_exists("team/demo/m:v0")


def test_link_a_link_links_its_source(run):
    source = run.log_artifact(draft())
    linked = source.link(TARGET)
    relinked = linked.link("acme/wandb-registry-model/elsewhere")
    assert relinked.source_qualified_name == "team/demo/m:v0"


def test_unlink_removes_only_the_link(run):
    source = run.log_artifact(draft())
    first = source.link(TARGET, aliases=["prod"])
    run.log_artifact(draft(content="other")).link(TARGET)
    api = wandb.Api()
    assert api.artifact(f"{TARGET}:latest").version == "v1"
    api.artifact(f"{TARGET}:latest").unlink()
    assert not api.artifact_exists(f"{TARGET}:v1")
    assert api.artifact(f"{TARGET}:latest").version == "v0"  # latest moves back
    first.unlink()
    assert not api.artifact_exists(f"{TARGET}:prod")
    assert api.artifact_exists("team/demo/m:v0")
    assert api.artifact_exists("team/demo/m:v1")
    assert source.linked_artifacts == []
    assert len(api.artifacts("model", TARGET)) == 0
    # the next link keeps counting: indexes are never reused
    assert source.link(TARGET).version == "v2"


def test_unlink_on_a_source_raises(run):
    source = run.log_artifact(draft())
    source.link(TARGET)
    with pytest.raises(ValueError, match="not a link") as info:
        source.unlink()
    assert isinstance(info.value, LocalregError)
    assert wandb.Api().artifact_exists("team/demo/m:v0")


def test_delete_a_link_unlinks_it(run):
    source = run.log_artifact(draft())
    linked = source.link(TARGET, aliases=["prod"])
    linked.delete()
    assert not wandb.Api().artifact_exists(f"{TARGET}:v0")
    assert wandb.Api().artifact_exists("team/demo/m:v0")


def test_delete_source_refuses_while_aliased(run):
    source = run.log_artifact(draft(), aliases=["prod"])
    with pytest.raises(ValueError, match="prod") as info:
        source.delete()
    assert isinstance(info.value, LocalregError)
    assert wandb.Api().artifact_exists("team/demo/m:prod")
    source.delete(delete_aliases=True)
    assert not wandb.Api().artifact_exists("team/demo/m:v0")


def test_link_edits_go_to_the_link_and_its_source(run):
    source = run.log_artifact(draft())
    linked = source.link(TARGET)
    linked.aliases.append("staging")
    linked.description = "the classifier"
    linked.metadata["acc"] = 0.93
    linked.save()
    api = wandb.Api()
    back = api.artifact(f"{TARGET}:staging")
    assert back.description == "the classifier"
    assert back.metadata == {"acc": 0.93}
    assert "staging" not in api.artifact("team/demo/m:v0").aliases
    # description and metadata belong to the version's content, shared with the source
    assert api.artifact("team/demo/m:v0").metadata == {"acc": 0.93}


def test_link_alias_moves_between_links_of_one_collection(run):
    v0 = run.log_artifact(draft(content="0"))
    v1 = run.log_artifact(draft(content="1"))
    v0.link(TARGET, aliases=["production"])
    v1.link(TARGET, aliases=["production"])
    api = wandb.Api()
    assert api.artifact(f"{TARGET}:production").source_version == "v1"
    assert api.artifact(f"{TARGET}:v0").aliases == []
    # the same alias in another collection is another alias
    v0.link("acme/wandb-registry-model/other", aliases=["production"])
    assert api.artifact("acme/wandb-registry-model/other:production").source_version == "v0"
    assert api.artifact(f"{TARGET}:production").source_version == "v1"
    # and source aliases are separate from link aliases
    assert api.artifact("team/demo/m:v0").aliases == []


def test_delete_source_refuses_while_linked(run, store):
    source = run.log_artifact(draft())
    linked = source.link(TARGET)
    before = snapshot(store)
    with pytest.raises(ValueError, match="linked"):
        source.delete(delete_aliases=True)
    assert snapshot(store) == before
    linked.unlink()
    source.delete()
    assert not wandb.Api().artifact_exists("team/demo/m:v0")
