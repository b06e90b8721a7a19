"""objects: files in and out of the blob store, packs, the stat cache, verified reads."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localreg import hashing, objects
from localreg.errors import CorruptBlob, InvalidInput, LocalregError, NotFound
from localreg.objects import PACK_LIMIT, Entry, Objects, verify_tree

FIXTURE_OK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MiB = 1 << 20


def _age(root: str, seconds: float = 3600) -> None:
    """Date every file under root in the past, so the stat cache trusts it (no "racy clean")."""
    past = time.time() - seconds
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(dirpath, f), (past, past))


def _pairs(root: str) -> list[tuple[str, str]]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            local = os.path.join(dirpath, f)
            out.append((os.path.relpath(local, root).replace(os.sep, "/"), local))
    return sorted(out)


def _chunk(store, digest):
    return store.db.execute("SELECT size, pack, offset FROM chunks WHERE digest = ?", [digest]).fetchone()


def _tree(root: str) -> dict[str, bytes]:
    out = {}
    for rel, local in _pairs(root):
        with open(local, "rb") as f:
            out[rel] = f.read()
    return out


def _overwrite(store, path: str, offset: int, data: bytes) -> None:
    """Change stored bytes in place, behind localreg's back."""
    if store.blobs.is_local:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)
    else:
        fs = store.blobs.fs
        old = fs.cat_file(path)
        fs.pipe_file(path, old[:offset] + data + old[offset + len(data):])


@pytest.fixture
def counted_reads(monkeypatch):
    """Count the files ingest actually opens and reads (wraps, does not replace, _read_small)."""
    calls: list[str] = []
    real = objects.ingest._read_small

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(objects.ingest, "_read_small", counting)
    return calls


# -- bytes round trip -------------------------------------------------------------------


@FIXTURE_OK
@given(st.binary(max_size=5000))
def test_bytes_to_blob_to_bytes(store, data):
    obj = Objects(store)
    digest, size = obj.add_bytes(data)
    assert digest == hashing.digest_bytes(data) and size == len(data)
    assert obj.read_bytes(digest) == data
    assert obj.check(digest) is None
    assert digest in obj.present([digest, hashing.digest_bytes(b"other" + data)])


def test_small_bytes_go_to_a_pack_and_large_to_a_loose_object(store):
    obj = Objects(store)
    small, _ = obj.add_bytes(b"s" * (PACK_LIMIT - 1))
    large, _ = obj.add_bytes(b"L" * PACK_LIMIT)
    size, pack, offset = _chunk(store, small)
    assert (size, offset) == (PACK_LIMIT - 1, 0) and store.blobs.pack_exists(pack)
    assert not store.blobs.loose_exists(small)
    assert _chunk(store, large) == (PACK_LIMIT, None, None)
    assert store.blobs.loose_exists(large)
    assert obj.read_bytes(small) == b"s" * (PACK_LIMIT - 1)
    assert obj.read_bytes(large) == b"L" * PACK_LIMIT


def test_adding_the_same_bytes_twice_stores_them_once(store):
    obj = Objects(store)
    obj.add_bytes(b"twice")
    obj.add_bytes(b"twice")
    assert len(list(store.blobs.list_packs())) == 1
    assert store.db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 1


# -- add_files --------------------------------------------------------------------------------


def test_add_files_returns_entries_in_order(store, make_files):
    root = make_files({"b.txt": "bee", "a.txt": "a", "sub/c.bin": b"\x00\x01", "empty": b""})
    files = [("z/b", f"{root}/b.txt"), ("a", f"{root}/a.txt"), ("c", f"{root}/sub/c.bin"), ("e", f"{root}/empty")]
    got = Objects(store).add_files(files)
    assert got == [
        Entry("z/b", hashing.digest_bytes(b"bee"), 3),
        Entry("a", hashing.digest_bytes(b"a"), 1),
        Entry("c", hashing.digest_bytes(b"\x00\x01"), 2),
        Entry("e", hashing.digest_bytes(b""), 0),
    ]
    for e in got:
        assert Objects(store).read_bytes(e.digest) == _tree(root)[{"z/b": "b.txt", "a": "a.txt", "c": "sub/c.bin", "e": "empty"}[e.path]]


def test_relative_local_paths(store, make_files, monkeypatch):
    root = make_files({"a.txt": "rel"})
    monkeypatch.chdir(root)
    assert Objects(store).add_files([("a.txt", "a.txt")]) == [Entry("a.txt", hashing.digest_bytes(b"rel"), 3)]


