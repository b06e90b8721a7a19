"""The public API: ``wandb.Api()``, registries, collections, paging and filters."""

from __future__ import annotations

import datetime as dt

import pytest

import localreg as wandb
from localreg.errors import LocalregError
from tests.conftest import snapshot

ORG = "acme"


def log(run, name, content, type="dataset", metadata=None, description=None, **kw):
    art = wandb.Artifact(name, type, metadata=metadata, description=description)
    with art.new_file("data.txt") as f:
        f.write(content)
    return run.log_artifact(art, **kw)


@pytest.fixture
def api(store):
    return wandb.Api()


@pytest.fixture
def five(store):
    """``team/demo/ds`` v0..v4."""
    with wandb.init(entity="team", project="demo") as run:
        for i in range(5):
            log(run, "ds", str(i), aliases=["best"] if i == 3 else None)
    return wandb.Api()


@pytest.fixture
def catalog(store):
    """A small registry landscape for filters.

    ``team/demo``: models ``cls`` v0..v2 (accuracy 0.8, 0.92, 0.95; tags) and dataset ``imgs``.
    ``acme/wandb-registry-model``: ``classifier`` (links cls:v0, v1, v2) and ``detector`` (cls:v2).
    ``acme/wandb-registry-dataset``: ``images`` (imgs:v0).
    """
    with wandb.init(entity="team", project="demo") as run:
        v0 = log(run, "cls", "0", type="model", metadata={"accuracy": 0.8, "arch": {"depth": 18}},
                 description="baseline resnet", tags=["baseline"])
        v1 = log(run, "cls", "1", type="model", metadata={"accuracy": 0.92, "arch": {"depth": 50}},
                 description="bigger resnet", tags=["prod"])
        v2 = log(run, "cls", "2", type="model", metadata={"accuracy": 0.95, "arch": {"depth": 101}},
                 description="vit", tags=["prod", "experimental"])
        imgs = log(run, "imgs", "pixels", type="dataset", metadata={"rows": 1000}, tags=["prod"])
        run.link_artifact(v0, f"{ORG}/wandb-registry-model/classifier")
        run.link_artifact(v1, f"{ORG}/wandb-registry-model/classifier", aliases=["staging"])
        run.link_artifact(v2, f"{ORG}/wandb-registry-model/classifier", aliases=["production"])
        run.link_artifact(v2, f"{ORG}/wandb-registry-model/detector")
        run.link_artifact(imgs, f"{ORG}/wandb-registry-dataset/images")
    api = wandb.Api()
    coll = api.artifact_collection("model", f"{ORG}/wandb-registry-model/classifier")
    coll.description = "image classifiers"
    coll.tags = ["vision", "prod"]
    coll.save()
    return api


# -- Api().artifact ------------------------------------------------------------------------------


def test_artifact_by_name_and_type(five):
    api = five
    assert api.artifact("team/demo/ds:v2").version == "v2"
    assert api.artifact("team/demo/ds:best", type="dataset").version == "v3"
    assert api.artifact("ds:latest").version == "v4"  # the store's default entity and project
    with pytest.raises(ValueError, match="type") as info:
        api.artifact("team/demo/ds:v0", type="model")
    assert isinstance(info.value, LocalregError)
    with pytest.raises(LookupError):
        api.artifact("team/demo/ds:v9")
    with pytest.raises(LookupError):
        api.artifact("team/other/ds:v0")
    with pytest.raises(ValueError):
        api.artifact("a/b/c/d")


def test_artifact_exists(five):
    api = five
    assert api.artifact_exists("team/demo/ds:v0")
    assert api.artifact_exists("team/demo/ds:best", type="dataset")
    assert not api.artifact_exists("team/demo/ds:best", type="model")
    assert not api.artifact_exists("team/demo/ds:v5")
    assert not api.artifact_exists("team/demo/nope:v0")
    assert api.artifact_collection_exists("team/demo/ds")
    assert api.artifact_collection_exists("team/demo/ds", type="dataset")
    assert not api.artifact_collection_exists("team/demo/ds", type="model")
    assert not api.artifact_collection_exists("team/demo/nope")


# -- paging ----------------------------------------------------------------------------------------


