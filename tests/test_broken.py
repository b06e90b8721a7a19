"""Broken stores, broken disks and broken input folders: a clear error, never a traceback, nothing half-written.

* a blob changed on disk after it was stored: download and verify name it,
  and no corrupt file is handed out under its final name;
* a corrupt, truncated or newer ``localreg.db``: a :class:`StoreError`
  naming the file (the CLI prints one ``Error:`` line);
* a read-only store: browsing and downloading work, every write says why it
  cannot (tests use ``readonly=True``: they run as root, and root ignores
  file permissions);
* a full disk: real child processes with a file size limit
  (``RLIMIT_FSIZE``), so writes fail with EFBIG as they would with ENOSPC;
* a home on a network filesystem: detected from ``/proc/mounts`` and warned;
* ``add_dir`` on folders with symlink loops, links out, pipes and sockets,
  and files that change while they are read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import tempfile

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import localreg as wandb
import localreg.store as store_mod
from localreg import db as dbmod
from localreg import catalog, fsck, ingest, paths, registries, runs, versions
from localreg.cli import cli
from localreg.errors import (
    CorruptBlob,
    CorruptDatabase,
    DiskFull,
    FileChanged,
    IncompatibleStore,
    InvalidInput,
    LocalregError,
    LocalregWarning,
    NotFound,
    ReadOnlyStore,
    StoreError,
    UnaccountedStore,
    VerificationError,
)
from localreg.objects import PACK_LIMIT, Objects
from localreg.store import Store, __version__

from conftest import snapshot

WAY_OUT = "restore the latest backup ('localreg restore BACKUP'), or move the file aside and rebuild the chunk index"

REPO = Path(__file__).resolve().parent.parent


def state(store: Store) -> tuple:
    """Every row (but the audit log and stat cache) and every blob file, temp files included."""
    blobs = store.blobs
    return (
        snapshot(store),
        sorted(d for d, _s, _m in blobs.list_loose()),
        sorted(n for n, _s, _m in blobs.list_packs()),
        sorted(p for p, _s, _m in blobs.list_tmp()),
    )


def cli_error(runner, *args, env=None):
    """Run the CLI expecting one ``Error:`` line and exit code 1; return that line."""
    result = runner.invoke(cli, [str(a) for a in args], env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def flip_byte(store: Store, path: str, offset: int) -> None:
    """Change one stored byte in place, on either blob backend."""
    fs = store.blobs.fs
    if store.blobs.is_local:
        with open(path, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0xFF]))
    else:
        data = bytearray(fs.cat_file(path))
        data[offset] ^= 0xFF
        fs.pipe_file(path, bytes(data))


def where_stored(store: Store, digest: str) -> tuple[str, str, int]:
    """``(blob digest, blob path, offset)`` holding the first byte of file ``digest``."""
    row = store.db.execute("SELECT pack, offset FROM chunks WHERE digest = ?", [digest]).fetchone()
    if row is None:  # a chunked file: its first chunk
        chunks = json.loads(store.db.execute("SELECT chunks FROM chunked_files WHERE digest = ?", [digest])
                            .fetchone()[0])
        digest = chunks[0][0]
        row = store.db.execute("SELECT pack, offset FROM chunks WHERE digest = ?", [digest]).fetchone()
    pack, offset = row
    if pack is None:
        return digest, store.blobs.loose_path(digest), 0
    return digest, store.blobs.pack_path(pack), offset


# -- 1. a blob changed on disk after it was stored ------------------------------------------------


@pytest.mark.parametrize("kind", ["packed", "chunked", "loose"])
def test_a_blob_changed_on_disk_is_named_by_download_and_verify(store, make_files, tmp_path, kind):
    big = os.urandom(3 * PACK_LIMIT)
    root = make_files({"a.txt": "alpha", "z.txt": "zulu", "big.bin": big})
    with wandb.init(project="demo") as run:
        art = wandb.Artifact("data", "dataset")
        if kind == "loose":  # a big file stored whole: one loose object
            art.add_file(os.path.join(root, "big.bin"), policy="immutable")
            art.add_file(os.path.join(root, "a.txt"))
        else:
            art.add_dir(root)
        logged = run.log_artifact(art)
    target = "a.txt" if kind == "packed" else "big.bin"
    entry = logged.get_entry(target)
    bad, path, offset = where_stored(store, entry.digest)
    flip_byte(store, path, offset)

    out = tmp_path / "download"
    with pytest.raises(CorruptBlob) as exc:
        logged.download(root=str(out))
    assert exc.value.digest == bad and bad in str(exc.value)
    assert isinstance(exc.value, OSError)
    assert not (out / target).exists()  # nothing corrupt under its final name ...
    assert not [p for p in out.rglob("*") if "localreg-tmp" in p.name]  # ... nor under a temp name

    report = fsck.verify(store, versions.resolve(store, "data:v0"))
    # keyed by the file's digest; the message names the blob (for a chunked file: the chunk) that is bad
    assert not report.ok and bad in report.bad[entry.digest]
    assert report.versions[entry.digest] == ["team/demo/data:v0"]
    with pytest.raises(CorruptBlob, match=bad):
        logged.get_entry(target).download(root=str(tmp_path / "one"))


def test_verify_names_a_downloaded_file_changed_afterwards(store, make_files, tmp_path):
    root = make_files({"a.txt": "alpha", "dir/b.txt": "beta"})
    with wandb.init(project="demo") as run:
        art = wandb.Artifact("data", "dataset")
        art.add_dir(root)
        logged = run.log_artifact(art)
    out = logged.download(root=str(tmp_path / "dl"))
    logged.verify(out)
    Path(out, "dir", "b.txt").write_text("BETA")
    with pytest.raises(VerificationError, match="changed file 'dir/b.txt'") as exc:
        logged.verify(out)
    assert exc.value.problems == [f"changed file 'dir/b.txt': {hashlib_digest(b'BETA')} != "
                                  f"{logged.get_entry('dir/b.txt').digest}"]


def hashlib_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- 2. corrupt, truncated and newer databases ------------------------------------------------------


def populated(home: Path, make_files, n: int = 40) -> Store:
    """A file-backed store with ``n`` versions (enough pages to corrupt one table and not another)."""
    s = Store(home, org="acme", entity="team", project="demo")
    for i in range(n):
        root = make_files({f"f{i}.txt": f"{i}" * 3000, "same.txt": "same"})
        v, _ = ingest.log_path(s, root, name=f"m{i % 4}", type="model", metadata={"i": i, "pad": "p" * 2000})
    registries.link(s, v, "wandb-registry-model/best")
    s.close()
    return s


def _checkpoint(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db_path}{suffix}")


CORRUPTIONS = {
    "garbage": lambda p: p.write_bytes(os.urandom(64 << 10)),
    "text": lambda p: p.write_bytes(b"this is not a database\n" * 500),
    "truncated to 1/2": lambda p: os.truncate(p, p.stat().st_size // 2),
    "truncated to 100 bytes": lambda p: os.truncate(p, 100),
    "header zeroed": lambda p: _overwrite(p, 0, b"\0" * 100),
    "schema page garbled": lambda p: _overwrite(p, 100, os.urandom(3000)),
    "middle garbled": lambda p: _overwrite(p, p.stat().st_size // 3, os.urandom(p.stat().st_size // 3)),
}


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_a_corrupt_database_is_a_store_error_naming_the_file(home, make_files, runner, how):
    populated(home, make_files)
    db_path = home / "localreg.db"
    _checkpoint(db_path)
    CORRUPTIONS[how](db_path)
    with pytest.raises(StoreError) as exc:
        s = Store(home)
        # a few pages may survive: then the first query that reaches a broken one says so
        versions.list_versions(s, limit=1000)
        versions.resolve(s, "m1:v3")
        fsck.verify(s)
    assert type(exc.value) is CorruptDatabase and isinstance(exc.value, StoreError)
    assert isinstance(exc.value, OSError)
    assert f"the database {db_path} is corrupt" in str(exc.value)
    assert WAY_OUT in str(exc.value)
    line = cli_error(runner, "--home", home, "ls")
    assert f"the database {db_path} is corrupt" in line and WAY_OUT in line


def test_a_table_corrupt_inside_a_readable_database(home, make_files, runner, tmp_path):
    """The schema reads, so the store opens; each verb that reaches the broken table fails cleanly."""
    populated(home, make_files)
    db_path = home / "localreg.db"
    _checkpoint(db_path)
    conn = sqlite3.connect(db_path)
    try:
        pages = conn.execute("SELECT pageno FROM dbstat WHERE name = 'entries'").fetchall()
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")
    finally:
        conn.close()
    for (page,) in pages:
        _overwrite(db_path, (page - 1) * 4096, b"\xff" * 64)

    s = Store(home)
    assert [v.qualified_name for v in versions.list_versions(s, filter={"name": "m1"}).items][:1] == [
        "team/demo/m1:v0"]  # the versions table is intact
    calls = [
        lambda: versions.entries(s, versions.resolve(s, "m1:v3")),
        lambda: wandb.Api().artifact("m1:v3").download(root=str(tmp_path / "dl")),
        lambda: ingest.log_path(s, make_files({"new.txt": "new"}), name="m1", type="model"),
        lambda: fsck.verify(s),
    ]
    for call in calls:
        with pytest.raises(StoreError, match="localreg.db is corrupt"):
            call()
    assert not list((tmp_path / "dl").rglob("*.txt"))
    assert str(db_path) in cli_error(runner, "--home", home, "get", "m1:v3", "--root", tmp_path / "cli")


def text_store(home: Path, make_files) -> Path:
    """A closed store whose rows hold non-ASCII text and JSON; returns its checkpointed database file."""
    s = Store(home, org="acme", entity="team", project="demo")
    for i in range(3):
        v, _ = ingest.log_path(s, make_files({f"f{i}.txt": f"{i}" * 500}), name="m", type="model",
                               metadata={"note": "héllo wörld", "i": i}, description="modèle ünïcode")
    registries.link(s, v, "wandb-registry-model/best")
    s.close()
    _checkpoint(home / "localreg.db")
    return home / "localreg.db"


def _replace_all(path: Path, old: bytes, new: bytes) -> None:
    raw = path.read_bytes()
    assert old in raw and len(old) == len(new), old
    path.write_bytes(raw.replace(old, new))


# a byte changed inside a text cell or inside the schema's text: the file still opens
TEXT_FLIPS = {
    "metadata not UTF-8": ('"note":"h\xc3\xa9llo'.encode("latin-1"), b'"note":"h\xc3\x29llo'),
    "metadata not JSON": (b'{"i":0,"note"', b'{"i":0#"note"'),
    "description not UTF-8": ("modèle".encode(), b"mod\xe8\xffle"),
    "schema not UTF-8": (b"CREATE TABLE projects", b"CREATE TABLE pro\xffects"),
}


@pytest.mark.parametrize("how", list(TEXT_FLIPS))
def test_a_byte_flipped_inside_text_is_the_corrupt_database_error(home, make_files, runner, tmp_path, how):
    db_path = text_store(home, make_files)
    _replace_all(db_path, *TEXT_FLIPS[how])
    expected = f"the database {db_path} is corrupt"
    files_before = home_files(home)

    def library_calls(s):
        return [lambda: versions.list_versions(s), lambda: versions.resolve(s, "m:v0"),
                lambda: wandb.Api().artifact("m:v0").metadata]

    with pytest.raises(CorruptDatabase) as exc:
        s = Store(home)
        for call in library_calls(s):
            call()
    assert expected in str(exc.value) and WAY_OUT in str(exc.value)
    assert isinstance(exc.value, StoreError) and exc.value.path == str(db_path)
    commands = [["ls"], ["show", "m:v0"], ["--json", "show", "m:v0"], ["get", "m:v0", "--root", tmp_path / "dl"]]
    if how == "schema not UTF-8":  # nothing can be prepared: every command says so
        commands += [["fsck"], ["verify", "--all"], ["gc", "--dry-run"], ["registry", "ls"], ["backup", tmp_path / "b"],
                     ["log", make_files({"x.txt": "x"}), "-p", "demo", "-n", "m", "-t", "model"]]
    for args in commands:
        line = cli_error(runner, "--home", home, *args)
        assert expected in line and WAY_OUT in line, args
    after = {k: v for k, v in home_files(home).items() if not k.endswith(("-wal", "-shm"))}
    assert after == files_before  # nothing written (SQLite's WAL index files aside)
    assert not (tmp_path / "dl").exists() and not (tmp_path / "b").exists()


# changes hypothesis may make to the database file: (where: anywhere past the header, or inside text, the
# schema's or a row's; position as a fraction of that range; the new byte, often one that breaks UTF-8 or JSON)
_FLIPS = st.lists(st.tuples(st.sampled_from(["anywhere", "text"]), st.floats(0, 1, exclude_max=True),
                            st.one_of(st.integers(0, 255), st.sampled_from([0x80, 0xC3, 0xFF, 0x23, 0x22, 0x20]))),
                  min_size=1, max_size=40)
_TEXT = (b"CREATE TABLE", b"CREATE INDEX", b'"note"', "modèle".encode(), b"sha256:", b"wandb-registry")


def _text_offsets(raw: bytes) -> list[int]:
    """Offsets of bytes inside the schema's text and inside text cells (metadata, names, digests)."""
    out = set()
    for needle in _TEXT:
        at = raw.find(needle)
        while at >= 0:
            out.update(range(at, min(at + 48, len(raw))))
            at = raw.find(needle, at + 1)
    return sorted(o for o in out if o >= 100)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(flips=_FLIPS)
