"""Bundles: export, import, determinism, incremental bundles, signatures, hostile files, conflicts, crashes.

A bundle must bring a store's history across intact (indexes, aliases,
links, lineage, bytes), and a bundle that is damaged, hostile or at odds
with the target store must be refused with nothing written: not a row
(``snapshot``), not a file in the blob store (``blob_files``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from fsspec.callbacks import Callback
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localreg import bundle, catalog, ingest, registries, runs, versions
from localreg.bundle import (
    BundleConflict, BundleError, SignatureError, UnsupportedBundle, export_bundle, import_bundle,
)
from localreg.cli import cli
from localreg.errors import NotFound
from localreg.fsck import fsck
from localreg.objects import PACK_LIMIT, Objects
from localreg.store import Store
from tests.conftest import snapshot

REPO = Path(__file__).resolve().parent.parent
ALL = ["team/quickstart", "team/demo", "acme/wandb-registry-model", "acme/wandb-registry-dataset",
       "acme/wandb-registry-evals"]


# -- helpers -----------------------------------------------------------------------------


@pytest.fixture
def other(tmp_path, blob_backend):
    """A second, empty store in another folder, on the same kind of blob backend."""
    url = blob_backend + "-other" if blob_backend.startswith("memory://") else str(tmp_path / "other-blobs")
    s = Store(tmp_path / "other", blob_url=url, org="elsewhere", entity="someone", project="misc")
    yield s
    s.close()


def blob_files(store: Store) -> list:
    """Every file of the blob store: no refused import may leave one behind."""
    b = store.blobs
    return sorted([("loose", d, s) for d, s, _m in b.list_loose()] + [("pack", n, s) for n, s, _m in b.list_packs()]
                  + [("tmp", p, s) for p, s, _m in b.list_tmp()])


def state(store: Store) -> tuple:
    return snapshot(store), blob_files(store)


def fill(store: Store, runner, make_files) -> dict:
    """The quickstart, plus versions with gaps in their indexes, links, aliases, a custom registry, lineage."""
    result = runner.invoke(cli, ["--home", str(store.home), "quickstart"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    big = os.urandom(1_500_000)  # a loose object, not a packed one
    v1, _ = ingest.log_path(store, make_files({"weights.bin": big, "config.json": '{"layers": 3}', "empty.txt": b"",
                                               "sub/dir/notes.md": "notes"}),
                            name="sample-model", type="model", project="quickstart", aliases=["candidate"],
                            tags=["big", "v1 weights"], metadata={"accuracy": 0.93, "nested": {"a": [1, 2.5, None]}},
                            description="bigger model")
    gone, _ = ingest.log_path(store, make_files({"weights.bin": b"short-lived"}), name="sample-model",
                              type="model", project="quickstart")
    v3, _ = ingest.log_path(store, make_files({"weights.bin": os.urandom(3000), "config.json": "{}"}),
                            name="sample-model", type="model", project="quickstart", aliases=["staging"])
    versions.delete(store, gone)  # v2 is gone for good: indexes have a gap
    link1 = registries.link(store, v1, "wandb-registry-model/sample-model", ["candidate"])
    temp = registries.link(store, v3, "wandb-registry-model/sample-model")
    versions.unlink(store, temp)  # link indexes have a gap too
    link3 = registries.link(store, v3, "wandb-registry-model/sample-model", ["staging"])
    registries.create_registry(store, "evals", visibility="restricted", description="Evaluation results",
                               artifact_types=["eval-results"])
    run = runs.start_run(store, project="demo", run_id="eval-run", name="evaluate", job_type="eval",
                         config={"k": 5, "suite": ["a", "b"]})
    runs.record_use(store, run.pk, link3)
    scores, _ = versions.log_version(
        store, name="scores", type="eval-results", project="demo", run_pk=run.pk, aliases=["best"],
        entries=ingest.add_paths(store, make_files({"scores.csv": "model,acc\nv3,0.91\n"})), tags=["nightly"],
    )
    runs.update_run(store, run.pk, state="finished", summary={"acc": 0.91})
    registries.link(store, scores, "wandb-registry-evals/scores", ["best", "reviewed"])
    coll = registries.get_collection(store, scores.collection_id)
    registries.update_collection(store, coll, description="Scores of every nightly run", tags=["eval"])
    ref_dir = make_files({"remote.bin": b"referenced bytes"})
    ingest.log_path(store, f"file://{ref_dir}/remote.bin", name="external", type="dataset", project="demo")
    return {"v1": v1, "v3": v3, "link1": link1, "link3": link3, "scores": scores}


def describe(store: Store, orgs=("acme",)) -> dict:
    """Every answer the store gives about what it holds, keyed by names, never by row ids."""
    objects = Objects(store)
    out: dict = {"registries": {}, "collections": {}, "aliases": {}, "runs": {}, "queries": {}}
    colls = []
    for org in orgs:
        for r in registries.list_registries(store, org):
            d = r.to_dict()
            d.pop("id")
            out["registries"][f"{org}/{r.name}"] = d
            colls += catalog.registry_collections(store, r)
    colls += catalog.project_collections(store)
    for c in colls:
        d = c.to_dict()
        d.pop("id")
        vs = []
        for v in catalog.collection_versions(store, c.id):
            vd = v.to_dict()
            for k in ("id", "collection_id", "source_id"):
                vd.pop(k)
            vd["files"] = [
                (e.path, e.digest, e.size, e.ref,
                 hashlib.sha256(objects.read_bytes(e.digest)).hexdigest() if e.ref is None else None)
                for e in versions.entries(store, v)
            ]
            vd["links"] = [link.qualified_name for link in versions.links_of(store, v)]
            logged = runs.logged_by(store, v)
            vd["logged_by"] = logged.path if logged else None
            vd["used_by"] = [r.path for r in runs.used_by(store, v)]
            for alias in v.aliases:
                out["aliases"][f"{c.path}:{alias}"] = versions.resolve(store, f"{c.path}:{alias}").qualified_name
            vs.append(vd)
        d["versions"] = vs
        out["collections"][c.path] = d
    for row in store.db.execute(
        "SELECT e.name || '/' || p.name || '/' || r.run_id, r.name, r.job_type, r.config, r.summary, r.state, "
        "r.started_at, r.finished_at FROM runs r JOIN projects p ON p.id = r.project_id "
        "JOIN entities e ON e.id = p.entity_id"
    ):
        out["runs"][row[0]] = list(row[1:])
        out["runs"][row[0]].append(sorted(
            versions.get(store, vid).qualified_name for vid in runs.run_versions(
                store, runs.find_run(store, row[0]).pk, "input")))
    for name, flt in (("production", {"alias": "production"}), ("tag", {"tag": "big"}),
                      ("accuracy", {"metadata.accuracy": {"$gte": 0.9}})):
        out["queries"][name] = [v.qualified_name for v in versions.list_versions(store, filter=flt, limit=100).items]
    return out


def members(path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tf:
        return [(ti, tf.extractfile(ti).read() if ti.isreg() else b"") for ti in tf]


def write_tar(path, items) -> None:
    """Write ``[(TarInfo, data)]`` as a tar (the hostile bundles are made this way)."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        for ti, data in items:
            ti = _copy(ti)
            if ti.isreg():
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)


