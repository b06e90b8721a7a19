"""A lost chunk index: packs describe themselves, and ``fsck --rebuild-index`` rebuilds the index from them.

Every pack ends with a footer listing its chunks (and the chunk lists of
the big files made with it), closed by a trailer with a magic number, a
version, the footer's length and its sha256 (docs/format.md, "Packs").
Deleting the ``chunks`` rows (or ``chunked_files`` too, or every manifest)
loses no knowledge of which bytes exist: ``fsck --rebuild-index`` puts the
rows back, on both blob backends, and ``verify --all`` is clean afterwards.
Packs written before footers existed still read, and are re-hashed against
what the manifests name where that is possible.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import localreg as wandb
from localreg import bundle, fsck, hashing
from localreg.cli import cli
from localreg.objects import PACK_LIMIT
from localreg.objects import packs as packs_mod
from localreg.objects.packs import (
    MAGIC,
    TRAILER_SIZE,
    BadFooter,
    decode_footer,
    encode_footer,
)
from localreg.store import Store


def rows(store) -> tuple[set, set]:
    return (set(map(tuple, store.db.execute("SELECT digest, size, pack, offset FROM chunks"))),
            set(map(tuple, store.db.execute("SELECT digest, size, chunks FROM chunked_files"))))


def read_blob(store, path: str) -> bytes:
    if not store.blobs.is_local:
        return store.blobs.fs.cat_file(path)
    with open(path, "rb") as f:
        return f.read()


def write_blob(store, path: str, data: bytes) -> None:
    if store.blobs.is_local:
        with open(path, "wb") as f:
            f.write(data)
    else:
        store.blobs.fs.pipe_file(path, data)


def run_cli(runner, store, *args):
    result = runner.invoke(cli, ["--home", str(store.home), *args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def logged(store, make_files):
    """Small packed files, a big chunked file and a big whole file, in two versions."""
    files = {f"small/{i}.txt": f"small file {i}\n" * (i + 1) for i in range(30)}
    files["big.bin"] = os.urandom(3 * PACK_LIMIT)
    files["whole.bin"] = os.urandom(2 * PACK_LIMIT)
    root = make_files(files)
    with wandb.init(project="demo") as run:
        art = wandb.Artifact("data", "dataset")
        art.add_dir(os.path.join(root, "small"), name="small")
        art.add_file(os.path.join(root, "big.bin"))
        art.add_file(os.path.join(root, "whole.bin"), policy="immutable")
        run.log_artifact(art)
    with wandb.init(project="demo") as run:
        art = wandb.Artifact("data", "dataset")
        art.add_file(os.path.join(root, "big.bin"))
        art.add_file(os.path.join(root, "small", "3.txt"))
        art.add(wandb.Table(columns=["a"], data=[[1]]), "t")
        run.log_artifact(art)
    return files


def test_every_pack_lists_its_chunks_in_a_footer(store, logged):
    chunk_rows, file_rows = rows(store)
    listed_chunks, listed_files = set(), set()
    for name, size, _m in store.blobs.list_packs():
        footer = decode_footer(store.blobs, name, size)
        assert footer is not None
        data = read_blob(store, store.blobs.pack_path(name))
        assert data.endswith(MAGIC) and len(data) == footer.data_end + footer.length
        for digest, offset, csize in footer.chunks:
            assert hashing.digest_bytes(data[offset: offset + csize]) == digest
            listed_chunks.add((digest, csize, name, offset))
        listed_files.update((d, s, json.dumps(p, separators=(",", ":"))) for d, s, p in footer.files)
    assert listed_chunks == {r for r in chunk_rows if r[2] is not None}
    assert listed_files == file_rows and file_rows  # the big file's chunk list


@pytest.mark.parametrize("lose", ["chunks", "chunks and chunked files", "chunks, chunked files and the stat cache"])
def test_rebuild_index_restores_deleted_rows_and_verify_is_clean(store, logged, runner, tmp_path, lose):
    """The issue's Done-when: rows deleted, ``fsck --rebuild-index`` puts them back, ``verify --all`` is clean."""
    before = rows(store)
    with store.transaction() as db:
        db.execute("DELETE FROM chunks")
        if lose != "chunks":
            db.execute("DELETE FROM chunked_files")
        if lose.endswith("stat cache"):
            db.execute("DELETE FROM stat_cache")
    assert run_cli(runner, store, "verify", "--all").exit_code == 1

    result = run_cli(runner, store, "fsck", "--rebuild-index")
    assert result.exit_code == 0, result.output
    n_chunks = len(before[0])
    assert (f"added {n_chunks} chunk rows and {len(before[1]) if lose != 'chunks' else 0} chunked-file row"
            in result.output)
    assert "not recovered" not in result.output
    assert f"OK: store {store.home} is consistent" in result.output
    assert rows(store) == before

    result = run_cli(runner, store, "verify", "--all")
    assert result.exit_code == 0, result.output
    out = tmp_path / "dl"
    wandb.Api().artifact("team/demo/data:v0").download(root=str(out))
    assert (out / "big.bin").read_bytes() == logged["big.bin"]
    assert (out / "small" / "7.txt").read_bytes() == logged["small/7.txt"].encode()