def test_artifacts_pages_lazily(five):
    api = five
    versions = api.artifacts("dataset", "team/demo/ds", per_page=2)
    assert len(versions) == 5
    assert versions.cursor is None  # nothing fetched yet
    first = next(versions)  # a W&B paginator is its own iterator
    assert first.version == "v0"
    assert versions.cursor is not None
    assert [a.version for a in versions] == ["v0", "v1", "v2", "v3", "v4"]
    assert [a.version for a in versions] == ["v0", "v1", "v2", "v3", "v4"]  # iterating again replays
    assert [a.version for a in api.artifact_versions("dataset", "team/demo/ds")] == ["v0", "v1", "v2", "v3", "v4"]
    again = api.artifacts("dataset", "team/demo/ds", per_page=2)
    assert again[1].version == "v1"
    assert [a.version for a in again[:3]] == ["v0", "v1", "v2"]
    assert again[-1].version == "v4"


def test_artifacts_resume_from_a_cursor(five):
    api = five
    head = api.artifacts("dataset", "team/demo/ds", per_page=2)
    assert [next(head).version, next(head).version] == ["v0", "v1"]
    rest = api.artifacts("dataset", "team/demo/ds", per_page=2, start=head.cursor)
    assert [a.version for a in rest] == ["v2", "v3", "v4"]
    newest_first = api.artifacts("dataset", "team/demo/ds", per_page=2, order="-version")
    assert [a.version for a in newest_first] == ["v4", "v3", "v2", "v1", "v0"]
    by_time = api.artifacts("dataset", "team/demo/ds", order="-created_at")
    assert [a.version for a in by_time] == ["v4", "v3", "v2", "v1", "v0"]


def test_artifacts_type_mismatch_and_missing(five):
    api = five
    with pytest.raises(ValueError):
        api.artifacts("model", "team/demo/ds")
    with pytest.raises(LookupError):
        api.artifacts("dataset", "team/demo/nope")
    with pytest.raises(ValueError):
        api.artifacts("dataset", "team/demo/ds:v0")  # a collection has no version
    with pytest.raises(ValueError):
        api.artifacts("dataset", "team/demo/ds", per_page=0)


def test_artifacts_filtered_by_tags(catalog):
    found = catalog.artifacts("model", "team/demo/cls", tags="prod")
    assert [a.version for a in found] == ["v1", "v2"]
    assert len(found) == 2


# -- collections ----------------------------------------------------------------------------------


def test_artifact_collection_members(five):
    api = five
    coll = api.artifact_collection("dataset", "team/demo/ds")
    assert coll.name == "ds"
    assert coll.type == "dataset"
    assert coll.is_sequence()
    assert coll.entity == "team" and coll.project == "demo"
    assert coll.aliases == ["best", "latest"]
    assert [a.version for a in coll.artifacts()] == ["v0", "v1", "v2", "v3", "v4"]
    assert len(coll.artifacts(per_page=2)) == 5
    assert coll.description == ""
    assert coll.tags == []
    with pytest.raises(ValueError):
        api.artifact_collection("model", "team/demo/ds")
    with pytest.raises(LookupError):
        api.artifact_collection("dataset", "team/demo/nope")


def test_artifact_collection_save_and_delete(five):
    api = five
    coll = api.artifact_collection("dataset", "team/demo/ds")
    coll.description = "all the data"
    coll.tags = ["raw", "v2 pipeline"]
    coll.save()
    back = api.artifact_collection("dataset", "team/demo/ds")
    assert back.description == "all the data"
    assert back.tags == ["raw", "v2 pipeline"]
    back.tags = ["bad!tag"]
    with pytest.raises(ValueError):
        back.save()
    back.name = "renamed"
    back.tags = []
    back.save()
    assert api.artifact("team/demo/renamed:v4").version == "v4"
    assert not api.artifact_collection_exists("team/demo/ds")
    back.delete()
    assert not api.artifact_collection_exists("team/demo/renamed")
    assert not api.artifact_exists("team/demo/renamed:v0")


def test_registry_collection_delete_keeps_sources(catalog):
    api = catalog
    coll = api.artifact_collection("model", f"{ORG}/wandb-registry-model/classifier")
    assert not coll.is_sequence()
    assert coll.entity == ORG and coll.project == "wandb-registry-model"
    assert coll.aliases == ["latest", "production", "staging"]
    assert [a.source_version for a in coll.artifacts()] == ["v0", "v1", "v2"]
    coll.delete()
    assert not api.artifact_collection_exists(f"{ORG}/wandb-registry-model/classifier")
    assert [a.version for a in api.artifacts("model", "team/demo/cls")] == ["v0", "v1", "v2"]
    assert [l.qualified_name for l in api.artifact("team/demo/cls:v2").linked_artifacts] == [
        f"{ORG}/wandb-registry-model/detector:v0",
    ]


