"""Links to project collections (W&B's pre-Registry "portfolio" model registry), through ``import localreg as wandb``.

W&B reference (SDK 0.31): ``Run.link_artifact`` (wandb/sdk/wandb_run.py) and
``Artifact.link`` / ``unlink`` (wandb/sdk/artifacts/artifact.py), target paths
parsed by ``ArtifactPath.from_str`` (wandb/sdk/artifacts/_validators.py),
``ArtifactCollection.is_sequence`` (wandb/apis/public/artifacts.py).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import localreg as wandb
from localreg import bundle, registries, seed, versions
from localreg.cli import cli
from localreg.errors import Conflict, InvalidName, TypeMismatch
from localreg.store import Store
from tests.conftest import snapshot


@pytest.fixture
def run(store):
    r = wandb.init(entity="team", project="demo")
    yield r
    r.finish()


def draft(name="clf", type="model", content="weights"):
    art = wandb.Artifact(name, type)
    with art.new_file("model.bin") as f:
        f.write(content)
    return art


def state(store) -> tuple:
    """Every row (but the audit log) and every blob file: unchanged after refused input."""
    return (snapshot(store), sorted(d for d, _s, _m in store.blobs.list_loose()),
            sorted(n for n, _s, _m in store.blobs.list_packs()))


# -- linking ---------------------------------------------------------------------------------------------


def test_run_link_artifact_to_a_bare_collection_name(run):
    """wandb_run.Run.link_artifact: "coll" links into the run's entity and project (test_link_artifacts.py)."""
    art = draft()
    linked = run.link_artifact(art, "candidates", aliases=["best"])
    assert not art.is_draft() and not linked.is_draft()
    assert linked.is_link and not art.is_link
    assert linked.qualified_name == "team/demo/candidates:v0"
    assert linked.entity == run.entity == "team" and linked.project == run.project == "demo"
    assert linked.name == "candidates:v0" and linked.version == "v0"
    assert linked.aliases == ["latest", "best"]
    assert linked.source_qualified_name == art.qualified_name == "team/demo/clf:v0"
    assert linked.source_artifact.qualified_name == art.qualified_name
    assert linked.type == "model" and linked.digest == art.digest
    assert linked.collection.name == "candidates" and linked.collection.is_sequence() is False
    assert linked.source_collection.is_sequence() is True
    assert [a.qualified_name for a in art.linked_artifacts] == ["team/demo/candidates:v0"]


def test_run_link_artifact_to_project_and_full_paths(run):
    """wandb_run.Run.link_artifact: "project/coll" keeps the run's entity; "entity/project/coll" names both."""
    art = run.log_artifact(draft())
    assert run.link_artifact(art, "other/candidates").qualified_name == "team/other/candidates:v0"
    assert run.link_artifact(art, "elsewhere/proj/candidates").qualified_name == "elsewhere/proj/candidates:v0"
    assert sorted(a.qualified_name for a in art.linked_artifacts) == [
        "elsewhere/proj/candidates:v0", "team/other/candidates:v0"]


def test_artifact_link_without_a_run(store, monkeypatch):
    """artifact.Artifact.link: a draft is logged first; no entity: the source's; no project: the settings'."""
    monkeypatch.setenv("WANDB_PROJECT", "zoo")
    art = draft()
    linked = art.link("candidates")
    assert art.qualified_name == "team/zoo/clf:v0"
    assert linked.qualified_name == "team/zoo/candidates:v0"
    assert art.link("p2/candidates").qualified_name == "team/p2/candidates:v0"
    assert linked.link("p3/c").source_qualified_name == art.qualified_name  # a link links its source


def test_indexes_aliases_and_linking_twice(run):
    """artifact.Artifact.link: own indexes; `latest` on the newest; linking a version again adds aliases only."""
    v0 = run.log_artifact(draft(content="0"))
    v1 = run.log_artifact(draft(content="1"))
    l_a = run.link_artifact(v1, "candidates", aliases=["prod"])
    l_b = run.link_artifact(v0, "candidates", aliases=["old"])
    assert (l_a.version, l_a.source_version) == ("v0", "v1")
    assert (l_b.version, l_b.source_version) == ("v1", "v0")
    again = run.link_artifact(v0, "candidates", aliases=["prod"])
    assert again.version == "v1" and again.aliases == ["latest", "old", "prod"]
    api = wandb.Api()
    assert api.artifact("team/demo/candidates:v0").aliases == []
    assert len(api.artifact_collection("model", "team/demo/candidates").artifacts()) == 2
    # the links' aliases are their own: the sources keep theirs
    assert api.artifact("team/demo/clf:v0").aliases == [] and api.artifact("team/demo/clf:v1").aliases == ["latest"]


# -- reading ----------------------------------------------------------------------------------------------