def _copy(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    new = tarfile.TarInfo(ti.name)
    for k in ("size", "mtime", "mode", "uid", "gid", "uname", "gname", "type", "linkname"):
        setattr(new, k, getattr(ti, k))
    return new


def index_of(items) -> dict:
    return json.loads(items[0][1])


def with_index(items, doc, compact=False) -> list:
    """The bundle ``items`` with index ``doc``: indented, or ``compact`` as export writes it (the importer's fast path)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":")) if compact else json.dumps(doc, sort_keys=True, indent=1)
    return [(items[0][0], (text + "\n").encode()), *items[1:]]


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.sizes = []

    def set_size(self, size):
        self.sizes.append(size)
        super().set_size(size)


@pytest.fixture
def source(tmp_path, runner, make_files):
    """A file-backed store filled by ``fill``, and a bundle of all of it."""
    s = Store(tmp_path / "source", org="acme", entity="team", project="demo")
    fill(s, runner, make_files)
    path = tmp_path / "all.tar"
    export_bundle(s, ALL, path)
    yield s, path
    s.close()


# -- round trip ---------------------------------------------------------------------------


def test_round_trip_keeps_every_answer(store, other, runner, make_files, tmp_path):
    fill(store, runner, make_files)
    before = describe(store)
    rec = Recorder()
    report = export_bundle(store, ALL, tmp_path / "b.tar", callback=rec)
    assert rec.sizes[-1] == report.bytes and rec.value == report.bytes
    assert "team/quickstart/sample-model:v3" in report.versions
    assert "team/quickstart/sample-model:v2" not in report.versions
    assert report.excluded == 0 and report.runs == 2

    rec = Recorder()
    imported = import_bundle(other, tmp_path / "b.tar", callback=rec)
    assert rec.value == report.bytes
    assert imported.changed and imported.blobs == report.blobs and imported.bytes == report.bytes
    assert set(imported.versions) == set(report.versions)
    after = describe(other)
    assert after == before
    # indexes, gaps included, are the source's; new versions continue after them
    assert [v.index for v in catalog.collection_versions(other, versions.resolve(
        other, "team/quickstart/sample-model:latest").collection_id)] == [0, 1, 3]
    assert versions.resolve(other, "acme/wandb-registry-model/sample-model:staging").version == "v3"
    v, created = ingest.log_path(other, make_files({"x": "new"}), name="sample-model", type="model",
                                 entity="team", project="quickstart")
    assert created and v.version == "v4" and "latest" in v.aliases
    # the files themselves come out whole
    root = tmp_path / "dl"
    src = versions.resolve(other, "acme/wandb-registry-model/sample-model:candidate")
    Objects(other).materialize(versions.entries(other, src), root)
    assert (root / "sub/dir/notes.md").read_text() == "notes"
    assert (root / "empty.txt").read_bytes() == b""
    assert len((root / "weights.bin").read_bytes()) == 1_500_000


def test_reexport_from_the_imported_store_is_byte_identical(source, tmp_path):
    src, path = source
    target = Store(tmp_path / "t", org="zzz")
    import_bundle(target, path)
    export_bundle(target, ALL, tmp_path / "again.tar")
    assert (tmp_path / "again.tar").read_bytes() == path.read_bytes()


def test_reimport_changes_nothing(source, tmp_path):
    _src, path = source
    target = Store(tmp_path / "t")
    first = import_bundle(target, path)
    assert first.changed
    before = state(target)
    again = import_bundle(target, path)
    assert not again.changed and again.blobs == 0 and again.blobs_present == first.blobs
    assert state(target) == before


def test_export_of_one_ref_brings_its_source_and_lineage(source, tmp_path):
    src, _ = source
    report = export_bundle(src, ["acme/wandb-registry-model/sample-model:staging"], tmp_path / "one.tar")
    assert report.links == ("acme/wandb-registry-model/sample-model:v3",)
    assert report.versions == ("team/quickstart/sample-model:v3",)
    assert report.runs == 1  # eval-run used the link
    target = Store(tmp_path / "t")
    import_bundle(target, tmp_path / "one.tar")
    link = versions.resolve(target, "acme/wandb-registry-model/sample-model:staging")
    assert link.version == "v3" and link.source_qualified_name == "team/quickstart/sample-model:v3"
    assert "latest" in link.aliases  # managed: the newest here
    assert [r.path for r in runs.used_by(target, link)] == ["team/demo/eval-run"]
    # the rest of the collection can follow later, next to it
    import_bundle(target, tmp_path / "all.tar")
    assert versions.resolve(target, "acme/wandb-registry-model/sample-model:latest").version == "v3"
    assert versions.resolve(target, "acme/wandb-registry-model/sample-model:candidate").version == "v1"


def test_selection_forms(source, tmp_path):
    src, _ = source
    r = export_bundle(src, ["team/quickstart/sample-model"], tmp_path / "c.tar")
    assert r.versions == ("team/quickstart/sample-model:v0", "team/quickstart/sample-model:v1",
                          "team/quickstart/sample-model:v3") and r.links == ()
    r = export_bundle(src, ["wandb-registry-evals"], tmp_path / "r.tar")
    assert r.registries == ("acme/wandb-registry-evals",) and r.versions == ("team/demo/scores:v0",)
    r = export_bundle(src, ["wandb-registry-evals/scores"], tmp_path / "rc.tar")
    assert r.links == ("acme/wandb-registry-evals/scores:v0",)
    r = export_bundle(src, ["team/demo/scores:best"], tmp_path / "v.tar")
    assert r.versions == ("team/demo/scores:v0",) and r.links == ()
    with pytest.raises(NotFound):
        export_bundle(src, ["team/nope"], tmp_path / "x.tar")
    with pytest.raises(ValueError, match="invalid selection"):
        export_bundle(src, ["justaname"], tmp_path / "x.tar")
    assert not (tmp_path / "x.tar").exists()


def test_an_empty_registry_travels(tmp_path):
    src = Store(tmp_path / "s", org="acme")
    registries.create_registry(src, "empty", description="nothing yet", artifact_types=["model", "other"])
    export_bundle(src, ["acme/wandb-registry-empty"], tmp_path / "e.tar")
    target = Store(tmp_path / "t", org="acme")
    report = import_bundle(target, tmp_path / "e.tar")
    assert report.registries == ("acme/wandb-registry-empty",)
    reg = registries.get_registry(target, "empty", "acme")
    assert (reg.description, reg.artifact_types) == ("nothing yet", ("model", "other"))


def test_allowed_types_grow_on_import(tmp_path):
    src = Store(tmp_path / "s", org="acme")
    target = Store(tmp_path / "t", org="acme")
    reg = registries.create_registry(src, "evals", artifact_types=["a"])
    export_bundle(src, ["acme/wandb-registry-evals"], tmp_path / "1.tar")
    import_bundle(target, tmp_path / "1.tar")
    registries.update_registry(src, reg, artifact_types=["a", "b"])
    export_bundle(src, ["acme/wandb-registry-evals"], tmp_path / "2.tar")
    report = import_bundle(target, tmp_path / "2.tar")
    assert report.types_added == ("acme/wandb-registry-evals: a, b",)
    assert registries.get_registry(target, "evals", "acme").artifact_types == ("a", "b")


# -- determinism ----------------------------------------------------------------------------


def test_export_is_deterministic(store, runner, make_files, tmp_path):
    fill(store, runner, make_files)
    export_bundle(store, ALL, tmp_path / "1.tar")
    time.sleep(0.01)
    export_bundle(store, list(reversed(ALL)), tmp_path / "2.tar")
    assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "2.tar").read_bytes()


def _damage(store: Store, digest: str, at: int = 10) -> None:
    """Flip stored bytes of chunk ``digest`` behind localreg's back (packed chunks only)."""
    _size, pack, offset = store.db.execute("SELECT size, pack, offset FROM chunks WHERE digest = ?", [digest]).fetchone()
    path = store.blobs.pack_path(pack)
    if store.blobs.is_local:
        with open(path, "r+b") as f:
            f.seek(offset + at)
            f.write(b"\xff\x00\xff")
    else:
        old = store.blobs.fs.cat_file(path)
        store.blobs.fs.pipe_file(path, old[:offset + at] + b"\xff\x00\xff" + old[offset + at + 3:])


@pytest.mark.parametrize("what", ["small", "chunk"])
def test_export_refuses_a_damaged_blob_and_writes_no_file(store, make_files, tmp_path, what):
    files = {f"f{i}.bin": os.urandom(4096) for i in range(50)}
    files["big.bin"] = os.urandom(3 << 20)  # cut into chunks, checked on the verifying threads
    v, _ = ingest.log_path(store, make_files(files), name="data", type="dataset", project="p")
    export_bundle(store, v.qualified_name, tmp_path / "ok.tar")
    entries = {e.path: e for e in versions.entries(store, v)}
    if what == "small":
        victim = entries["f7.bin"].digest
    else:
        parts = json.loads(store.db.execute("SELECT chunks FROM chunked_files WHERE digest = ?",
                                            [entries["big.bin"].digest]).fetchone()[0])
        victim = parts[len(parts) // 2][0]
    _damage(store, victim)
    with pytest.raises(bundle.CorruptBlob, match=victim):
        export_bundle(store, v.qualified_name, tmp_path / "bad.tar")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tar") or "localreg-tmp" in p.name) == ["ok.tar"]


def test_the_index_is_canonical_json(store, make_files, tmp_path):
    """Manifests are encoded from rows, not dicts: the index must still be exactly canonical JSON."""
    ref_dir = make_files({"remote.bin": b"referenced"})
    v, _ = ingest.log_path(store, make_files({'odd "name".txt': "q", "ünïcode/ファイル.txt": "u", "e.txt": b""}),
                           name="data", type="dataset", project="p", metadata={"note": "\u0000 and \"quotes\""})
    ingest.log_path(store, f"file://{ref_dir}/remote.bin", name="ext", type="dataset", project="p")
    export_bundle(store, f"{v.entity}/p", tmp_path / "b.tar")
    raw = members(tmp_path / "b.tar")[0][1]
    doc = json.loads(raw)
    assert raw == (bundle.hashing.canonical_json(doc) + "\n").encode()
    paths = {e["path"] for d in doc["versions"] for e in d["manifest"]}
    assert {'odd "name".txt', "ünïcode/ファイル.txt", "remote.bin"} <= paths
    assert any("ref" in e for d in doc["versions"] for e in d["manifest"])


def test_bundle_is_a_plain_tar(source, tmp_path):
    _src, path = source
    items = members(path)
    names_ = [ti.name for ti, _ in items]
    assert names_[0] == "localreg-bundle.json"
    assert names_[1:] == sorted(names_[1:]) and all(n.startswith("blobs/") for n in names_[1:])
    for ti, data in items:
        assert (ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname, ti.mode) == (bundle.MTIME, 0, 0, "", "", 0o644)
        if ti.name.startswith("blobs/"):
            assert hashlib.sha256(data).hexdigest() == ti.name[len("blobs/"):]
    doc = index_of(items)
    assert doc["format"] == "localreg-bundle" and doc["format_version"] == bundle.FORMAT_VERSION
    assert {b["digest"] for b in doc["blobs"]} == {"sha256:" + n[len("blobs/"):] for n in names_[1:]}
    assert "exported_at" not in doc
    if shutil.which("tar"):
        listed = subprocess.run(["tar", "tf", str(path)], capture_output=True, text=True, check=True)
        assert listed.stdout.split() == names_
        out = tmp_path / "x"
        out.mkdir()
        done = subprocess.run(["tar", "xf", str(path), "-C", str(out)], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == ""


@settings(max_examples=200, deadline=None)
@given(name=st.one_of(st.just("localreg-bundle.json"), st.text("0123456789abcdef", min_size=64, max_size=64).map(
    lambda h: "blobs/" + h)), size=st.integers(0, 8 ** 11 - 1))
def test_headers_are_the_bytes_tarfile_writes_and_reads_back(name, size):
    header = bundle._header(name, size)
    assert header == bundle._tarfile_header(name, size)
    ti = tarfile.TarInfo.frombuf(header, "utf-8", "strict")
    assert (ti.name, ti.size, ti.type) == (name, size, tarfile.REGTYPE)
    assert bundle._parse_header(header) == (name, tarfile.REGTYPE, size)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT])
def test_the_header_parser_agrees_with_tarfile(fmt):
    for name, size in [("a" * 60 + "/" + "b" * 60, 5), ("blobs/x", 0), ("big", (9 << 30) if fmt == tarfile.GNU_FORMAT else 1)]:
        ti = tarfile.TarInfo(name)
        ti.size = size
        block = ti.tobuf(fmt, "utf-8", "strict")[-512:]
        assert bundle._parse_header(block)[1:] == (tarfile.REGTYPE, size)
        if fmt == tarfile.USTAR_FORMAT:
            assert bundle._parse_header(block)[0] == name
    with pytest.raises(ValueError, match="bad checksum"):
        bundle._parse_header(b"x" * 512)


def test_sizes_of_8_gib_and_more_use_a_pax_header(tmp_path):
    size = 9 << 30
    header = bundle._header("blobs/" + "a" * 64, size)
    assert len(header) == 3 * 512 and header[156:157] == b"x"  # pax header, then the ustar header
    path = tmp_path / "sparse.tar"
    with open(path, "wb") as f:
        f.write(header)
        f.seek(len(header) + size)
        f.write(bytes(1024))
    tar = bundle._TarFile(path)
    try:
        assert tar.members() == [bundle._Member("blobs/" + "a" * 64, 3 * 512, size)]
    finally:
        tar.close()
    with tarfile.open(path) as tf:  # and the standard reader agrees
        assert [(m.name, m.size) for m in tf.getmembers()] == [("blobs/" + "a" * 64, size)]


# -- incremental bundles ---------------------------------------------------------------------


def test_incremental_bundle(source, runner, make_files, tmp_path):
    src, path = source
    target = Store(tmp_path / "t")
    import_bundle(target, path)
    v, _ = ingest.log_path(src, make_files({"new.bin": os.urandom(5000)}), name="sample-model", type="model",
                           project="quickstart", aliases=["fresh"])
    have = tmp_path / "have.txt"
    result = runner.invoke(cli, ["--home", str(target.home), "export", "--digests-only", "-o", str(have)])
    assert result.exit_code == 0, result.output
    assert set(have.read_text().split()) == set(bundle.store_digests(target))

    full = export_bundle(src, ALL, tmp_path / "full.tar")
    inc = export_bundle(src, ALL, tmp_path / "inc.tar", exclude_digests=bundle.read_digests(have))
    assert inc.blobs == 1 and inc.excluded == full.blobs - 1
    assert os.path.getsize(tmp_path / "inc.tar") < os.path.getsize(tmp_path / "full.tar")
    # the same from the store folder itself
    inc2 = export_bundle(src, ALL, tmp_path / "inc2.tar", exclude_digests=bundle.read_digests(target.home))
    assert (tmp_path / "inc2.tar").read_bytes() == (tmp_path / "inc.tar").read_bytes() and inc2.blobs == 1

    report = import_bundle(target, tmp_path / "inc.tar")
    assert report.versions == ("team/quickstart/sample-model:v4",) and report.blobs == 1
    assert versions.resolve(target, "team/quickstart/sample-model:fresh").version == "v4"
    assert describe(target) == describe(src)

    # a store that lacks the left-out blobs refuses it, naming what is missing
    fresh = Store(tmp_path / "fresh")
    before = state(fresh)
    with pytest.raises(BundleError, match=r"leaves out \d+ blobs that store .* does not have"):
        import_bundle(fresh, tmp_path / "inc.tar")
    assert state(fresh) == before


def test_read_digests_refuses_garbage(tmp_path):
    p = tmp_path / "list.txt"
    p.write_text("# from the target\n\n" + "sha256:" + "a" * 64 + "\n" + "b" * 64 + "\nnot-a-digest\n")
    with pytest.raises(ValueError, match=r"list.txt:5: 'not-a-digest' is not a digest"):
        bundle.read_digests(p)
    p.write_text("sha256:" + "a" * 64 + "\n" + "b" * 64 + "\n")
    assert bundle.read_digests(p) == {"sha256:" + "a" * 64, "sha256:" + "b" * 64}
    with pytest.raises(NotFound):
        bundle.read_digests(tmp_path / "missing.txt")


# -- signatures ------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    priv, pub, fp = bundle.keygen(tmp_path / "key")
    assert priv.stat().st_mode & 0o777 == 0o600
    assert pub.read_text().startswith("ssh-ed25519 ")
    assert fp.startswith("SHA256:")
    if shutil.which("ssh-keygen"):
        out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True)
        if out.returncode == 0:
            assert fp in out.stdout
    with pytest.raises(ValueError, match="already exists"):
        bundle.keygen(tmp_path / "key")


