"""Seed files: load in one transaction, errors that say where, dump that reloads to the same state."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localreg import registries, seed, versions
from localreg.cli import cli
from localreg.errors import InvalidName, NotFound
from localreg.objects import Entry, Objects
from localreg.store import Store

from tests.conftest import snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEEDS = sorted((FIXTURES / "seeds").glob("*.*"))
CREATE = {"org": "acme", "entity": "team", "project": "demo"}


def new_store(tmp_path: Path, name: str, backend: str = "memory") -> Store:
    # tmp_path is unique per test (id() is not: a later test may get an earlier one's, and its blobs)
    blob_url = f"memory://seed-{os.getpid()}-{tmp_path.name}-{name}" if backend == "memory" else None
    return Store(tmp_path / name, blob_url=blob_url, **CREATE)


def state(store: Store) -> dict:
    """Everything a seed describes, without ids and timestamps: equal states are the same store."""
    db = store.db

    def q(sql: str) -> list:
        return sorted(tuple(r) for r in db.execute(sql).fetchall())

    scope = ("COALESCE(e.name || '/' || p.name, o.name || '/wandb-registry-' || r.name)")
    joins = ("LEFT JOIN projects p ON p.id = c.project_id LEFT JOIN entities e ON e.id = p.entity_id "
             "LEFT JOIN registries r ON r.id = c.registry_id LEFT JOIN orgs o ON o.id = r.org_id")
    vname = f"(SELECT {scope} || '/' || c.name || ':v' || x.idx FROM versions x JOIN collections c ON c.id = x.collection_id {joins} WHERE x.id = %s)"
    return {
        "orgs": q("SELECT name FROM orgs"),
        "entities": q("SELECT e.name, o.name FROM entities e JOIN orgs o ON o.id = e.org_id"),
        "projects": q("SELECT e.name, p.name FROM projects p JOIN entities e ON e.id = p.entity_id"),
        "registries": q("SELECT o.name, r.name, r.description, r.visibility, r.artifact_types "
                        "FROM registries r JOIN orgs o ON o.id = r.org_id"),
        "collections": q(f"SELECT {scope}, c.name, c.type, c.description, c.tags, c.next_idx FROM collections c {joins}"),
        "versions": q(
            f"SELECT {vname % 'v.id'}, v.digest, v.size, v.file_count, v.description, v.metadata, "
            "CAST(round((julianday(v.ttl_expires_at) - julianday(v.created_at)) * 86400) AS INTEGER), "
            f"{vname % 'v.source_id'} FROM versions v"
        ),
        "entries": q(f"SELECT {vname % 'version_id'}, path, digest, size, ref FROM entries"),
        "aliases": q(f"SELECT {vname % 'version_id'}, alias FROM aliases"),
        "tags": q(f"SELECT {vname % 'version_id'}, tag FROM tags"),
        # blobs of deleted versions stay until gc: only the ones versions name are state
        "blobs": q("SELECT DISTINCT c.digest, c.size FROM entries e JOIN chunks c ON c.digest = e.digest"),
    }


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- every seed file in fixtures/seeds -------------------------------------------------------


def test_there_are_seed_files():
    assert {p.name for p in SEEDS} >= {"basic.toml", "quickstart.toml", "registries.toml", "edge-cases.json"}
    size = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert size < 1 << 20


@pytest.mark.parametrize("backend", ["memory", "file"])
@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_dump_reloads_to_the_same_state(tmp_path, path, backend):
    a = new_store(tmp_path, "a", backend)
    result = seed.load(a, path)
    assert result.versions and result.created_versions == len(result.versions)
    dumped = tmp_path / "dump.json"
    dumped.write_text(seed.dumps(a), encoding="utf-8")

    b = new_store(tmp_path, "b", backend)
    seed.load(b, dumped)
    assert state(b) == state(a)
    assert seed.dumps(b) == dumped.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_loading_twice_changes_nothing(tmp_path, path):
    store = new_store(tmp_path, "a")
    seed.load(store, path)
    before = state(store)
    again = seed.load(store, path)
    assert again.created_versions == 0
    assert state(store) == before


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_seed_files_and_their_dumps_follow_the_schema(tmp_path, path):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(seed.schema())
    raw = path.read_text(encoding="utf-8")
    doc = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
    validator.validate(doc)
    store = new_store(tmp_path, "a")
    seed.load(store, path)
    validator.validate(json.loads(seed.dumps(store)))


def test_the_schema_is_valid_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(seed.schema())


def test_quickstart_seed_holds_the_sample_files(tmp_path):
    store = new_store(tmp_path, "a")
    seed.load(store, FIXTURES / "seeds" / "quickstart.toml")
    model = versions.resolve(store, "local/wandb-registry-model/sample-model:production")
    got = {e.path: Objects(store).read_bytes(e.digest) for e in versions.entries(store, model)}
    want = {p.name: p.read_bytes() for p in (FIXTURES / "sample-model").iterdir()}
    assert got == want
    data = versions.resolve(store, "local/wandb-registry-dataset/sample-dataset:training")
    assert sorted(e.path for e in versions.entries(store, data)) == ["README.md", "test.csv", "train.csv"]


def test_registries_seed_places_indexes_and_latest_as_written(tmp_path):
    store = new_store(tmp_path, "a")
    seed.load(store, FIXTURES / "seeds" / "registries.toml")
    latest = versions.resolve(store, "acme/wandb-registry-model/detector:latest")
    assert (latest.index, latest.source_name) == (0, "yolo-tiny:v1")
    assert set(latest.aliases) == {"latest", "production"}
    assert versions.resolve(store, "acme/wandb-registry-model/detector:v1").source_name == "yolo-tiny:v0"
    evals = registries.get_registry(store, "evaluations", "acme")
    assert (evals.visibility, evals.artifact_types) == ("restricted", ("eval-report",))
    assert registries.get_registry(store, "model", "acme").artifact_types == ("model", "onnx-model")
    assert registries.get_registry(store, "anything-goes", "acme").allow_all_artifact_types
    ent = store.db.execute("SELECT o.name FROM entities e JOIN orgs o ON o.id = e.org_id WHERE e.name = 'partner-ml'")
    assert ent.fetchone()[0] == "partner-co"


def test_edge_cases_seed(tmp_path):
    store = new_store(tmp_path, "a")
    seed.load(store, FIXTURES / "seeds" / "edge-cases.json")
    gappy = versions.load(store, "c.name = 'gappy'")
    assert [v.index for v in gappy] == [0, 2, 4]
    assert versions.resolve(store, "edge/cases/gappy:latest").index == 2
    v, _ = versions.log_version(store, name="gappy", type="dataset", entries=[], entity="edge", project="cases")
    assert v.index == 5
    blob = versions.resolve(store, "edge/cases/binary-and-refs:v0")
    assert blob.metadata["none"] is None and blob.metadata["unicode"] == "ümlaut ✓ 日本"
    ref = versions.entry(store, blob, "remote.dat")
    assert ref.ref == "s3://example-bucket/data/remote.dat" and ref.size == 12
    data = Objects(store).read_bytes(versions.entry(store, blob, "bin/all-bytes.bin").digest)
    assert data == bytes(range(256)) + b"\x00\xff" * 8
    assert versions.resolve(store, "edge-org/wandb-registry-blobs/raw:keep").index == 3


# -- errors --------------------------------------------------------------------------------

ART = '[[artifacts]]\nname = "m"\ntype = "model"\n'
VER = ART + "[[artifacts.versions]]\n"

BAD = {
    "toml syntax": ("bad.toml", 'format = 1\n[[artifacts]]\nname = "x"\ntype =\n',
                    "line 4, column 7: Invalid value"),
    "json syntax": ("bad.json", '{"artifacts": [\n  {"name": "x",}\n]}',
                    "line 2, column 16: Expecting property name enclosed in double quotes"),
    "unknown key": ("s.toml", VER + 'alias = ["x"]\n',
                    "artifacts[0].versions[0].alias: unknown key 'alias' (did you mean 'aliases'?)"),
    "missing key": ("s.toml", '[[artifacts]]\nname = "m"\n', "artifacts[0]: missing key 'type'"),
    "wrong type": ("s.toml", ART + 'versions = "x"\n', "artifacts[0].versions: expected a list, not a string ('x')"),
    "bad alias": ("s.toml", VER + 'aliases = ["ok", "v3"]\n',
                  "artifacts[0].versions[0].aliases[1]: invalid alias 'v3': 'vN' names a version and cannot be an alias"),
    "bad tag": ("s.toml", VER + 'tags = ["ok", "bad!"]\n',
                "artifacts[0].versions[0].tags[1]: Invalid tag 'bad!': use words of letters, digits, '-' and '_' "
                "separated by single spaces"),
    "bad name": ("s.toml", '[[artifacts]]\nname = "my model"\ntype = "model"\n',
                 "artifacts[0].name: invalid artifact name 'my model': use only letters, digits, '-', '_' and '.'"),
    "two file kinds": ("s.toml", VER + 'files = { "a" = { text = "x", path = "y" } }\n',
                       "artifacts[0].versions[0].files.a: give only one of 'text', 'path'"),
    "no file kind": ("s.toml", VER + 'files = { "a" = { texts = "x" } }\n',
                     "artifacts[0].versions[0].files.a: expected a string (the file's text), {text = ...}, "
                     "{base64 = ...}, {path = ...} or {ref = ...}, not a table"),
    "missing path": ("s.toml", VER + 'files = { "w.bin" = { path = "nope.bin" } }\n',
                     "artifacts[0].versions[0].files[\"w.bin\"].path: file '{dir}/nope.bin' not found"),
    "bad base64": ("s.toml", VER + 'files = { "a" = { base64 = "!!" } }\n',
                   "artifacts[0].versions[0].files.a.base64: not valid base64: Only base64 data is allowed"),
    "toml date in metadata": ("s.toml", VER + "metadata = { when = 2024-01-01 }\n",
                              "artifacts[0].versions[0].metadata.when: date is not JSON-serializable"),
    "infinity": ("s.toml", VER + "metadata = { x = { y = inf } }\n",
                 "artifacts[0].versions[0].metadata.x.y: infinity is not allowed in metadata"),
    "visibility": ("s.toml", '[[registries]]\nname = "r"\nvisibility = "private"\n',
                   "registries[0].visibility: 'private' is not one of 'organization', 'restricted'"),
    "ttl": ("s.toml", VER + "ttl = 0\n", "artifacts[0].versions[0].ttl: must be more than 0, not 0"),
    "index order": ("s.toml", VER + 'index = 2\nfiles = { a = "1" }\n[[artifacts.versions]]\nindex = 1\n',
                    "artifacts[0].versions[1].index: v1 does not come after v2 (artifacts[0].versions[0]); "
                    "list versions in index order"),
    "alias twice": ("s.toml", VER + 'aliases = ["a"]\nfiles = { a = "1" }\n[[artifacts.versions]]\naliases = ["a"]\n',
                    "artifacts[0].versions[1].aliases[0]: alias 'a' is also on artifacts[0].versions[0]; "
                    "an alias names one version of a collection"),
    "same content": ("s.toml", VER + 'files = { a = "1" }\n[[artifacts.versions]]\nfiles = { a = "1" }\n',
                     "artifacts[0].versions[1]: same files as artifacts[0].versions[0]; "
                     "a collection keeps one version per content"),
    "top level": ("s.json", "[1, 2]", "expected a table, not a list"),
}


@pytest.mark.parametrize("name, text, message", BAD.values(), ids=list(BAD))
def test_errors_name_the_file_the_place_and_the_problem(tmp_path, store, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(seed.SeedError) as info:
        seed.load(store, path)
    assert str(info.value) == f"seed file {path}: {message.replace('{dir}', str(tmp_path))}"
    assert info.value.source == path


def test_error_attributes(tmp_path, store):
    with pytest.raises(seed.SeedError) as info:
        seed.load(store, write(tmp_path, "s.toml", "a = [1,\n b"))
    assert (info.value.line, info.value.column, info.value.key) == (2, 2, None)
    with pytest.raises(seed.SeedError) as info:
        seed.load(store, write(tmp_path, "s.toml", VER + 'aliases = ["v1"]\n'))
    assert info.value.key == "artifacts[0].versions[0].aliases[0]" and info.value.line is None
    assert isinstance(info.value, ValueError)


def test_missing_seed_file(tmp_path, store):
    with pytest.raises(NotFound, match="seed file .*nope.toml not found"):
        seed.load(store, tmp_path / "nope.toml")


# Seeds that pass every check but fail while writing: something is written first each time.
LATE = {
    "type not allowed": (
        '[[registries]]\nname = "r"\nartifact_types = ["dataset"]\n' + VER
        + 'files = { a = "x" }\nlinks = [{ target = "wandb-registry-r/c" }]\n',
        "artifacts[0].versions[0].links[0].target: registry 'r' in organization 'acme' does not allow "
        "artifact type 'model' (allowed: dataset)",
    ),
    "no such registry": (
        VER + 'files = { a = "x" }\nlinks = [{ target = "wandb-registry-nope/c" }]\n',
        "artifacts[0].versions[0].links[0].target: registry 'nope' not found in organization 'acme'",
    ),
    "core description": ('[[registries]]\nname = "model"\ndescription = "mine"\n' + VER + 'files = { a = "x" }\n',
                         "registries[0]: the description of core registry 'model' cannot be changed"),
    "type of an existing artifact": (
        VER + 'files = { a = "x" }\n[[artifacts]]\nname = "mnist-cnn"\nentity = "ml-team"\nproject = "mnist"\n'
        'type = "dataset"\n',
        "artifacts[1].type: artifact ml-team/mnist/mnist-cnn has type 'model' in store {home}, not 'dataset'",
    ),
    "index taken": (
        VER + 'files = { a = "x" }\n[[artifacts]]\nname = "mnist-cnn"\nentity = "ml-team"\nproject = "mnist"\n'
        'type = "model"\n[[artifacts.versions]]\nindex = 1\nfiles = { a = "new" }\n',
        "artifacts[1].versions[0].index: v1 of ml-team/mnist/mnist-cnn holds other content",
    ),
    "link alias twice": (
        VER + 'files = { a = "x" }\nlinks = [{ target = "wandb-registry-model/c", aliases = ["prod"] }]\n'
        '[[artifacts.versions]]\nfiles = { a = "y" }\nlinks = [{ target = "acme/wandb-registry-model/c", aliases = ["prod"] }]\n',
        "artifacts[0].versions[1].links[0].aliases[0]: alias 'prod' of acme/wandb-registry-model/c is also on "
        "artifacts[0].versions[0].links[0]",
    ),
    # an entity listed in another org joins it (a user in several orgs): tests/wandb_compat/test_orgs.py
    "restricted to organization": (
        '[[registries]]\nname = "secret"\nvisibility = "organization"\n',
        "registries[0]: registry 'secret' is restricted; it cannot become organization-wide",
    ),
}


@pytest.mark.parametrize("text, message", LATE.values(), ids=list(LATE))
def test_a_failed_seed_writes_nothing(tmp_path, store, text, message):
    seed.load(store, FIXTURES / "seeds" / "basic.toml")
    registries.create_registry(store, "secret", visibility="restricted")
    before = snapshot(store)
    path = write(tmp_path, "late.toml", text)
    with pytest.raises(seed.SeedError) as info:
        seed.load(store, path)
    assert str(info.value) == f"seed file {path}: {message.replace('{home}', str(store.home))}"
    assert snapshot(store) == before


def test_a_failed_seed_into_an_empty_store_leaves_it_empty(tmp_path, store):
    before = snapshot(store)
    with pytest.raises(seed.SeedError):
        seed.load(store, write(tmp_path, "s.toml", LATE["no such registry"][0]))
    assert snapshot(store) == before


# -- loading details --------------------------------------------------------------------------


def test_defaults_come_from_the_store_when_the_seed_has_none(store):
    result = seed.load(store, {"artifacts": [{"name": "m", "type": "model", "versions": [{"files": {"a": "1"}}]}]})
    assert result.versions == ("team/demo/m:v0",)
    assert result.source == "<data>"


def test_a_dict_seed_reads_paths_from_base(tmp_path, store):
    (tmp_path / "w.bin").write_bytes(b"\x01\x02")
    doc = {"artifacts": [{"name": "m", "type": "model", "versions": [{"files": {"w.bin": {"path": "w.bin"}}}]}]}
    seed.load(store, doc, base=tmp_path)
    v = versions.resolve(store, "m:v0")
    assert Objects(store).read_bytes(versions.entry(store, v, "w.bin").digest) == b"\x01\x02"


def test_dir_and_files_together(tmp_path, store):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"w")
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "c.json").write_text("{}")
    path = write(tmp_path, "s.toml", VER + 'dir = "model"\nfiles = { "extra.txt" = "more" }\n')
    seed.load(store, path)
    assert [e.path for e in versions.entries(store, versions.resolve(store, "m:v0"))] == ["extra.txt", "sub/c.json", "w.bin"]
    clash = write(tmp_path, "clash.toml", VER + 'dir = "model"\nfiles = { "w.bin" = "other" }\n')
    with pytest.raises(seed.SeedError, match=r"files\[\"w.bin\"\]: file 'w.bin' is also given by artifacts\[0\].versions\[0\].dir"):
        seed.load(store, clash)


def test_a_reference_without_digest_is_read(tmp_path, store):
    (tmp_path / "ref.txt").write_bytes(b"referenced")
    doc = {"artifacts": [{"name": "r", "type": "dataset", "versions": [
        {"files": {"ref.txt": {"ref": (tmp_path / "ref.txt").as_uri()}}}]}]}
    seed.load(store, doc)
    e = versions.entry(store, versions.resolve(store, "r:v0"), "ref.txt")
    assert e.ref == (tmp_path / "ref.txt").as_uri() and e.size == 10


def test_check_reads_everything_and_writes_nothing(store):
    before = snapshot(store)
    counts = seed.check(FIXTURES / "seeds" / "registries.toml")
    assert counts == {"registries": 4, "artifacts": 4, "versions": 5, "links": 6, "files": 5}
    assert snapshot(store) == before


def test_seeding_updates_metadata_of_a_version_it_finds(store):
    doc = {"artifacts": [{"name": "m", "type": "model", "versions": [{"metadata": {"a": 1}, "files": {"x": "1"}}]}]}
    seed.load(store, doc)
    doc["artifacts"][0]["versions"][0].update(metadata={"a": 2}, description="now described")
    seed.load(store, doc)
    v = versions.resolve(store, "m:v0")
    assert (v.metadata, v.description) == ({"a": 2}, "now described")


# -- dump: states reached through the API, and selections -----------------------------------------


def _log(store, name, content, **kw):
    digest, size = Objects(store).add_bytes(content)
    return versions.log_version(store, name=name, type=kw.pop("type", "model"), entries=[Entry("f", digest, size)], **kw)[0]


def _roundtrip(tmp_path, a, selections=()):
    b = new_store(tmp_path, f"b{len(list(tmp_path.iterdir()))}")
    seed.load(b, seed.dump(a, selections))
    return b


def test_latest_moved_back_by_dedup_survives_a_dump(tmp_path, store):
    _log(store, "m", b"0")
    _log(store, "m", b"1")
    _log(store, "m", b"0")  # same content as v0: v0 gets latest back
    assert versions.resolve(store, "m:latest").index == 0
    doc = seed.dump(store)
    assert doc["artifacts"][0]["versions"][0]["aliases"] == ["latest"]
    b = _roundtrip(tmp_path, store)
    assert state(b) == state(store)


def test_deleted_versions_and_unlinked_links_keep_their_gaps(tmp_path, store):
    vs = [_log(store, "m", bytes([i])) for i in range(5)]
    links = [registries.link(store, v, "wandb-registry-model/c") for v in vs[:3]]
    versions.unlink(store, links[2])
    versions.unlink(store, links[0])
    versions.delete(store, vs[4])
    versions.delete(store, vs[1], unlink_links=True)
    doc = seed.dump(store)
    assert doc["artifacts"][0]["next_index"] == 5
    assert [v["index"] for v in doc["artifacts"][0]["versions"]] == [0, 2, 3]
    assert doc["registries"][0]["collections"][0]["next_index"] == 3
    b = _roundtrip(tmp_path, store)
    assert state(b) == state(store)
    assert _log(b, "m", b"new").index == 5
    assert registries.link(b, versions.resolve(b, "m:v0"), "wandb-registry-model/c").index == 3


def test_binary_and_text_files(tmp_path, store):
    for i, data in enumerate([b"plain text\n", "ünï\tcode\r\n".encode(), b"\x00\x01binary", b"\xff\xfe", b"\x1b[0m"]):
        _log(store, f"f{i}", data)
    files = [a["versions"][0]["files"]["f"] for a in seed.dump(store)["artifacts"]]
    assert files[:2] == ["plain text\n", "ünï\tcode\r\n"]
    assert all(isinstance(f, dict) and "base64" in f for f in files[2:])
    assert state(_roundtrip(tmp_path, store)) == state(store)


@pytest.fixture
def two_projects(store):
    seed.load(store, FIXTURES / "seeds" / "registries.toml")
    return store


def _names(doc):
    return sorted(f"{a['entity']}/{a['project']}/{a['name']}:v{v['index']}" for a in doc.get("artifacts", ())
                  for v in a["versions"])


def test_dump_a_project(tmp_path, two_projects):
    doc = seed.dump(two_projects, ["partner-ml/ingest"])
    assert _names(doc) == ["partner-ml/ingest/street-scenes:v0"]
    assert [r["name"] for r in doc["registries"]] == ["shared"]
    assert doc["orgs"] == [{"name": "partner-co", "entities": ["partner-ml"]}]
    b = _roundtrip(tmp_path, two_projects, ["partner-ml/ingest"])
    assert versions.resolve(b, "partner-co/wandb-registry-shared/street-scenes:latest").source_name == "street-scenes:v0"


def test_dump_a_registry_brings_the_linked_sources(tmp_path, two_projects):
    doc = seed.dump(two_projects, ["wandb-registry-model"])
    assert _names(doc) == ["vision/detector/yolo-tiny-onnx:v0", "vision/detector/yolo-tiny:v0", "vision/detector/yolo-tiny:v1"]
    b = _roundtrip(tmp_path, two_projects, ["wandb-registry-model"])
    assert versions.resolve(b, "wandb-registry-model/detector:production").source_name == "yolo-tiny:v1"
    assert versions.resolve(b, "wandb-registry-model/detector:latest").index == 0


def test_dump_one_version_and_one_link(tmp_path, two_projects):
    doc = seed.dump(two_projects, ["vision/detector/yolo-tiny:v0"])
    assert _names(doc) == ["vision/detector/yolo-tiny:v0"]
    assert doc["artifacts"][0]["versions"][0]["links"] == [{"target": "acme/wandb-registry-model/detector", "index": 1}]
    doc = seed.dump(two_projects, ["acme/wandb-registry-evaluations/coco-val:current"])
    assert _names(doc) == ["vision/detector/coco-val-report:v0"]
    assert doc["registries"][0]["collections"][0]["description"] == "mAP on COCO val2017"


def test_dump_an_entity_and_a_collection(two_projects):
    assert seed.dump(two_projects, ["nlp"])["projects"] == [{"entity": "nlp", "name": "sandbox"}]
    assert _names(seed.dump(two_projects, ["vision/detector/yolo-tiny"])) == [
        "vision/detector/yolo-tiny:v0", "vision/detector/yolo-tiny:v1"]


@pytest.mark.parametrize("selection, error, message", [
    ("nobody", NotFound, "entity 'nobody' not found in store"),
    ("vision/nope", NotFound, "project vision/nope not found in store"),
    ("vision/detector/nope", NotFound, "artifact 'nope' not found in project vision/detector"),
    ("wandb-registry-nope", NotFound, "registry 'nope' not found in organization 'acme'"),
    ("a/b/c/d", InvalidName, "invalid selection 'a/b/c/d'"),
    ("a/b/wandb-registry-x", InvalidName, "expected [ORG/]wandb-registry-REGISTRY[/COLLECTION]"),
])
def test_bad_selections(two_projects, selection, error, message):
    with pytest.raises(error) as info:
        seed.dump(two_projects, [selection])
    assert message in str(info.value)


# -- round trip of random states --------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("log"), st.sampled_from(["a", "b"]), st.binary(max_size=6),
                  st.lists(st.sampled_from(["x", "y", "prod", "latest"]), max_size=2), st.sampled_from(["", "desc"])),
        st.tuples(st.just("link"), st.sampled_from(["a", "b"]), st.integers(0, 5), st.sampled_from(["c1", "c2"]),
                  st.lists(st.sampled_from(["prod", "stage", "latest"]), max_size=2)),
        st.tuples(st.just("delete"), st.sampled_from(["a", "b"]), st.integers(0, 5)),
        st.tuples(st.just("unlink"), st.sampled_from(["c1", "c2"]), st.integers(0, 5)),
        st.tuples(st.just("tag"), st.sampled_from(["a", "b"]), st.integers(0, 5), st.sampled_from(["t1", "t 2"])),
    ),
    max_size=14,
)


def _apply(store, ops):
    for op in ops:
        try:
            if op[0] == "log":
                _, name, data, aliases, desc = op
                _log(store, name, data, aliases=aliases, description=desc, metadata={"n": len(data)})
            elif op[0] == "link":
                _, name, idx, coll, aliases = op
                registries.link(store, versions.resolve(store, f"{name}:v{idx}"), f"wandb-registry-model/{coll}", aliases)
            elif op[0] == "delete":
                versions.delete(store, versions.resolve(store, f"{op[1]}:v{op[2]}"), delete_aliases=True, unlink_links=True)
            elif op[0] == "unlink":
                versions.unlink(store, versions.resolve(store, f"wandb-registry-model/{op[1]}:v{op[2]}"))
            else:
                versions.set_tags(store, versions.resolve(store, f"{op[1]}:v{op[2]}"), [op[3]])
        except NotFound:
            pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_any_state_dumps_and_reloads_to_itself(tmp_path_factory, ops):
    tmp = tmp_path_factory.mktemp("rt")
    a = new_store(tmp, "a")
    _apply(a, ops)
    doc = seed.dump(a)
    b = new_store(tmp, "b")
    seed.load(b, json.loads(json.dumps(doc)))
    assert state(b) == state(a)
    assert seed.dump(b) == doc


# -- the CLI -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_cli_seed_dump_seed(tmp_path, runner, path):
    a, b, out = str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "dump.json")
    r = runner.invoke(cli, ["--home", a, "seed", str(path)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"Seeded {a} from {path}\n")
    r = runner.invoke(cli, ["--home", a, "dump", "-o", out])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--home", b, "seed", out])
    assert r.exit_code == 0, r.output
    assert state(Store(b)) == state(Store(a))
    r = runner.invoke(cli, ["--home", b, "dump"])
    assert r.output == Path(out).read_text(encoding="utf-8")


def test_cli_seed_output(tmp_path, runner):
    home = str(tmp_path / "h")
    path = str(FIXTURES / "seeds" / "basic.toml")
    r = runner.invoke(cli, ["--home", home, "seed", path])
    assert r.output == (f"Seeded {home} from {path}\n  registries  0\n  versions    3 (3 new)\n  links       2\n")
    r = runner.invoke(cli, ["--home", home, "--json", "seed", path])
    assert json.loads(r.output)["versions"] == ["ml-team/mnist/mnist-cnn:v0", "ml-team/mnist/mnist-cnn:v1", "ml-team/mnist/mnist:v0"]
    r = runner.invoke(cli, ["seed", "--check", str(FIXTURES / "seeds" / "registries.toml")])
    assert r.exit_code == 0
    assert r.output.endswith("is a valid seed file: 4 registries, 4 artifacts, 5 versions, 6 links, 5 files\n")


def test_cli_seed_error_is_one_line(tmp_path, runner):
    path = write(tmp_path, "bad.toml", VER + 'aliases = ["v1"]\n')
    r = runner.invoke(cli, ["--home", str(tmp_path / "h"), "seed", path])
    assert r.exit_code == 1
    assert r.output == (f"Error: seed file {path}: artifacts[0].versions[0].aliases[0]: invalid alias 'v1': "
                        "'vN' names a version and cannot be an alias\n")


def test_cli_dump_errors(tmp_path, runner):
    home = str(tmp_path / "h")
    runner.invoke(cli, ["--home", home, "seed", str(FIXTURES / "seeds" / "basic.toml")])
    r = runner.invoke(cli, ["--home", home, "dump", "-o", str(tmp_path / "x.toml")])
    assert r.exit_code == 2 and "dump writes JSON; name the file .json" in r.output
    r = runner.invoke(cli, ["--home", home, "dump", "ml-team/nope"])
    assert (r.exit_code, r.output) == (1, f"Error: project ml-team/nope not found in store {home}\n")
    r = runner.invoke(cli, ["--home", str(tmp_path / "missing"), "dump"])
    assert r.exit_code == 1 and r.output.startswith("Error: no localreg store at")
    r = runner.invoke(cli, ["--home", home, "dump", "ml-team/mnist/mnist:v0"])
    assert [a["name"] for a in json.loads(r.output)["artifacts"]] == ["mnist"]