def test_artifact_collections_of_a_project(catalog):
    api = catalog
    assert sorted(c.name for c in api.artifact_collections("team/demo")) == ["cls", "imgs"]
    assert [c.name for c in api.artifact_collections("demo", type_name="model")] == ["cls"]
    assert [c.name for c in api.artifact_collections("team/demo", type_name="dataset", per_page=1)] == ["imgs"]
    paged = api.artifact_collections("team/demo", per_page=1)
    assert len(paged) == 2
    first = next(paged)
    rest = list(api.artifact_collections("team/demo", per_page=1, start=paged.cursor))
    assert sorted([first.name] + [c.name for c in rest]) == ["cls", "imgs"]
    with pytest.raises(LookupError):
        api.artifact_collections("team/nope")


# -- registries -------------------------------------------------------------------------------------


def test_core_registries_exist_in_every_org(api):
    assert [r.name for r in api.registries()] == ["dataset", "model"]  # the store's default org
    assert [r.name for r in api.registries(organization=ORG)] == ["dataset", "model"]
    # an org appears when first named in a link target (or seeded), with its core registries
    api.store.ensure_org("brand-new-org")
    api.create_registry("extra", organization="brand-new-org")
    assert [r.name for r in api.registries(organization="brand-new-org")] == ["dataset", "extra", "model"]
    model = api.registry("model", organization="acme")
    assert model.full_name == "wandb-registry-model"
    assert model.visibility == "organization"
    assert not model.allow_all_artifact_types
    assert list(model.artifact_types) == ["model"]
    assert api.registry("wandb-registry-dataset", organization="acme").name == "dataset"
    with pytest.raises(LookupError):
        api.registry("nope", organization="acme")


def test_create_registry(api, store):
    reg = api.create_registry("evals", visibility="restricted", organization=ORG,
                              description="evaluation sets", artifact_types=["dataset", "eval-report"])
    assert reg.name == "evals"
    assert reg.full_name == "wandb-registry-evals"
    assert reg.visibility == "restricted"
    assert reg.description == "evaluation sets"
    assert not reg.allow_all_artifact_types
    assert list(reg.artifact_types) == ["dataset", "eval-report"]
    assert reg.organization == ORG
    back = api.registry("evals", organization=ORG)
    assert back.description == "evaluation sets"
    api.registry("model", organization=ORG).add_members("bob")  # a core registry in use exists for good
    before = snapshot(store)
    with pytest.raises(ValueError, match="exists") as info:
        api.create_registry("evals", visibility="organization", organization=ORG)
    assert isinstance(info.value, LocalregError)
    with pytest.raises(ValueError):
        api.create_registry("model", visibility="organization", organization=ORG)
    with pytest.raises(ValueError):
        api.create_registry("bad name", visibility="organization", organization=ORG)
    with pytest.raises(ValueError):
        api.create_registry("x", visibility="public", organization=ORG)
    with pytest.raises(ValueError):
        api.create_registry("x", visibility="organization", organization=ORG, artifact_types=["job"])
    assert snapshot(store) == before


def test_registries_filter(api):
    for name in ("team-models", "team-data", "scratch"):
        api.create_registry(name, visibility="organization", organization=ORG, description=f"{name} registry")
    found = api.registries(organization=ORG, filter={"name": {"$regex": "^team-"}})
    assert sorted(r.name for r in found) == ["team-data", "team-models"]
    assert len(found) == 2
    assert [r.name for r in api.registries(ORG, filter={"name": {"$in": ["scratch", "model"]}})] == ["model", "scratch"]
    assert [r.name for r in api.registries(ORG, filter={"description": {"$contains": "scratch"}})] == ["scratch"]
    assert len(api.registries(ORG, filter={"name": {"$nin": ["model", "dataset"]}})) == 3
    with pytest.raises(ValueError):
        api.registries(ORG, filter={"name": {"$bogus": 1}})
    with pytest.raises(ValueError):
        api.registries(ORG, filter={"name": {"$regex": "("}})
    with pytest.raises(LookupError):
        api.registries(organization="no-such-org")


