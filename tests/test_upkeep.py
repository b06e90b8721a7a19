"""Store upkeep: gc (ttl, dead blobs and packs, crash leftovers, grace), fsck, verify, delete, link modes.

Real files throughout: versions are logged from files on disk, damage is
done by hand to the blob store, and the CLI runs through click's runner.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import stat
import time
from pathlib import Path

import pytest

import localreg as wandb
from localreg import fsck as fsck_mod
from localreg import gc as gc_mod
from localreg import hashing, ingest, registries, versions
from localreg.cli import cli
from localreg.cli.upkeep import Duration
from localreg.errors import CorruptBlob, InvalidInput, NotFound, StoreError, UnaccountedStore
from localreg.objects import LINK_MODES, PACK_LIMIT, Objects
from localreg.store import Store
from tests.conftest import snapshot

BIG = PACK_LIMIT + 4096  # stored as one loose object when logged whole


def data(seed: str, size: int) -> bytes:
    """``size`` reproducible pseudo-random bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashing.digest_bytes(f"{seed}-{counter}".encode()).encode()
        counter += 1
    return bytes(out[:size])


def log(store, make_files, files: dict, name: str = "m", *, whole: bool = False, aliases=(), project="demo"):
    """Log ``{path: bytes}`` as the next version of ``team/<project>/<name>``."""
    root = make_files(files)
    entries = Objects(store).add_files(ingest.collect_dir(root), whole=whole)
    v, _created = versions.log_version(store, name=name, type="model", entries=entries,
                                       project=project, aliases=list(aliases))
    return v


def files_of(store) -> dict[str, set]:
    b = store.blobs
    return {
        "loose": {d for d, _s, _m in b.list_loose()},
        "packs": {n for n, _s, _m in b.list_packs()},
        "tmp": {p for p, _s, _m in b.list_tmp()},
    }


def chunk_rows(store) -> dict[str, tuple]:
    return {r[0]: (r[1], r[2]) for r in store.db.execute("SELECT digest, size, pack FROM chunks")}


def pack_of(store, digest: str) -> str:
    return store.db.execute("SELECT pack FROM chunks WHERE digest = ?", [digest]).fetchone()[0]


def put(store, rel: str, payload: bytes) -> str:
    """Write a file under the blob root by hand (a crash leftover); return its path."""
    path = f"{store.blobs.root}/{rel}"
    if store.blobs.is_local:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(payload)
    else:
        store.blobs.fs.pipe_file(path, payload)
    return path


def age(store, path: str, seconds: float) -> None:
    """Make a blob-store file look ``seconds`` old."""
    t = time.time() - seconds
    if store.blobs.is_local:
        os.utime(path, (t, t))
    elif hasattr(store.blobs.fs, "store"):  # fsspec's memory filesystem
        f = store.blobs.fs.store[store.blobs.fs._strip_protocol(path)]
        f.created = f.modified = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
    else:
        # a real object store cannot backdate an object: run the blob store's
        # clock (the server's Date) that far ahead instead, for this store
        blobs = store.blobs
        ahead = max(getattr(blobs, "_test_ahead", 0.0), seconds)
        blobs._test_ahead = ahead
        server_now = type(blobs).now
        blobs.now = lambda: server_now(blobs) + ahead


def tick(store) -> None:
    """Let the clocks move past what was just written (for a grace of 0).

    An object store dates objects (and tells its own time) to the second:
    there a blob is older than "now" only once the next second has begun.
    """
    if store.blobs.is_local or hasattr(store.blobs.fs, "store"):
        time.sleep(0.01)
    else:
        time.sleep(1.05)


def age_everything(store, seconds: float) -> None:
    """Chunk rows and every blob-store file, ``seconds`` older."""
    store.db.execute("UPDATE chunks SET created_at = created_at - ?", [seconds])
    b = store.blobs
    for d, _s, _m in b.list_loose():
        age(store, b.loose_path(d), seconds)
    for n, _s, _m in b.list_packs():
        age(store, b.pack_path(n), seconds)
    for p, _s, _m in b.list_tmp():
        age(store, p, seconds)


def read_blob(store, path: str) -> bytes:
    return store.blobs.fs.cat_file(path)


def overwrite(store, path: str, offset: int, payload: bytes) -> None:
    """Change bytes of a blob-store file in place (same size)."""
    raw = bytearray(read_blob(store, path))
    raw[offset: offset + len(payload)] = payload
    if store.blobs.is_local:
        os.chmod(path, 0o600)
        with open(path, "r+b") as f:
            f.write(bytes(raw))
    else:
        store.blobs.fs.pipe_file(path, bytes(raw))


def truncate(store, path: str, size: int) -> None:
    raw = read_blob(store, path)[:size]
    if store.blobs.is_local:
        with open(path, "r+b") as f:
            f.truncate(size)
    else:
        store.blobs.fs.pipe_file(path, raw)


def remove(store, path: str) -> None:
    store.blobs.fs.rm_file(path)


def raw_sql(store, *statements) -> None:
    """Run SQL with foreign keys off, as corruption by another tool would."""
    db = store.db
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        for sql, params in statements:
            db.execute(sql, params)
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def readable(store, v) -> bool:
    objects = Objects(store)
    return all(objects.check(e.digest) is None for e in versions.entries(store, v) if e.ref is None)


# == gc ==============================================================================


@pytest.fixture
def three(store, make_files):
    """v0 of m: a (small), shared (small), big (loose); v1 of m: b, shared; v0 of other: c."""
    A, S, B, C = data("a", 3000), data("shared", 5000), data("b", 700), data("c", 2222)
    big = data("big", BIG)
    v0 = log(store, make_files, {"a.bin": A, "shared.bin": S}, "m")
    # the big file goes in a separate ingest so it is a loose object
    entries = versions.entries(store, v0) + Objects(store).add_files(
        [("big.bin", make_files({"big.bin": big}) + "/big.bin")], whole=True)
    v0, _ = versions.log_version(store, name="m", type="model", entries=entries, project="demo")
    # (that made m:v1 with all three; drop the first one: m:v1 is "v0 + big")
    versions.delete(store, versions.resolve(store, "m:v0"))
    v1 = log(store, make_files, {"b.bin": B, "shared.bin": S}, "m")
    other = log(store, make_files, {"c.bin": C}, "other")
    d = {k: hashing.digest_bytes(x) for k, x in dict(A=A, S=S, B=B, C=C, big=big).items()}
    return dict(store=store, old=v0, new=v1, other=other, d=d, size=dict(A=len(A), S=len(S), big=len(big)))


