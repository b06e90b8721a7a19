"""versions: logging, dedup, latest, aliases, tags, edits, resolving and deleting."""

from __future__ import annotations

import pytest

from localreg import hashing, ingest, registries, versions
from localreg.errors import Conflict, CorruptBlob, InvalidInput, InvalidName, NotFound, TypeMismatch
from localreg.objects import Entry, Objects

from conftest import snapshot


def entries_for(store, files: dict[str, bytes | str]) -> list[Entry]:
    obj = Objects(store)
    out = []
    for path, data in files.items():
        if isinstance(data, str):
            data = data.encode()
        digest, size = obj.add_bytes(data)
        out.append(Entry(path, digest, size))
    return out


def log(store, name="model", files=None, type="model", **kwargs):
    files = files if files is not None else {"weights.bin": name}
    return versions.log_version(store, name=name, type=type, entries=entries_for(store, files), **kwargs)


def alias_map(store, name="model") -> dict[str, int]:
    cid = versions.resolve(store, name).collection_id
    return {
        a: versions.get(store, vid).index
        for a, vid in store.db.execute("SELECT alias, version_id FROM aliases WHERE collection_id = ?", [cid])
    }


# -- logging -----------------------------------------------------------------------------


def test_versions_are_numbered_in_logging_order(store):
    got = [log(store, files={"f": f"content {i}"}) for i in range(3)]
    assert [(v.version, created) for v, created in got] == [("v0", True), ("v1", True), ("v2", True)]
    v2 = got[-1][0]
    assert v2.qualified_name == "team/demo/model:v2"
    assert v2.path == "team/demo/model"
    assert (v2.entity, v2.project, v2.collection, v2.type) == ("team", "demo", "model", "model")
    assert not v2.is_link and v2.source_qualified_name == v2.qualified_name
    assert v2.created_by == "tester"


def test_latest_moves_to_the_newest_version(store):
    v0, _ = log(store, files={"f": "a"})
    assert v0.aliases == ("latest",)
    v1, _ = log(store, files={"f": "b"})
    assert versions.get(store, v0.id).aliases == ()
    assert v1.aliases == ("latest",)
    assert versions.resolve(store, "model").id == v1.id
    assert versions.resolve(store, "model:latest").id == v1.id


def test_version_content_fields(store):
    files = {"b.txt": "bb", "a/c.txt": "c"}
    v, _ = log(store, files=files, description="first", metadata={"acc": 0.9, "nested": {"k": [1, 2]}},
               tags=["prod", "team a"], aliases=["best"])
    assert v.size == 3 and v.file_count == 2
    assert v.description == "first"
    assert v.metadata == {"acc": 0.9, "nested": {"k": [1, 2]}}
    assert v.tags == ("prod", "team a")
    assert v.aliases == ("latest", "best")
    assert v.digest == hashing.manifest_digest((e.path, e.digest) for e in entries_for(store, files))
    assert [e.path for e in versions.entries(store, v)] == ["a/c.txt", "b.txt"]
    assert versions.entry(store, v, "b.txt").size == 2
    with pytest.raises(NotFound, match="'nope.txt' not found in artifact team/demo/model:v0"):
        versions.entry(store, v, "nope.txt")
    d = v.to_dict()
    assert d["qualified_name"] == "team/demo/model:v0" and d["aliases"] == ["latest", "best"] and not d["is_link"]


def test_nan_metadata_is_stored_as_null(store):
    v, _ = log(store, metadata={"loss": float("nan")})
    assert v.metadata == {"loss": None}


def test_explicit_entity_and_project(store):
    v, _ = log(store, entity="alice", project="proj")
    assert v.qualified_name == "alice/proj/model:v0"
    assert versions.resolve(store, "alice/proj/model:v0").id == v.id
    assert versions.resolve(store, "model", entity="alice", project="proj").id == v.id
    with pytest.raises(NotFound, match="project team/demo"):
        versions.resolve(store, "model")