def test_resolve_list_and_download(run, tmp_path):
    """public.Api.artifact / artifact_collections / artifact_collection(...).artifacts on a portfolio."""
    art = run.log_artifact(draft())
    run.link_artifact(art, "candidates", aliases=["best"])
    api = wandb.Api()
    for ref in ("team/demo/candidates:v0", "team/demo/candidates:best", "team/demo/candidates:latest"):
        got = api.artifact(ref)
        assert got.is_link and got.qualified_name == "team/demo/candidates:v0"
        assert got.source_qualified_name == "team/demo/clf:v0"
    assert api.artifact("team/demo/clf:v0").is_link is False
    colls = {c.name: c for c in api.artifact_collections("team/demo", "model")}
    assert colls["candidates"].is_sequence() is False and colls["clf"].is_sequence() is True
    coll = api.artifact_collection("model", "team/demo/candidates")
    assert [a.qualified_name for a in coll.artifacts()] == ["team/demo/candidates:v0"]
    assert coll.entity == "team" and coll.project == "demo" and coll.aliases == ["best", "latest"]
    assert [a.qualified_name for a in api.artifacts("model", "team/demo/candidates")] == ["team/demo/candidates:v0"]
    used = run.use_artifact("candidates:best")
    assert used.is_link
    root = used.download(root=str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "model.bin").read_text() == "weights"
    assert root.endswith("dl")


def test_unlink_keeps_the_source(run):
    """artifact.Artifact.unlink: the link goes, the source stays; unlinking a source is a ValueError."""
    art = run.log_artifact(draft(content="0"))
    other = run.log_artifact(draft(content="1"))
    first = run.link_artifact(art, "candidates")
    second = run.link_artifact(other, "candidates")
    api = wandb.Api()
    second.unlink()
    assert not api.artifact_exists("team/demo/candidates:v1")
    assert api.artifact_exists("team/demo/clf:v1")
    assert api.artifact("team/demo/candidates:latest").qualified_name == first.qualified_name
    with pytest.raises(ValueError):
        art.unlink()
    first.delete()  # delete on a link unlinks (W&B's Artifact.delete)
    assert art.linked_artifacts == [] and api.artifact_exists("team/demo/clf:v0")
    assert api.artifact_collection("model", "team/demo/candidates").is_sequence() is False


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target, error, words", [
    ("clf", Conflict, "is an artifact sequence"),             # the source's own collection
    ("team/demo/clf", Conflict, "is an artifact sequence"),
    ("a/b/c/d", InvalidName, "expected name, project/name or entity/project/name"),
    ("candidates:prod", InvalidName, "no ':alias'"),
    ("team/demo/bad name", InvalidName, "'bad name'"),
])
def test_bad_targets_write_nothing(run, store, target, error, words):
    """artifact.Artifact.link: a bad target path is one ValueError naming it; nothing is written."""
    art = run.log_artifact(draft())
    before = state(store)
    with pytest.raises(error, match=words) as info:
        art.link(target)
    assert isinstance(info.value, ValueError)
    assert state(store) == before


def test_wrong_type_bad_alias_and_logging_into_a_portfolio_write_nothing(run, store):
    """artifact.Artifact.link: a portfolio keeps its type; aliases follow validate_aliases; names stay apart."""
    run.link_artifact(run.log_artifact(draft()), "candidates")
    data = run.log_artifact(draft("data", "dataset"))
    clash = draft("candidates", content="other")  # a draft's files are stored as they are added
    before = state(store)
    with pytest.raises(TypeMismatch, match="holds type 'model'"):
        data.link("candidates")
    with pytest.raises(ValueError, match="'a/b'"):
        data.link("data-links", aliases=["a/b"])
    with pytest.raises(Conflict, match="is a collection of links"):
        run.log_artifact(clash)
    assert state(store) == before


def test_a_draft_with_a_bad_target_is_not_logged(run):
    """wandb_run.Run.link_artifact: a bad target fails before the draft is logged."""
    art = draft()
    with pytest.raises(ValueError):
        run.link_artifact(art, "w/x/y/z")
    assert art.is_draft()
    assert not wandb.Api().artifact_exists("team/demo/clf:v0")


# -- seeds, bundles, CLI, web ---------------------------------------------------------------------------------

SEED = {
    "artifacts": [{
        "entity": "team", "project": "demo", "name": "clf", "type": "model",
        "versions": [
            {"files": {"w.bin": "0"}, "links": [{"target": "candidates", "index": 0, "aliases": ["old"]}]},
            {"files": {"w.bin": "1"}, "links": [{"target": "candidates", "index": 3, "aliases": ["best"]},
                                                {"target": "zoo/picks"}]},
        ],
    }],
}