def test_scattered_byte_flips_in_the_database_give_a_clean_error(home, make_files, tmp_path, flips):
    """Whatever bytes change in localreg.db, every verb either works or raises a LocalregError; the CLI never
    shows a traceback and exits 0 or 1."""
    if not (home / "localreg.db").exists():
        text_store(home, make_files)
        (tmp_path / "pristine.db").write_bytes((home / "localreg.db").read_bytes())
    raw = bytearray((tmp_path / "pristine.db").read_bytes())
    text = _text_offsets(bytes(raw))
    for kind, where, value in flips:
        if kind == "text":
            raw[text[int(where * len(text))]] = value
        else:  # past the 100-byte header: "not a database" is tested above
            raw[100 + int(where * (len(raw) - 100))] = value
    case = Path(tempfile.mkdtemp(dir=tmp_path))
    (case / "localreg.db").write_bytes(bytes(raw))  # blob_url in the copy still names home/blobs

    def verbs(s):
        return [
            lambda: versions.list_versions(s), lambda: versions.resolve(s, "m:v1"),
            lambda: versions.entries(s, versions.resolve(s, "m:latest")),
            lambda: registries.list_registries(s), lambda: fsck.fsck(s), lambda: fsck.verify(s),
            lambda: runs.logged_by(s, versions.resolve(s, "m:v2")),
            lambda: catalog.project_collections(s),
            lambda: Objects(s).materialize(versions.entries(s, versions.resolve(s, "m:v0")), case / "dl"),
        ]

    try:
        s = Store(case)
    except LocalregError:
        s = None
    for call in verbs(s) if s is not None else []:
        try:
            call()
        except LocalregError:
            pass
    if s is not None:
        s.close()
    runner = CliRunner()
    for args in (["ls"], ["show", "m:v0"], ["fsck"], ["verify", "--all"]):
        result = runner.invoke(cli, ["--home", str(case), *args])
        assert result.exit_code in (0, 1), (args, result.output, result.exception)
        assert "Traceback" not in result.output
        if result.exit_code == 1:
            assert isinstance(result.exception, SystemExit)
            assert result.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_cli_turns_any_leftover_sqlite_error_into_one_line(home, make_files, runner, monkeypatch):
    populated(home, make_files, n=2)

    def broken(*_a, **_k):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr("localreg.catalog.project_collections", broken)
    line = cli_error(runner, "--home", home, "ls")
    assert line == f"Error: cannot use the database {home / 'localreg.db'}: database disk image is malformed"