def test_gc_removes_exactly_the_unneeded_blobs_and_packs(three):
    store, d = three["store"], three["d"]
    old_pack, c_pack, new_pack = pack_of(store, d["A"]), pack_of(store, d["C"]), pack_of(store, d["B"])
    assert old_pack == pack_of(store, d["S"]) and len({old_pack, c_pack, new_pack}) == 3
    c_pack_size = dict((n, s) for n, s, _m in store.blobs.list_packs())[c_pack]
    versions.delete(store, three["old"])
    versions.delete(store, three["other"])
    tick(store)

    report = gc_mod.gc(store, grace=0)

    assert report.expired_versions == []
    assert report.chunks_removed == 3  # A, big, C
    assert set(chunk_rows(store)) == {d["S"], d["B"]}
    assert report.loose_removed == 1 and report.packs_removed == 1 and report.orphan_files_removed == 0
    # the old pack still holds S, which m:v2 needs: it stays, A's bytes are dead space in it
    assert files_of(store)["packs"] == {old_pack, new_pack}
    assert files_of(store)["loose"] == set()
    assert report.pack_bytes_dead == three["size"]["A"]
    assert report.bytes_freed == three["size"]["big"] + c_pack_size
    assert sorted(report.removed) == sorted([f"loose {d['big']}", f"pack {c_pack}"])
    assert readable(store, three["new"])
    assert Objects(store).read_bytes(d["S"]) == data("shared", 5000)
    assert fsck_mod.fsck(store).ok

    again = gc_mod.gc(store, grace=0)
    assert (again.chunks_removed, again.loose_removed, again.packs_removed, again.orphan_files_removed,
            again.bytes_freed, again.removed) == (0, 0, 0, 0, 0, [])
    assert again.pack_bytes_dead == three["size"]["A"]  # still there: packs are not rewritten


def test_gc_dry_run_removes_nothing_and_predicts_the_real_run(three):
    store = three["store"]
    versions.delete(store, three["old"])
    versions.delete(store, three["other"])
    tick(store)
    before_rows, before_files = snapshot(store), files_of(store)
    dry = gc_mod.gc(store, grace=0, dry_run=True)
    assert snapshot(store) == before_rows and files_of(store) == before_files
    assert dry.dry_run and dry.chunks_removed == 3 and dry.bytes_freed > 0
    real = gc_mod.gc(store, grace=0)
    for key in ("chunks_removed", "loose_removed", "packs_removed", "orphan_files_removed",
                "bytes_freed", "pack_bytes_dead", "removed"):
        assert getattr(dry, key) == getattr(real, key), key


def test_gc_keeps_what_no_version_needs_during_the_grace_period(three):
    store = three["store"]
    versions.delete(store, three["old"])
    before = files_of(store), chunk_rows(store)
    report = gc_mod.gc(store)  # default grace: one hour
    assert report.bytes_freed == 0 and report.chunks_removed == 0 and report.kept_young == 2
    assert (files_of(store), chunk_rows(store)) == before
    age_everything(store, 2 * 3600)
    report = gc_mod.gc(store)
    assert report.chunks_removed == 2 and report.loose_removed == 1
    assert report.bytes_freed == three["size"]["big"]


def test_gc_needs_a_grace_of_zero_or_more(store):
    with pytest.raises(InvalidInput, match="grace"):
        gc_mod.gc(store, grace=-1)


@pytest.mark.parametrize("lost", ["every chunk row", "one chunk row", "a chunked file's row"])
def test_gc_removes_nothing_while_the_index_cannot_account_for_the_blobs(store, make_files, runner, lost):
    """Index rows lost (a damaged database): the files they named look like orphans, but may be the only copy."""
    v = log(store, make_files, {"a.bin": data("a", 3000), "big.bin": data("big", 3 * PACK_LIMIT)}, "m")
    small = hashing.digest_bytes(data("a", 3000))
    age_everything(store, 7200)
    if lost == "every chunk row":
        raw_sql(store, ("DELETE FROM chunks", []))
    elif lost == "one chunk row":
        raw_sql(store, ("DELETE FROM chunks WHERE digest = ?", [small]))
    else:
        raw_sql(store, ("DELETE FROM chunked_files", []))
    rows, files = snapshot(store), files_of(store)
    for dry_run in (True, False):
        with pytest.raises(UnaccountedStore) as exc:
            gc_mod.gc(store, grace=0, dry_run=dry_run)
        msg = str(exc.value)
        assert f"gc refused: the database {store.db_path} cannot account for the blob store" in msg
        assert "not in the chunk index" in msg and "nothing was removed" in msg
        assert "'localreg fsck --rebuild-index'" in msg and "'localreg restore BACKUP'" in msg
        assert isinstance(exc.value, StoreError)
    result = invoke(runner, "--home", store.home, "gc", "--grace", "0")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Error: gc refused: ")
    assert snapshot(store) == rows and files_of(store) == files
    assert versions.resolve(store, "m:v0").id == v.id


def test_gc_refuses_a_blob_store_marked_by_another_store(store, make_files):
    log(store, make_files, {"a.bin": b"alpha"}, "m")
    store.blobs.fs.pipe_file(store.blobs.marker_path(), json.dumps({"store_id": "someone-else"}).encode())
    files = files_of(store)
    with pytest.raises(UnaccountedStore, match="belongs to store someone-else"):
        gc_mod.gc(store, grace=0)
    assert files_of(store) == files
    assert gc_mod.unaccounted(store) == [f"the blob store {store.blobs.url} belongs to store someone-else, "
                                         f"the database to store {store.store_id}"]


def test_gc_of_a_store_that_accounts_for_its_blobs_still_runs(three):
    assert gc_mod.unaccounted(three["store"]) == []
    gc_mod.gc(three["store"], grace=0)


def test_gc_of_an_empty_store_does_nothing(store):
    report = gc_mod.gc(store, grace=0)
    assert report.to_dict() == gc_mod.GCReport().to_dict()


def test_gc_removes_crash_leftovers_only_past_the_grace_period(store, make_files):
    v = log(store, make_files, {"x.bin": b"keep me"})
    orphan_blob = data("orphan", 100)
    digest = hashing.digest_bytes(orphan_blob)
    loose = put(store, "objects/" + hashing.hex_of(digest)[:2] + "/" + hashing.hex_of(digest)[2:], orphan_blob)
    pack = put(store, "packs/" + "ab" * 16 + ".pack", b"p" * 300)
    tmp = put(store, "tmp/999-0123456789abcdef", b"t" * 50)
    before = snapshot(store)
    report = fsck_mod.fsck(store)
    assert report.ok  # leftovers are no problem
    assert {f.kind for f in report.leftovers} == {"orphan", "tmp"} and len(report.leftovers) == 3

    young = gc_mod.gc(store, grace=3600)
    assert young.orphan_files_removed == 0 and young.kept_young == 3 and young.bytes_freed == 0
    assert files_of(store)["tmp"] and digest in files_of(store)["loose"]

    for p in (loose, pack, tmp):
        age(store, p, 7200)
    dry = gc_mod.gc(store, grace=3600, dry_run=True)
    assert dry.orphan_files_removed == 3 and digest in files_of(store)["loose"]
    old = gc_mod.gc(store, grace=3600)
    assert old.orphan_files_removed == 3
    assert old.bytes_freed == 100 + 300 + 50
    assert sorted(w.split()[0] + " " + w.split()[1] for w in old.removed) == ["orphan blob", "orphan pack", "temp file"]
    assert files_of(store)["tmp"] == set() and digest not in files_of(store)["loose"]
    assert "ab" * 16 + ".pack" not in files_of(store)["packs"]
    assert snapshot(store) == before  # leftovers have no rows: none was touched
    assert readable(store, v)
    assert fsck_mod.fsck(store).leftovers == []