def test_seed_and_dump_round_trip(store, tmp_path, blob_backend):
    """Seed files: a link target without registry is a project link collection (W&B portfolio), dumped back."""
    result = seed.load(store, SEED)
    assert result.links == ("team/demo/candidates:v0", "team/demo/candidates:v3", "team/zoo/picks:v0")
    assert versions.resolve(store, "team/demo/candidates:old").source_qualified_name == "team/demo/clf:v0"
    doc = seed.dump(store)
    [art] = doc["artifacts"]
    assert art["versions"][1]["links"] == [{"target": "team/demo/candidates", "index": 3, "aliases": ["best"]},
                                           {"target": "team/zoo/picks", "index": 0}]
    other = Store(tmp_path / "other", blob_url=f"{blob_backend}-other" if "://" in blob_backend else str(tmp_path / "b2"),
                  org="acme")
    seed.load(other, json.loads(json.dumps(doc)))
    assert seed.dump(other) == doc
    linked = versions.resolve(other, "team/demo/candidates:best")
    assert linked.is_link and linked.index == 3 and linked.source_qualified_name == "team/demo/clf:v1"
    assert registries.get_collection(other, linked.collection_id).is_sequence is False
    assert seed.load(other, doc).created_versions == 0  # idempotent
    other.close()


def test_bundle_round_trip_with_a_portfolio(store, tmp_path):
    """Bundles: a project's link collection exports and imports with its indexes, aliases and kind."""
    seed.load(store, SEED)
    path = tmp_path / "links.lrbundle"
    bundle.export_bundle(store, ["team/demo/candidates"], path)
    other = Store(tmp_path / "other", blob_url=str(tmp_path / "b2"))
    first = bundle.import_bundle(other, path)
    assert first.links == ("team/demo/candidates:v0 -> team/demo/clf:v0", "team/demo/candidates:v3 -> team/demo/clf:v1")
    for ref in ("team/demo/candidates:v0", "team/demo/candidates:v3"):
        a, b = versions.resolve(store, ref), versions.resolve(other, ref)
        assert (b.is_link, b.aliases, b.source_qualified_name, b.digest) == (True, a.aliases, a.source_qualified_name, a.digest)
    assert registries.get_collection(other, versions.resolve(other, "team/demo/candidates:v0").collection_id).portfolio
    assert registries.get_collection(other, versions.resolve(other, "team/demo/clf:v0").collection_id).is_sequence
    again = bundle.import_bundle(other, path)
    assert again.links == () and again.versions == ()
    third = Store(tmp_path / "third", blob_url=str(tmp_path / "b3"))
    if True:
        seed.load(third, {"artifacts": [{"entity": "team", "project": "demo", "name": "candidates", "type": "model",
                                         "versions": [{"files": {"x": "y"}}]}]})
        from localreg.bundle import BundleConflict
        before = snapshot(third)
        with pytest.raises(BundleConflict, match="team/demo/candidates: a sequence here"):
            bundle.import_bundle(third, path)
        assert snapshot(third) == before
    third.close()
    other.close()


def test_cli_link_show_ls(store, home):
    """CLI: `localreg link` to a project path, `show` says what it links to, `ls` marks link collections."""
    seed.load(store, {"artifacts": [{"name": "clf", "type": "model", "versions": [{"files": {"w": "x"}}]}]})
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(home), "link", "team/demo/clf:v0", "team/demo/candidates", "-a", "best"])
    assert out.exit_code == 0, out.output
    assert out.output == "Linked team/demo/clf:v0 as team/demo/candidates:v0 (aliases latest, best)\n"
    out = runner.invoke(cli, ["--home", str(home), "show", "team/demo/candidates:best"])
    assert "links to     team/demo/clf:v0" in out.output
    out = runner.invoke(cli, ["--home", str(home), "ls", "team/demo"])
    assert "  candidates (model, link collection, 1 version)" in out.output
    assert "-> team/demo/clf:v0" in out.output
    out = runner.invoke(cli, ["--home", str(home), "link", "team/demo/clf:v0", "team/demo/clf"])
    assert out.exit_code == 1 and out.output.startswith("Error: cannot link into team/demo/clf")
    assert "Traceback" not in out.output


def test_web_pages_show_project_links(store, home):
    """Web UI (no browser): a project's page lists its link collections; a link's page says "links to" its source."""
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from localreg.web import create_app
    seed.load(store, SEED)
    app = create_app(home, host="127.0.0.1", port=8080)
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        page = client.get("/team/demo/artifacts")
        assert page.status_code == 200
        assert "candidates" in page.text and "link collection" in page.text
        page = client.get("/team/demo/artifacts/model/candidates/v3")
        assert page.status_code == 200, page.text
        assert "links to" in page.text and "team/demo/clf:v1" in page.text
        assert 'href="/team/demo/artifacts/model/clf/v1"' in page.text
        page = client.get("/team/demo/artifacts/model/candidates/best")  # an alias redirects to the version
        assert page.status_code == 200 and "team/demo/candidates:v3" in page.text
        body = client.get("/api/version", params={"ref": "team/demo/candidates:v0"}).json()
        assert body["is_link"] and body["url"] == "/team/demo/artifacts/model/candidates/v0"
    app.state.store.close()