def test_signed_bundles(source, tmp_path):
    src, _ = source
    priv, pub, fp = bundle.keygen(tmp_path / "key")
    _p2, other_pub, _fp2 = bundle.keygen(tmp_path / "other")
    signed = tmp_path / "signed.tar"
    report = export_bundle(src, ALL, signed, sign_key=priv)
    assert report.signed_by == fp
    assert [ti.name for ti, _ in members(signed)][:2] == ["localreg-bundle.json", "localreg-bundle.sig"]
    export_bundle(src, ALL, tmp_path / "signed2.tar", sign_key=priv)
    assert (tmp_path / "signed2.tar").read_bytes() == signed.read_bytes()  # Ed25519 is deterministic

    target = Store(tmp_path / "t")
    before = state(target)
    with pytest.raises(SignatureError, match=r"is not signed; a signature by SHA256:"):
        import_bundle(target, tmp_path / "all.tar", trust=pub)
    with pytest.raises(SignatureError, match=rf"is signed by key {re.escape(fp)}, which is not trusted \(trusted: SHA256:"):
        import_bundle(target, signed, trust=other_pub)
    items = members(signed)
    doc = index_of(items)
    doc["versions"][0]["description"] = "altered"
    tampered = tmp_path / "tampered.tar"
    write_tar(tampered, with_index(items, doc))
    with pytest.raises(SignatureError, match="was altered after it was signed"):
        import_bundle(target, tampered, trust=pub)
    assert state(target) == before

    ok = import_bundle(target, signed, trust=[other_pub, pub])
    assert ok.signed_by == fp and ok.changed
    # without --trust the signature is not required
    assert not import_bundle(target, signed).changed


