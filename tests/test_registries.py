"""registries: core and custom registries, collections, linking and unlinking."""

from __future__ import annotations

import pytest

from localreg import access, names, registries, versions
from localreg.errors import AlreadyExists, InvalidInput, InvalidName, NotFound, TypeMismatch

from conftest import snapshot
from test_versions import log


def test_core_registries_exist_in_every_org(store):
    regs = registries.list_registries(store)
    assert [(r.name, r.artifact_types, r.visibility, r.org) for r in regs] == [
        ("dataset", ("dataset",), "organization", "acme"),
        ("model", ("model",), "organization", "acme"),
    ]
    model = registries.get_registry(store, "model")
    assert model.full_name == "wandb-registry-model"
    assert model.is_core and not model.allow_all_artifact_types
    assert registries.get_registry(store, "wandb-registry-dataset").name == "dataset"
    store.ensure_org("other")
    assert [r.name for r in registries.list_registries(store, org="other")] == ["dataset", "model"]
    assert registries.get_registry(store, "model", org="other").id != model.id


def test_unknown_registry_and_org(store):
    with pytest.raises(NotFound, match="registry 'nope' not found in organization 'acme'") as exc:
        registries.get_registry(store, "nope")
    assert isinstance(exc.value, LookupError)
    with pytest.raises(NotFound, match="organization 'ghost' not found"):
        registries.list_registries(store, org="ghost")


def test_create_registry(store):
    reg = registries.create_registry(store, "wandb-registry-evals", description="Evaluations",
                                     visibility="restricted", artifact_types=["eval", "eval", "report"])
    assert (reg.name, reg.full_name, reg.description, reg.visibility) == (
        "evals", "wandb-registry-evals", "Evaluations", "restricted")
    assert reg.artifact_types == ("eval", "report") and not reg.is_core
    anything = registries.create_registry(store, "anything")
    assert anything.allow_all_artifact_types and anything.artifact_types is None
    assert anything.visibility == "organization"
    assert [r.name for r in registries.list_registries(store)] == ["anything", "dataset", "evals", "model"]
    d = reg.to_dict()
    assert d["full_name"] == "wandb-registry-evals" and d["artifact_types"] == ["eval", "report"]


def test_create_registry_in_a_new_org(store):
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="^Organization entity for 'neworg' not found."):
        registries.create_registry(store, "special", org="neworg")  # as W&B: only in an org that exists
    assert snapshot(store) == before
    store.ensure_org("neworg")
    reg = registries.create_registry(store, "special", org="neworg")
    assert reg.org == "neworg"
    assert [r.name for r in registries.list_registries(store, org="neworg")] == ["dataset", "model", "special"]


@pytest.mark.parametrize("name", ["evals", "model", "wandb-registry-dataset"])
def test_create_existing_registry(store, name):
    if name == "evals":
        registries.create_registry(store, "evals")
    else:  # a core registry someone has used (here: given a member) exists for good
        reg = registries.get_registry(store, names.registry_name(name))
        access.add_members(store, reg, ["bob"], role="viewer")
    before = snapshot(store)
    with pytest.raises(AlreadyExists, match="already exists in organization 'acme'") as exc:
        registries.create_registry(store, name)
    assert isinstance(exc.value, ValueError)
    assert snapshot(store) == before


