"""Checked reads: no byte of a stored file reaches a reader before the piece it belongs to was checked.

A damaged pack, a damaged chunk of a big file, a damaged whole object and a
missing blob, on both blob backends, through every path that hands bytes
out: ``Objects.iter_bytes`` (what the web UI's download streams), the SDK
(``download``, ``get_entry().download()``, ``file``, ``get``), the CLI's
``get``, bundle export and seed export. The streaming path must raise
before the first byte when it can, and must never yield the whole file;
the paths that write files must leave nothing under a final name.

References (issue 12, item 10): what ``get`` places for a reference is
checked against the manifest's digest and size, unless the reference was
logged without a checksum.
"""

from __future__ import annotations

import json
import os

import pytest

import localreg as wandb
from localreg import bundle, hashing, versions
from localreg.cli import cli
from localreg.errors import CorruptBlob
from localreg.objects import PACK_LIMIT, Entry, Objects

BIG = 3 * PACK_LIMIT  # a big file: content-defined chunks in packs, or one loose object


def flip_byte(store, path: str, offset: int) -> None:
    """Change one stored byte in place, on either blob backend."""
    if store.blobs.is_local:
        with open(path, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0xFF]))
    else:
        data = bytearray(store.blobs.fs.cat_file(path))
        data[offset] ^= 0xFF
        store.blobs.fs.pipe_file(path, bytes(data))


def remove(store, path: str) -> None:
    if store.blobs.is_local:
        os.unlink(path)
    else:
        store.blobs.fs.rm(path)


def chunks_of(store, digest: str) -> list[tuple[str, int, str | None, int | None]]:
    """``(chunk digest, size, pack, offset)`` of each piece of file ``digest``, in order."""
    row = store.db.execute("SELECT chunks FROM chunked_files WHERE digest = ?", [digest]).fetchone()
    names = [c for c, _s in json.loads(row[0])] if row else [digest]
    out = []
    for name in names:
        size, pack, offset = store.db.execute("SELECT size, pack, offset FROM chunks WHERE digest = ?",
                                              [name]).fetchone()
        out.append((name, size, pack, offset))
    return out


def blob_path(store, pack: str | None, digest: str) -> str:
    return store.blobs.pack_path(pack) if pack is not None else store.blobs.loose_path(digest)


# (what is damaged, how): the file read and the blob that must be named
CASES = [
    ("packed", "flip"),         # a small file in a pack
    ("chunk-first", "flip"),    # the first chunk of a big file
    ("chunk-later", "flip"),    # a chunk in the middle of a big file: found after some bytes went
    ("loose", "flip"),          # a big file stored whole (one loose object)
    ("loose-streamed", "flip"),  # ... too big to hold in memory: hashed first, then streamed
    ("packed", "missing"),
    ("chunk-later", "missing"),
    ("loose", "missing"),
]


@pytest.fixture
def logged(store, make_files):
    """A version with a small file, a big chunked file and a big whole file; returns (artifact, contents)."""
    contents = {"a.txt": b"alpha " * 100, "big.bin": os.urandom(BIG), "whole.bin": os.urandom(BIG)}
    root = make_files(contents)
    with wandb.init(project="demo") as run:
        art = wandb.Artifact("data", "dataset")
        art.add_file(os.path.join(root, "a.txt"))
        art.add_file(os.path.join(root, "big.bin"))
        art.add_file(os.path.join(root, "whole.bin"), policy="immutable")  # stored whole
        art = run.log_artifact(art)
    return art, contents