def test_signing_keys_must_be_ed25519(tmp_path, source):
    src, _ = source
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    k = ec.generate_private_key(ec.SECP256R1())
    p = tmp_path / "ec.pem"
    p.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with pytest.raises(ValueError, match="is not an Ed25519 key"):
        export_bundle(src, ALL, tmp_path / "x.tar", sign_key=p)
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(ValueError, match="is not a PEM or OpenSSH private key"):
        export_bundle(src, ALL, tmp_path / "x.tar", sign_key=tmp_path / "junk")
    assert not (tmp_path / "x.tar").exists()


# -- hostile and damaged bundles ---------------------------------------------------------------


def _blob_item(items, i=-1):
    return [k for k, (ti, _d) in enumerate(items) if ti.name.startswith("blobs/")][i]


def _named(name, data=b"x", type_=tarfile.REGTYPE, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.linkname = linkname
    ti.size = len(data)
    return ti, data


def _hostile(items, case):
    """Damage a good bundle's members in one way."""
    k = _blob_item(items)
    ti, data = items[k]
    out = list(items)
    if case == "dotdot":
        out.append(_named("blobs/../../etc/evil"))
    elif case == "dotdot-first":
        out.insert(0, _named("../evil"))
    elif case == "absolute":
        out.append(_named("/tmp/evil"))
    elif case in ("symlink", "hardlink", "chardev", "blockdev", "fifo", "directory"):
        t = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "chardev": tarfile.CHRTYPE,
             "blockdev": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE, "directory": tarfile.DIRTYPE}[case]
        out[k] = _named(ti.name, b"", t, "/etc/passwd")
    elif case == "duplicate":
        out.append((ti, data))
    elif case == "bad-bytes":
        out[k] = (ti, bytes([data[0] ^ 1]) + data[1:])
    elif case == "size":
        out[k] = (ti, data + b"!")
    elif case == "missing-blob":
        del out[k]
    elif case == "unlisted":
        out.append(_named("blobs/" + hashlib.sha256(b"extra").hexdigest(), b"extra"))
    elif case == "stray":
        out.append(_named("notes.txt"))
    return out