def test_a_store_from_a_newer_localreg_is_refused_naming_both_versions(store, home, runner):
    store.db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        [dbmod.SCHEMA_SET, "m999_from_the_future", "2099-01-01"],
    )
    store.db.execute("UPDATE store_info SET value = '9.4.0' WHERE key = 'written_by'")
    store.close()
    with pytest.raises(IncompatibleStore) as exc:
        Store(home)
    msg = str(exc.value)
    assert "written by localreg 9.4.0" in msg and f"this is localreg {__version__}" in msg
    assert f"(schema {dbmod.SCHEMA_VERSION + 1})" in msg and f"(schema {dbmod.SCHEMA_VERSION})" in msg
    assert "upgrade localreg" in msg
    assert isinstance(exc.value, StoreError) and isinstance(exc.value, OSError)
    line = cli_error(runner, "--home", home, "ls")
    assert "localreg 9.4.0" in line and f"localreg {__version__}" in line
    with pytest.raises(IncompatibleStore):
        wandb.Api().artifact("anything")


# -- 2b. a database lost or emptied while the blob store holds the store's data ------------------------------------

REFUSAL = ("Restore the database from a backup ('localreg restore BACKUP'), or rebuild the chunk index from "
           "the blobs ('localreg fsck --rebuild-index')")