def test_rebuild_index_is_a_library_verb_and_adds_nothing_twice(store, logged):
    before = rows(store)
    report = fsck.rebuild_index(store)
    assert (report.chunks_added, report.files_added, report.still_missing) == (0, 0, [])
    assert report.packs == report.packs_with_footer > 0 and report.loose == 1
    assert rows(store) == before


def test_imported_packs_carry_footers_too(store, logged, tmp_path, home):
    path = tmp_path / "b.lrbundle"
    bundle.export_bundle(store, "team/demo/data", path)
    other = Store(tmp_path / "other", blob_url=str(tmp_path / "other-blobs"))
    bundle.import_bundle(other, path)
    before = rows(other)
    other.db.execute("DELETE FROM chunks")
    other.db.execute("DELETE FROM chunked_files")
    report = fsck.rebuild_index(other)
    assert report.unrecovered == [] and report.still_missing == []
    assert rows(other) == before
    assert fsck.verify(other).ok
    other.close()


def damage_a_footer(store) -> str:
    name, size, _m = next(iter(store.blobs.list_packs()))
    path = store.blobs.pack_path(name)
    data = bytearray(read_blob(store, path))
    data[-TRAILER_SIZE - 5] ^= 0xFF  # inside the footer's body
    write_blob(store, path, bytes(data))
    with pytest.raises(BadFooter, match="checksum does not match"):
        decode_footer(store.blobs, name, size)
    return name


def test_a_damaged_footer_is_not_trusted_and_its_pack_is_rehashed(store, logged, runner):
    name = damage_a_footer(store)
    before = rows(store)
    store.db.execute("DELETE FROM chunks")
    result = run_cli(runner, store, "fsck", "--rebuild-index")
    assert result.exit_code == 0, result.output
    assert (f"recovered: pack {name}: footer checksum does not match (the footer is damaged), so it was "
            "re-hashed: re-hashed into") in result.output
    assert rows(store) == before


def test_a_damaged_footer_with_nothing_to_rehash_against_is_reported(store, logged, runner):
    name = damage_a_footer(store)
    with store.transaction() as db:
        db.execute("DELETE FROM chunks")
        db.execute("DELETE FROM chunked_files")
        db.execute("DELETE FROM entries")
    report = fsck.rebuild_index(store)
    assert any(m.startswith(f"pack {name}: footer checksum does not match (the footer is damaged), so it was "
                            "re-hashed and no manifest names blobs it could hold") for m in report.unrecovered)
    assert not {r for r in rows(store)[0] if r[2] == name}  # nothing indexed from a footer that failed its check
    assert {r[2] for r in rows(store)[0]} - {None}  # the other packs' footers were used


def test_a_footer_of_a_newer_version_is_not_guessed_at(store, logged):
    name, size, _m = next(iter(store.blobs.list_packs()))
    path = store.blobs.pack_path(name)
    data = bytearray(read_blob(store, path))
    data[-12:-8] = (2).to_bytes(4, "little")
    write_blob(store, path, bytes(data))
    with pytest.raises(BadFooter, match="footer version 2 .* upgrade localreg"):
        decode_footer(store.blobs, name, size)


def test_footer_encoding_round_trips_and_refuses_records_outside_the_pack(store):
    d = [hashing.digest_bytes(bytes([i])) for i in range(3)]
    footer = encode_footer([(d[0], 0, 5), (d[1], 5, 7)], [(d[2], 12, [[d[0], 5], [d[1], 7]])])
    with store.blobs.pack_writer() as pw:  # a raw pack: these bytes, then the footer as given
        pw.add(b"x" * 12)
        name = pw.close(footer)
    got = decode_footer(store.blobs, name, 12 + len(footer))
    assert got.chunks == [(d[0], 0, 5), (d[1], 5, 7)] and got.files == [(d[2], 12, [[d[0], 5], [d[1], 7]])]
    assert (got.data_end, got.length) == (12, len(footer))
    # the same footer after only 10 bytes of chunks: its second chunk would lie past them
    with store.blobs.pack_writer() as pw:
        pw.add(b"x" * 10)
        name = pw.close(footer)
    with pytest.raises(BadFooter, match="lies past the pack's data"):
        decode_footer(store.blobs, name, 10 + len(footer))


# -- packs written before footers ---------------------------------------------------------------------