HOSTILE = {
    "dotdot": "member 'blobs/../../etc/evil' has a '..' part (it would write outside the bundle)",
    "dotdot-first": "member '../evil' has a '..' part",
    "absolute": "member '/tmp/evil' has an absolute path",
    "symlink": "is a symbolic link, and a bundle holds regular files only",
    "hardlink": "is a hard link, and a bundle holds regular files only",
    "chardev": "is a character device, and a bundle holds regular files only",
    "blockdev": "is a block device, and a bundle holds regular files only",
    "fifo": "is a FIFO, and a bundle holds regular files only",
    "directory": "is a directory, and a bundle holds regular files only",
    "duplicate": "appears twice",
    "bad-bytes": "is corrupt: its bytes hash to sha256:",
    "size": "bytes, localreg-bundle.json says",
    "missing-blob": "which is not in the bundle",
    "unlisted": "is not listed in localreg-bundle.json",
    "stray": "unexpected member 'notes.txt'",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bundles_are_refused_and_write_nothing(case, source, store, tmp_path, make_files):
    _src, path = source
    ingest.log_path(store, make_files({"a.txt": "already here"}), name="local", type="dataset")
    bad = tmp_path / f"{case}.tar"
    write_tar(bad, _hostile(members(path), case))
    before = state(store)
    with pytest.raises(BundleError) as e:
        import_bundle(store, bad)
    assert HOSTILE[case] in str(e.value)
    assert str(bad) in str(e.value)
    with pytest.raises(BundleError):
        import_bundle(store, bad, dry_run=True)
    assert state(store) == before


def test_a_damaged_big_blob_leaves_no_staged_chunk(source, store, tmp_path):
    """A big blob is cut into chunks as it streams in: chunks packed before the damage is found go too."""
    _src, path = source
    items = members(path)
    [k] = [k for k, (ti, _d) in enumerate(items) if ti.name.startswith("blobs/") and ti.size >= PACK_LIMIT]
    ti, data = items[k]
    items[k] = (ti, data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    bad = tmp_path / "big.tar"
    write_tar(bad, items)
    before = state(store)
    with pytest.raises(BundleError, match="is corrupt"):
        import_bundle(store, bad)
    assert state(store) == before


def test_big_files_arrive_in_chunks_and_share_them(store, other, make_files, tmp_path):
    """An imported version that differs a little from one already imported costs about its difference."""
    base = os.urandom(4 << 20)
    edited = base[: 1 << 20] + b"a small edit" + base[(1 << 20) + 12:]
    v0, _ = ingest.log_path(store, make_files({"model.bin": base}), name="m", type="model", project="p")
    v1, _ = ingest.log_path(store, make_files({"model.bin": edited}), name="m", type="model", project="p")
    export_bundle(store, v0.qualified_name, tmp_path / "v0.tar")
    export_bundle(store, v1.qualified_name, tmp_path / "v1.tar")
    import_bundle(other, tmp_path / "v0.tar")
    used = other.blobs.usage()
    import_bundle(other, tmp_path / "v1.tar")
    grew = other.blobs.usage() - used
    assert 0 < grew < len(edited) // 4
    for v, want in ((v0, base), (v1, edited)):
        [e] = versions.entries(other, versions.resolve(other, v.qualified_name))
        assert other.db.execute("SELECT size FROM chunked_files WHERE digest = ?", [e.digest]).fetchone()[0] == len(want)
        assert Objects(other).read_bytes(e.digest) == want
    assert fsck(other).ok


def test_a_blob_that_fails_late_leaves_no_staged_file(source, store, tmp_path):
    """Many good blobs are staged before the bad one is read: all of them go."""
    _src, path = source
    items = members(path)
    k = _blob_item(items, -1)
    ti, data = items[k]
    items[k] = (ti, bytes([data[0] ^ 1]) + data[1:])
    bad = tmp_path / "late.tar"
    write_tar(bad, items)
    before = state(store)
    with pytest.raises(BundleError, match="is corrupt"):
        import_bundle(store, bad)
    assert state(store) == before


@pytest.mark.parametrize("where", ["in-header", "in-blob", "in-index", "before-end-marker", "in-end-marker"])
def test_truncated_bundles_are_refused(where, source, store, tmp_path):
    _src, path = source
    data = path.read_bytes()
    items = members(path)
    last = _blob_item(items, -1)
    with tarfile.open(path) as tf:
        infos = tf.getmembers()
    end_of_data = infos[-1].offset_data + infos[-1].size
    cut = {
        "in-header": infos[last].offset + 100,
        "in-blob": infos[last].offset_data + max(1, infos[last].size // 2),
        "in-index": infos[0].offset_data + 10,
        "before-end-marker": end_of_data + (-end_of_data % 512),
        "in-end-marker": end_of_data + (-end_of_data % 512) + 700,
    }[where]
    bad = tmp_path / "cut.tar"
    bad.write_bytes(data[:cut])
    before = state(store)
    with pytest.raises(BundleError, match="truncated|incomplete"):
        import_bundle(store, bad)
    assert state(store) == before


def test_newer_format_is_refused_naming_both_versions(source, store, tmp_path):
    _src, path = source
    items = members(path)
    doc = index_of(items)
    doc["format_version"] = bundle.FORMAT_VERSION + 1
    doc["written_by"] = "localreg 9.0.0"
    doc["new_things"] = [1]
    newer = tmp_path / "newer.tar"
    write_tar(newer, with_index(items, doc))
    before = state(store)
    with pytest.raises(UnsupportedBundle) as e:
        import_bundle(store, newer)
    assert f"is format version {bundle.FORMAT_VERSION + 1}, written by localreg 9.0.0" in str(e.value)
    assert f"reads format version {bundle.FORMAT_VERSION} at most" in str(e.value)
    assert e.value.version == bundle.FORMAT_VERSION + 1
    assert state(store) == before


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["versions"][0].pop("manifest"), "versions[0]: missing manifest"),
    (lambda d: d["versions"][0].update(index=-1), "versions[0].index: expected an integer from 0 to 2147483647, got -1"),
    (lambda d: d["versions"][0].update(aliases=["a/b"]), "versions[0].aliases: invalid alias 'a/b'"),
    (lambda d: d["versions"][0].update(aliases=["x", "x"]), "versions[0].aliases: an entry appears twice"),
    (lambda d: d["versions"][0].update(digest="sha256:" + "0" * 64), "is not the digest of its manifest"),
    (lambda d: d["versions"][0]["manifest"][0].update(path="../../etc/passwd"), "manifest[0].path"),
    (lambda d: d["versions"][0]["manifest"][0].update(path="a//b"), "manifest[0].path: invalid file path 'a//b'"),
    (lambda d: d["versions"][0]["manifest"][0].update(path="./b"), "manifest[0].path: invalid file path './b'"),
    (lambda d: d["links"][0].update(source="team/quickstart/nothing:v7"), "is not in the bundle"),
    (lambda d: d["lineage"][0].update(direction="sideways"), "is not input or output"),
    (lambda d: d.update(extra=1), "unknown field extra"),
    (lambda d: d["runs"][0].update(config=[1]), "runs[0].config"),
    (lambda d: d.update(format="zip"), "is not a localreg bundle"),
])
def test_invalid_indexes_are_refused(edit, message, source, store, tmp_path):
    _src, path = source
    items = members(path)
    doc = index_of(items)
    edit(doc)
    before = state(store)
    for compact in (False, True):
        bad = tmp_path / f"bad-{compact}.tar"
        write_tar(bad, with_index(items, doc, compact))
        with pytest.raises(BundleError) as e:
            import_bundle(store, bad)
        assert message in str(e.value)
    assert state(store) == before