def home_files(home: Path) -> dict:
    """Every file under the home (blobs included), with its bytes' digest: nothing written or lost."""
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file()}


def _sqlite_without_tables(p: Path) -> None:
    p.unlink()
    conn = sqlite3.connect(p)
    conn.execute("PRAGMA user_version = 7")
    conn.close()


LOSSES = {
    "truncated to 0 bytes": lambda p: os.truncate(p, 0),
    "deleted": lambda p: p.unlink(),
    "replaced by a database with no tables": _sqlite_without_tables,
}


@pytest.mark.parametrize("how", list(LOSSES))
def test_a_lost_database_over_blobs_is_refused_by_every_command(home, make_files, runner, how):
    populated(home, make_files, n=6)
    db_path = home / "localreg.db"
    _checkpoint(db_path)
    LOSSES[how](db_path)
    before = home_files(home)
    marker = json.loads((home / "blobs" / "localreg-store.json").read_text())

    for call in (lambda: Store(home), lambda: Store(home, create=True), lambda: Store(home, readonly=True),
                 lambda: store_mod.open_store(home), lambda: wandb.Api().artifact("m1:v0")):
        with pytest.raises(UnaccountedStore) as exc:
            call()
        assert isinstance(exc.value, StoreError) and isinstance(exc.value, OSError)
        msg = str(exc.value)
        assert str(db_path) in msg and f"holds the data of store {marker['store_id']}" in msg
        assert REFUSAL in msg
    with pytest.raises(UnaccountedStore):
        wandb.init(project="demo")
    src = make_files({"new.txt": "new"})
    for args in (["ls"], ["init"], ["quickstart"], ["log", src, "-p", "demo", "-n", "m", "-t", "model"],
                 ["gc", "--grace", "0"], ["fsck", "--repair"], ["verify", "--all"], ["registry", "ls"]):
        line = cli_error(runner, "--home", home, *args)
        assert REFUSAL in line, args
    after = home_files(home)
    if how == "replaced by a database with no tables":  # opening it set WAL mode in its header, and no more
        conn = sqlite3.connect(db_path)
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
        conn.close()
        del before["localreg.db"], after["localreg.db"]
    assert after == before  # nothing written, nothing lost: not even the empty database


def test_a_second_store_on_a_blob_store_with_data_is_refused(store, home, tmp_path, make_files, runner):
    """A database lost while its blobs live elsewhere: a new store on the same blob URL is refused."""
    ingest.log_path(store, make_files({"a.txt": "alpha"}), name="m", type="model")
    before = state(store)
    other = tmp_path / "other-home"
    with pytest.raises(UnaccountedStore, match=r"localreg.db is missing, but the blob store .* holds the data of store"):
        Store(other, blob_url=store.blob_url)
    line = cli_error(runner, "--home", other, "init", "--blob-url", store.blob_url)
    assert REFUSAL in line
    assert state(store) == before
    # the store itself is untouched, and opens as before
    store.close()
    assert versions.resolve(Store(home), "m:v0").file_count == 1


def test_a_database_of_another_store_is_refused(store, home, make_files):
    ingest.log_path(store, make_files({"a.txt": "alpha"}), name="m", type="model")
    marker = store.blobs.read_marker()
    assert marker["store_id"] == store.store_id == store.info()["store_id"]
    store.db.execute("UPDATE store_info SET value = 'f00d' WHERE key = 'store_id'")
    store.close()
    with pytest.raises(UnaccountedStore, match=f"belongs to store {marker['store_id']}, but the database .* "
                                               "is store f00d"):
        Store(home)


def test_a_store_from_before_markers_gets_its_marker_on_open(store, home, make_files):
    ingest.log_path(store, make_files({"a.txt": "alpha"}), name="m", type="model")
    store.blobs.fs.rm_file(store.blobs.marker_path())
    store.db.execute("DELETE FROM store_info WHERE key = 'store_id'")
    store.close()
    again = Store(home)
    assert again.store_id and again.blobs.read_marker()["store_id"] == again.store_id
    assert again.info()["store_id"] == again.store_id


def test_the_marker_is_created_once(store):
    first = store.blobs.read_marker()
    assert set(first) >= {"store_id", "created_at", "format"}
    assert store.blobs.create_marker("someone-else", "now")["store_id"] == first["store_id"]
    assert store.blobs.read_marker() == first