def test_registry_save_adds_types_and_never_removes(api, store):
    reg = api.create_registry("evals", organization=ORG, artifact_types=["dataset"])
    reg.artifact_types.append("eval-report")
    reg.artifact_types.append("dataset")  # already there: no duplicate
    reg.description = "now with reports"
    reg.save()
    back = api.registry("evals", organization=ORG)
    assert list(back.artifact_types) == ["dataset", "eval-report"]
    assert back.description == "now with reports"
    with pytest.raises(ValueError) as info:
        back.artifact_types.remove("dataset")
    assert isinstance(info.value, LocalregError)
    with pytest.raises(ValueError):
        back.artifact_types.pop()
    with pytest.raises(ValueError):
        back.artifact_types.clear()
    # a type appended by mistake can be taken back before saving, as in W&B
    back.artifact_types.append("oops")
    back.artifact_types.remove("oops")
    back.save()
    assert list(api.registry("evals", organization=ORG).artifact_types) == ["dataset", "eval-report"]


def test_registry_types_when_all_are_allowed(api):
    reg = api.create_registry("anything", organization=ORG)
    assert reg.allow_all_artifact_types
    reg.artifact_types.append("model")
    with pytest.raises(ValueError):
        reg.save()  # W&B: set allow_all_artifact_types to False first
    reg.allow_all_artifact_types = False
    reg.save()
    back = api.registry("anything", organization=ORG)
    assert not back.allow_all_artifact_types
    assert list(back.artifact_types) == ["model"]


def test_registry_visibility_and_delete(api, store):
    reg = api.create_registry("temp", organization=ORG)
    reg.visibility = "restricted"
    reg.save()
    assert api.registry("temp", organization=ORG).visibility == "restricted"
    with wandb.init(entity="team", project="demo") as run:
        source = log(run, "ds", "x")
        run.link_artifact(source, f"{ORG}/wandb-registry-temp/c")
    reg.delete()
    with pytest.raises(LookupError):
        api.registry("temp", organization=ORG)
    assert api.artifact("team/demo/ds:v0").linked_artifacts == []
    core = api.registry("model", organization=ORG)
    before = snapshot(store)
    with pytest.raises(ValueError):
        core.delete()
    assert snapshot(store) == before


# -- registry filters -----------------------------------------------------------------------------------

VERSION_FILTERS = [
    ({"tag": "prod"}, ["classifier:v1", "classifier:v2", "detector:v0"]),
    ({"$and": [{"tag": "prod"}, {"metadata.accuracy": {"$gte": 0.93}}]}, ["classifier:v2", "detector:v0"]),
    ({"$or": [{"tag": "baseline"}, {"alias": "staging"}]}, ["classifier:v0", "classifier:v1"]),
    ({"$nor": [{"tag": "prod"}]}, ["classifier:v0"]),
    ({"alias": "production"}, ["classifier:v2"]),
    ({"alias": {"$in": ["staging", "production"]}}, ["classifier:v1", "classifier:v2"]),
    ({"alias": {"$nin": ["latest"]}}, ["classifier:v0", "classifier:v1"]),
    ({"alias": {"$ne": "latest"}}, ["classifier:v0", "classifier:v1"]),
    ({"alias": {"$exists": False}}, ["classifier:v0"]),
    ({"version": "v0"}, ["classifier:v0", "detector:v0"]),
    ({"version": {"$gt": "v0"}}, ["classifier:v1", "classifier:v2"]),
    ({"version": {"$lte": "v1"}, "name": "classifier"}, ["classifier:v0", "classifier:v1"]),
    ({"name": {"$regex": "^det"}}, ["detector:v0"]),
    ({"name": {"$eq": "classifier"}, "tag": {"$ne": "prod"}}, ["classifier:v0"]),
    ({"description": {"$contains": "resnet"}}, ["classifier:v0", "classifier:v1"]),
    ({"description": {"$regex": "^vit$"}}, ["classifier:v2", "detector:v0"]),
    ({"metadata.accuracy": {"$gt": 0.9, "$lt": 0.94}}, ["classifier:v1"]),
    ({"metadata.accuracy": {"$not": {"$gte": 0.9}}}, ["classifier:v0"]),
    ({"metadata.arch.depth": {"$in": [18, 101]}}, ["classifier:v0", "classifier:v2", "detector:v0"]),
    ({"metadata.arch.depth": 50}, ["classifier:v1"]),
    ({"metadata.accuracy": {"$exists": True}}, ["classifier:v0", "classifier:v1", "classifier:v2", "detector:v0"]),
    ({"metadata.rows": {"$exists": True}}, []),
    ({"tag": {"$in": ["experimental", "baseline"]}}, ["classifier:v0", "classifier:v2", "detector:v0"]),
]


