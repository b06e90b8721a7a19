"""The web UI over HTTP (Starlette's TestClient): every page, every POST, every error, the guards.

The store is filled by ``localreg quickstart``: team ``tester``, project
``quickstart``, ``sample-model:v0`` linked as ``local/wandb-registry-model/
sample-model:v0`` (production) and ``sample-dataset:v0`` linked into the
dataset registry (training).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")
pytest.importorskip("python_multipart")

from starlette.testclient import TestClient  # noqa: E402

from localreg import registries, runs, versions  # noqa: E402
from localreg.cli import cli  # noqa: E402
from localreg.errors import NotFound  # noqa: E402
from localreg.objects import Entry  # noqa: E402
from localreg.store import Store  # noqa: E402
from localreg.web import create_app  # noqa: E402
from localreg.web.security import CSRF_COOKIE  # noqa: E402
from tests.conftest import snapshot  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BASE = "http://127.0.0.1:8080"
MODEL = "/orgs/local/registry/model/sample-model"
MODEL_LINK = f"{MODEL}/v0"
SOURCE = "/tester/quickstart/artifacts/model/sample-model/v0"
DATASET_SOURCE = "/tester/quickstart/artifacts/dataset/sample-dataset/v0"


@pytest.fixture
def qs_home(home, runner):
    result = runner.invoke(cli, ["--home", str(home), "quickstart"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def store(qs_home):
    s = Store(qs_home)
    yield s
    s.close()


@pytest.fixture
def client(qs_home):
    app = create_app(qs_home, host="127.0.0.1", port=8080)
    with TestClient(app, base_url=BASE) as c:
        yield c
    app.state.store.close()


def token(client) -> str:
    return client.get("/api/session").json()["csrf_token"]


def post(client, url, data=None, **kw):
    return client.post(url, data={"csrf_token": token(client), **(data or {})}, follow_redirects=False, **kw)


def api_post(client, url, body):
    return client.post(url, json=body, headers={"X-CSRF-Token": token(client)})


def text(response) -> str:
    """The visible text of a page, whitespace collapsed."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", response.text, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return " ".join(html.unescape(body).split())


def alert(response) -> str:
    found = re.findall(r'class="alert error[^"]*" role="alert">(.*?)</', response.text, flags=re.S)
    assert found, f"no error shown on the page:\n{text(response)[:2000]}"
    return " ".join(html.unescape(found[0]).split())


def follow(client, response):
    assert response.status_code == 303, (response.status_code, text(response)[:1500])
    return client.get(response.headers["location"])


def log_version(store, name="sample-model", type="model", content="x", **kw):
    entries = [Entry("a.txt", "sha256:" + re.sub("[^0-9a-f]", "0", (content * 64))[:64], 1, f"file:///x/{content}")]
    v, _ = versions.log_version(store, name=name, type=type, entries=entries, entity="tester",
                                project="quickstart", **kw)
    return v


# -- Registry App pages ------------------------------------------------------------------


def test_home_lists_registries_with_their_facts(client):
    r = client.get("/")
    assert r.status_code == 200
    page = text(r)
    for bit in ("dataset", "wandb-registry-dataset", "The core registry for datasets.", "model",
                "The core registry for models.", "Organization", "Create registry"):
        assert bit in page
    assert re.search(r"Artifact types model Collections 1", page)
    assert "/orgs/local/registry/model" in r.text
    assert client.get("/orgs/local").status_code == 200


def test_home_of_a_missing_org_is_404(client):
    r = client.get("/orgs/nope")
    assert r.status_code == 404
    assert alert(r).startswith("organization 'nope' not found in store")


def test_pages_use_only_local_assets(client):
    page = client.get(SOURCE).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(not a.startswith(("http:", "https:", "//")) for a in assets), assets
    assert client.get("/-/static/app.css").status_code == 200
    assert client.get("/-/static/app.js").status_code == 200
    assert "@import" not in client.get("/-/static/app.css").text


def test_registry_page_lists_collections(client, store):
    registries.link(store, versions.resolve(store, "tester/quickstart/sample-model:v0"),
                    "wandb-registry-model/other-model")
    r = client.get("/orgs/local/registry/model")
    page = text(r)
    assert r.status_code == 200
    assert "2 collections." in page
    assert re.search(r"sample-model model\s.*?1 20\d\d-", page)
    assert "other-model" in page


def test_registry_page_filters_by_name_and_tag(client, store):
    coll = registries.get_collection(store, versions.collection_id(
        store, versions.names.parse_ref("wandb-registry-model/sample-model"))[0])
    registries.update_collection(store, coll, tags=["prod ready"], description="The best model")
    registries.link(store, versions.resolve(store, "tester/quickstart/sample-model:v0"),
                    "wandb-registry-model/other-model")
    by_name = text(client.get("/orgs/local/registry/model?name=OTHER"))
    assert "other-model" in by_name and "sample-model" not in by_name.split("Collections", 1)[1]
    by_tag = text(client.get("/orgs/local/registry/model", params={"tag": "prod ready"}))
    assert "1 collection match." in by_tag and "The best model" in by_tag and "other-model" not in by_tag
    nothing = client.get("/orgs/local/registry/model?name=zzz")
    assert "No collection matches this filter." in text(nothing)
    regexy = client.get("/orgs/local/registry/model", params={"name": "(["})  # taken literally
    assert regexy.status_code == 200


def test_registry_page_paginates(client, store):
    source = versions.resolve(store, "tester/quickstart/sample-model:v0")
    for name in ("a-model", "b-model", "c-model"):
        registries.link(store, source, f"wandb-registry-model/{name}")
    first = client.get("/orgs/local/registry/model?limit=2")
    assert "a-model" in first.text and "c-model" not in first.text
    nxt = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = client.get(nxt)
    assert "c-model" in second.text and "sample-model" in second.text and "a-model" not in second.text
    assert "First page" in second.text
    assert client.get("/orgs/local/registry/model?limit=0").status_code == 400
    assert client.get("/orgs/local/registry/model?cursor=garbage").status_code == 400