def test_gc_drops_a_chunked_file_with_its_chunks_and_relogging_restores_it(store, make_files):
    base = data("cdc", 3 << 20)
    edited = base[: 1 << 20] + b"EDIT" + base[(1 << 20) + 4:]
    v0 = log(store, make_files, {"f.bin": base})
    v1 = log(store, make_files, {"f.bin": edited})
    d0, d1 = versions.entries(store, v0)[0].digest, versions.entries(store, v1)[0].digest
    assert store.db.execute("SELECT count(*) FROM chunked_files").fetchone()[0] == 2
    shared = len(chunk_rows(store))
    versions.delete(store, v0)
    tick(store)
    report = gc_mod.gc(store, grace=0)
    # only the chunks v0 alone had went; v0's file row went with them
    assert 0 < report.chunks_removed < shared / 2
    assert Objects(store).present([d0, d1]) == {d1}
    assert Objects(store).read_bytes(d1) == edited
    assert fsck_mod.fsck(store).ok
    v2 = log(store, make_files, {"f.bin": base})
    assert Objects(store).read_bytes(versions.entries(store, v2)[0].digest) == base


@pytest.mark.parametrize("remover", ["gc", "fsck --repair"])
def test_an_unchanged_file_is_read_again_once_its_bytes_are_gone(store, make_files, remover):
    """The stat cache is trusted without asking if its digest is stored: whoever drops the bytes drops the rows."""
    log(store, make_files, {"other.bin": b"stays"})  # so fsck sees a mounted store that lost some packs
    before = {name for name, _size, _m in store.blobs.list_packs()}
    root = make_files({"small.bin": data("s", 5000), "big.bin": data("b", 3 << 20)})
    past = time.time() - 60  # old enough for the stat cache to remember the files
    for name in ("small.bin", "big.bin"):
        os.utime(os.path.join(root, name), (past, past))
    v, _ = ingest.log_path(store, root, name="d", type="dataset", project="p")
    want = {e.path: e.digest for e in versions.entries(store, v)}
    cached = {r[0] for r in store.db.execute("SELECT digest FROM stat_cache")}
    assert set(want.values()) <= cached
    if remover == "gc":
        versions.delete(store, v)
        tick(store)
        assert gc_mod.gc(store, grace=0).chunks_removed > 0
    else:
        for name, _size, _m in list(store.blobs.list_packs()):
            if name not in before:
                store.blobs.remove_pack(name)
        assert fsck_mod.fsck(store, repair=True).repaired
    assert not set(want.values()) & {r[0] for r in store.db.execute("SELECT digest FROM stat_cache")}
    again, _ = ingest.log_path(store, root, name="d", type="dataset", project="p")
    assert {e.path: e.digest for e in versions.entries(store, again)} == want
    assert Objects(store).read_bytes(want["big.bin"]) == data("b", 3 << 20)
    assert Objects(store).read_bytes(want["small.bin"]) == data("s", 5000)
    assert fsck_mod.fsck(store).ok


def test_gc_rechecks_inside_its_transaction(store, make_files):
    v = log(store, make_files, {"x.bin": b"needed"})
    digest = versions.entries(store, v)[0].digest
    row = store.db.execute("SELECT digest, size, pack, offset, created_at FROM chunks").fetchone()
    # as if a version naming the chunk committed after gc's snapshot
    dead, empty = gc_mod._drop_rows(store, [tuple(row)])
    assert dead == [] and empty == set()
    assert digest in chunk_rows(store)


# -- ttl ---------------------------------------------------------------------------------------


@pytest.fixture
def run(store):
    r = wandb.init(entity="team", project="demo")
    yield r
    r.finish()


def sdk_log(run, name, payload: bytes, **kw):
    art = wandb.Artifact(name, "model")
    with art.new_file("w.bin", mode="wb") as f:
        f.write(payload)
    return run.log_artifact(art, **kw)


def test_ttl_set_and_saved_expires_at_the_next_gc(store, run):
    keep = sdk_log(run, "keep", b"keep" * 100)
    art = sdk_log(run, "short", b"short-lived" * 100, aliases=["best"])
    art.link("wandb-registry-model/short", aliases=["prod"])
    art.ttl = dt.timedelta(milliseconds=50)
    art.save()
    assert wandb.Api().artifact("team/demo/short:v0").ttl == dt.timedelta(milliseconds=50)
    time.sleep(0.1)

    dry = gc_mod.gc(store, grace=0, dry_run=True)
    assert dry.expired_versions == ["team/demo/short:v0"]
    assert wandb.Api().artifact_exists("team/demo/short:v0")
    assert dry.bytes_freed > 0

    report = gc_mod.gc(store, grace=0)
    assert report.expired_versions == ["team/demo/short:v0"]
    assert report.bytes_freed == dry.bytes_freed
    assert not wandb.Api().artifact_exists("team/demo/short:v0")
    assert not wandb.Api().artifact_exists("acme/wandb-registry-model/short:prod")
    assert wandb.Api().artifact("team/demo/keep:latest").version == keep.version
    assert gc_mod.gc(store, grace=0).expired_versions == []
    assert fsck_mod.fsck(store).ok


def test_ttl_given_when_logging_and_ttl_in_the_future(store, run):
    art = wandb.Artifact("born-expired", "model")
    with art.new_file("w.bin", mode="wb") as f:
        f.write(b"x")
    art.ttl = dt.timedelta(microseconds=1)
    run.log_artifact(art)
    later = sdk_log(run, "later", b"y")
    later.ttl = dt.timedelta(days=30)
    later.save()
    time.sleep(0.01)
    assert gc_mod.gc(store, grace=0).expired_versions == ["team/demo/born-expired:v0"]
    assert wandb.Api().artifact("team/demo/later:v0").ttl == dt.timedelta(days=30)


def test_an_expired_timestamp_written_directly_expires(store, make_files):
    v = log(store, make_files, {"x.bin": b"old"}, aliases=["prod"])
    store.db.execute("UPDATE versions SET ttl_expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = ?", [v.id])
    report = gc_mod.gc(store, grace=0)
    assert report.expired_versions == [v.qualified_name]
    with pytest.raises(NotFound):
        versions.resolve(store, "m:prod")


def test_gc_keeps_an_expired_version_the_user_may_not_unlink(store, make_files, monkeypatch):
    monkeypatch.setenv("LOCALREG_USER", "alice")
    registries.create_registry(store, "secret", visibility="restricted")
    v = log(store, make_files, {"x.bin": b"x"})
    other = log(store, make_files, {"y.bin": b"y"}, "other")
    registries.link(store, v, "wandb-registry-secret/m")
    for version in (v, other):
        versions.update(store, version, ttl_seconds=0.001)
    time.sleep(0.01)
    monkeypatch.setenv("LOCALREG_USER", "bob")
    report = gc_mod.gc(store, grace=0)
    assert report.expired_versions == [other.qualified_name]
    [refused] = report.expired_refused
    assert refused == (f"{v.qualified_name}: user 'bob' cannot delete {v.qualified_name}: it is linked into a "
                       "restricted registry they are not a member of (unlink there needs the member role)")
    assert readable(store, versions.resolve(store, "m:v0"))
    monkeypatch.setenv("LOCALREG_USER", "alice")
    assert gc_mod.gc(store, grace=0).expired_versions == [v.qualified_name]