@pytest.mark.parametrize("use", ["collection", "member"])
def test_creating_an_unused_core_registry_takes_it_over(store, use):
    """W&B code creates its core registries (W&B's test server starts orgs empty): an unused one is taken over."""
    reg = registries.create_registry(store, "model", visibility="restricted", description="ours", artifact_types=None)
    assert (reg.visibility, reg.description, reg.artifact_types) == ("restricted", "ours", None)
    assert [(m.user, m.role) for m in access.members(store, reg)] == [("tester", "admin")]
    with pytest.raises(AlreadyExists):
        registries.create_registry(store, "model")
    # once used in any way, a core registry is never taken over again
    other = registries.get_registry(store, "dataset")
    if use == "collection":
        v, _ = log(store, "d", type="dataset")
        registries.link(store, v, "wandb-registry-dataset/sets")
    else:
        access.add_members(store, other, ["bob"], role="member")
    before = snapshot(store)
    with pytest.raises(AlreadyExists, match="already exists"):
        registries.create_registry(store, "dataset", artifact_types=None)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"name": "bad name"}, InvalidName, "bad name"),
        ({"name": "ok", "visibility": "public"}, InvalidInput, "'public'"),
        ({"name": "ok", "artifact_types": ["job"]}, InvalidName, "reserved"),
        ({"name": "ok", "artifact_types": ["a/b"]}, InvalidName, "a/b"),
        ({"name": "ok", "description": 5}, InvalidInput, "description"),
        ({"name": "ok", "org": "bad org"}, InvalidName, "bad org"),
    ],
)
def test_create_registry_bad_input(store, kwargs, error, match):
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    before = snapshot(store)
    with pytest.raises(error, match=match):
        registries.create_registry(store, name, **kwargs)
    assert snapshot(store) == before


def test_types_can_be_added_never_removed(store):
    reg = registries.create_registry(store, "evals", artifact_types=["eval"])
    reg = registries.update_registry(store, reg, artifact_types=["eval", "report"])
    assert reg.artifact_types == ("eval", "report")
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="cannot be removed from registry 'evals': eval"):
        registries.update_registry(store, reg, artifact_types=["report"])
    assert snapshot(store) == before
    # allowing every type is a widening, always fine
    reg = registries.update_registry(store, reg, allow_all_artifact_types=True)
    assert reg.allow_all_artifact_types


def test_core_registries_can_gain_types(store):
    model = registries.get_registry(store, "model")
    model = registries.update_registry(store, model, artifact_types=["model", "checkpoint"])
    assert model.artifact_types == ("model", "checkpoint")
    with pytest.raises(InvalidInput, match="cannot be removed"):
        registries.update_registry(store, model, artifact_types=["checkpoint"])
    with pytest.raises(InvalidInput, match="cannot allow every type"):
        registries.update_registry(store, model, allow_all_artifact_types=True)


def test_core_registry_visibility_is_fixed(store):
    model = registries.get_registry(store, "model")
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="keeps organization visibility"):
        registries.update_registry(store, model, visibility="restricted")
    with pytest.raises(InvalidInput, match="cannot be changed"):
        registries.update_registry(store, model, description="mine now")
    with pytest.raises(InvalidInput, match="cannot be deleted"):
        registries.delete_registry(store, model)
    assert snapshot(store) == before
    assert registries.update_registry(store, model, visibility="organization").visibility == "organization"


def test_update_custom_registry(store):
    reg = registries.create_registry(store, "team")
    reg = registries.update_registry(store, reg, description="Team stuff", visibility="restricted")
    assert (reg.description, reg.visibility) == ("Team stuff", "restricted")
    with pytest.raises(InvalidInput, match="restricted; it cannot become organization-wide"):
        registries.update_registry(store, reg, visibility="organization")
    with pytest.raises(InvalidInput, match="allows every type"):
        registries.update_registry(store, reg, artifact_types=["x"])
    reg = registries.update_registry(store, reg, artifact_types=["x"], allow_all_artifact_types=False)
    assert reg.artifact_types == ("x",)


# -- linking ---------------------------------------------------------------------------------------


def test_link_creates_the_collection_with_the_artifacts_type(store):
    v, _ = log(store)
    link = registries.link(store, v, "wandb-registry-model/my-model", aliases=["prod"])
    assert link.is_link and link.source_id == v.id
    assert link.qualified_name == "acme/wandb-registry-model/my-model:v0"
    assert link.path == "acme/wandb-registry-model/my-model"
    assert (link.org, link.registry, link.collection, link.type) == ("acme", "model", "my-model", "model")
    assert link.aliases == ("latest", "prod")
    assert link.source_qualified_name == "team/demo/model:v0" and link.source_name == "model:v0"
    assert (link.digest, link.size, link.metadata) == (v.digest, v.size, v.metadata)
    coll = registries.get_collection(store, link.collection_id)
    assert (coll.type, coll.registry, coll.is_sequence, coll.version_count) == ("model", "model", False, 1)
    assert coll.path == "acme/wandb-registry-model/my-model"
    # linking copies no data
    assert versions.entries(store, link) == versions.entries(store, v)
    assert store.db.execute("SELECT count(*) FROM entries WHERE version_id = ?", [link.id]).fetchone()[0] == 0