def test_empty_artifact(store):
    v, created = log(store, files={})
    assert created and v.file_count == 0 and v.size == 0
    assert v.digest == hashing.manifest_digest([])


# -- dedup ------------------------------------------------------------------------------------


def test_identical_content_returns_the_existing_version(store):
    v0, created0 = log(store, files={"f": "same"})
    v1, created1 = log(store, files={"f": "same"}, aliases=["again"])
    assert created0 and not created1
    assert v1.id == v0.id and v1.version == "v0"
    assert v1.aliases == ("latest", "again")
    assert store.db.execute("SELECT count(*) FROM versions").fetchone()[0] == 1


def test_dedup_of_an_older_version_gives_it_latest(store):
    v0, _ = log(store, files={"f": "A"})
    v1, _ = log(store, files={"f": "B"})
    again, created = log(store, files={"f": "A"}, aliases=["restored"])
    assert not created and again.id == v0.id
    assert alias_map(store) == {"latest": 0, "restored": 0}
    assert versions.get(store, v1.id).aliases == ()
    v2, created = log(store, files={"f": "C"})
    assert created and v2.version == "v2"


def test_digest_does_not_depend_on_adding_order(store):
    files = {"a": "1", "b/c": "2", "d": "3"}
    forward = entries_for(store, files)
    v0, _ = versions.log_version(store, name="m", type="model", entries=forward)
    v1, created = versions.log_version(store, name="m", type="model", entries=list(reversed(forward)))
    assert not created and v1.id == v0.id and v1.digest == v0.digest


def test_same_content_in_another_collection_is_a_new_version(store):
    a, _ = log(store, name="one", files={"f": "x"})
    b, created = log(store, name="two", files={"f": "x"})
    assert created and a.id != b.id and a.digest == b.digest


def test_renaming_a_file_changes_the_digest(store):
    v0, _ = log(store, files={"a": "x"})
    v1, created = log(store, files={"b": "x"})
    assert created and v1.digest != v0.digest


# -- aliases ----------------------------------------------------------------------------------


def test_alias_is_unique_in_a_collection(store):
    v0, _ = log(store, files={"f": "0"}, aliases=["prod"])
    v1, _ = log(store, files={"f": "1"})
    versions.add_aliases(store, v1, ["prod"])
    assert alias_map(store) == {"latest": 1, "prod": 1}
    assert versions.get(store, v0.id).aliases == ()
    # logging with an alias moves it too
    v2, _ = log(store, files={"f": "2"}, aliases=["prod"])
    assert alias_map(store) == {"latest": 2, "prod": 2}
    assert versions.resolve(store, "model:prod").id == v2.id


def test_same_alias_in_two_collections(store):
    a, _ = log(store, name="a", aliases=["prod"])
    b, _ = log(store, name="b", aliases=["prod"])
    assert versions.resolve(store, "a:prod").id == a.id
    assert versions.resolve(store, "b:prod").id == b.id


def test_remove_and_set_aliases(store):
    v, _ = log(store, aliases=["a", "b"])
    v = versions.remove_aliases(store, v, ["a"])
    assert v.aliases == ("latest", "b")
    with pytest.raises(NotFound, match="alias 'a' is not on team/demo/model:v0"):
        versions.remove_aliases(store, v, ["a"])
    v = versions.set_aliases(store, v, ["c", "d"])
    assert v.aliases == ("latest", "c", "d")


def test_latest_cannot_be_removed(store):
    v, _ = log(store)
    before = snapshot(store)
    with pytest.raises(InvalidName, match="latest"):
        versions.remove_aliases(store, v, ["latest"])
    assert snapshot(store) == before
    assert versions.set_aliases(store, v, []).aliases == ("latest",)


def test_aliases_on_versions_are_validated(store):
    v, _ = log(store)
    before = snapshot(store)
    for bad in (["v3"], ["a/b"], ["a:b"], ["ok", " bad"]):
        with pytest.raises(InvalidName):
            versions.add_aliases(store, v, bad)
    assert snapshot(store) == before