def test_missing_registry_and_collection_are_404(client):
    r = client.get("/orgs/local/registry/nope")
    assert r.status_code == 404
    assert alert(r) == "registry 'nope' not found in organization 'local'"
    r = client.get("/orgs/local/registry/model/nope")
    assert r.status_code == 404
    assert alert(r) == "collection 'nope' not found in registry local/wandb-registry-model"


def test_collection_page_lists_linked_versions(client):
    r = client.get(MODEL)
    assert r.status_code == 200
    page = text(r)
    assert "Link new version" in page
    assert re.search(r"v0 latest production links to tester/quickstart/sample-model:v0 tester 20\d\d-", page)
    assert 'aria-label="Collection actions"' in r.text  # the three-dots menu
    assert 'data-options="/api/teams"' in r.text


def test_collection_page_paginates_newest_first(client, store):
    for i in range(3):
        registries.link(store, log_version(store, content=str(i)), "wandb-registry-model/sample-model")
    first = client.get(MODEL + "?limit=2")
    assert re.findall(r'<tr id="v(\d+)"', first.text) == ["3", "2"]
    nxt = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert re.findall(r'<tr id="v(\d+)"', client.get(nxt).text) == ["1", "0"]


def test_linked_version_page(client):
    r = client.get(MODEL_LINK)
    assert r.status_code == 200
    page = text(r)
    assert "Linked version" in page and "Source version" not in page.split("Full name")[0]
    assert "links to tester/quickstart/sample-model:v0" in page
    assert "Go to source version" in page and "Unlink" in page
    assert 'href="/tester/quickstart/artifacts/model/sample-model/v0"' in r.text
    assert "Remove alias production" in r.text
    assert "<svg" in r.text and "Registry links of the source version" in page