def test_a_damaged_marker_is_refused(store, home):
    store.blobs.fs.pipe_file(store.blobs.marker_path(), b"\x00garbage")
    store.close()
    with pytest.raises(StoreError, match="localreg-store.json is damaged"):
        Store(home)


def test_the_rebuild_path_opens_a_lost_database_and_gc_waits_for_the_rebuild(home, make_files):
    populated(home, make_files, n=3)
    (home / "localreg.db").unlink()
    blobs_before = {p for p in home_files(home) if p.startswith("blobs/")}
    s = Store(home, allow_unaccounted=True)  # what 'localreg fsck --rebuild-index' opens
    marker = json.loads((home / "blobs" / "localreg-store.json").read_text())
    assert s.store_id == marker["store_id"] and s.rebuild_pending
    from localreg import gc
    with pytest.raises(UnaccountedStore, match="rebuild"):
        gc.gc(s, grace=0)
    s.close()
    again = Store(home)  # the database now names the store: it opens, gc still waits for the rebuild
    assert again.rebuild_pending
    with pytest.raises(UnaccountedStore, match="rebuild"):
        gc.gc(again, grace=0)
    assert {p for p in home_files(home) if p.startswith("blobs/")} == blobs_before
    again.finish_rebuild()
    assert not again.rebuild_pending


# -- 3. read-only stores ---------------------------------------------------------------------------------------


@pytest.fixture
def ro(home, make_files):
    """A closed file-backed store holding one version, one link and one run; readonly is up to the test."""
    s = Store(home, org="acme", entity="team", project="demo")
    root = make_files({"a.txt": "alpha", "dir/b.txt": "beta", "big.bin": os.urandom(PACK_LIMIT + 5)})
    with wandb.init(project="demo", home=str(home)) as run:
        art = wandb.Artifact("model", "model", metadata={"acc": 0.9})
        art.add_dir(root)
        logged = run.log_artifact(art, aliases=["prod"])
        run.link_artifact(logged, "wandb-registry-model/champion", aliases=["stable"])
    s.close()
    for opened in store_mod._STORES.values():
        opened.close()
    store_mod._STORES.clear()
    return root