@pytest.mark.parametrize("flt, expected", VERSION_FILTERS)
def test_registry_versions_filter(catalog, flt, expected):
    found = catalog.registry("model", organization=ORG).versions(filter=flt)
    assert sorted(a.name for a in found) == expected
    assert len(found) == len(expected)
    assert all(a.is_link for a in found)


def test_registry_versions_filter_on_created_at(catalog):
    reg = catalog.registry("model", organization=ORG)
    everything = list(reg.versions())
    assert len(everything) == 4
    cut = dt.datetime.fromisoformat(everything[2].created_at.replace("Z", "+00:00"))
    later = reg.versions(filter={"created_at": {"$gte": cut}})
    assert sorted(a.name for a in later) == sorted(a.name for a in everything if a.created_at >= everything[2].created_at)
    assert len(reg.versions(filter={"created_at": {"$lt": dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)}})) == 0
    assert len(reg.versions(filter={"created_at": {"$gt": "2000-01-01"}})) == 4


def test_registry_versions_paging(catalog):
    reg = catalog.registry("model", organization=ORG)
    page = reg.versions(per_page=3)
    first = next(page)
    rest = list(reg.versions(per_page=3, start=page.cursor))
    assert len([first] + rest) == 1 + len(rest)
    assert len(rest) == 1  # the page held 3, only one left after it


COLLECTION_FILTERS = [
    ({}, ["classifier", "detector"]),
    ({"name": "detector"}, ["detector"]),
    ({"name": {"$regex": "^cl"}}, ["classifier"]),
    ({"name": {"$contains": "tect"}}, ["detector"]),
    ({"tag": "vision"}, ["classifier"]),
    ({"tag": {"$exists": False}}, ["detector"]),
    ({"description": {"$contains": "classif"}}, ["classifier"]),
    ({"$or": [{"tag": "vision"}, {"name": "detector"}]}, ["classifier", "detector"]),
    ({"$and": [{"tag": "prod"}, {"type": "model"}]}, ["classifier"]),
    ({"name": {"$not": {"$eq": "classifier"}}}, ["detector"]),
    ({"name": {"$nin": ["classifier"]}}, ["detector"]),
]


@pytest.mark.parametrize("flt, expected", COLLECTION_FILTERS)
def test_registry_collections_filter(catalog, flt, expected):
    found = catalog.registry("model", organization=ORG).collections(filter=flt)
    assert sorted(c.name for c in found) == expected
    assert all(c.type == "model" and not c.is_sequence() for c in found)


def test_registries_chain_to_collections_and_versions(catalog):
    regs = catalog.registries(organization=ORG)
    assert sorted(c.name for c in regs.collections()) == ["classifier", "detector", "images"]
    assert sorted(a.name for a in regs.versions(filter={"tag": "prod"})) == [
        "classifier:v1", "classifier:v2", "detector:v0", "images:v0",
    ]
    only_data = catalog.registries(organization=ORG, filter={"name": "dataset"})
    assert [a.source_name for a in only_data.versions()] == ["imgs:v0"]


@pytest.mark.parametrize("bad", [
    {"$bogus": []},
    {"name": {"$bogus": 1}},
    {"nosuchfield": 1},
    {"$and": {}},
    {"$and": []},
    {"version": "latest"},
    {"name": {"$regex": "("}},
    {"name": {"$in": "notalist"}},
    {"tag": {"$exists": "yes"}},
    "not a dict",
])
def test_bad_filters_raise_value_error(catalog, bad):
    reg = catalog.registry("model", organization=ORG)
    with pytest.raises(ValueError) as info:
        list(reg.versions(filter=bad))
    assert isinstance(info.value, LocalregError)


def test_run_from_api(catalog):
    api = catalog
    producer = api.artifact("team/demo/cls:v0").logged_by()
    run = api.run(f"team/demo/{producer.id}")
    assert run.state == "finished"
    assert run.path == ["team", "demo", producer.id]
    assert len(run.logged_artifacts()) == 4
    with pytest.raises(LookupError):
        api.run("team/demo/nope")
    with pytest.raises(ValueError):
        api.run("just-an-id")