def test_many_small_files_make_few_packs(store, make_files):
    root = make_files({f"d{i % 7}/f{i}.txt": f"file number {i}" for i in range(300)})
    entries = Objects(store).add_files(_pairs(root))
    assert len(entries) == 300
    packs = {r[0] for r in store.db.execute("SELECT pack FROM chunks")}
    assert len(packs) == 1 and None not in packs
    assert len(list(store.blobs.list_packs())) == 1
    assert list(store.blobs.list_loose()) == []
    assert store.db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 300


def test_identical_files_share_one_chunk(store, make_files):
    root = make_files({f"f{i}": "same bytes" for i in range(20)})
    entries = Objects(store).add_files(_pairs(root))
    assert len({e.digest for e in entries}) == 1
    assert store.db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 1


def test_large_files_are_chunked_into_packs(store, make_files):
    big = os.urandom(3 * PACK_LIMIT + 5)
    root = make_files({"big.bin": big, "small.txt": "s"})
    by_path = {e.path: e for e in Objects(store).add_files(_pairs(root))}
    row = store.db.execute("SELECT size, chunks FROM chunked_files WHERE digest = ?", [by_path["big.bin"].digest]).fetchone()
    assert row is not None and row[0] == len(big)
    parts = json.loads(row[1])
    assert len(parts) > 3 and sum(size for _d, size in parts) == len(big)
    for digest, size in parts:
        assert _chunk(store, digest)[0] == size and _chunk(store, digest)[1] is not None  # in a pack
    assert _chunk(store, by_path["small.txt"].digest)[1] is not None
    assert list(store.blobs.list_loose()) == []
    assert Objects(store).read_bytes(by_path["big.bin"].digest) == big


def test_whole_mode_stores_large_files_as_loose_objects(store, make_files):
    big = os.urandom(PACK_LIMIT + 5)
    root = make_files({"big.bin": big, "exact.bin": b"x" * PACK_LIMIT, "small.txt": "s"})
    by_path = {e.path: e for e in Objects(store).add_files(_pairs(root), whole=True)}
    assert _chunk(store, by_path["big.bin"].digest) == (PACK_LIMIT + 5, None, None)
    assert _chunk(store, by_path["exact.bin"].digest) == (PACK_LIMIT, None, None)
    assert _chunk(store, by_path["small.txt"].digest)[1] is not None
    assert sorted(d for d, _s, _m in store.blobs.list_loose()) == sorted(
        [by_path["big.bin"].digest, by_path["exact.bin"].digest]
    )
    assert Objects(store).read_bytes(by_path["big.bin"].digest) == big


def test_similar_large_files_share_most_chunks(store, make_files):
    base = bytearray(os.urandom(8 << 20))
    root1 = make_files({"m.bin": bytes(base)})
    Objects(store).add_files(_pairs(root1))
    stored1 = store.db.execute("SELECT sum(size) FROM chunks").fetchone()[0]
    base[3 << 20: (3 << 20) + 4096] = os.urandom(4096)   # rewrite a little
    base[6 << 20: 6 << 20] = os.urandom(4096)            # and insert: defeats fixed-size chunking
    root2 = make_files({"m.bin": bytes(base)})
    [e] = Objects(store).add_files(_pairs(root2))
    grown = store.db.execute("SELECT sum(size) FROM chunks").fetchone()[0] - stored1
    assert grown < len(base) // 4
    assert Objects(store).read_bytes(e.digest) == bytes(base)


def test_a_corrupt_chunk_of_a_large_file_is_named(store, make_files, tmp_path):
    big = os.urandom(3 * PACK_LIMIT)
    [e] = Objects(store).add_files(_pairs(make_files({"big.bin": big})))
    parts = json.loads(store.db.execute("SELECT chunks FROM chunked_files WHERE digest = ?", [e.digest]).fetchone()[0])
    victim = parts[1][0]
    _size, pack, offset = _chunk(store, victim)
    _overwrite(store, store.blobs.pack_path(pack), offset + 10, b"\xff\x00\xff")
    with pytest.raises(CorruptBlob, match=victim):
        Objects(store).read_bytes(e.digest)
    with pytest.raises(CorruptBlob):
        Objects(store).materialize([e], tmp_path / "out")
    assert not (tmp_path / "out" / "big.bin").exists()


def test_missing_file_is_not_found(store, make_files, tmp_path):
    root = make_files({"a.txt": "a"})
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(NotFound, match="nope.txt") as exc:
        Objects(store).add_files([("a.txt", f"{root}/a.txt"), ("nope.txt", missing)])
    assert isinstance(exc.value, LookupError)