def damage(store, art, what: str, how: str, monkeypatch) -> tuple[str, str, str]:
    """Damage the blob behind one file of ``art``; return (file path, damaged chunk, what an error must name)."""
    path = {"packed": "a.txt", "chunk-first": "big.bin", "chunk-later": "big.bin",
            "loose": "whole.bin", "loose-streamed": "whole.bin"}[what]
    parts = chunks_of(store, art.get_entry(path).digest)
    if what == "chunk-later":
        assert len(parts) > 3
        name, size, pack, offset = parts[len(parts) // 2]
    else:
        name, size, pack, offset = parts[0]
    if what == "loose-streamed":
        monkeypatch.setattr("localreg.objects.read.SPOOL_MAX", PACK_LIMIT)
    if how == "flip":
        flip_byte(store, blob_path(store, pack, name), (offset or 0) + size // 2)
    else:
        remove(store, blob_path(store, pack, name))
        if pack is not None:  # a missing pack file is named, with the file's first chunk in it
            return path, next(p[0] for p in parts if p[2] == pack), pack
    return path, name, name


@pytest.mark.parametrize("what,how", CASES)
def test_iter_bytes_never_yields_a_damaged_file_whole(store, logged, what, how, monkeypatch):
    """What the web download streams: every yielded byte is right, and the file never comes out whole."""
    art, contents = logged
    path, chunk, bad = damage(store, art, what, how, monkeypatch)
    want = contents[path]
    got = bytearray()
    with pytest.raises(CorruptBlob) as exc:
        for piece in Objects(store).iter_bytes(art.get_entry(path).digest):
            got += piece
    assert exc.value.digest == chunk and chunk in str(exc.value) and bad in str(exc.value)
    assert len(got) < len(want)
    assert bytes(got) == want[:len(got)]  # only checked bytes went out
    if what != "chunk-later" or how == "missing":
        assert not got  # found before the first byte: an error status can still be sent
    else:
        assert got  # a big file streams: the chunks before the bad one went out


@pytest.mark.parametrize("what,how", CASES)
def test_sdk_and_cli_downloads_of_a_damaged_file_place_nothing(store, logged, what, how, monkeypatch, tmp_path,
                                                               runner):
    art, _contents = logged
    path, _chunk, bad = damage(store, art, what, how, monkeypatch)
    for call in (lambda out: art.download(root=str(out)),
                 lambda out: art.get_entry(path).download(root=str(out))):
        out = tmp_path / f"out{id(call)}"
        with pytest.raises(CorruptBlob, match=bad):
            call(out)
        assert not (out / path).exists()
        assert not [p for p in out.rglob("*") if "localreg-tmp" in p.name]
    out = tmp_path / "cli"
    result = runner.invoke(cli, ["--home", str(store.home), "get", "team/demo/data:v0", "--root", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and bad in lines[0], result.stderr
    assert not (out / path).exists()


@pytest.mark.parametrize("what,how", [("packed", "flip"), ("chunk-later", "flip"), ("loose", "missing")])
def test_export_of_a_damaged_file_writes_no_bundle(store, logged, what, how, monkeypatch, tmp_path):
    art, _contents = logged
    _path, _chunk, bad = damage(store, art, what, how, monkeypatch)
    out = tmp_path / "out.lrbundle"
    with pytest.raises(CorruptBlob, match=bad):
        bundle.export_bundle(store, "team/demo/data:v0", out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "localreg-tmp" in p.name]


def test_sdk_table_read_of_a_damaged_file_is_refused(store, monkeypatch):
    with wandb.init(project="demo") as run:
        art = wandb.Artifact("tables", "dataset")
        art.add(wandb.Table(columns=["a"], data=[[1], [2]]), "t")
        art = run.log_artifact(art)
    [(name, size, pack, offset)] = chunks_of(store, art.get_entry("t.table.json").digest)
    flip_byte(store, blob_path(store, pack, name), (offset or 0) + 1)
    with pytest.raises(CorruptBlob, match=name):
        art.get("t")


# -- references (item 10) --------------------------------------------------------------------------


def _log_refs(store, entries: list[Entry]) -> None:
    versions.log_version(store, name="refs", type="dataset", entries=entries, entity="team", project="demo")


def test_a_reference_with_a_made_up_digest_is_refused_at_download(store, tmp_path, runner):
    target = tmp_path / "target.bin"
    target.write_bytes(b"whatever the reference points at")
    url = f"file://{target}"
    forged = Entry("r.bin", hashing.digest_bytes(b"what the manifest promised"), 0, ref=url)
    _log_refs(store, [forged])
    out = tmp_path / "out"
    result = runner.invoke(cli, ["--home", str(store.home), "get", "team/demo/refs:v0", "--root", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: referenced file") and "r.bin" in line and forged.digest in line, line
    assert "0 bytes" in line and f"{target.stat().st_size} bytes" in line
    assert not (out / "r.bin").exists()
    assert not out.exists() or not [p for p in out.rglob("*") if "localreg-tmp" in p.name]
    art = wandb.Api().artifact("team/demo/refs:v0")
    with pytest.raises(CorruptBlob, match="changed since it was logged"):
        art.download(root=str(tmp_path / "sdk"))
    assert not (tmp_path / "sdk" / "r.bin").exists()


def test_a_reference_whose_size_is_wrong_is_refused(store, tmp_path):
    target = tmp_path / "target.bin"
    target.write_bytes(b"twelve bytes")
    entry = Entry("r.bin", hashing.digest_bytes(b"twelve bytes"), 11, ref=f"file://{target}")
    with pytest.raises(CorruptBlob, match="says 11 bytes"):
        Objects(store).materialize([entry], tmp_path / "out")
    assert not (tmp_path / "out" / "r.bin").exists()


def test_references_that_match_and_unchecked_references_still_download(store, tmp_path):
    target = tmp_path / "target.bin"
    target.write_bytes(b"payload")
    url = f"file://{target}"
    obj = Objects(store)
    checked = Entry("c.bin", *obj.add_reference(url), ref=url)
    unchecked = Entry("u.bin", *obj.add_reference(url, checksum=False), ref=url)
    assert unchecked.size == 0
    obj.materialize([checked, unchecked], tmp_path / "out")
    assert (tmp_path / "out" / "c.bin").read_bytes() == b"payload"
    assert (tmp_path / "out" / "u.bin").read_bytes() == b"payload"
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    e = Entry("e.bin", *obj.add_reference(f"file://{empty}"), ref=f"file://{empty}")
    obj.materialize([e], tmp_path / "out")
    assert (tmp_path / "out" / "e.bin").read_bytes() == b""