def test_clearing_the_ttl_keeps_the_version(store, run):
    art = sdk_log(run, "cleared", b"z")
    art.ttl = dt.timedelta(milliseconds=1)
    art.save()
    art.ttl = None
    art.save()
    time.sleep(0.01)
    assert gc_mod.gc(store, grace=0).expired_versions == []


# == fsck ================================================================================


@pytest.fixture
def linked(store, make_files):
    """m:v0 = small (packed) + big (loose), linked to wandb-registry-model/m."""
    small, big = data("small", 900), data("big", BIG)
    root = make_files({"small.bin": small, "big.bin": big})
    entries = Objects(store).add_files(ingest.collect_dir(root), whole=True)
    v, _ = versions.log_version(store, name="m", type="model", entries=entries, project="demo")
    link = registries.link(store, v, "wandb-registry-model/m", ["prod"])
    return dict(store=store, v=v, link=link, small=hashing.digest_bytes(small), big=hashing.digest_bytes(big),
                small_bytes=small, big_bytes=big, root=root)


def test_fsck_of_a_healthy_store(linked):
    report = fsck_mod.fsck(linked["store"])
    assert report.ok and report.clean and report.problems == [] and report.leftovers == []
    assert report.to_dict() == {"ok": True, "clean": True, "problems": [], "leftovers": [],
                                "repaired": [], "unrepaired": []}


def test_fsck_finds_a_chunk_row_whose_file_was_deleted(linked):
    store, v = linked["store"], linked["v"]
    remove(store, store.blobs.loose_path(linked["big"]))
    report = fsck_mod.fsck(store)
    assert not report.ok
    [problem] = report.problems
    assert problem.kind == "blob" and not problem.repairable
    assert problem.message == f"blob {linked['big']} is missing (needed by {v.qualified_name})"

    fixed = fsck_mod.fsck(store, repair=True)
    assert fixed.repaired == [f"dropped the index row of lost blob {linked['big']}"]
    assert not fixed.clean
    assert fixed.unrepaired == [
        f"blob {linked['big']} is needed by {v.qualified_name} but not stored: restore the bytes "
        "(log the same file again, or import a bundle that holds it), or delete the versions that need it"
    ]
    # logging the same file again stores its bytes again, and heals the store
    Objects(store).add_files([("big.bin", linked["root"] + "/big.bin")], whole=True)
    assert fsck_mod.fsck(store).ok
    assert readable(store, v)


def test_fsck_finds_a_truncated_pack(linked):
    store = linked["store"]
    pack = pack_of(store, linked["small"])
    truncate(store, store.blobs.pack_path(pack), 100)
    report = fsck_mod.fsck(store)
    [problem] = report.problems
    assert problem.message == (f"blob {linked['small']}: pack {pack} is truncated (100 bytes, the blob ends at 900) "
                               f"(needed by {linked['v'].qualified_name})")
    verified = fsck_mod.verify(store)
    assert list(verified.bad) == [linked["small"]]
    assert "truncated" in verified.bad[linked["small"]]
    assert verified.versions[linked["small"]] == [linked["v"].qualified_name, linked["link"].qualified_name]


def test_fsck_repairs_a_dangling_alias(linked):
    store, v = linked["store"], linked["v"]
    raw_sql(store, ("INSERT INTO aliases (collection_id, alias, version_id) VALUES (?, 'ghost', 9999)",
                    [v.collection_id]))
    report = fsck_mod.fsck(store)
    [problem] = report.problems
    assert problem.kind == "alias" and problem.repairable
    assert problem.message == (f"alias 'ghost' of collection id {v.collection_id} points at version id 9999, "
                               "which does not exist in that collection")
    fixed = fsck_mod.fsck(store, repair=True)
    assert fixed.repaired == [f"fixed alias: {problem.message}"] and fixed.clean and fixed.unrepaired == []
    assert fsck_mod.fsck(store).ok
    assert versions.resolve(store, "m:latest").id == v.id


def test_fsck_repairs_a_link_whose_source_is_gone_and_restores_latest(linked, make_files):
    store, v, link = linked["store"], linked["v"], linked["link"]
    raw_sql(store, *[(f"DELETE FROM {t} WHERE version_id = ?", [v.id]) for t in ("aliases", "entries")],
            ("DELETE FROM versions WHERE id = ?", [v.id]))
    kinds = sorted(f.kind for f in fsck_mod.fsck(store).problems)
    assert kinds == ["link"]
    fixed = fsck_mod.fsck(store, repair=True)
    assert fixed.clean
    assert not store.db.execute("SELECT 1 FROM versions WHERE id = ?", [link.id]).fetchone()
    assert not store.db.execute("SELECT 1 FROM aliases WHERE version_id = ?", [link.id]).fetchone()
    # a missing latest is put back on the newest version
    v1 = log(store, make_files, {"n.bin": b"new"})
    log(store, make_files, {"n2.bin": b"newer"})
    raw_sql(store, ("DELETE FROM aliases WHERE alias = 'latest' AND collection_id = ?", [v1.collection_id]))
    [problem] = fsck_mod.fsck(store).problems
    assert problem.kind == "latest"
    assert fsck_mod.fsck(store, repair=True).clean
    assert versions.resolve(store, "m:latest").index == 2


def test_fsck_repairs_dangling_tags_lineage_and_entries(linked):
    store = linked["store"]
    raw_sql(store,
            ("INSERT INTO tags (version_id, tag) VALUES (4242, 'orphan')", []),
            ("INSERT INTO lineage (run_pk, version_id, direction, created_at) VALUES (77, ?, 'input', 'x')",
             [linked["v"].id]),
            ("INSERT INTO entries (version_id, path, digest, size) VALUES (4242, 'a', ?, 1)", [linked["small"]]))
    assert sorted(f.kind for f in fsck_mod.fsck(store).problems) == ["entry", "lineage", "tag"]
    fixed = fsck_mod.fsck(store, repair=True)
    assert len(fixed.repaired) == 3 and fixed.clean
    assert fsck_mod.fsck(store).ok


def test_fsck_cannot_repair_a_version_of_a_missing_collection(linked):
    store, v = linked["store"], linked["v"]
    raw_sql(store, ("UPDATE versions SET collection_id = 999 WHERE id = ?", [v.id]))
    fixed = fsck_mod.fsck(store, repair=True)
    assert any(f.kind == "version" and not f.repairable for f in fixed.problems)
    assert any("collection id 999, which does not exist: fix it by hand" in u for u in fixed.unrepaired)


def test_fsck_drops_a_lost_blob_no_version_needs(store, make_files):
    log(store, make_files, {"other.bin": b"other"}, "other")
    v = log(store, make_files, {"big.bin": data("x", BIG)}, whole=True)
    digest = versions.entries(store, v)[0].digest
    versions.delete(store, v)
    remove(store, store.blobs.loose_path(digest))
    [problem] = fsck_mod.fsck(store).problems
    assert problem.repairable and problem.message.endswith("(no version needs it)")
    fixed = fsck_mod.fsck(store, repair=True)
    assert fixed.clean and digest not in chunk_rows(store)


def test_fsck_keeps_the_index_when_the_blob_store_looks_unmounted(linked):
    store = linked["store"]
    store.blobs.fs.rm(store.blobs.root, recursive=True)
    before = chunk_rows(store)
    report = fsck_mod.fsck(store, repair=True)
    assert any("empty or unreachable" in f.message for f in report.problems)
    assert chunk_rows(store) == before
    assert not report.clean