def test_link_indexes_are_the_collections_own(store):
    vs = [log(store, files={"f": str(i)})[0] for i in range(3)]
    first = registries.link(store, vs[2], "wandb-registry-model/coll")
    second = registries.link(store, vs[0], "wandb-registry-model/coll")
    assert (first.version, first.source_index) == ("v0", 2)
    assert (second.version, second.source_index) == ("v1", 0)
    assert versions.get(store, first.id).aliases == ()
    assert second.aliases == ("latest",)
    assert versions.resolve(store, "wandb-registry-model/coll").id == second.id
    assert versions.resolve(store, "acme/wandb-registry-model/coll:v0").id == first.id


def test_linking_twice_returns_the_existing_link(store):
    v, _ = log(store)
    first = registries.link(store, v, "wandb-registry-model/coll")
    again = registries.link(store, v, "wandb-registry-model/coll", aliases=["prod"])
    assert again.id == first.id and again.version == "v0"
    assert again.aliases == ("latest", "prod")
    # linking the link links its source: still the same entry
    via_link = registries.link(store, again, "wandb-registry-model/coll")
    assert via_link.id == first.id
    assert store.db.execute("SELECT count(*) FROM versions WHERE source_id IS NOT NULL").fetchone()[0] == 1


def test_link_aliases_are_per_collection(store):
    a, _ = log(store, files={"f": "a"})
    b, _ = log(store, files={"f": "b"})
    la = registries.link(store, a, "wandb-registry-model/coll", aliases=["prod"])
    lb = registries.link(store, b, "wandb-registry-model/coll", aliases=["prod"])
    assert versions.get(store, la.id).aliases == ()
    assert lb.aliases == ("latest", "prod")
    # the source's own aliases are separate from its links'
    assert versions.get(store, a.id).aliases == ()
    assert versions.get(store, b.id).aliases == ("latest",)


def test_one_source_in_many_collections(store):
    v, _ = log(store)
    registries.link(store, v, "wandb-registry-model/one")
    registries.link(store, v, "wandb-registry-model/two")
    assert [l.qualified_name for l in versions.links_of(store, v)] == [
        "acme/wandb-registry-model/one:v0", "acme/wandb-registry-model/two:v0"]


def test_link_into_another_org(store):
    v, _ = log(store)
    link = registries.link(store, v, "partner/wandb-registry-model/coll")
    assert link.qualified_name == "partner/wandb-registry-model/coll:v0"
    assert versions.resolve(store, "partner/wandb-registry-model/coll").id == link.id


def test_link_into_a_registry_allowing_every_type(store):
    registries.create_registry(store, "misc")
    v, _ = log(store, name="stuff", type="anything-goes")
    assert registries.link(store, v, "wandb-registry-misc/c").type == "anything-goes"


def test_wrong_type_for_the_collection(store):
    registries.create_registry(store, "misc")
    m, _ = log(store, name="m", type="model")
    d, _ = log(store, name="d", type="dataset")
    registries.link(store, m, "wandb-registry-misc/c")
    before = snapshot(store)
    with pytest.raises(TypeMismatch, match="holds type 'model'; cannot link team/demo/d:v0 of type 'dataset'") as exc:
        registries.link(store, d, "wandb-registry-misc/c", aliases=["prod"])
    assert isinstance(exc.value, ValueError)
    assert snapshot(store) == before