def test_resolve_by_version_and_alias(store):
    v0, _ = log(store, files={"f": "0"}, aliases=["first"])
    v1, _ = log(store, files={"f": "1"})
    assert versions.resolve(store, "model:v0").id == v0.id
    assert versions.resolve(store, "model:first").id == v0.id
    assert versions.resolve(store, "demo/model:v1").id == v1.id
    assert versions.resolve(store, "team/demo/model:latest").id == v1.id
    assert versions.resolve(store, "model", type="model").id == v1.id
    with pytest.raises(TypeMismatch, match="has type 'model', not 'dataset'"):
        versions.resolve(store, "model", type="dataset")
    with pytest.raises(NotFound, match='"model:v7" not found in project team/demo'):
        versions.resolve(store, "model:v7")
    with pytest.raises(NotFound, match='"model:nope" not found'):
        versions.resolve(store, "model:nope")
    with pytest.raises(NotFound, match="artifact 'other' not found in project team/demo"):
        versions.resolve(store, "other")


# -- tags and edits -----------------------------------------------------------------------------


def test_tags(store):
    v, _ = log(store, tags=["x"])
    v = versions.set_tags(store, v, ["b", "a", "b"])
    assert v.tags == ("a", "b")
    other, _ = log(store, name="other", tags=["a"])
    assert other.tags == ("a",)  # many versions may share a tag
    assert versions.set_tags(store, v, []).tags == ()
    with pytest.raises(InvalidName, match="tag"):
        versions.set_tags(store, v, ["bad/tag"])


def test_update_description_metadata_ttl(store):
    v, _ = log(store, metadata={"a": 1})
    v = versions.update(store, v, description="new", metadata={"b": 2})
    assert v.description == "new" and v.metadata == {"b": 2}
    assert v.digest == versions.resolve(store, "model:v0").digest
    v = versions.update(store, v, ttl_seconds=3600)
    assert v.ttl_expires_at is not None
    v = versions.update(store, v, ttl_seconds=None)
    assert v.ttl_expires_at is None
    assert versions.update(store, v) is v
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="ttl"):
        versions.update(store, v, ttl_seconds=-5)
    with pytest.raises(InvalidInput, match="description"):
        versions.update(store, v, description=3)
    with pytest.raises(ValueError, match="infinity"):
        versions.update(store, v, metadata={"x": float("inf")})
    assert snapshot(store) == before


# -- types ---------------------------------------------------------------------------------------


def test_another_type_under_the_same_name_is_refused(store):
    log(store, type="model")
    entries = entries_for(store, {"f": "other content"})
    before = snapshot(store)
    with pytest.raises(TypeMismatch, match="already exists with type 'model'; cannot create another with type 'dataset'") as exc:
        versions.log_version(store, name="model", type="dataset", entries=entries)
    assert isinstance(exc.value, ValueError)
    assert snapshot(store) == before


def test_same_name_other_project_may_have_another_type(store):
    log(store, type="model")
    v, created = log(store, type="dataset", project="elsewhere")
    assert created and v.type == "dataset"


def test_entries_must_be_in_the_store(store):
    ghost = Entry("ghost.bin", hashing.digest_bytes(b"never added"), 11)
    before = snapshot(store)
    with pytest.raises(CorruptBlob, match="not in the blob store") as exc:
        versions.log_version(store, name="m", type="model", entries=[ghost])
    assert exc.value.digest == ghost.digest
    assert snapshot(store) == before


def test_references_need_no_stored_bytes(store, tmp_path):
    (tmp_path / "r.txt").write_text("ref")
    entries = ingest.reference_entries(store, f"file://{tmp_path}/r.txt")
    v, _ = versions.log_version(store, name="refs", type="dataset", entries=entries)
    [e] = versions.entries(store, v)
    assert e.ref == f"file://{tmp_path}/r.txt" and e.path == "r.txt"