def test_fsck_reports_dead_pack_space_and_unneeded_blobs_as_leftovers(three):
    store = three["store"]
    versions.delete(store, three["old"])
    report = fsck_mod.fsck(store)
    assert report.ok
    assert [f.kind for f in report.leftovers] == ["unneeded"]
    tick(store)
    gc_mod.gc(store, grace=0)
    [space] = fsck_mod.fsck(store).leftovers
    assert space.kind == "pack-space" and f"holds {three['size']['A']} bytes no row names" in space.message


# == verify ================================================================================


def test_verify_reports_a_corrupted_blob_with_the_versions_that_need_it(linked, make_files):
    store, v, link = linked["store"], linked["v"], linked["link"]
    other = log(store, make_files, {"other.bin": b"fine"}, "other")
    all_ok = fsck_mod.verify(store)
    assert all_ok.ok and all_ok.checked == 3
    overwrite(store, store.blobs.loose_path(linked["big"]), 10, b"XXXX")
    report = fsck_mod.verify(store)
    assert not report.ok and list(report.bad) == [linked["big"]]
    assert "corrupt" in report.bad[linked["big"]]
    assert report.versions == {linked["big"]: [v.qualified_name, link.qualified_name]}
    assert report.to_dict()["ok"] is False
    assert not fsck_mod.verify(store, v).ok
    assert not fsck_mod.verify(store, link).ok
    assert fsck_mod.verify(store, other).ok and fsck_mod.verify(store, other).checked == 1
    # fsck looks at sizes only: corruption of the same size is verify's to find
    assert fsck_mod.fsck(store).ok


def test_verify_reports_corrupt_packed_bytes_and_missing_blobs(linked):
    store = linked["store"]
    pack = store.blobs.pack_path(pack_of(store, linked["small"]))
    overwrite(store, pack, 0, b"Z")
    remove(store, store.blobs.loose_path(linked["big"]))
    report = fsck_mod.verify(store)
    assert set(report.bad) == {linked["small"], linked["big"]}
    assert "missing" in report.bad[linked["big"]]


def test_verify_all_reports_a_damaged_chunk_of_a_chunked_file_once(store, make_files, runner):
    """One finding per damaged blob: a chunk is not reported again as "needed by no version"."""
    big = data("chunked", 3 * PACK_LIMIT)
    v = log(store, make_files, {"big.bin": big, "small.bin": b"small"}, "m")
    link = registries.link(store, v, "wandb-registry-model/m")
    file_digest = hashing.digest_bytes(big)
    [(chunks,)] = store.db.execute("SELECT chunks FROM chunked_files WHERE digest = ?", [file_digest]).fetchall()
    first = json.loads(chunks)[0][0]
    stored = len(chunk_rows(store))
    assert stored == len(json.loads(chunks)) + 1
    pack, offset = store.db.execute("SELECT pack, offset FROM chunks WHERE digest = ?", [first]).fetchone()
    path = store.blobs.pack_path(pack) if pack else store.blobs.loose_path(first)
    overwrite(store, path, (offset or 0) + 7, b"!")

    report = fsck_mod.verify(store)
    assert list(report.bad) == [first] and first in report.bad[first] and "corrupt" in report.bad[first]
    assert report.versions == {first: [v.qualified_name, link.qualified_name]}
    assert report.checked == stored
    result = invoke(runner, "--home", store.home, "verify", "--all")
    assert result.stdout == f"{report.bad[first]} (needed by {v.qualified_name}, {link.qualified_name})\n"
    assert "no version" not in result.output
    assert_error(result, f"Error: 1 of {stored} blobs missing or corrupt in store {store.home}")
    # verifying the version still names the file that cannot be read
    assert list(fsck_mod.verify(store, v).bad) == [file_digest]


# == link modes ==================================================================================


@pytest.fixture
def local_store(home, tmp_path):
    s = Store(home, blob_url=str(tmp_path / "blobs"), org="acme", entity="team", project="demo")
    yield s
    s.close()


def whole_version(store, make_files, files: dict, name="m"):
    return log(store, make_files, files, name, whole=True)


@pytest.mark.parametrize("mode", LINK_MODES)
def test_every_link_mode_writes_the_right_bytes(store, make_files, tmp_path, mode):
    big, small = data("big", BIG), b"small file"
    v = whole_version(store, make_files, {"big.bin": big, "dir/small.txt": small})
    root = tmp_path / f"out-{mode}"
    Objects(store).materialize(versions.entries(store, v), root, link_mode=mode)
    assert (root / "big.bin").read_bytes() == big
    assert (root / "dir" / "small.txt").read_bytes() == small
    assert sorted(p.name for p in root.rglob("*")) == ["big.bin", "dir", "small.txt"]  # no temp files left
    assert not (root / "dir" / "small.txt").is_symlink()  # packed: always copied
    assert os.stat(root / "dir" / "small.txt").st_nlink == 1


def test_hardlink_shares_the_inode_and_makes_the_store_copy_read_only(local_store, make_files, tmp_path):
    store = local_store
    big = data("big", BIG)
    v = whole_version(store, make_files, {"big.bin": big})
    obj = store.blobs.loose_path(hashing.digest_bytes(big))
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o600
    root = tmp_path / "out"
    Objects(store).materialize(versions.entries(store, v), root, link_mode="hardlink")
    assert os.stat(root / "big.bin").st_ino == os.stat(obj).st_ino
    assert os.stat(obj).st_nlink == 2
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o400  # write bits gone; a private store stays private
    # again into the same folder: still one link, nothing left behind
    Objects(store).materialize(versions.entries(store, v), root, link_mode="hardlink")
    assert os.stat(obj).st_nlink == 2 and os.listdir(root) == ["big.bin"]


def test_symlink_points_at_the_read_only_store_copy(local_store, make_files, tmp_path):
    store = local_store
    big = data("big", BIG)
    v = whole_version(store, make_files, {"big.bin": big})
    obj = store.blobs.loose_path(hashing.digest_bytes(big))
    root = tmp_path / "out"
    wandb.Api().artifact("team/demo/m:v0").download(str(root), link_mode="symlink")
    assert os.readlink(root / "big.bin") == obj
    assert (root / "big.bin").read_bytes() == big
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o400


def test_reflink_is_a_separate_file_and_falls_back_to_copy(local_store, make_files, tmp_path, monkeypatch):
    store = local_store
    big = data("big", BIG)
    v = whole_version(store, make_files, {"big.bin": big})
    obj = store.blobs.loose_path(hashing.digest_bytes(big))
    root = tmp_path / "out"
    Objects(store).materialize(versions.entries(store, v), root, link_mode="reflink")
    assert (root / "big.bin").read_bytes() == big
    assert os.stat(root / "big.bin").st_ino != os.stat(obj).st_ino
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o600  # a clone shares nothing writable

    import fcntl

    def no_clone(*args):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(fcntl, "ioctl", no_clone)
    Objects(store).materialize(versions.entries(store, v), tmp_path / "fallback", link_mode="reflink")
    assert (tmp_path / "fallback" / "big.bin").read_bytes() == big