def test_type_not_allowed_by_the_registry(store):
    d, _ = log(store, name="d", type="dataset")
    before = snapshot(store)
    with pytest.raises(TypeMismatch, match="registry 'model' in organization 'acme' does not allow artifact type 'dataset'"):
        registries.link(store, d, "wandb-registry-model/c")
    with pytest.raises(TypeMismatch, match="does not allow"):
        registries.link(store, d, "neworg/wandb-registry-model/c")
    assert snapshot(store) == before


def test_unknown_registry(store):
    v, _ = log(store)
    before = snapshot(store)
    with pytest.raises(NotFound, match="registry 'nope' not found in organization 'acme'") as exc:
        registries.link(store, v, "wandb-registry-nope/c")
    assert "dataset, model" in str(exc.value)
    with pytest.raises(NotFound, match="registry 'nope' not found in organization 'elsewhere'"):
        registries.link(store, v, "elsewhere/wandb-registry-nope/c")
    assert snapshot(store) == before


def test_bad_target_paths_and_aliases_write_nothing(store):
    v, _ = log(store)
    before = snapshot(store)
    # "model/c" is a project's link collection now (W&B's portfolio): see tests/wandb_compat/test_project_links.py
    for target in ("e/p/c/d", "p/c:prod", "wandb-registry-model/c:prod", "wandb-registry-model/bad name"):
        with pytest.raises(InvalidName):
            registries.link(store, v, target)
    with pytest.raises(InvalidName, match="'v1'"):
        registries.link(store, v, "wandb-registry-model/c", aliases=["v1"])
    assert snapshot(store) == before


def test_unlink_leaves_the_source(store):
    v, _ = log(store, aliases=["mine"])
    l0 = registries.link(store, v, "wandb-registry-model/coll")
    w, _ = log(store, files={"f": "other"})
    l1 = registries.link(store, w, "wandb-registry-model/coll")
    registries.unlink(store, l1)
    with pytest.raises(NotFound):
        versions.get(store, l1.id)
    assert versions.get(store, w.id).aliases == ("latest",)
    assert versions.get(store, l0.id).aliases == ("latest",)  # latest moved back
    with pytest.raises(NotFound, match="not found"):
        registries.unlink(store, l1)
    # the next link in the collection gets a fresh index
    assert registries.link(store, w, "wandb-registry-model/coll").version == "v2"


# -- collections ----------------------------------------------------------------------------------


def test_collections(store):
    v, _ = log(store)
    link = registries.link(store, v, "wandb-registry-model/coll")
    coll = registries.get_collection(store, link.collection_id)
    coll = registries.update_collection(store, coll, description="The best", tags=["prod", "team a"])
    assert (coll.description, coll.tags) == ("The best", ("prod", "team a"))
    coll = registries.update_collection(store, coll, name="renamed")
    assert versions.resolve(store, "wandb-registry-model/renamed").id == link.id
    registries.link(store, v, "wandb-registry-model/taken")
    with pytest.raises(AlreadyExists, match="'taken' already exists"):
        registries.update_collection(store, coll, name="taken")
    with pytest.raises(InvalidName, match="bad/tag"):
        registries.update_collection(store, coll, tags=["bad/tag"])
    registries.delete_collection(store, coll)
    with pytest.raises(NotFound):
        versions.resolve(store, "wandb-registry-model/renamed")
    assert versions.get(store, v.id).id == v.id  # the source stays


def test_source_collection(store):
    v, _ = log(store)
    coll = registries.get_collection(store, v.collection_id)
    assert coll.is_sequence and coll.path == "team/demo/model" and coll.version_count == 1
    assert coll.to_dict()["is_sequence"] is True
    with pytest.raises(NotFound, match="collection id 999"):
        registries.get_collection(store, 999)


def test_delete_registry_keeps_sources(store):
    reg = registries.create_registry(store, "temp")
    v, _ = log(store)
    registries.link(store, v, "wandb-registry-temp/c", aliases=["x"])
    registries.delete_registry(store, reg)
    assert [r.name for r in registries.list_registries(store)] == ["dataset", "model"]
    assert versions.get(store, v.id).aliases == ("latest",)
    assert store.db.execute("SELECT count(*) FROM versions WHERE source_id IS NOT NULL").fetchone()[0] == 0