def test_a_folder_is_not_a_file(store, make_files):
    root = make_files({"sub/a.txt": "a"})
    with pytest.raises(InvalidInput, match="not a regular file"):
        Objects(store).add_files([("sub", f"{root}/sub")])


# -- the stat cache ---------------------------------------------------------------------------


def test_unchanged_files_are_not_read_again(store, make_files, counted_reads):
    root = make_files({f"f{i}.txt": f"content {i}" for i in range(10)} | {"big.bin": os.urandom(PACK_LIMIT + 1)})
    _age(root)
    first = Objects(store).add_files(_pairs(root))
    assert len(counted_reads) == 11
    assert store.db.execute("SELECT count(*) FROM stat_cache").fetchone()[0] == 11
    chunks_before = store.db.execute("SELECT * FROM chunks ORDER BY digest").fetchall()

    counted_reads.clear()
    second = Objects(store).add_files(_pairs(root))
    assert second == first
    assert counted_reads == []  # every file answered from the stat cache
    assert store.db.execute("SELECT * FROM chunks ORDER BY digest").fetchall() == chunks_before


def test_a_changed_file_is_read_again(store, make_files, counted_reads):
    root = make_files({"a.txt": "old", "b.txt": "bbb"})
    _age(root)
    Objects(store).add_files(_pairs(root))
    with open(f"{root}/a.txt", "w") as f:
        f.write("new content")
    _age(root, 1800)  # another mtime, still old enough to be cached
    counted_reads.clear()
    got = {e.path: e for e in Objects(store).add_files(_pairs(root))}
    assert got["a.txt"].digest == hashing.digest_bytes(b"new content")
    assert f"{root}/a.txt" in counted_reads