def test_reflink_clones_where_the_filesystem_can(home, make_files, tmp_path, monkeypatch):
    """On btrfs/XFS the file is a real clone; set LOCALREG_TEST_REFLINK_DIR to such a folder to see it."""
    import fcntl

    where = os.environ.get("LOCALREG_TEST_REFLINK_DIR") or str(tmp_path)
    blobs = os.path.join(where, f"blobs-{os.getpid()}-{time.time_ns()}")
    store = Store(home, blob_url=blobs, org="acme", entity="team", project="demo")
    big = data("big", BIG)
    v = whole_version(store, make_files, {"big.bin": big})
    cloned = []
    real_ioctl = fcntl.ioctl

    def spy(fd, request, arg):
        result = real_ioctl(fd, request, arg)
        cloned.append(request)
        return result

    monkeypatch.setattr(fcntl, "ioctl", spy)
    out = os.path.join(blobs, "..", f"out-{os.getpid()}-{time.time_ns()}")
    try:
        Objects(store).materialize(versions.entries(store, v), out, link_mode="reflink")
        with open(os.path.join(out, "big.bin"), "rb") as f:
            assert f.read() == big
        probe_src, probe_dst = os.path.join(blobs, "probe-a"), os.path.join(blobs, "probe-b")
        with open(probe_src, "wb") as f:
            f.write(b"probe")
        from localreg.objects import _reflink
        monkeypatch.setattr(fcntl, "ioctl", real_ioctl)
        supported = _reflink(probe_src, probe_dst)
        assert cloned == ([0x40049409] if supported else [])
    finally:
        store.close()
        if where != str(tmp_path):
            import shutil
            shutil.rmtree(out, ignore_errors=True)
            for root, dirs, files in os.walk(blobs):
                for name in files:
                    os.chmod(os.path.join(root, name), 0o600)
            shutil.rmtree(blobs, ignore_errors=True)


def test_link_modes_copy_from_a_memory_store_and_for_chunked_files(store, make_files, tmp_path):
    big = data("big", BIG)
    v = whole_version(store, make_files, {"big.bin": big})
    cdc = log(store, make_files, {"c.bin": data("cdc", 2 << 20)}, "chunked")
    for ver in (v, cdc):
        root = tmp_path / f"out-{ver.id}"
        Objects(store).materialize(versions.entries(store, ver), root, link_mode="hardlink")
        [f] = list(root.iterdir())
        if not store.blobs.is_local or ver is cdc:
            assert os.stat(f).st_nlink == 1 and not f.is_symlink()


def test_a_copy_over_an_earlier_hardlinked_download_never_writes_into_the_store(local_store, make_files, tmp_path):
    store = local_store
    big = data("big", BIG)
    v0 = whole_version(store, make_files, {"f.bin": big, "g.bin": data("g", BIG)})
    v1 = log(store, make_files, {"f.bin": b"now small", "g.bin": data("g2", BIG)}, whole=True)
    root = tmp_path / "out"
    Objects(store).materialize(versions.entries(store, v0), root, link_mode="hardlink")
    Objects(store).materialize(versions.entries(store, v1), root)
    assert (root / "f.bin").read_bytes() == b"now small"
    assert fsck_mod.verify(store).ok
    assert Objects(store).read_bytes(hashing.digest_bytes(big)) == big


def test_a_corrupt_loose_object_is_never_linked(local_store, make_files, tmp_path):
    store = local_store
    big = data("big", BIG)
    v = whole_version(store, make_files, {"big.bin": big})
    overwrite(store, store.blobs.loose_path(hashing.digest_bytes(big)), 0, b"!")
    root = tmp_path / "out"
    for mode in ("hardlink", "symlink", "copy"):
        with pytest.raises(CorruptBlob):
            Objects(store).materialize(versions.entries(store, v), root, link_mode=mode)
        assert list(root.iterdir()) == []


def test_an_unknown_link_mode_is_refused(store, make_files, tmp_path):
    v = log(store, make_files, {"x": b"x"})
    with pytest.raises(InvalidInput, match="link mode must be one of copy, hardlink, symlink, reflink, not 'move'"):
        Objects(store).materialize(versions.entries(store, v), tmp_path / "o", link_mode="move")
    assert not (tmp_path / "o").exists()


# == CLI ==================================================================================


def invoke(runner, *args):
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def ok(runner, *args):
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return result