def strip_footers(store) -> list[str]:
    """Make every pack look as localreg wrote it before footers: chunks only."""
    names = []
    for name, size, _m in list(store.blobs.list_packs()):
        footer = decode_footer(store.blobs, name, size)
        path = store.blobs.pack_path(name)
        write_blob(store, path, read_blob(store, path)[: footer.data_end])
        names.append(name)
    return names


def test_packs_without_a_footer_still_read_and_are_rehashed_by_rebuild(store, logged, runner, tmp_path):
    strip_footers(store)
    assert fsck.fsck(store).ok  # no footer, no dead space either
    out = tmp_path / "dl"
    wandb.Api().artifact("team/demo/data:v0").download(root=str(out))
    assert (out / "big.bin").read_bytes() == logged["big.bin"]

    before = rows(store)
    store.db.execute("DELETE FROM chunks")
    result = run_cli(runner, store, "fsck", "--rebuild-index")
    assert result.exit_code == 0, result.output
    assert "(0 with a footer)" in result.output
    assert result.output.count("recovered: pack ") == len(list(store.blobs.list_packs()))
    assert "has no footer (written by an older localreg): re-hashed into" in result.output
    assert rows(store) == before
    assert run_cli(runner, store, "verify", "--all").exit_code == 0


def test_a_pack_without_a_footer_that_no_manifest_explains_is_reported(store, logged, runner):
    strip_footers(store)
    with store.transaction() as db:
        db.execute("DELETE FROM chunks")
        db.execute("DELETE FROM chunked_files")
        db.execute("DELETE FROM entries")
    report = fsck.rebuild_index(store)
    assert report.chunks_added == 1  # the loose object, named by its digest
    assert len(report.unrecovered) == len(list(store.blobs.list_packs()))
    assert all("has no footer (written by an older localreg) and no manifest names blobs it could hold: "
               "restore the database from a backup" in m for m in report.unrecovered)


def test_docs_describe_the_footer_the_code_writes():
    """docs/format.md's layout figures are the code's: magic, trailer and record sizes, version."""
    from pathlib import Path

    from localreg.objects import packs

    doc = (Path(__file__).resolve().parent.parent / "docs" / "format.md").read_text()
    section = doc[doc.index("## Packs"):]
    assert " ".join(f"{b:02x}" for b in packs.MAGIC) in section
    assert f"trailer ({packs.TRAILER_SIZE} bytes)" in section and packs.TRAILER_SIZE == 52
    assert f"{packs._CHUNK.size} bytes each" in section
    assert f"{packs._FILE.size} bytes," in section and f"{packs._PART.size} bytes each" in section
    assert f"footer version, `{packs.FOOTER_VERSION}`" in section


# -- hostile footers: whatever a pack ends with, decoding says "none" or BadFooter ------------------

HOSTILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _decode(blobs, data: bytes, body: bytes):
    """Write a pack of ``data`` followed by ``body`` and decode its footer."""
    with blobs.pack_writer() as pw:
        pw.add(data)
        name = pw.close(body)
    return decode_footer(blobs, name, len(data) + len(body))


@HOSTILE
@given(data=st.binary(min_size=1, max_size=200), body=st.binary(max_size=300),
       version=st.sampled_from([0, 1, 2, 2**32 - 1]), length=st.one_of(st.none(), st.integers(0, 2**64 - 1)))
def test_garbage_footers_with_a_valid_checksum_are_refused_cleanly(tmp_path, data, body, version, length):
    """Arbitrary records behind a correct checksum and magic: parsed or refused, never a stray exception."""
    import hashlib

    from localreg.blobs import BlobStore

    blobs = BlobStore(str(tmp_path / "hostile-blobs"))
    trailer = packs_mod._TRAILER.pack(len(body) if length is None else length, hashlib.sha256(body).digest(),
                                      version, MAGIC)
    try:
        footer = _decode(blobs, data, body + trailer)
    except BadFooter:
        return
    assert footer is not None and footer.data_end == len(data)
    for _d, offset, size in footer.chunks:
        assert offset + size <= len(data)


@HOSTILE
@given(flip=st.integers(0, 10_000), cut=st.integers(0, 200))
def test_damaged_or_cut_footers_are_never_trusted(tmp_path, flip, cut):
    from localreg.blobs import BlobStore

    blobs = BlobStore(str(tmp_path / "hostile-blobs"))
    d = [hashing.digest_bytes(bytes([i])) for i in range(3)]
    footer = bytearray(encode_footer([(d[0], 0, 5), (d[1], 5, 7)], [(d[2], 12, [[d[0], 5], [d[1], 7]])]))
    footer[flip % len(footer)] ^= 0x01
    footer = footer[: len(footer) - (cut % len(footer))] if cut else footer
    try:
        got = _decode(blobs, b"x" * 12, bytes(footer))
    except BadFooter:
        return
    # undetected only where nothing was changed that matters: no magic left (no footer), or the magic's own bytes
    assert got is None