def test_same_size_and_mtime_but_another_inode_is_read_again(store, make_files, counted_reads):
    root = make_files({"a.txt": "aaaa"})
    _age(root)
    st = os.stat(f"{root}/a.txt")
    Objects(store).add_files(_pairs(root))
    # a new file replaces the old one while the old inode is still in use: another inode number
    with open(f"{root}/a.tmp", "w") as f:
        f.write("bbbb")
    os.utime(f"{root}/a.tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(f"{root}/a.tmp", f"{root}/a.txt")
    assert os.stat(f"{root}/a.txt").st_ino != st.st_ino
    counted_reads.clear()
    [entry] = Objects(store).add_files(_pairs(root))
    assert entry.digest == hashing.digest_bytes(b"bbbb")
    assert counted_reads == [f"{root}/a.txt"]


def test_freshly_written_files_are_not_cached(store, make_files, counted_reads):
    root = make_files({"a.txt": "just now"})
    Objects(store).add_files(_pairs(root))
    assert store.db.execute("SELECT count(*) FROM stat_cache").fetchone()[0] == 0
    counted_reads.clear()
    Objects(store).add_files(_pairs(root))
    assert counted_reads == [f"{root}/a.txt"]


def test_cache_entry_whose_bytes_are_gone_is_not_trusted(store, make_files, counted_reads):
    root = make_files({"a.txt": "collected"})
    _age(root)
    [entry] = Objects(store).add_files(_pairs(root))
    with store.transaction() as db:  # what gc does with an unreferenced chunk: its cache rows go with it
        db.execute("DELETE FROM chunks WHERE digest = ?", [entry.digest])
        assert Objects.drop_stale_cache_rows(db) == 1
    counted_reads.clear()
    assert Objects(store).add_files(_pairs(root)) == [entry]
    assert counted_reads == [f"{root}/a.txt"]
    assert Objects(store).read_bytes(entry.digest) == b"collected"


# -- materialize and verify -------------------------------------------------------------------


@pytest.fixture
def ingested(store, make_files):
    files = {
        "a.txt": "alpha",
        "dir/b.txt": "beta",
        "dir/deeper/c.json": '{"c": 1}',
        "empty": b"",
        "same1": "dup",
        "same2": "dup",
        "big.bin": os.urandom(PACK_LIMIT + 3),
    }
    root = make_files(files)
    entries = Objects(store).add_files(_pairs(root), whole=True)  # big.bin: one loose object
    return root, entries


def test_materialize_writes_identical_files(store, ingested, tmp_path):
    root, entries = ingested
    out = tmp_path / "out"
    Objects(store).materialize(entries, out)
    assert _tree(str(out)) == _tree(root)
    assert verify_tree(entries, out) == []


def test_materialize_reports_progress(store, ingested, tmp_path):
    from fsspec.callbacks import Callback

    _root, entries = ingested
    cb = Callback()
    Objects(store).materialize(entries, tmp_path / "out", callback=cb)
    assert (cb.size, cb.value) == (len(entries), len(entries))


def test_materialize_overwrites_stale_files(store, ingested, tmp_path):
    root, entries = ingested
    out = tmp_path / "out"
    (out / "dir").mkdir(parents=True)
    (out / "dir" / "b.txt").write_text("stale and longer than beta")
    Objects(store).materialize(entries, out)
    assert _tree(str(out)) == _tree(root)


def test_corrupt_packed_blob(store, ingested, tmp_path):
    _root, entries = ingested
    target = next(e for e in entries if e.path == "dir/b.txt")
    _size, pack, offset = _chunk(store, target.digest)
    _overwrite(store, store.blobs.pack_path(pack), offset, b"X")
    obj = Objects(store)

    with pytest.raises(CorruptBlob) as exc:
        obj.read_bytes(target.digest)
    assert exc.value.digest == target.digest and target.digest in str(exc.value)
    assert target.digest in obj.check(target.digest)

    out = tmp_path / "out"
    with pytest.raises(CorruptBlob) as exc:
        obj.materialize([target], out)
    assert exc.value.digest == target.digest and target.digest in str(exc.value)
    assert not (out / "dir" / "b.txt").exists()
    assert not any(p.is_file() for p in out.rglob("*"))

    # the other files of the same pack are still fine
    good = next(e for e in entries if e.path == "a.txt")
    assert obj.read_bytes(good.digest) == b"alpha"


def test_corrupt_loose_blob(store, ingested, tmp_path):
    _root, entries = ingested
    big = next(e for e in entries if e.path == "big.bin")
    _overwrite(store, store.blobs.loose_path(big.digest), PACK_LIMIT, b"\xff\xfe\xfd")
    obj = Objects(store)
    with pytest.raises(CorruptBlob) as exc:
        obj.read_bytes(big.digest)
    assert exc.value.digest == big.digest and big.digest in str(exc.value)
    out = tmp_path / "out"
    with pytest.raises(CorruptBlob) as exc:
        obj.materialize([big], out)
    assert exc.value.digest == big.digest
    assert not any(p.is_file() for p in out.rglob("*"))  # neither big.bin nor its temp file


def test_truncated_loose_blob(store, ingested, tmp_path):
    _root, entries = ingested
    big = next(e for e in entries if e.path == "big.bin")
    path = store.blobs.loose_path(big.digest)
    if store.blobs.is_local:
        os.truncate(path, 10)
    else:
        store.blobs.fs.pipe_file(path, store.blobs.fs.cat_file(path)[:10])
    with pytest.raises(CorruptBlob) as exc:
        Objects(store).materialize([big], tmp_path / "out")
    assert exc.value.digest == big.digest
    assert not (tmp_path / "out" / "big.bin").exists()


def test_missing_blobs(store, ingested, tmp_path):
    _root, entries = ingested
    big = next(e for e in entries if e.path == "big.bin")
    store.blobs.remove_loose(big.digest)
    with pytest.raises(CorruptBlob) as exc:
        Objects(store).read_bytes(big.digest)
    assert exc.value.digest == big.digest and big.digest in str(exc.value)

    small = next(e for e in entries if e.path == "a.txt")
    pack = _chunk(store, small.digest)[1]
    store.blobs.remove_pack(pack)
    with pytest.raises(CorruptBlob, match=pack):
        Objects(store).read_bytes(small.digest)
    with pytest.raises(CorruptBlob, match=pack):
        Objects(store).materialize([small], tmp_path / "out")
    assert not (tmp_path / "out" / "a.txt").exists()

    unknown = hashing.digest_bytes(b"never stored")
    with pytest.raises(CorruptBlob) as exc:
        Objects(store).read_bytes(unknown)
    assert exc.value.digest == unknown


def test_verify_tree_reports_missing_extra_and_changed(store, ingested, tmp_path):
    _root, entries = ingested
    out = tmp_path / "out"
    Objects(store).materialize(entries, out)
    (out / "a.txt").unlink()
    (out / "dir" / "extra.txt").write_text("not in the manifest")
    (out / "dir" / "b.txt").write_text("changed")
    problems = verify_tree(entries, out)
    assert problems == [
        "extra file 'dir/extra.txt'",
        "missing file 'a.txt'",
        f"changed file 'dir/b.txt': {hashing.digest_bytes(b'changed')} != {hashing.digest_bytes(b'beta')}",
    ]


def test_verify_tree_of_a_missing_folder(store, ingested, tmp_path):
    _root, entries = ingested
    problems = verify_tree(entries, tmp_path / "nowhere")
    assert sorted(problems) == sorted(f"missing file {e.path!r}" for e in entries)


# -- references --------------------------------------------------------------------------------


def test_reference_digests(store, tmp_path):
    (tmp_path / "ref.txt").write_bytes(b"referenced")
    url = f"file://{tmp_path}/ref.txt"
    obj = Objects(store)
    assert obj.add_reference(url) == (hashing.digest_bytes(b"referenced"), 10)
    assert obj.add_reference(url, checksum=False) == (hashing.digest_bytes(url.encode()), 0)
    out = tmp_path / "out"
    entry = Entry("r.txt", hashing.digest_bytes(b"referenced"), 10, ref=url)
    obj.materialize([entry], out)
    assert (out / "r.txt").read_bytes() == b"referenced"
    (tmp_path / "ref.txt").write_bytes(b"changed since")
    with pytest.raises(CorruptBlob, match="changed since it was logged"):
        obj.materialize([entry], tmp_path / "out2")
    assert not (tmp_path / "out2" / "r.txt").exists()


def test_entry_dict_round_trip():
    e = Entry("a/b.txt", hashing.digest_bytes(b"x"), 1)
    assert e.to_dict() == {"path": "a/b.txt", "digest": e.digest, "size": 1}
    assert Entry.from_dict(e.to_dict()) == e
    r = Entry("r", hashing.digest_bytes(b"y"), 2, ref="s3://bucket/key")
    assert Entry.from_dict(r.to_dict()) == r


def test_link_mode_ingest_hardlinks_big_files(store, make_files):
    big = os.urandom(2 * PACK_LIMIT)
    root = make_files({"big.bin": big, "small.txt": "s"})
    by_path = {e.path: e for e in Objects(store).add_files(_pairs(root), link=True)}
    assert _chunk(store, by_path["big.bin"].digest) == (len(big), None, None)
    if store.blobs.is_local:
        assert os.stat(store.blobs.loose_path(by_path["big.bin"].digest)).st_ino == os.stat(f"{root}/big.bin").st_ino
    assert Objects(store).read_bytes(by_path["big.bin"].digest) == big
    assert _chunk(store, by_path["small.txt"].digest)[1] is not None  # small files are still packed


def test_packs_roll_over_at_their_target_size(store, make_files, monkeypatch):
    """Chunks placed in a full pack stay in it: every offset names bytes of its own pack."""
    monkeypatch.setattr(objects.packs, "PACK_TARGET", 256 << 10)
    files = {f"s{i}.bin": os.urandom(50_000) for i in range(20)}
    files["big.bin"] = os.urandom(3 << 20)
    root = make_files(files)
    entries = Objects(store).add_files(_pairs(root))
    packs = {r[0] for r in store.db.execute("SELECT DISTINCT pack FROM chunks")}
    assert len(packs) > 5
    for e in entries:
        assert Objects(store).read_bytes(e.digest) == files[e.path]


def test_hardlinked_downloads_rehash_only_objects_that_changed(store, make_files, tmp_path):
    if not store.blobs.is_local:
        pytest.skip("links need a local blob store")
    big = os.urandom(2 * PACK_LIMIT)
    [e] = Objects(store).add_files(_pairs(make_files({"big.bin": big})), whole=True)
    obj = store.blobs.loose_path(e.digest)
    old = time.time() - 10
    os.utime(obj, (old, old))  # written long ago: its stat can be trusted
    Objects(store).materialize([e], tmp_path / "a", link_mode="hardlink")
    row = store.db.execute("SELECT digest FROM stat_cache WHERE path = ?", [obj]).fetchone()
    assert row == (e.digest,)
    Objects(store).materialize([e], tmp_path / "b", link_mode="hardlink")
    assert os.stat(tmp_path / "b" / "big.bin").st_ino == os.stat(obj).st_ino
    # the object changes behind the store's back: its stat changes, so it is hashed again and refused
    os.chmod(obj, 0o600)
    with open(obj, "r+b") as f:
        f.write(b"\x00corrupt")
    with pytest.raises(CorruptBlob):
        Objects(store).materialize([e], tmp_path / "c", link_mode="hardlink")
    assert not (tmp_path / "c" / "big.bin").exists()