def test_alias_in_a_url_redirects_to_the_version(client):
    r = client.get(f"{MODEL}/production", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == MODEL_LINK
    r = client.get("/tester/quickstart/artifacts/model/sample-model/latest", follow_redirects=False)
    assert r.headers["location"] == SOURCE
    r = client.get(f"{MODEL}/nope")
    assert r.status_code == 404
    assert alert(r) == 'artifact "sample-model:nope" not found in registry local/wandb-registry-model'


# -- artifact browser pages ----------------------------------------------------------------


def test_projects_page(client):
    r = client.get("/artifacts")
    assert r.status_code == 200
    assert "tester/quickstart" in text(r)
    assert 'href="/tester/quickstart/artifacts"' in r.text


def test_project_page_has_a_sidebar_of_types_collections_versions(client):
    r = client.get("/tester/quickstart/artifacts")
    assert r.status_code == 200
    sidebar = r.text.split('<aside class="sidebar"', 1)[1].split("</aside>", 1)[0]
    assert sidebar.index("dataset") < sidebar.index("sample-dataset") < sidebar.index("model</span>")
    assert 'href="/tester/quickstart/artifacts/model/sample-model/v0"' in sidebar
    assert client.get("/tester/nope/artifacts").status_code == 404
    assert alert(client.get("/tester/nope/artifacts")) == f"project tester/nope not found in store {client.app.state.store.home}"


def test_artifact_page_lists_versions(client, store):
    log_version(store, content="1")
    r = client.get("/tester/quickstart/artifacts/model/sample-model")
    assert r.status_code == 200
    assert re.findall(r'sample-model/(v\d)"><strong>', r.text) == ["v1", "v0"]
    wrong = client.get("/tester/quickstart/artifacts/dataset/sample-model")
    assert wrong.status_code == 404
    assert "has type 'model'" in alert(wrong)


def test_source_version_overview(client):
    r = client.get(SOURCE)
    assert r.status_code == 200
    page = text(r)
    assert "Source version" in page and "links to" not in page.split("Lineage")[0]
    for bit in ("Version overview", "Tiny MLP for the sample dataset", "architecture", "mlp", "[4, 32, 32, 3]",
                "weights.bin", "model.json", "README.md", "sample", "3 files", "Link to registry",
                "tester/quickstart/quickstart (train)"):
        assert bit in page, bit
    v_digest = re.search(r"sha256:[0-9a-f]{64}", r.text).group(0)
    assert v_digest in page
    linked = page.split("Linked to", 1)[1]
    assert "local/wandb-registry-model/sample-model" in linked and "production" in linked


def test_lineage_graph_shows_run_source_links_and_users(client, store):
    run = runs.start_run(store, entity="tester", project="quickstart", run_id="evaluate", job_type="eval")
    runs.record_use(store, run.pk, versions.resolve(store, "wandb-registry-model/sample-model:production"))
    svg = client.get(SOURCE).text.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "quickstart-train" in svg  # the run that logged it
    assert "sample-model:v0" in svg and "node-source current" in svg
    assert "model/sample-model:v0" in svg and "edge-linked" in svg
    assert "evaluate" in svg and "edge-used" in svg
    assert "<script" not in svg
    data = client.get("/api/version", params={"ref": "tester/quickstart/sample-model:v0"}).json()["lineage"]
    kinds = {n["kind"] for n in data["nodes"]}
    assert kinds == {"run", "source", "link"}
    assert {e["kind"] for e in data["edges"]} == {"logged", "linked", "used"}
    columns = {n["label"]: n["column"] for n in data["nodes"]}
    assert columns["quickstart-train"] < columns["sample-model:v0"] < columns["model/sample-model:v0"] < columns["evaluate"]


def test_download_a_file(client):
    for base in (SOURCE, MODEL_LINK):
        r = client.get(f"{base}/files/model.json")
        assert r.status_code == 200
        assert r.content == (REPO / "fixtures/sample-model/model.json").read_bytes()
        assert r.headers["content-disposition"].startswith('attachment; filename="model.json"')
        assert r.headers["content-length"] == str(len(r.content))
    r = client.get(f"{SOURCE}/files/nope.txt")
    assert r.status_code == 404
    assert alert(r) == "file 'nope.txt' not found in artifact tester/quickstart/sample-model:v0"


def test_download_of_a_reference_explains_itself(client, store):
    v = log_version(store, content="r")
    r = client.get(f"/tester/quickstart/artifacts/model/sample-model/v{v.index}/files/a.txt")
    assert r.status_code == 404
    assert "is a reference to file:///x/r" in alert(r)


def test_files_are_paginated(client, store):
    entries = [Entry(f"f{i:04}.txt", "sha256:" + f"{i:064x}", 1, f"file:///x/{i}") for i in range(250)]
    v, _ = versions.log_version(store, name="many", type="dataset", entries=entries, entity="tester", project="quickstart")
    url = "/tester/quickstart/artifacts/dataset/many/v0"
    first = client.get(url)
    assert "f0000.txt" in first.text and "f0099.txt" in first.text and "f0100.txt" not in first.text
    assert "Page 1 of 3" in text(first)
    third = client.get(url + "?files=3")
    assert "f0200.txt" in third.text and "f0249.txt" in third.text and "f0199.txt" not in third.text
    assert client.get(url + "?files=x").status_code == 400


def test_unknown_pages_are_404(client):
    r = client.get("/a/b/c/d/e/f/g/h/i")
    assert r.status_code == 404 and "There is no page here." in text(r)
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json()["error"]["message"] == "There is no page here."


def test_pages_see_what_the_cli_writes_while_running(client, runner, qs_home, make_files):
    assert "v1" not in text(client.get("/tester/quickstart/artifacts/model/sample-model"))
    src = make_files({"w.bin": b"new weights"})
    result = runner.invoke(cli, ["--home", str(qs_home), "log", src, "-p", "quickstart", "-e", "tester",
                                 "-n", "sample-model", "-t", "model"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--home", str(qs_home), "link", "tester/quickstart/sample-model:v1",
                                 "wandb-registry-model/sample-model", "--alias", "staging"])
    assert result.exit_code == 0, result.output
    assert "v1" in text(client.get("/tester/quickstart/artifacts/model/sample-model"))
    assert re.search(r"v1 latest staging links to tester/quickstart/sample-model:v1", text(client.get(MODEL)))


def test_names_and_text_from_the_store_are_escaped(client, store):
    registries.create_registry(store, "xss", org="local", description='<script>alert("r")</script>')
    v = versions.resolve(store, "tester/quickstart/sample-model:v0")
    versions.update(store, v, description="<img src=x onerror=alert(1)>", metadata={"<b>": "<i>x</i>"})
    for url in ("/", SOURCE, MODEL_LINK):
        page = client.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;alert" in client.get("/").text


# -- creating a registry ------------------------------------------------------------------------


def test_create_registry(client, store):
    r = post(client, "/orgs/local/registries", {"name": "evals", "description": "Evaluation results",
                                               "visibility": "restricted", "types_mode": "list",
                                               "artifact_types": "eval-results, model"})
    page = follow(client, r)
    assert r.headers["location"] == "/orgs/local/registry/evals"
    assert "Created registry wandb-registry-evals." in text(page)
    reg = registries.get_registry(store, "evals", "local")
    assert (reg.description, reg.visibility, reg.artifact_types) == ("Evaluation results", "restricted",
                                                                    ("eval-results", "model"))
    home = text(client.get("/"))
    assert "evals" in home and "Restricted" in home and "eval-results, model" in home
    assert "Created registry" not in text(client.get("/"))  # the message shows once


def test_create_registry_allowing_all_types(client, store):
    follow(client, post(client, "/orgs/local/registries", {"name": "misc", "types_mode": "all",
                                                          "artifact_types": "ignored"}))
    assert registries.get_registry(store, "misc", "local").artifact_types is None
    assert "All types" in text(client.get("/"))


@pytest.mark.parametrize("form, status, message", [
    ({"name": "model"}, 409, "registry 'model' already exists in organization 'local'"),
    ({"name": "bad name!"}, 400, "invalid registry name 'bad name!': use only letters, digits, '-', '_' and '.'"),
    ({"name": ""}, 400, "registry name must not be empty"),
    ({"name": "x", "visibility": "public"}, 400, "invalid visibility 'public': use 'organization' or 'restricted'"),
    ({"name": "x", "types_mode": "list", "artifact_types": " , "}, 400,
     "list at least one artifact type, or allow all types"),
    ({"name": "x", "types_mode": "list", "artifact_types": "job"}, 400, "artifact type 'job' is reserved"),
])
def test_create_registry_errors_are_shown_and_write_nothing(client, store, form, status, message):
    before = snapshot(store)
    r = post(client, "/orgs/local/registries", form)
    assert r.status_code == status
    assert alert(r) == message
    assert 'id="create-registry"' in r.text and "data-open-on-load" in r.text  # the dialog opens again
    assert snapshot(store) == before


def test_create_registry_in_a_missing_org_is_404(client, store):
    before = snapshot(store)
    r = post(client, "/orgs/nope/registries", {"name": "x"})
    assert r.status_code == 404
    assert snapshot(store) == before


# -- Registry App: Link new version ---------------------------------------------------------------


def test_link_new_version(client, store):
    log_version(store, content="1")
    r = post(client, f"{MODEL}/link", {"entity": "tester", "project": "quickstart", "artifact": "sample-model",
                                      "version": "v1", "aliases": "staging, candidate"})
    assert r.headers["location"] == f"{MODEL}#v1"
    page = text(follow(client, r))
    assert ("Linked tester/quickstart/sample-model:v1 as local/wandb-registry-model/sample-model:v1 "
            "(aliases: latest, candidate, staging).") in page
    assert re.search(r"v1 latest candidate staging links to tester/quickstart/sample-model:v1", page)
    link = versions.resolve(store, "local/wandb-registry-model/sample-model:staging")
    assert link.is_link and link.source_qualified_name == "tester/quickstart/sample-model:v1"
    assert set(link.aliases) == {"latest", "staging", "candidate"}


def test_link_new_version_by_alias(client, store):
    follow(client, post(client, f"{MODEL}/link", {"entity": "tester", "project": "quickstart",
                                                 "artifact": "sample-model", "version": "latest"}))
    assert versions.resolve(store, "wandb-registry-model/sample-model:latest").source_index == 0


@pytest.mark.parametrize("form, status, message", [
    ({}, 400, "choose a team, a project, an artifact and a version to link"),
    ({"version": ""}, 400, "choose a version to link"),
    ({"artifact": "sample-dataset", "version": "v0"}, 400,
     "registry 'model' in organization 'local' does not allow artifact type 'dataset' (allowed: model)"),
    ({"version": "v7"}, 404, "artifact \"sample-model:v7\" not found in project tester/quickstart"),
    ({"artifact": "nope"}, 404, "artifact 'nope' not found in project tester/quickstart"),
    ({"entity": "bad/team"}, 400, "invalid team name 'bad/team': use only letters, digits, '-', '_' and '.'"),
    ({"aliases": "v3"}, 400, "invalid alias 'v3': 'vN' names a version and cannot be an alias"),
    ({"aliases": "ok, a/b"}, 400,
     "invalid alias 'a/b': '/', ':', control characters and surrounding spaces are not allowed"),
])
def test_link_new_version_errors_are_shown_and_write_nothing(client, store, form, status, message):
    data = {"entity": "tester", "project": "quickstart", "artifact": "sample-model", "version": "v0", **form}
    if not form:
        data = {}
    before = snapshot(store)
    r = post(client, f"{MODEL}/link", data)
    assert r.status_code == status, text(r)
    assert alert(r) == message
    assert 'id="link-panel"' in r.text and "data-open-on-load" in r.text  # the panel opens again
    assert snapshot(store) == before


def test_link_new_version_into_a_collection_of_another_type(client, store):
    registries.create_registry(store, "misc", org="local")
    registries.link(store, versions.resolve(store, "tester/quickstart/sample-model:v0"), "wandb-registry-misc/stuff")
    before = snapshot(store)
    r = post(client, "/orgs/local/registry/misc/stuff/link", {"entity": "tester", "project": "quickstart",
                                                            "artifact": "sample-dataset", "version": "v0"})
    assert r.status_code == 400
    assert alert(r) == ("collection local/wandb-registry-misc/stuff holds type 'model'; "
                        "cannot link tester/quickstart/sample-dataset:v0 of type 'dataset'")
    assert snapshot(store) == before


def test_panel_keeps_the_choices_after_an_error(client):
    r = post(client, f"{MODEL}/link", {"entity": "tester", "project": "quickstart", "artifact": "sample-model",
                                      "version": "v0", "aliases": "a/b"})
    assert 'data-value="quickstart"' in r.text and 'data-value="sample-model"' in r.text
    assert 'value="a/b"' in r.text


# -- artifact browser: Link to registry -----------------------------------------------------------


def test_link_to_registry_existing_collection(client, store):
    v = log_version(store, content="1")
    url = f"/tester/quickstart/artifacts/model/sample-model/v{v.index}"
    r = post(client, f"{url}/link", {"registry": "local/model", "collection": "sample-model", "aliases": "staging"})
    assert r.headers["location"] == f"{url}#linked-to"
    page = text(follow(client, r))
    assert "Linked tester/quickstart/sample-model:v1 as local/wandb-registry-model/sample-model:v1" in page
    linked_to = page.split("Linked to", 1)[1]
    assert "local/wandb-registry-model/sample-model v1 latest staging" in linked_to
    assert versions.resolve(store, "wandb-registry-model/sample-model:staging").source_id == v.id
    assert "links to tester/quickstart/sample-model:v1" in text(client.get(MODEL))


def test_link_to_registry_new_collection(client, store):
    r = post(client, f"{DATASET_SOURCE}/link", {"registry": "local/dataset", "collection": "__new__",
                                               "new_collection": "iris-eval", "aliases": "eval"})
    follow(client, r)
    link = versions.resolve(store, "local/wandb-registry-dataset/iris-eval:eval")
    assert link.source_qualified_name == "tester/quickstart/sample-dataset:v0"
    assert "iris-eval" in text(client.get("/orgs/local/registry/dataset"))


def test_link_modal_offers_registries_by_type(client, store):
    registries.create_registry(store, "evals", org="local", artifact_types=["eval-results"])
    r = client.get(SOURCE)
    options = dict(re.findall(r'<option value="(local/[^"]+)"( disabled)?', r.text))
    assert options == {"local/dataset": " disabled", "local/evals": " disabled", "local/model": ""}
    assert "(does not accept model)" in r.text


@pytest.mark.parametrize("form, status, message", [
    ({"registry": ""}, 400, "choose a registry to link to"),
    ({"collection": ""}, 400, "choose a collection, or create a new one"),
    ({"collection": "__new__", "new_collection": " "}, 400, "type a name for the new collection"),
    ({"collection": "bad name"}, 400,
     "invalid collection name 'bad name': use only letters, digits, '-', '_' and '.'"),
    ({"registry": "local/nope"}, 404,
     "registry 'nope' not found in organization 'local' (registries there: dataset, model)"),
    ({"registry": "local/dataset"}, 400,
     "registry 'dataset' in organization 'local' does not allow artifact type 'model' (allowed: dataset)"),
    ({"aliases": "latest, :x"}, 400,
     "invalid alias ':x': '/', ':', control characters and surrounding spaces are not allowed"),
])
def test_link_to_registry_errors_are_shown_and_write_nothing(client, store, form, status, message):
    data = {"registry": "local/model", "collection": "sample-model", **form}
    before = snapshot(store)
    r = post(client, f"{SOURCE}/link", data)
    assert r.status_code == status, text(r)
    assert alert(r) == message
    assert 'id="link-modal"' in r.text and "data-open-on-load" in r.text
    assert snapshot(store) == before


def test_link_to_registry_with_a_collection_of_another_type(client, store):
    registries.create_registry(store, "misc", org="local")
    registries.link(store, versions.resolve(store, "tester/quickstart/sample-dataset:v0"), "wandb-registry-misc/stuff")
    before = snapshot(store)
    r = post(client, f"{SOURCE}/link", {"registry": "local/misc", "collection": "stuff"})
    assert r.status_code == 400
    assert "holds type 'dataset'; cannot link tester/quickstart/sample-model:v0 of type 'model'" in alert(r)
    assert snapshot(store) == before


# -- aliases and unlink ----------------------------------------------------------------------------


def test_add_and_remove_aliases_of_a_link(client, store):
    page = text(follow(client, post(client, f"{MODEL_LINK}/aliases", {"action": "add", "alias": "champion, blessed"})))
    assert "now has the aliases latest, blessed, champion, production" in page
    assert set(versions.resolve(store, "wandb-registry-model/sample-model:v0").aliases) == {
        "latest", "production", "champion", "blessed"}
    follow(client, post(client, f"{MODEL_LINK}/aliases", {"action": "remove", "alias": "production"}))
    assert "production" not in versions.resolve(store, "wandb-registry-model/sample-model:v0").aliases
    # the source's own aliases are untouched
    assert versions.resolve(store, "tester/quickstart/sample-model:v0").aliases == ("latest",)


def test_add_and_remove_aliases_of_a_source(client, store):
    follow(client, post(client, f"{SOURCE}/aliases", {"action": "add", "alias": "best"}))
    assert "best" in versions.resolve(store, "tester/quickstart/sample-model:v0").aliases
    follow(client, post(client, f"{SOURCE}/aliases", {"action": "remove", "alias": "best"}))
    assert "best" not in versions.resolve(store, "tester/quickstart/sample-model:v0").aliases


@pytest.mark.parametrize("form, status, message", [
    ({"action": "remove", "alias": "latest"}, 400, "alias 'latest' is managed by localreg and cannot be removed"),
    ({"action": "remove", "alias": "nope"}, 404,
     "alias 'nope' is not on local/wandb-registry-model/sample-model:v0"),
    ({"action": "add", "alias": "v2"}, 400, "invalid alias 'v2': 'vN' names a version and cannot be an alias"),
    ({"action": "add", "alias": ""}, 400, "type an alias"),
    ({"action": "rename", "alias": "x"}, 400, "unknown alias action 'rename': use add or remove"),
])
def test_alias_errors_are_shown_and_write_nothing(client, store, form, status, message):
    before = snapshot(store)
    r = post(client, f"{MODEL_LINK}/aliases", form)
    assert r.status_code == status
    assert alert(r) == message
    assert snapshot(store) == before


def test_adding_latest_to_an_older_version_is_refused(client, store):
    log_version(store, content="1")
    before = snapshot(store)
    r = post(client, f"{SOURCE}/aliases", {"action": "add", "alias": "latest"})
    assert r.status_code == 400
    assert alert(r).startswith("alias 'latest' is managed by localreg and stays on the newest version")
    assert snapshot(store) == before


def test_unlink(client, store):
    r = post(client, f"{MODEL_LINK}/unlink")
    assert r.headers["location"] == MODEL
    page = text(follow(client, r))
    assert ("Unlinked local/wandb-registry-model/sample-model:v0; its source "
            "tester/quickstart/sample-model:v0 stays.") in page
    assert "No linked versions yet" in page
    with pytest.raises(NotFound):
        versions.resolve(store, "wandb-registry-model/sample-model:v0")
    assert versions.resolve(store, "tester/quickstart/sample-model:v0")
    again = post(client, f"{MODEL_LINK}/unlink")  # a second tab, still showing the link
    assert again.status_code == 404
    assert alert(again) == 'artifact "sample-model:v0" not found in registry local/wandb-registry-model'


# -- the guards: Host header and cross-site requests -------------------------------------------------


def test_a_foreign_host_header_is_refused(client, store):
    assert client.get("/", headers={"host": "evil.example:8080"}).status_code == 400
    assert client.get("/api/teams", headers={"host": "127.0.0.1:9999"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8080"}).status_code == 200
    before = snapshot(store)
    r = client.post(f"{MODEL_LINK}/unlink", data={"csrf_token": token(client)}, headers={"host": "evil.example"})
    assert r.status_code == 400
    assert snapshot(store) == before


def test_allowed_hosts():
    from localreg.web.security import allowed_hosts

    assert allowed_hosts("127.0.0.1", 8080) == {"127.0.0.1:8080", "localhost:8080", "[::1]:8080"}
    assert allowed_hosts("::1", 80) >= {"[::1]:80", "[::1]", "localhost"}
    assert allowed_hosts("192.0.2.7", 8080) == {"192.0.2.7:8080"}
    assert "127.0.0.1:8080" in allowed_hosts("0.0.0.0", 8080)


def test_session_cookie_is_httponly_and_strict(client):
    client.cookies.clear()
    r = client.get("/")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert 'name="csrf-token" content="' in r.text
    assert "set-cookie" not in client.get("/").headers  # one per session


POST_ROUTES = [
    ("/orgs/local/registries", {"name": "x"}),
    (f"{MODEL}/link", {"entity": "tester", "project": "quickstart", "artifact": "sample-model", "version": "v0",
                       "aliases": "x"}),
    (f"{MODEL_LINK}/aliases", {"action": "add", "alias": "x"}),
    (f"{MODEL_LINK}/unlink", {}),
    (f"{SOURCE}/link", {"registry": "local/model", "collection": "new-one"}),
    (f"{SOURCE}/aliases", {"action": "add", "alias": "x"}),
]
API_POSTS = [
    ("/api/orgs/local/registries", {"name": "x"}),
    ("/api/links", {"source": "tester/quickstart/sample-model:v0", "target": "wandb-registry-model/x"}),
    ("/api/aliases", {"ref": "tester/quickstart/sample-model:v0", "add": ["x"]}),
    ("/api/unlink", {"ref": "wandb-registry-model/sample-model:v0"}),
]


def test_every_post_route_is_covered(client):
    from starlette.routing import Route

    posts = {r.path for r in client.app.routes if isinstance(r, Route) and "POST" in (r.methods or ())}
    assert len(posts) == len(POST_ROUTES) + len(API_POSTS)


@pytest.mark.parametrize("url, form", POST_ROUTES, ids=[u for u, _ in POST_ROUTES])
@pytest.mark.parametrize("attack", ["no-token", "wrong-token", "no-cookie", "foreign-origin", "cross-site",
                                    "null-origin", "other-server-token"])
def test_cross_site_posts_are_refused(client, store, url, form, attack):
    good = token(client)
    data = {"csrf_token": good, **form}
    headers = {}
    if attack == "no-token":
        del data["csrf_token"]
    elif attack == "wrong-token":
        data["csrf_token"] = "0" * 64
    elif attack == "no-cookie":
        client.cookies.clear()
    elif attack == "foreign-origin":
        headers["origin"] = "http://evil.example"
    elif attack == "cross-site":
        headers["sec-fetch-site"] = "cross-site"
    elif attack == "null-origin":
        headers["origin"] = "null"
    elif attack == "other-server-token":
        other = TestClient(create_app(store=store, host="127.0.0.1", port=8080), base_url=BASE)
        other.cookies.update(client.cookies)
        data["csrf_token"] = other.get("/api/session").json()["csrf_token"]
    before = snapshot(store)
    r = client.post(url, data=data, headers=headers, follow_redirects=False)
    assert r.status_code == 403, (attack, r.status_code)
    assert "Refused:" in text(r)
    assert snapshot(store) == before


@pytest.mark.parametrize("url, form", POST_ROUTES, ids=[u for u, _ in POST_ROUTES])
def test_same_origin_posts_with_the_token_pass(client, url, form):
    r = client.post(url, data={"csrf_token": token(client), **form}, follow_redirects=False,
                    headers={"origin": BASE, "sec-fetch-site": "same-origin"})
    assert r.status_code == 303, text(r)


@pytest.mark.parametrize("url, body", API_POSTS, ids=[u for u, _ in API_POSTS])
def test_api_posts_need_the_header_token(client, store, url, body):
    before = snapshot(store)
    r = client.post(url, json=body)
    assert r.status_code == 403
    assert r.json()["error"]["message"].startswith("Refused:")
    r = client.post(url, json=body, headers={"X-CSRF-Token": "nope"})
    assert r.status_code == 403
    assert snapshot(store) == before
    assert api_post(client, url, body).status_code in (200, 201)


def test_get_on_a_post_route_is_405(client):
    assert client.get(f"{MODEL_LINK}/unlink").status_code == 405


def test_oversized_posts_are_refused(client):
    r = client.post(f"{MODEL}/link", data={"csrf_token": token(client), "aliases": "x" * (1 << 20)})
    assert r.status_code == 413


# -- the JSON API ---------------------------------------------------------------------------------------


def test_api_session_and_scopes(client):
    s = client.get("/api/session").json()
    assert s["org"] == "local" and s["entity"] == "tester" and len(s["csrf_token"]) == 64
    assert client.get("/api/orgs").json() == {"items": ["local"]}
    assert client.get("/api/teams").json() == {"items": ["tester"]}
    projects = client.get("/api/teams/tester/projects").json()["items"]
    assert [(p["name"], p["collection_count"]) for p in projects] == [("quickstart", 2)]
    r = client.get("/api/teams/nobody/projects")
    assert r.status_code == 404 and r.json()["error"] == {
        "type": "NotFound", "message": f"team 'nobody' not found in store {client.app.state.store.home}"}


def test_api_artifacts_and_versions(client, store):
    arts = client.get("/api/teams/tester/projects/quickstart/artifacts").json()["items"]
    assert sorted(a["name"] for a in arts) == ["sample-dataset", "sample-model"]
    models = client.get("/api/teams/tester/projects/quickstart/artifacts?type=model").json()["items"]
    assert [a["name"] for a in models] == ["sample-model"]
    for i in range(3):
        log_version(store, content=str(i))
    url = "/api/teams/tester/projects/quickstart/artifacts/sample-model/versions"
    first = client.get(url + "?limit=2").json()
    assert [v["version"] for v in first["items"]] == ["v3", "v2"]
    second = client.get(url, params={"limit": 2, "cursor": first["cursor"]}).json()
    assert [v["version"] for v in second["items"]] == ["v1", "v0"] and second["cursor"] is None
    assert second["items"][1]["url"] == SOURCE


def test_api_registries_and_collections(client, store):
    regs = client.get("/api/orgs/local/registries").json()["items"]
    assert [(r["name"], r["collection_count"], r["artifact_types"]) for r in regs] == [
        ("dataset", 1, ["dataset"]), ("model", 1, ["model"])]
    assert client.get("/api/orgs/local/registries/model").json()["full_name"] == "wandb-registry-model"
    colls = client.get("/api/orgs/local/registries/model/collections").json()
    assert [c["name"] for c in colls["items"]] == ["sample-model"] and colls["cursor"] is None
    assert client.get("/api/orgs/local/registries/model/collections?type=dataset").json()["items"] == []
    coll = client.get("/api/orgs/local/registries/model/collections/sample-model").json()
    assert coll["version_count"] == 1 and coll["url"] == MODEL
    links = client.get("/api/orgs/local/registries/model/collections/sample-model/versions").json()["items"]
    assert [(v["version"], v["is_link"], v["source_qualified_name"], v["aliases"]) for v in links] == [
        ("v0", True, "tester/quickstart/sample-model:v0", ["latest", "production"])]
    assert links[0]["url"] == MODEL_LINK
    assert client.get("/api/orgs/local/registries/nope/collections").status_code == 404


def test_api_version(client):
    v = client.get("/api/version", params={"ref": "wandb-registry-model/sample-model:production"}).json()
    assert v["is_link"] and v["source_qualified_name"] == "tester/quickstart/sample-model:v0"
    assert sorted(f["path"] for f in v["files"]) == ["README.md", "model.json", "weights.bin"]
    assert v["logged_by"]["id"] == "quickstart"
    assert [link["qualified_name"] for link in v["links"]] == ["local/wandb-registry-model/sample-model:v0"]
    r = client.get("/api/version")
    assert r.status_code == 400 and "pass the version as ?ref=" in r.json()["error"]["message"]
    r = client.get("/api/version", params={"ref": "a/b/c/d"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "InvalidName"


def test_api_link_aliases_unlink(client, store):
    r = api_post(client, "/api/links", {"source": "tester/quickstart/sample-dataset:v0",
                                        "target": "local/wandb-registry-dataset/iris", "aliases": ["eval"]})
    assert r.status_code == 201
    assert r.json()["qualified_name"] == "local/wandb-registry-dataset/iris:v0"
    assert r.json()["url"] == "/orgs/local/registry/dataset/iris/v0"
    r = api_post(client, "/api/aliases", {"ref": "wandb-registry-dataset/iris:v0", "add": ["gold"], "remove": ["eval"]})
    assert r.status_code == 200 and r.json()["aliases"] == ["latest", "gold"]
    r = api_post(client, "/api/unlink", {"ref": "wandb-registry-dataset/iris:v0"})
    assert r.json() == {"unlinked": "local/wandb-registry-dataset/iris:v0",
                        "source": "tester/quickstart/sample-dataset:v0"}
    with pytest.raises(NotFound):
        versions.resolve(store, "wandb-registry-dataset/iris:v0")


@pytest.mark.parametrize("url, body, status, message", [
    ("/api/links", {"source": "tester/quickstart/sample-model:v0", "target": "wandb-registry-dataset/x"}, 400,
     "registry 'dataset' in organization 'local' does not allow artifact type 'model' (allowed: dataset)"),
    ("/api/links", {"source": "tester/quickstart/sample-model:v9", "target": "wandb-registry-model/x"}, 404,
     'artifact "sample-model:v9" not found in project tester/quickstart'),
    ("/api/links", {"source": "wandb-registry-model/sample-model:v0", "target": "wandb-registry-model/x"}, 400,
     "local/wandb-registry-model/sample-model:v0 is a linked version; link its source instead"),
    ("/api/links", {"source": "tester/quickstart/sample-model:v0", "target": "demo/x"}, 400,
     "invalid target path 'demo/x': expected ORG/wandb-registry-REGISTRY/COLLECTION"),
    ("/api/links", {"source": "tester/quickstart/sample-model:v0", "target": "wandb-registry-model/x",
                    "aliases": "v1"}, 400, "invalid alias 'v1': 'vN' names a version and cannot be an alias"),
    ("/api/links", {"source": "tester/quickstart/sample-model:v0", "target": "wandb-registry-model/x",
                    "aliases": [1]}, 400, "'aliases' must be a list of strings"),
    ("/api/aliases", {"ref": "wandb-registry-model/sample-model:v0", "remove": ["latest"]}, 400,
     "alias 'latest' is managed by localreg and cannot be removed"),
    ("/api/aliases", {"ref": "wandb-registry-model/sample-model:v0", "add": ["ok"], "remove": ["nope"]}, 404,
     "alias 'nope' is not on local/wandb-registry-model/sample-model:v0"),
    ("/api/aliases", {"ref": "wandb-registry-model/sample-model:v0"}, 400, "give aliases to 'add' or 'remove'"),
    ("/api/unlink", {"ref": "tester/quickstart/sample-model:v0"}, 400,
     "tester/quickstart/sample-model:v0 is a source version, not a link; use delete"),
    ("/api/orgs/local/registries", {"name": "dataset"}, 409,
     "registry 'dataset' already exists in organization 'local'"),
    ("/api/orgs/nope/registries", {"name": "x"}, 404, "organization 'nope' not found in store {home}"),
])
def test_api_errors_write_nothing(client, store, url, body, status, message):
    before = snapshot(store)
    r = api_post(client, url, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"] == message.format(home=store.home)
    assert snapshot(store) == before


def test_api_rejects_bodies_that_are_not_json_objects(client):
    for raw in (b"{", b"[1]"):
        r = client.post("/api/links", content=raw, headers={"X-CSRF-Token": token(client),
                                                            "content-type": "application/json"})
        assert r.status_code == 400
        assert r.json()["error"]["message"] in ("the request body is not valid JSON",
                                                "the request body must be a JSON object")


def test_api_create_registry(client, store):
    r = api_post(client, "/api/orgs/local/registries", {"name": "evals", "artifact_types": ["eval-results"],
                                                        "description": "Evals"})
    assert r.status_code == 201 and r.json()["artifact_types"] == ["eval-results"]
    assert registries.get_registry(store, "evals", "local").description == "Evals"


def test_api_limit_is_checked(client):
    r = client.get("/api/orgs/local/registries/model/collections?limit=501")
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "invalid limit 501: expected a number from 1 to 500"


# -- the command ----------------------------------------------------------------------------------------


def test_ui_needs_an_existing_store(runner, tmp_path):
    result = runner.invoke(cli, ["ui", "--home", str(tmp_path / "none"), "--no-open"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: no localreg store at {tmp_path / 'none'}; create one with 'localreg init' or 'localreg quickstart'")


def test_ui_reports_a_port_in_use(runner, qs_home):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = runner.invoke(cli, ["ui", "--home", str(qs_home), "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port")


def test_help_stays_light():
    import subprocess
    import sys

    code = ("import sys; from localreg.cli import cli; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().replace("'", '"')) == []


# -- downloads of damaged files (issue 12, item 2): over a real server ------------------------------


@pytest.fixture
def damaged_server(qs_home, make_files, tmp_path):
    """``localreg ui`` on a free port of 127.0.0.1 over a version whose files are about to be damaged.

    Yields ``(url of the version, {file: bytes}, store, log path)``.
    """
    import os
    import subprocess
    import sys
    import threading

    from localreg.objects import PACK_LIMIT, Objects

    files = {"ok.txt": b"intact " * 50, "small.txt": b"small file " * 50,
             "big.bin": os.urandom(3 * PACK_LIMIT), "whole.bin": os.urandom(3 * PACK_LIMIT),
             "gone.bin": os.urandom(2 * PACK_LIMIT)}
    root = make_files(files)
    store = Store(qs_home)
    objects = Objects(store)
    entries = objects.add_files([(p, os.path.join(root, p)) for p in ("ok.txt", "small.txt", "big.bin")])
    entries += objects.add_files([(p, os.path.join(root, p)) for p in ("whole.bin", "gone.bin")], whole=True)
    v, _ = versions.log_version(store, name="damaged", type="model", entries=entries, entity="tester",
                                project="quickstart")
    log_path = tmp_path / "ui.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "localreg", "--home", str(qs_home), "ui", "--port", "0",
                             "--no-open"], stdout=subprocess.PIPE, stderr=log, text=True)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    try:
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", first[0] if first else "")
        assert found, f"the server did not start: {first} {log_path.read_text()}"
        yield f"{found.group(1)}/tester/quickstart/artifacts/model/damaged/v{v.index}", files, store, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()
        store.close()


def _fetch(url: str) -> tuple[int, dict, bytes, bool]:
    """GET ``url``: status, headers, the body as far as it came, and whether it came whole."""
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request("GET", u.path)
        r = conn.getresponse()
        headers = {k.lower(): v for k, v in r.getheaders()}
        try:
            return r.status, headers, r.read(), True
        except http.client.IncompleteRead as e:
            return r.status, headers, e.partial, False
    finally:
        conn.close()


def _damage(store, path: str, how: str, which: str = "first") -> str:
    """Flip a byte of, or remove, the blob behind ``path`` of the damaged version; return the chunk hit."""
    import os

    entry = versions.entry(store, versions.resolve(store, "tester/quickstart/damaged:latest"), path)
    row = store.db.execute("SELECT chunks FROM chunked_files WHERE digest = ?", [entry.digest]).fetchone()
    names = [c for c, _s in json.loads(row[0])] if row else [entry.digest]
    name = names[len(names) // 2] if which == "middle" else names[0]
    size, pack, offset = store.db.execute("SELECT size, pack, offset FROM chunks WHERE digest = ?",
                                          [name]).fetchone()
    blob = store.blobs.pack_path(pack) if pack else store.blobs.loose_path(name)
    if how == "remove":
        os.unlink(blob)
    else:
        with open(blob, "r+b") as f:
            f.seek((offset or 0) + size // 2)
            b = f.read(1)
            f.seek((offset or 0) + size // 2)
            f.write(bytes([b[0] ^ 0xFF]))
    return name


@pytest.mark.parametrize("path,how", [("small.txt", "flip"), ("big.bin", "flip"), ("whole.bin", "flip"),
                                      ("gone.bin", "remove")])
def test_a_damaged_file_answers_an_error_status_not_its_bytes(damaged_server, path, how):
    """Found before the first byte (a packed file, a big file's first chunk, a whole object, a missing blob): 500."""
    url, files, store, log_path = damaged_server
    status, headers, body, _whole = _fetch(f"{url}/files/ok.txt")
    assert (status, body) == (200, files["ok.txt"])
    bad = _damage(store, path, how)
    status, headers, body, _whole = _fetch(f"{url}/files/{path}")
    assert status == 500
    assert headers["content-type"].startswith("text/html")
    assert bad in " ".join(html.unescape(body.decode()).split())
    assert "content-disposition" not in headers and files[path] not in body
    assert "Traceback" not in log_path.read_text()


def test_a_chunk_damaged_mid_file_cuts_the_download_short(damaged_server):
    """A big file streams chunk by chunk: a bad chunk found after the status line ends the body unfinished."""
    url, files, store, log_path = damaged_server
    bad = _damage(store, "big.bin", "flip", which="middle")
    status, headers, body, whole = _fetch(f"{url}/files/big.bin")
    assert status == 200 and headers["content-length"] == str(len(files["big.bin"]))
    assert not whole and 0 < len(body) < len(files["big.bin"])
    assert body == files["big.bin"][:len(body)]  # every byte that left was checked
    log = log_path.read_text()
    assert f"download stopped unfinished: blob {bad} in pack" in log and "Traceback" not in log