def assert_error(result, line: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.strip().splitlines()[-1] == line


@pytest.mark.parametrize("text, seconds", [("0", 0), ("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800),
                                           ("1.5h", 5400), ("45", 45), ("1w", 604800)])
def test_durations(text, seconds):
    assert Duration().convert(text, None, None) == seconds


def test_cli_gc(three, runner):
    store = three["store"]
    versions.delete(store, three["old"])
    versions.delete(store, three["other"])
    kept = ok(runner, "gc")
    assert kept.output.splitlines() == [
        "Freed 0 B (0 bytes): 0 loose objects, 0 packs and 0 orphan files; 0 unneeded blobs left the index",
        "Kept 3 unneeded blobs and files younger than the grace period",
    ]
    tick(store)
    dry = ok(runner, "gc", "--dry-run", "--grace", "0")
    assert f"Would remove loose {three['d']['big']}" in dry.output.splitlines()
    assert "Would free" in dry.output and "would leave the index" in dry.output
    result = ok(runner, "--json", "gc", "--grace", "0s")
    report = json.loads(result.output)
    assert report["chunks_removed"] == 3 and report["loose_removed"] == 1 and report["packs_removed"] == 1
    assert report["pack_bytes_dead"] == three["size"]["A"] and report["dry_run"] is False
    again = ok(runner, "gc", "--grace", "0").output.splitlines()
    assert again[0].startswith("Freed 0 B (0 bytes)")
    assert again[1] == f"{three['size']['A'] / 1024:.1f} KB of dead space stays in packs that still hold needed blobs"


def test_cli_gc_prints_what_it_removed(store, runner, make_files):
    if not (store.blobs.is_local or hasattr(store.blobs.fs, "store")):
        pytest.skip("an S3 object cannot be backdated and the CLI opens its own store; "
                    "the gc tests above age S3 blobs through the store's clock")
    v = log(store, make_files, {"x.bin": data("x", BIG)}, whole=True)
    versions.delete(store, v)
    tmp = put(store, "tmp/1-abc", b"12345")
    age(store, tmp, 100)
    time.sleep(0.01)
    lines = ok(runner, "gc", "--grace", "1m").output.splitlines()
    assert lines == [f"Removed temp file {tmp}",
                     "Freed 5 B (5 bytes): 0 loose objects, 0 packs and 1 orphan file; 0 unneeded blobs left the index",
                     "Kept 1 unneeded blob or file younger than the grace period"]


def test_cli_gc_expires_versions(store, runner, make_files):
    v = log(store, make_files, {"x.bin": b"x"})
    versions.update(store, v, ttl_seconds=0.001)
    time.sleep(0.01)
    assert ok(runner, "gc", "--dry-run").output.splitlines()[0] == f"Would delete expired version {v.qualified_name}"
    assert ok(runner, "gc").output.splitlines()[0] == f"Deleted expired version {v.qualified_name}"


@pytest.mark.parametrize("grace", ["1x", "-1", "h", "1 hour"])
def test_cli_gc_refuses_a_bad_duration(store, runner, grace):
    result = invoke(runner, "gc", "--grace", grace)
    assert_error(result, f"Error: Invalid value for '--grace': {grace!r} is not a duration: "
                         "use e.g. 0, 30s, 10m, 1h or 2d", code=2)


def test_cli_fsck(linked, runner):
    store, v = linked["store"], linked["v"]
    assert ok(runner, "fsck").output == f"OK: store {store.home} is consistent\n"
    raw_sql(store, ("INSERT INTO aliases (collection_id, alias, version_id) VALUES (?, 'ghost', 9999)",
                    [v.collection_id]))
    before = snapshot(store)
    result = invoke(runner, "fsck")
    msg = (f"alias 'ghost' of collection id {v.collection_id} points at version id 9999, "
           "which does not exist in that collection")
    assert result.stdout == f"problem: {msg}\n"
    assert_error(result, f"Error: 1 problem found in store {store.home}; "
                         "'localreg fsck --repair' fixes what it safely can")
    assert snapshot(store) == before
    data_ = json.loads(invoke(runner, "--json", "fsck").stdout)
    assert data_["ok"] is False and data_["problems"] == [{"kind": "alias", "message": msg, "repairable": True}]
    repaired = ok(runner, "fsck", "--repair")
    assert repaired.output.splitlines() == [f"problem: {msg}", f"repaired: fixed alias: {msg}",
                                            f"OK: store {store.home} is consistent (1 repair made)"]
    assert ok(runner, "fsck").exit_code == 0


def test_cli_fsck_repair_says_what_it_cannot_fix(linked, runner):
    store = linked["store"]
    remove(store, store.blobs.loose_path(linked["big"]))
    tmp = put(store, "tmp/leftover", b"x")
    result = invoke(runner, "fsck", "--repair")
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"problem: blob {linked['big']} is missing")
    assert f"leftover: temp file {tmp} (gc removes it)" in lines
    assert f"repaired: dropped the index row of lost blob {linked['big']}" in lines
    assert lines[-1].startswith(f"cannot repair: blob {linked['big']} is needed by {linked['v'].qualified_name}")
    assert_error(result, f"Error: 1 problem remains in store {store.home} after repair")
    result = json.loads(invoke(runner, "--json", "fsck", "--repair").stdout)
    assert result["clean"] is False and len(result["unrepaired"]) == 1


def test_cli_delete(linked, runner, make_files):
    store, v, link = linked["store"], linked["v"], linked["link"]
    log(store, make_files, {"n.bin": b"v1"}, aliases=["staging"])
    before = snapshot(store)
    assert_error(invoke(runner, "delete", "demo/m"),
                 "Error: 'demo/m' names no version: add :vN or :ALIAS (e.g. demo/m:v0) to say which one to delete")
    assert_error(invoke(runner, "delete", "demo/m:v9"), 'Error: artifact "m:v9" not found in project team/demo')
    assert_error(invoke(runner, "delete", "demo/m:v1"),
                 "Error: team/demo/m:v1 has aliases staging; pass --delete-aliases to delete it with them")
    assert_error(invoke(runner, "delete", "demo/m:v0"),
                 f"Error: team/demo/m:v0 is linked to {link.qualified_name}; pass --unlink to unlink it and delete it")
    assert snapshot(store) == before

    assert ok(runner, "delete", "demo/m:staging", "--delete-aliases").output == (
        "Deleted team/demo/m:v1; its blobs stay until 'localreg gc'\n")
    assert versions.resolve(store, "m:latest").id == v.id
    out = json.loads(ok(runner, "--json", "delete", "demo/m:v0", "--unlink").output)
    assert out == {"deleted": v.qualified_name, "aliases": ["latest"], "unlinked": [link.qualified_name]}
    with pytest.raises(NotFound):
        versions.resolve(store, "wandb-registry-model/m:prod")
    time.sleep(0.01)
    assert json.loads(ok(runner, "--json", "gc", "--grace", "0").output)["chunks_removed"] == 3


def test_cli_delete_of_a_linked_ref_unlinks_it(linked, runner):
    store, v, link = linked["store"], linked["v"], linked["link"]
    assert ok(runner, "delete", "wandb-registry-model/m:prod").output == (
        f"Unlinked {link.qualified_name} (source {v.qualified_name} stays)\n")
    assert versions.resolve(store, "m:v0").id == v.id
    assert versions.links_of(store, v) == []


def test_cli_verify_all(linked, runner):
    store, v, link = linked["store"], linked["v"], linked["link"]
    assert ok(runner, "verify", "--all").output == f"OK: 2 blobs in store {store.home} match their digests\n"
    assert json.loads(ok(runner, "--json", "verify", "--all").output) == {
        "ok": True, "checked": 2, "bad": {}, "versions": {}}
    overwrite(store, store.blobs.loose_path(linked["big"]), 5, b"??")
    result = invoke(runner, "verify", "--all")
    assert result.stdout == (f"blob {linked['big']} is corrupt (its bytes do not match its digest) "
                             f"(needed by {v.qualified_name}, {link.qualified_name})\n")
    assert_error(result, f"Error: 1 of 2 blobs missing or corrupt in store {store.home}")
    # verify REF works as before
    assert invoke(runner, "verify", "demo/m:v0").exit_code == 1
    assert_error(invoke(runner, "verify"),
                 "Error: give a REF to verify, or --all to verify every stored blob", code=2)
    assert_error(invoke(runner, "verify", "demo/m:v0", "--all"),
                 "Error: --all verifies every stored blob: give no REF or --root with it", code=2)


def test_cli_get_with_a_link_mode(local_store, runner, make_files, tmp_path):
    store = local_store
    big = data("big", BIG)
    whole_version(store, make_files, {"big.bin": big})
    obj = store.blobs.loose_path(hashing.digest_bytes(big))
    ok(runner, "get", "demo/m:v0", "--root", tmp_path / "h", "--link-mode", "hardlink")
    assert os.stat(tmp_path / "h" / "big.bin").st_ino == os.stat(obj).st_ino
    ok(runner, "get", "demo/m:v0", "--root", tmp_path / "s", "--link-mode", "symlink")
    assert os.readlink(tmp_path / "s" / "big.bin") == obj
    ok(runner, "get", "demo/m:v0", "--root", tmp_path / "c")
    assert os.stat(tmp_path / "c" / "big.bin").st_ino != os.stat(obj).st_ino
    result = invoke(runner, "get", "demo/m:v0", "--link-mode", "move")
    assert result.exit_code == 2 and "Invalid value for '--link-mode'" in result.stderr


def test_cli_upkeep_commands_need_a_store(runner):
    for args in (["gc"], ["fsck"], ["verify", "--all"], ["delete", "m:v0"]):
        result = invoke(runner, *args)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: no localreg store at ")


# == backup and restore ==========================================================================

BACKUP_WRITER = r"""
import os, sys
import localreg as wandb
w, stop = sys.argv[1], sys.argv[2]
run = wandb.init(entity="team", project="bk", job_type="writer")
i = 0
while not os.path.exists(stop) and i < 400:
    artifact = wandb.Artifact("w" + w, type="model", metadata={"i": i, "note": "é" * (i % 7)})
    with artifact.new_file("id.txt") as f:
        f.write(f"{w}-{i}" * (1 + i % 50))
    logged = run.log_artifact(artifact)
    run.link_artifact(logged, "wandb-registry-model/bk", aliases=["w" + w])
    i += 1
run.finish()
print(i)
"""


def test_backup_while_writers_run_is_consistent_and_restores(home, tmp_path, runner):
    import subprocess
    import sys

    from localreg import backup as backup_mod

    Store(home, org="acme").close()
    stop = tmp_path / "stop"
    env = dict(os.environ, LOCALREG_HOME=str(home), LOCALREG_ORG="acme")
    writers = [subprocess.Popen([sys.executable, "-c", BACKUP_WRITER, str(w), str(stop)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(2)]
    copies = []
    try:
        store = Store(home)
        deadline = time.time() + 120
        while len(copies) < 4 and time.time() < deadline:
            if store.db.execute("SELECT count(*) FROM versions").fetchone()[0] > 6 * (len(copies) + 1):
                path = tmp_path / f"backup-{len(copies)}.db"
                if len(copies) % 2:
                    report = backup_mod.backup(store, path)
                    assert report.integrity == "ok" and report.path == str(path)
                else:  # the command, in a process of its own
                    out = subprocess.run([sys.executable, "-m", "localreg", "--home", str(home), "backup", str(path)],
                                         env=env, capture_output=True, text=True, timeout=120)
                    assert out.returncode == 0, out.stderr
                    assert out.stdout.startswith(f"Wrote backup {path} (") and "integrity check ok" in out.stdout
                    assert f"localreg --home {home} restore {path}" in out.stdout
                copies.append(path)
            time.sleep(0.05)
    finally:
        stop.write_text("stop")
        outs = [p.communicate(timeout=300) for p in writers]
    for p, (out, err) in zip(writers, outs):
        assert p.returncode == 0, err
    assert len(copies) == 4
    counts = []
    for i, path in enumerate(copies):
        restored = tmp_path / f"restored-{i}"
        result = invoke(runner, "--home", restored, "restore", path)
        assert result.exit_code == 0, result.output
        s = Store(restored)  # the same store (its blobs are the live store's): same id
        assert s.store_id == store.store_id
        report = fsck_mod.fsck(s)
        assert report.ok, [p.message for p in report.problems]
        assert fsck_mod.verify(s).ok
        n = s.db.execute("SELECT count(*) FROM versions").fetchone()[0]
        links = s.db.execute("SELECT count(*) FROM versions WHERE source_id IS NOT NULL").fetchone()[0]
        assert n > 0 and links <= n - links  # a link is never there without its source
        counts.append(n)
        s.close()
    assert counts == sorted(counts)  # each later backup holds at least what the earlier did
    store.close()


def test_backup_refuses_to_overwrite_and_checks_its_destination(store, home, make_files, tmp_path, runner):
    from localreg import backup as backup_mod
    from localreg.errors import AlreadyExists

    log(store, make_files, {"a.bin": b"alpha"}, "m")
    dest = tmp_path / "b.db"
    dest.write_bytes(b"precious")
    with pytest.raises(AlreadyExists, match=f"backup destination {dest} exists: pass force=True"):
        backup_mod.backup(store, dest)
    result = invoke(runner, "--home", home, "backup", dest)
    assert_error(result, f"Error: backup destination {dest} exists: pass force=True (--force) to overwrite it")
    assert dest.read_bytes() == b"precious"
    with pytest.raises(InvalidInput, match="the store's own database"):
        backup_mod.backup(store, home / "localreg.db")
    with pytest.raises(InvalidInput, match="does not exist"):
        backup_mod.backup(store, tmp_path / "nowhere" / "b.db")
    with pytest.raises(InvalidInput, match="is a folder"):
        backup_mod.backup(store, tmp_path)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    out = ok(runner, "--home", home, "--json", "backup", dest, "--force").stdout
    got = json.loads(out)
    assert got["path"] == str(dest) and got["integrity"] == "ok" and got["versions"] == 1
    assert got["store_id"] == store.store_id
    assert dest.read_bytes()[:16] == b"SQLite format 3\x00"


def test_restore_replaces_a_broken_database_and_keeps_the_old_files(store, home, make_files, tmp_path, runner):
    from localreg import backup as backup_mod
    from localreg.errors import AlreadyExists

    v = log(store, make_files, {"a.bin": b"alpha"}, "m")
    backup_mod.backup(store, tmp_path / "b.db")
    log(store, make_files, {"a.bin": b"beta"}, "m")
    with pytest.raises(AlreadyExists, match="is healthy: restoring .* would drop every change"):
        backup_mod.restore(home, tmp_path / "b.db")
    assert versions.resolve(store, "m:v1")
    store.close()
    db_path = home / "localreg.db"
    os.truncate(db_path, 0)  # the lost database: refused until restored
    (home / "localreg.db-wal").write_bytes(b"stale")  # a WAL that must not be replayed into the restored file
    result = ok(runner, "--home", home, "restore", tmp_path / "b.db")
    assert f"Restored {tmp_path / 'b.db'} into {home} (1 version)" in result.stdout
    aside = sorted(p.name for p in home.iterdir() if ".replaced-" in p.name)
    assert len(aside) == 2 and aside[0].startswith("localreg.db.replaced-") and aside[1].endswith("-wal")
    assert not (home / "localreg.db-wal").exists() or (home / "localreg.db-wal").read_bytes() != b"stale"
    s = Store(home)
    assert versions.resolve(s, "m:latest").id == v.id
    assert fsck_mod.fsck(s).ok and fsck_mod.verify(s).ok
    s.close()


def test_restore_refuses_a_corrupt_backup_and_another_stores_backup(store, home, tmp_path, make_files):
    from localreg import backup as backup_mod
    from localreg.errors import CorruptDatabase

    log(store, make_files, {"a.bin": b"alpha"}, "m")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(CorruptDatabase, match="bad.db"):
        backup_mod.restore(home, bad, force=True)
    other = Store(tmp_path / "other", blob_url=str(tmp_path / "other-blobs"))
    theirs = tmp_path / "theirs.db"
    backup_mod.backup(other, theirs)
    other.close()
    # their backup names their blob store: pointing it at ours means editing it, which the marker catches
    conn = __import__("sqlite3").connect(theirs)
    conn.execute("UPDATE store_info SET value = ? WHERE key = 'blob_url'", [store.blob_url])
    conn.commit()
    conn.close()
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="this backup is of another store"):
        backup_mod.restore(home, theirs)
    assert snapshot(store) == before


def test_docs_backup_runs_as_written(tmp_path):
    """docs/backup.md's bash blocks, in order, in a sandbox: back up, lose the database, be refused, restore."""
    import re
    import subprocess
    import sys

    page = (Path(__file__).resolve().parent.parent / "docs" / "backup.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", page, re.S)
    assert len(blocks) == 3
    box = tmp_path / "box"
    (box / "bin").mkdir(parents=True)
    shim = box / "bin" / "localreg"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m localreg "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, LOCALREG_HOME=str(box / "home"), PATH=f"{box / 'bin'}:{os.environ['PATH']}")
    for code in blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=box, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (code, done.stdout, done.stderr)
    assert "OK: " in done.stdout and "match their digests" in done.stdout