def test_what_is_not_a_bundle(store, tmp_path):
    p = tmp_path / "x.tar.gz"
    p.write_bytes(os.urandom(4096))
    with pytest.raises(BundleError, match="is not a localreg bundle"):
        import_bundle(store, p)
    with pytest.raises(NotFound):
        import_bundle(store, tmp_path / "missing.tar")
    with pytest.raises(BundleError, match="is a folder"):
        import_bundle(store, tmp_path)
    only = tmp_path / "only.tar"
    write_tar(only, [_named("blobs/" + hashlib.sha256(b"x").hexdigest())])
    with pytest.raises(BundleError, match="its first member is not localreg-bundle.json"):
        import_bundle(store, only)


def test_json_with_duplicate_keys_is_refused(source, store, tmp_path):
    _src, path = source
    items = members(path)
    raw = items[0][1].replace(b'"format":"localreg-bundle"', b'"format":"localreg-bundle","format":"x"', 1)
    bad = tmp_path / "dup.tar"
    write_tar(bad, [(items[0][0], raw), *items[1:]])
    with pytest.raises(BundleError, match="duplicate key 'format'"):
        import_bundle(store, bad)


def test_pax_headers_that_set_more_than_size_are_refused(source, store, tmp_path):
    _src, path = source
    items = members(path)
    bad = tmp_path / "pax.tar"
    with tarfile.open(bad, "w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in items:
            tf.addfile(_copy(ti), io.BytesIO(data))
        ti = tarfile.TarInfo("blobs/" + "é" * 10)
        tf.addfile(ti, io.BytesIO(b""))
    with pytest.raises(BundleError, match="a bundle's pax headers set only size"):
        import_bundle(store, bad)


# -- conflicts -----------------------------------------------------------------------------------


def test_conflicts_are_all_listed_and_nothing_is_written(source, make_files, tmp_path):
    src, path = source
    target = Store(tmp_path / "t", org="acme", entity="team")
    import_bundle(target, path)
    # the two stores go their own ways
    ingest.log_path(src, make_files({"w": "source v4"}), name="sample-model", type="model", project="quickstart")
    ingest.log_path(target, make_files({"w": "target v4"}), name="sample-model", type="model", project="quickstart")
    tv1 = versions.resolve(target, "team/quickstart/sample-model:v1")
    versions.add_aliases(target, tv1, ["staging"])  # moved off v3 here
    versions.update(target, versions.resolve(target, "team/demo/scores:v0"), description="edited here",
                    metadata={"x": 1})
    ingest.log_path(src, make_files({"t": "d"}), name="thing", type="dataset", project="demo")
    ingest.log_path(target, make_files({"t": "m"}), name="thing", type="model", project="demo")
    s4 = versions.resolve(src, "team/quickstart/sample-model:v4")
    t4 = versions.resolve(target, "team/quickstart/sample-model:v4")
    registries.link(src, s4, "wandb-registry-model/sample-model")
    side, _ = ingest.log_path(target, make_files({"s": "side"}), name="side", type="model", project="quickstart")
    registries.link(target, side, "wandb-registry-model/sample-model")  # takes index v4 here
    assert t4.version == "v4"
    export_bundle(src, ALL, tmp_path / "later.tar")
    before = state(target)
    with pytest.raises(BundleConflict) as e:
        import_bundle(target, tmp_path / "later.tar")
    conflicts = e.value.conflicts
    expected = [
        "team/quickstart/sample-model:v4 holds other content here",
        "alias 'staging' of team/quickstart/sample-model is on v1 here, on v3 in the bundle",
        "team/demo/scores:v0: description is 'edited here' here, '' in the bundle",
        'team/demo/scores:v0: metadata is {"x":1} here, {} in the bundle',
        "collection team/demo/thing: type is 'model' here, 'dataset' in the bundle",
        "acme/wandb-registry-model/sample-model:v4 links team/quickstart/side:v0 here, "
        "team/quickstart/sample-model:v4 in the bundle",
    ]
    for text in expected:
        assert any(text in c for c in conflicts), (text, conflicts)
    assert f"{len(conflicts)} conflicts between bundle" in str(e.value)
    assert state(target) == before
    with pytest.raises(BundleConflict):
        import_bundle(target, tmp_path / "later.tar", dry_run=True)
    assert state(target) == before


def test_a_source_linked_at_another_index_conflicts(tmp_path, make_files):
    src = Store(tmp_path / "s", org="acme", entity="team", project="p")
    target = Store(tmp_path / "t", org="acme", entity="team", project="p")
    files = make_files({"m": "same"})
    v, _ = ingest.log_path(src, files, name="m", type="model")
    export_bundle(src, ["team/p/m"], tmp_path / "1.tar")
    import_bundle(target, tmp_path / "1.tar")
    other, _ = ingest.log_path(src, make_files({"m": "other"}), name="m", type="model")
    registries.link(src, other, "wandb-registry-model/m")
    registries.link(src, v, "wandb-registry-model/m")
    registries.link(target, versions.resolve(target, "team/p/m:v0"), "wandb-registry-model/m")
    export_bundle(src, ["acme/wandb-registry-model/m"], tmp_path / "2.tar")
    with pytest.raises(BundleConflict) as e:
        import_bundle(target, tmp_path / "2.tar")
    assert e.value.conflicts == [
        "acme/wandb-registry-model/m:v0 links team/p/m:v0 here, team/p/m:v1 in the bundle",
        "team/p/m:v0 is linked as acme/wandb-registry-model/m:v0 here, as acme/wandb-registry-model/m:v1 in the bundle",
    ]


def test_dry_run_reports_and_writes_nothing(source, tmp_path):
    _src, path = source
    target = Store(tmp_path / "t")
    before = state(target)
    dry = import_bundle(target, path, dry_run=True)
    assert state(target) == before
    real = import_bundle(target, path)
    assert dry.to_dict() | {"dry_run": False} == real.to_dict()


# -- crashes -----------------------------------------------------------------------------------


CHILD = ("import sys\nfrom localreg.store import Store\nfrom localreg.bundle import import_bundle\n"
         "import_bundle(Store(sys.argv[1]), sys.argv[2])\n")

# the same, killing itself at a seam of the real code (patched in the child only)
SEAM_CHILD = r"""
import os, signal, sys
from localreg import blobs
from localreg.bundle import import_bundle
from localreg.store import Store

home, path, point = sys.argv[1], sys.argv[2], sys.argv[3]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "blob-write":
    calls = [0]
    orig_add = blobs.PackWriter.add
    def add(self, data):
        calls[0] += 1
        if calls[0] == 3:
            self._f.write(bytes(data)[: len(data) // 2])
            self._f.flush()
            die()
        return orig_add(self, data)
    blobs.PackWriter.add = add

orig_commit = Store._commit
def commit(self, db):
    if point == "commit-before":
        die()
    orig_commit(self, db)
    if point == "commit-after":
        die()
Store._commit = commit

import_bundle(Store(home), path)
"""


def _crash_setup(tmp_path, make_files, files):
    """A bundle, a target store with content of its own, and what the target looks like before and after."""
    src = Store(tmp_path / "s", org="acme", entity="team", project="p")
    v, _ = ingest.log_path(src, make_files(files), name="data", type="dataset", aliases=["prod"])
    registries.link(src, v, "wandb-registry-dataset/data", ["prod"])
    path = tmp_path / "big.tar"
    export_bundle(src, ["acme/wandb-registry-dataset"], path)
    src.close()
    home = tmp_path / "t"
    target = Store(home, org="acme")
    ingest.log_path(target, make_files({"x": "mine"}), name="mine", type="dataset", project="q")
    before = describe(target)
    target.close()
    # what a finished import gives, in a copy of the target
    shutil.copytree(home, tmp_path / "copy")
    copy = Store(tmp_path / "copy")
    import_bundle(copy, path)
    complete = describe(copy)
    copy.close()
    assert complete != before
    return home, path, before, complete


def _after_crash(home, path, before, complete) -> dict:
    """The store after a kill: all or nothing, consistent; then the import goes through."""
    after = Store(home)
    try:
        now = describe(after)
        assert now in (before, complete)
        report = fsck(after)
        assert report.ok, [p.message for p in report.problems]
        return now
    finally:
        after.close()


def _reimport(home, path, complete) -> None:
    target = Store(home)
    try:
        import_bundle(target, path)
        assert describe(target) == complete
        assert fsck(target).ok
    finally:
        target.close()


def test_sigkill_during_import_leaves_the_store_as_it_was(tmp_path, make_files):
    files = {f"big{i}.bin": os.urandom(24 << 20) for i in range(3)}
    files.update({f"small/{i:04d}.txt": os.urandom(2048) for i in range(1500)})
    home, path, before, complete = _crash_setup(tmp_path, make_files, files)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    blobs = home / "blobs"
    killed_mid_way = 0
    for attempt in range(3):
        existing = set(blobs.glob("packs/*")) | set(blobs.glob("tmp/*"))
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # wait until it has begun writing (new staged files), then kill it without warning
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (set(blobs.glob("packs/*")) | set(blobs.glob("tmp/*"))) - existing:
                break
            time.sleep(0.001)
        time.sleep(0.05 * attempt)
        proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        if _after_crash(home, path, before, complete) == before and proc.returncode == -signal.SIGKILL:
            killed_mid_way += 1
    assert killed_mid_way >= 1
    _reimport(home, path, complete)


@pytest.mark.parametrize("point", ["blob-write", "commit-before", "commit-after"])
def test_sigkill_at_each_seam_of_an_import(point, tmp_path, make_files):
    files = {"big.bin": os.urandom(3 << 20), **{f"s/{i}.txt": os.urandom(100) for i in range(20)}}
    home, path, before, complete = _crash_setup(tmp_path, make_files, files)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", SEAM_CHILD, str(home), str(path), point], env=env,
                          capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert _after_crash(home, path, before, complete) == (complete if point == "commit-after" else before)
    _reimport(home, path, complete)


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_export_import_keygen(source, runner, tmp_path):
    src, _ = source
    home = str(src.home)
    key = tmp_path / "k"
    r = runner.invoke(cli, ["keygen", str(key)])
    assert r.exit_code == 0, r.output
    assert "fingerprint SHA256:" in r.output
    r = runner.invoke(cli, ["keygen", str(key)])
    assert r.exit_code == 1 and r.stderr.strip().splitlines()[-1] == f"Error: {key} already exists; remove it or choose another path"

    out = tmp_path / "cli.tar"
    r = runner.invoke(cli, ["--home", home, "export", *ALL, "-o", str(out), "--sign", str(key)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Exported 6 versions, 5 links and 13 blobs")
    assert "signed by SHA256:" in r.output

    t = str(tmp_path / "t")
    r = runner.invoke(cli, ["--home", t, "import", str(out), "--dry-run", "--trust", f"{key}.pub"])
    assert r.exit_code == 0, r.output
    assert "Would add 6 versions, 5 links" in r.output
    r = runner.invoke(cli, ["--home", t, "--json", "import", str(out), "--trust", f"{key}.pub"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["changed"] and doc["signed_by"].startswith("SHA256:") and len(doc["versions"]) == 6
    r = runner.invoke(cli, ["--home", t, "import", str(out)])
    assert r.exit_code == 0 and "Nothing to add" in r.output

    r = runner.invoke(cli, ["--home", t, "--json", "export", "--digests-only"])
    assert r.exit_code == 0 and len(json.loads(r.output)) >= 8
    r = runner.invoke(cli, ["--home", home, "export", "--digests-only", "team/demo/scores:v0"])
    assert r.exit_code == 0 and len(r.output.split()) == 1


def test_cli_errors_are_one_line(source, runner, tmp_path):
    _src, path = source
    bad = tmp_path / "bad.tar"
    write_tar(bad, _hostile(members(path), "dotdot"))
    t = str(tmp_path / "t")
    r = runner.invoke(cli, ["--home", t, "import", str(bad)])
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"Error: bundle {bad}: member 'blobs/../../etc/evil' has a '..' part (it would write outside the bundle); "
        "nothing was imported")
    r = runner.invoke(cli, ["--home", t, "export", "team/demo", "-o", str(tmp_path / "x.tar")])
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1].startswith("Error: project team/demo not found in store")
    r = runner.invoke(cli, ["--home", t, "export", "team/demo"])
    assert r.exit_code == 2 and "give the bundle file with -o FILE" in r.stderr


def test_cli_lists_every_conflict(tmp_path, runner, make_files):
    src = Store(tmp_path / "s", org="acme", entity="team", project="p")
    target = Store(tmp_path / "t", org="acme", entity="team", project="p")
    ingest.log_path(src, make_files({"a": "1"}), name="a", type="model")
    ingest.log_path(src, make_files({"b": "1"}), name="b", type="model")
    ingest.log_path(target, make_files({"a": "2"}), name="a", type="model")
    ingest.log_path(target, make_files({"b": "2"}), name="b", type="model")
    export_bundle(src, ["team/p"], tmp_path / "b.tar")
    before = state(target)
    r = runner.invoke(cli, ["--home", str(target.home), "import", str(tmp_path / "b.tar")])
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert [ln.split(" holds")[0] for ln in lines[:2]] == ["conflict: team/p/a:v0", "conflict: team/p/b:v0"]
    assert lines[-1] == "Error: 2 conflicts with the store; nothing was imported"
    assert state(target) == before


# -- property: any small store survives the trip ------------------------------------------------------

_name = st.text("abcdefgh", min_size=1, max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    logs=st.lists(st.tuples(_name, st.dictionaries(_name, st.binary(max_size=300), min_size=1, max_size=3),
                            st.lists(_name, max_size=2), st.dictionaries(_name, st.integers(), max_size=2)),
                  min_size=1, max_size=5),
    link_every=st.integers(1, 3),
)
def test_any_store_round_trips(tmp_path_factory, logs, link_every):
    base = tmp_path_factory.mktemp("prop")
    src = Store(base / "s", org="o", entity="e", project="p")
    for i, (name, files, aliases, meta) in enumerate(logs):
        root = base / f"f{i}"
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        v, _ = ingest.log_path(src, str(root), name=name, type="t", aliases=[f"a-{a}" for a in aliases],
                               metadata=meta)
        if i % link_every == 0:
            registries.create_registry(src, f"r{i}", artifact_types=None)
            registries.link(src, v, f"wandb-registry-r{i}/c", [f"l-{a}" for a in aliases])
    regs = [f"o/wandb-registry-r{i}" for i in range(len(logs)) if i % link_every == 0]
    regs += ["o/wandb-registry-model", "o/wandb-registry-dataset"]
    export_bundle(src, ["e/p", *regs], base / "b.tar")
    dst = Store(base / "d", org="x")
    import_bundle(dst, base / "b.tar")
    assert describe(dst, orgs=("o",)) == describe(src, orgs=("o",))
    export_bundle(dst, ["e/p", *regs], base / "b2.tar")
    assert (base / "b2.tar").read_bytes() == (base / "b.tar").read_bytes()


def test_a_blob_that_leaves_the_store_during_the_import_is_caught(source, tmp_path, monkeypatch):
    """A blob the plan found in the store (so it was not staged) must still be there at the commit."""
    _src, path = source
    target = Store(tmp_path / "t")
    real_plan = bundle._plan
    calls = []

    def plan(store, idx):
        p = real_plan(store, idx)
        calls.append(1)
        if len(calls) == 1:  # as if the store had held every blob when the import began
            p.present.add(idx.blobs)
        return p

    monkeypatch.setattr(bundle.importer, "_plan", plan)
    before = state(target)
    with pytest.raises(BundleError, match="left store .* during the import"):
        import_bundle(target, path)
    assert state(target) == before