def read_only_writes(s: Store, make_files):
    """Every kind of write, as ``(name, call)``: each must raise ReadOnlyStore."""
    v = versions.resolve(s, "model:prod")
    link = versions.resolve(s, "wandb-registry-model/champion:stable")
    fresh = make_files({"new.txt": "never seen by the store"})
    from localreg import gc

    return [
        ("log", lambda: ingest.log_path(s, fresh, name="model", type="model")),
        ("log again", lambda: ingest.log_path(s, fresh, name="other", type="model")),
        ("add bytes", lambda: Objects(s).add_bytes(b"new bytes")),
        ("alias", lambda: versions.add_aliases(s, v, ["staging"])),
        ("unalias", lambda: versions.remove_aliases(s, v, ["prod"])),
        ("tags", lambda: versions.set_tags(s, v, ["t"])),
        ("update", lambda: versions.update(s, v, description="new")),
        ("link", lambda: registries.link(s, v, "wandb-registry-model/other")),
        ("unlink", lambda: versions.unlink(s, link)),
        ("delete", lambda: versions.delete(s, v, delete_aliases=True, unlink_links=True)),
        ("registry", lambda: registries.create_registry(s, "evals")),
        ("run", lambda: runs.start_run(s)),
        ("gc", lambda: gc.gc(s, grace=0)),
        ("fsck repair", lambda: fsck.fsck(s, repair=True)),
    ]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_read_only_store_browses_downloads_and_refuses_every_write(ro, home, make_files, tmp_path,
                                                                    monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv("LOCALREG_READONLY", "1")
        s = Store(home)
        reason = "$LOCALREG_READONLY"
    else:
        s = Store(home, readonly=True)
        reason = "readonly=True"
    assert s.readonly and not s.immutable
    before = state(s)

    # browsing and downloading
    v = versions.resolve(s, "model:prod")
    assert v.metadata == {"acc": 0.9}
    assert [x.qualified_name for x in versions.list_versions(s).items] == [
        "team/demo/model:v0", "acme/wandb-registry-model/champion:v0"]
    out = tmp_path / "dl"
    Objects(s).materialize(versions.entries(s, v), out)
    assert (out / "dir" / "b.txt").read_text() == "beta"
    assert fsck.fsck(s).ok and fsck.verify(s).ok

    for name, call in read_only_writes(s, make_files):
        with pytest.raises(ReadOnlyStore) as exc:
            call()
        assert f"store {home} is read-only ({'opened with ' + reason}" in str(exc.value), name
        assert isinstance(exc.value, StoreError) and isinstance(exc.value, OSError)
    assert state(s) == before


def test_the_facade_on_a_read_only_store(ro, home, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALREG_READONLY", "1")
    api = wandb.Api()
    linked = api.artifact("wandb-registry-model/champion:stable")
    root = linked.download(root=str(tmp_path / "dl"))
    linked.verify(root)
    assert [a.name for a in api.artifacts("model", "model")] == ["model:v0"]
    assert [r.name for r in api.registries()] == ["dataset", "model"]
    with pytest.raises(ReadOnlyStore, match="LOCALREG_READONLY"):
        wandb.init(project="demo")
    source = api.artifact("model:prod")
    source.aliases.append("staging")
    with pytest.raises(ReadOnlyStore, match="cannot write"):
        source.save()
    with pytest.raises(ReadOnlyStore):
        wandb.Artifact("x", "model").add_file(os.path.join(ro, "a.txt"))


def test_a_folder_that_cannot_be_written_is_opened_immutable(ro, home, make_files, tmp_path, monkeypatch):
    """SQLite needs a -shm file next to a WAL database; where none can be made, ``immutable=1`` reads it as it is."""
    monkeypatch.setattr(store_mod, "_writable", lambda path: False)  # root can write anywhere: pretend
    s = Store(home)
    assert s.readonly and s.immutable and "no write permission" in s.readonly_reason
    v = versions.resolve(s, "model:prod")
    Objects(s).materialize(versions.entries(s, v), tmp_path / "dl")
    assert (tmp_path / "dl" / "a.txt").read_text() == "alpha"
    assert not [p.name for p in home.iterdir() if p.name.endswith(("-wal", "-shm"))]  # nothing written, not even those
    with pytest.raises(ReadOnlyStore, match="no write permission"):
        versions.add_aliases(s, v, ["x"])


def test_read_only_never_creates_a_store(tmp_path, monkeypatch):
    with pytest.raises(NotFound, match="opened read-only"):
        Store(tmp_path / "nothing", readonly=True)
    monkeypatch.setenv("LOCALREG_READONLY", "yes")
    with pytest.raises(NotFound, match="opened read-only"):
        Store(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_read_only_from_the_cli(ro, home, runner):
    env = {"LOCALREG_READONLY": "1"}
    result = runner.invoke(cli, ["--home", str(home), "ls"], env=env)
    assert result.exit_code == 0 and "model (model, 1 version)" in result.output
    line = cli_error(runner, "--home", home, "alias", "add", "model:v0", "staging", env=env)
    assert line == f"Error: store {home} is read-only (opened with $LOCALREG_READONLY set): cannot write"


def test_explicit_readonly_false_overrides_the_environment(ro, home, monkeypatch):
    monkeypatch.setenv("LOCALREG_READONLY", "1")
    s = Store(home, readonly=False)
    versions.add_aliases(s, versions.resolve(s, "model:v0"), ["staging"])
    assert "staging" in versions.resolve(s, "model:v0").aliases


# -- 4. a full disk --------------------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    from localreg.store import Store
    from localreg import ingest, versions
    from localreg.errors import LocalregError
    home, what, arg, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = Store(home)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        if what == "log":
            ingest.log_path(store, arg, name="big", type="dataset")
        elif what == "log-whole":  # stored as one loose object, copied
            from localreg.objects import Objects
            entries = Objects(store).add_files([("big.bin", arg)], whole=True)
            versions.log_version(store, name="big", type="dataset", entries=entries)
        elif what == "describe":
            versions.update(store, versions.resolve(store, "small"), description="d" * int(arg))
        print(json.dumps({"ok": True}))
    except LocalregError as e:
        print(json.dumps({"error": [c.__name__ for c in type(e).__mro__], "message": str(e)}))
""")

FSIZE_LIMIT = 1 << 20  # the database starts well below it; every file to log is bigger


@pytest.fixture
def full_disk(home, make_files, tmp_path):
    """A file-backed store holding one small version; ``run(what, arg)`` runs a writer under ``FSIZE_LIMIT``."""
    s = Store(home, org="acme", entity="team", project="demo")
    ingest.log_path(s, make_files({"small.txt": "small"}), name="small", type="dataset")
    s.close()
    assert (home / "localreg.db").stat().st_size < FSIZE_LIMIT // 2

    def run(what: str, arg: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(home), what, arg, str(FSIZE_LIMIT)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run


@pytest.mark.parametrize("what, files", [
    ("log", {"big.bin": 3 * FSIZE_LIMIT}),                        # one file cut into chunks, packed
    ("log", {f"f{i:03}.bin": FSIZE_LIMIT // 8 for i in range(40)}),  # many small files, packed
    ("log-whole", {"big.bin": 3 * FSIZE_LIMIT}),                  # one loose object (copied: not a link)
])
def test_disk_full_while_logging_is_a_clear_error_and_leaves_nothing(full_disk, home, make_files, what, files):
    root = make_files({name: os.urandom(size) for name, size in files.items()})
    s = Store(home)
    before = state(s)
    s.close()
    arg = os.path.join(root, "big.bin") if what == "log-whole" else root
    got = full_disk(what, arg)
    assert got.get("error", [None])[0] == "DiskFull", got
    assert "StoreError" in got["error"] and "OSError" in got["error"]
    assert "disk full while writing to" in got["message"] and "File too large" in got["message"]
    s = Store(home)
    assert state(s) == before  # no version, no chunk row, no blob, no temp file
    assert not list(s.blobs.list_tmp())
    assert fsck.fsck(s).ok
    with pytest.raises(NotFound):
        versions.resolve(s, "big")
    # with room again, the same log works
    v, created = ingest.log_path(s, root, name="big", type="dataset")
    assert created and fsck.verify(s, v).ok


def test_disk_full_inside_sqlite_is_a_clear_error_and_changes_nothing(full_disk, home):
    got = full_disk("describe", str(2 * FSIZE_LIMIT))
    assert got.get("error", [None])[0] == "DiskFull", got
    assert f"disk full while writing to {home / 'localreg.db'}" in got["message"]
    s = Store(home)
    assert versions.resolve(s, "small").description == ""
    assert fsck.fsck(s).ok


def test_sqlite_database_or_disk_is_full(store, make_files):
    """SQLITE_FULL for real: the database may not grow past its current size (``max_page_count``)."""
    v, _ = ingest.log_path(store, make_files({"a.txt": "a"}), name="data", type="dataset")
    before = snapshot(store)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DiskFull, match="database or disk is full") as exc:
        versions.update(store, v, description="x" * 200_000)
    assert str(store.db_path) in str(exc.value)
    assert snapshot(store) == before


def test_blob_write_errors_that_are_not_a_full_disk_stay_themselves(store):
    from localreg.blobs import _disk_full

    err = PermissionError(13, "Permission denied")
    assert _disk_full(err, "x") is err
    full = _disk_full(OSError(28, "No space left on device"), "/somewhere")
    assert isinstance(full, DiskFull) and "/somewhere" in str(full) and "No space left" in str(full)


# -- 5. homes on network filesystems ------------------------------------------------------------------------

MOUNTS = """\
overlay / overlay rw,relatime,lowerdir=/l,upperdir=/u 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/nvme0n1p2 /home ext4 rw,relatime 0 0
fileserver:/export/home /home/shared nfs4 rw,relatime,vers=4.2 0 0
//nas/team /mnt/team\\040drive cifs rw,relatime,vers=3.1.1 0 0
alice@box:/data /mnt/ssh fuse.sshfs rw,nosuid,nodev 0 0
tmpfs /home/shared/local-cache tmpfs rw 0 0
C:\\134 /mnt/c 9p rw,noatime,aname=drvfs 0 0
10.0.0.5:/vol /mnt/lustre lustre rw 0 0
"""


@pytest.mark.parametrize("path, fstype, network", [
    ("/home/alice/.local/share/localreg", "ext4", None),
    ("/home/shared/alice/localreg", "nfs4", "nfs4"),
    ("/home/shared", "nfs4", "nfs4"),
    ("/home/sharedX/localreg", "ext4", None),  # a prefix of the name is not a parent folder
    ("/home/shared/local-cache/localreg", "tmpfs", None),  # a local mount inside a network one
    ("/mnt/team drive/localreg", "cifs", "cifs"),  # /proc/mounts writes the space as \\040
    ("/mnt/ssh/reg", "fuse.sshfs", "fuse.sshfs"),
    ("/mnt/c/Users/me/reg", "9p", "9p"),
    ("/mnt/lustre/reg", "lustre", "lustre"),
    ("/var/lib/localreg", "overlay", None),
])
def test_the_filesystem_of_a_home_is_read_from_the_mounts(path, fstype, network):
    assert paths.filesystem_of(path, MOUNTS) == fstype
    assert paths.network_filesystem(path, MOUNTS) == network


def test_unparseable_mounts_detect_nothing():
    assert paths.network_filesystem("/x", "") is None
    assert paths.network_filesystem("/x", "garbage\n\n") is None


def test_a_store_on_a_network_filesystem_warns(tmp_path, monkeypatch):
    home = tmp_path / "nfs-home"
    mounts = f"/dev/sda1 / ext4 rw 0 0\nserver:/export {home} nfs4 rw 0 0\n"
    monkeypatch.setattr(store_mod, "network_filesystem", lambda p: paths.network_filesystem(p, mounts))
    with pytest.warns(LocalregWarning, match=r"network filesystem \(nfs4\): SQLite's file locking is unreliable"):
        s = Store(home)
    assert issubclass(LocalregWarning, UserWarning)
    s.close()
    with pytest.warns(LocalregWarning, match="nfs4"):
        Store(home)


def test_a_local_home_does_not_warn(home):
    Store(home)  # filterwarnings=error would turn any warning into a failure


# -- 6. add_dir on hostile folders ----------------------------------------------------------------------------


@contextlib.contextmanager
def no_hang(seconds: int = 10):
    """Fail instead of hanging forever (opening a FIFO for reading waits for a writer)."""
    def boom(*_a):
        raise AssertionError(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _socket_at(path: str) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()


def _loop_to_parent(root: str) -> str:
    os.symlink(os.path.join(root, "a"), os.path.join(root, "a", "again"))
    return os.path.join(root, "a", "again")


def _loop_to_root(root: str) -> str:
    os.symlink(root, os.path.join(root, "a", "up"))
    return os.path.join(root, "a", "up")


def _out(root: str) -> str:
    outside = os.path.join(os.path.dirname(root), "secret.txt")
    Path(outside).write_text("secret")
    os.symlink(outside, os.path.join(root, "a", "leak.txt"))
    return "points outside"


def _fifo(root: str) -> str:
    os.mkfifo(os.path.join(root, "a", "pipe"))
    return "pipe' is not a regular file"


def _fifo_by_link(root: str) -> str:
    os.mkfifo(os.path.join(root, "pipe"))
    os.symlink(os.path.join(root, "pipe"), os.path.join(root, "a", "to-pipe"))
    return "which is not a regular file"


def _sock(root: str) -> str:
    _socket_at(os.path.join(root, "a", "sock"))
    return "sock' is not a regular file"


@pytest.mark.parametrize("make, expect", [
    (_loop_to_parent, "symlink loop at"),
    (_loop_to_root, "symlink loop at"),
    (_out, None),
    (_fifo, None),
    (_fifo_by_link, None),
    (_sock, None),
], ids=["loop to parent", "loop to root", "link outside", "fifo", "link to fifo", "socket"])
def test_add_dir_refuses_loops_links_out_pipes_and_sockets(store, make_files, make, expect):
    root = make_files({"a/x.txt": "x", "b.txt": "b"})
    named = make(root)
    expect = expect or named
    before = state(store)
    art = wandb.Artifact("data", "dataset")
    with no_hang(), pytest.raises(InvalidInput) as exc:
        art.add_dir(root)
    assert expect in str(exc.value)
    if "loop" in expect:
        assert named in str(exc.value)  # the error names the link that closes the loop
    assert state(store) == before and art.manifest.entries == {}
    with no_hang(), pytest.raises(InvalidInput):
        ingest.log_path(store, root, name="data", type="dataset")
    assert state(store) == before


def test_pipes_given_as_files_are_refused_without_blocking(store, tmp_path):
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    before = state(store)
    with no_hang(), pytest.raises(InvalidInput, match="not a regular file"):
        Objects(store).add_files([("p", fifo)])
    with no_hang(), pytest.raises(InvalidInput, match="not a file"):
        wandb.Artifact("data", "dataset").add_file(fifo)
    with no_hang(), pytest.raises(InvalidInput, match="not a regular file"):
        ingest.log_path(store, fifo, name="data", type="dataset")
    assert state(store) == before


def _append(path: str) -> None:
    with open(path, "ab") as f:
        f.write(b"appended while being read")


def _truncate(path: str) -> None:
    os.truncate(path, os.path.getsize(path) // 2)


def _replace(path: str) -> None:
    tmp = path + ".new"
    Path(tmp).write_bytes(os.urandom(os.path.getsize(path)))
    os.replace(tmp, path)


@pytest.mark.parametrize("change", [_append, _truncate, _replace], ids=["append", "truncate", "replace"])
def test_a_file_changed_while_it_is_read_fails_the_log_and_writes_nothing(store, make_files, monkeypatch, change):
    """The chunked reader looks up each block's chunks (``Objects.present``) before reading the next
    block: the file changes right there, in the middle of the real read."""
    root = make_files({"big.bin": os.urandom(3 * PACK_LIMIT), "small.txt": "s"})
    path = os.path.join(root, "big.bin")
    real_present = Objects.present
    changed = []

    def present(self, digests):
        digests = list(digests)
        if not changed and len(digests) > 1:  # the first block of chunks of big.bin
            change(path)
            changed.append(path)
        return real_present(self, digests)

    monkeypatch.setattr(Objects, "present", present)
    before = state(store)
    art = wandb.Artifact("data", "dataset")
    with pytest.raises(FileChanged, match="big.bin' changed while it was being read") as exc:
        art.add_dir(root)
    assert changed and isinstance(exc.value, OSError)
    assert state(store) == before
    changed.clear()
    with pytest.raises(FileChanged):
        ingest.log_path(store, root, name="data", type="dataset")
    assert changed and state(store) == before

    # logged again once the file is still, the stored bytes are the file's and match their digest
    monkeypatch.setattr(Objects, "present", real_present)
    art = wandb.Artifact("data", "dataset")
    art.add_dir(root)
    art.save()
    data = Path(path).read_bytes()
    entry = art.get_entry("big.bin")
    assert art.version == "v0" and entry.digest == hashlib_digest(data)
    assert Objects(store).read_bytes(entry.digest) == data


def test_the_cli_prints_the_network_warning_as_one_line(tmp_path, monkeypatch, runner):
    import warnings

    home = tmp_path / "nfs-home"
    Store(home).close()
    mounts = f"server:/export {home} nfs4 rw 0 0\n"
    monkeypatch.setattr(store_mod, "network_filesystem", lambda p: paths.network_filesystem(p, mounts))
    with warnings.catch_warnings():
        warnings.simplefilter("default", LocalregWarning)  # the suite turns warnings into errors
        result = runner.invoke(cli, ["--home", str(home), "ls"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"Warning: store {home} is on a network filesystem (nfs4): SQLite's file locking is unreliable there, so "
        "writers on different machines can corrupt the database; keep the home on a local disk (the blobs may "
        "live elsewhere, see blob_url)"]


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_a_file_that_cannot_be_read_is_refused_clearly(store, make_files):
    """Root reads every file whatever its mode, so use one the kernel refuses: /proc/self/mem fails with EIO."""
    before = state(store)
    with pytest.raises(InvalidInput, match="cannot read '/proc/self/mem': Input/output error"):
        wandb.Artifact("data", "dataset").add_file("/proc/self/mem")
    root = make_files({"ok.txt": "ok"})
    os.symlink("/proc/self/mem", os.path.join(root, "mem"))  # outside the folder: refused before any read
    with pytest.raises(InvalidInput, match="points outside"):
        ingest.log_path(store, root, name="data", type="dataset")
    assert state(store) == before


def test_an_unmounted_blob_folder_gets_no_marker_and_gc_refuses(home, make_files, tmp_path):
    blobs = tmp_path / "mnt" / "blobs"
    s = Store(home, blob_url=str(blobs))
    ingest.log_path(s, make_files({"a.txt": "alpha"}), name="m", type="model")
    s.close()
    blobs.rename(tmp_path / "mnt" / "elsewhere")  # the mount went away
    s = Store(home)
    assert not blobs.exists()  # opening wrote nothing where the mount was
    from localreg import gc
    with pytest.raises(UnaccountedStore, match="has no store marker"):
        gc.gc(s, grace=0)
    assert not blobs.exists()
    s.close()