# -- deleting ---------------------------------------------------------------------------------------


def test_delete_refuses_while_aliased(store):
    v0, _ = log(store, files={"f": "0"}, aliases=["prod"])
    log(store, files={"f": "1"})
    before = snapshot(store)
    with pytest.raises(Conflict, match="has aliases prod") as exc:
        versions.delete(store, versions.get(store, v0.id))
    assert "delete_aliases=True" in str(exc.value)
    assert snapshot(store) == before
    versions.delete(store, v0, delete_aliases=True)
    with pytest.raises(NotFound):
        versions.resolve(store, "model:v0")
    with pytest.raises(NotFound):
        versions.resolve(store, "model:prod")


def test_delete_with_only_latest_needs_no_flag(store):
    log(store, files={"f": "0"})
    v1, _ = log(store, files={"f": "1"})
    versions.delete(store, v1)
    assert alias_map(store) == {"latest": 0}
    assert versions.resolve(store, "model").version == "v0"


def test_delete_refuses_while_linked(store):
    v, _ = log(store)
    link = registries.link(store, v, "wandb-registry-model/prod-models")
    before = snapshot(store)
    with pytest.raises(Conflict, match="linked to acme/wandb-registry-model/prod-models:v0") as exc:
        versions.delete(store, v)
    assert "unlink_links=True" in str(exc.value)
    assert snapshot(store) == before
    versions.delete(store, v, unlink_links=True)
    with pytest.raises(NotFound):
        versions.get(store, link.id)
    with pytest.raises(NotFound):
        versions.resolve(store, "wandb-registry-model/prod-models:v0")


def test_deleting_a_link_unlinks_it(store):
    v, _ = log(store)
    link = registries.link(store, v, "wandb-registry-model/coll")
    versions.delete(store, link)
    assert versions.get(store, v.id).id == v.id
    with pytest.raises(NotFound):
        versions.get(store, link.id)


def test_indexes_are_never_reused(store):
    log(store, files={"f": "0"})
    v1, _ = log(store, files={"f": "1"})
    versions.delete(store, v1)
    v2, created = log(store, files={"f": "2"})
    assert created and v2.version == "v2"
    # logging v1's content again makes a new version, not v1 back
    again, created = log(store, files={"f": "1"})
    assert created and again.version == "v3"
    assert [v.version for v in versions.list_versions(store, filter={"name": "model"}).items] == ["v0", "v2", "v3"]


def test_deleting_the_only_version(store):
    v, _ = log(store)
    versions.delete(store, v)
    with pytest.raises(NotFound, match='"model:latest" not found'):
        versions.resolve(store, "model")
    v_again, created = log(store)
    assert created and v_again.version == "v1"


def test_delete_twice(store):
    log(store, files={"f": "0"})
    v1, _ = log(store, files={"f": "1"})
    versions.delete(store, v1)
    with pytest.raises(NotFound):
        versions.delete(store, v1)


def test_unlink_a_source_version_is_refused(store):
    v, _ = log(store)
    with pytest.raises(InvalidInput, match="is a source version, not a link"):
        versions.unlink(store, v)


# -- listing ----------------------------------------------------------------------------------------


def test_list_and_count(store):
    for i in range(4):
        log(store, files={"f": str(i)})
    log(store, name="other")
    page = versions.list_versions(store, limit=10)
    assert [v.name for v in page.items] == ["model:v0", "other:v0", "model:v1", "model:v2", "model:v3"]
    assert page.cursor is None
    assert versions.count_versions(store) == 5
    assert versions.count_versions(store, filter={"name": "model"}) == 4
    cid = versions.resolve(store, "other").collection_id
    assert [v.name for v in versions.list_versions(store, where="v.collection_id = ?", params=[cid]).items] == ["other:v0"]
    assert [v.version for v in versions.list_versions(store, filter={"name": "model"}, order="-version").items] == [
        "v3", "v2", "v1", "v0"
    ]
