"""Listings: Api().artifacts(tags=), registries(filter/order/paging) and their chaining, artifact_type(s),
project(s), artifact_versions, Artifact.files() paging."""

from __future__ import annotations

import pytest

import localreg as wandb
from compat_fixtures import api, run  # noqa: F401  (pytest fixtures)


@pytest.fixture
def org(api):
    return api.store.default("org")


def _log(run, name, text, type="dataset", **kw):
    a = wandb.Artifact(name, type)
    with a.new_file("f.txt") as f:
        f.write(text)
    return run.log_artifact(a, **kw)


def test_artifacts_tags_all_required(run, api):
    """Api.artifacts(type_name, name, tags=[a, b]): a version must carry every tag (one tag: a str is fine)."""
    for i in range(10):
        _log(run, "fizzbuzz", str(i))
    for v in api.artifacts("dataset", "team/demo/fizzbuzz"):
        i = int(v.version[1:])
        if i % 3 == 0:
            v.tags.append("fizz")
        if i % 5 == 0:
            v.tags.append("buzz")
        v.save()
    assert sorted(v.version for v in api.artifacts("dataset", "team/demo/fizzbuzz", tags="fizz")) == [
        "v0", "v3", "v6", "v9"]
    assert [v.version for v in api.artifacts("dataset", "team/demo/fizzbuzz", tags=["fizz", "buzz"])] == ["v0"]
    assert list(api.artifacts("dataset", "team/demo/fizzbuzz", tags=["fizz", "nope"])) == []


def test_artifact_versions_alias(run, api):
    """Api.artifact_versions(type_name, name): the versions of a collection (W&B's older name for artifacts())."""
    _log(run, "mnist", "0")
    _log(run, "mnist", "1")
    assert {v.name for v in api.artifact_versions("dataset", "team/demo/mnist")} == {"mnist:v0", "mnist:v1"}


def test_version_index_order(run, api):
    """Api.artifacts(order='-version_index') / registry search's version_index sort key."""
    for i in range(3):
        _log(run, "ordered", str(i))
    assert [v.version for v in api.artifacts("dataset", "team/demo/ordered", order="-version_index")] == [
        "v2", "v1", "v0"]


def test_artifact_type_and_types(run, api):
    """Api.artifact_type(name, project) / artifact_types(project) / ArtifactType.collection(s)."""
    _log(run, "mnist", "0")
    _log(run, "clf", "m", type="model")
    atype = api.artifact_type("dataset", project="team/demo")
    assert atype.name == "dataset"
    assert atype.collection("mnist").name == "mnist"
    assert [c.name for c in atype.collections()] == ["mnist"]
    assert {t.name for t in api.artifact_types("team/demo")} == {"dataset", "model"}
    with pytest.raises(wandb.CommError):
        api.artifact_type("nope", project="team/demo")


def test_project_and_projects(run, api):
    """Api.project(name, entity) / Api.projects(entity) / Project.artifacts_types()."""
    _log(run, "mnist", "0")
    proj = api.project("demo", entity="team")
    assert (proj.entity, proj.name) == ("team", "demo")
    assert [t.name for t in proj.artifacts_types()] == ["dataset"]
    assert "demo" in [p.name for p in api.projects("team")]
    with pytest.raises(wandb.CommError):
        api.project("missing", entity="team")


def test_files_paging(run):
    """Artifact.files(per_page=, start=): ArtifactFiles pages lazily; len(), indexing, cursor, repr."""
    a = wandb.Artifact("many", "dataset")
    for i in range(5):
        with a.new_file(f"f{i}.txt") as f:
            f.write(str(i))
    logged = run.log_artifact(a)
    files = logged.files(per_page=2)
    assert len(files) == 5 and repr(files) == "<ArtifactFiles team/demo/many:v0 (5)>"
    first = next(files)
    assert first.path == "f0.txt" and files.cursor is not None and files.more
    rest = [f.path for f in logged.files(per_page=2, start=files.cursor)]
    assert rest == ["f2.txt", "f3.txt", "f4.txt"]  # the cursor is after the first page (f0, f1)
    assert [f.path for f in logged.files(names=["f3.txt"])] == ["f3.txt"]
    assert files[4].path == "f4.txt"


@pytest.fixture
def linked(run, api, org):
    """Three registries (reg-0..2) in the org, each with two collections (c-0, c-1) of one link each."""
    sources = [_log(run, f"src-{i}", str(i)) for i in range(6)]
    for r in range(3):
        reg = api.create_registry(f"reg-{r}", visibility="organization", organization=org)
        for c in range(2):
            sources[r * 2 + c].link(f"{org}/{reg.full_name}/c-{c}")
    return sources


def test_registries_filter_with_or_without_prefix(api, org, linked):
    """Api.registries(filter={'name': ...}): W&B matches the full name and adds the wandb-registry- prefix."""
    assert [r.name for r in api.registries(org, filter={"name": "reg-1"})] == ["reg-1"]
    assert [r.name for r in api.registries(org, filter={"name": "wandb-registry-reg-1"})] == ["reg-1"]
    assert [r.name for r in api.registries(org, filter={"name": {"$in": ["reg-0", "wandb-registry-reg-2"]}})] == [
        "reg-0", "reg-2"]
    assert sorted(r.name for r in api.registries(org, filter={"name": {"$regex": "reg-[12]"}})) == ["reg-1", "reg-2"]


def test_registries_order_and_paging(api, org, linked):
    """Api.registries(order=, per_page=, start=): sorted server-side; a cursor resumes after the first page."""
    flt = {"name": {"$regex": "^wandb-registry-reg-"}}
    assert [r.name for r in api.registries(org, filter=flt, order="-name")] == ["reg-2", "reg-1", "reg-0"]
    paged = api.registries(org, filter=flt, order="name", per_page=1)
    assert next(paged).name == "reg-0" and paged.cursor is not None
    rest = [r.name for r in api.registries(org, filter=flt, order="name", per_page=1, start=paged.cursor)]
    assert rest == ["reg-1", "reg-2"]


def test_chaining_registries_collections_versions(api, org, linked):
    """Registry search docs: Api().registries(f).collections(f).versions(f), ordered at each level."""
    flt = {"name": {"$regex": "^wandb-registry-reg-"}}
    got = [(v.project, v.name) for v in api.registries(org, filter=flt, order="name")
           .collections(order="-name").versions()]
    assert got == [(f"wandb-registry-reg-{r}", f"c-{c}:v0") for r in range(3) for c in (1, 0)]
    names = {c.name for c in api.registries(org, filter=flt).collections(filter={"name": "c-1"})}
    assert names == {"c-1"}
    sources = {v.source_name for v in api.registries(org, filter={"name": "reg-2"}).versions()}
    assert sources == {"src-4:v0", "src-5:v0"}
    assert [v.name for v in api.registry("reg-0", org).collections(order="name").versions()] == ["c-0:v0", "c-1:v0"]


def test_bad_order_and_filter(api, org, linked):
    """Api.registries(order=...) with an unknown key / a start with an ordered chain: ValueError."""
    with pytest.raises(ValueError):
        api.registries(org, order="color")
    with pytest.raises(ValueError):
        api.registries(org, order="name").collections(start="abc")
