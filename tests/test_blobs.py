"""blobs: the content-addressed blob store, on a local folder and on fsspec's memory filesystem."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localreg import hashing
from localreg.blobs import BlobStore, open_url, url_info
from localreg.errors import CorruptBlob, InvalidInput, NotFound

FIXTURE_OK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def blobs(blob_backend):
    return BlobStore(blob_backend)


def _files(blobs: BlobStore) -> list[str]:
    """Every file under the blob root, relative to it."""
    base = blobs.root.rstrip("/")
    if blobs.is_local:
        out = []
        for dirpath, _dirs, files in os.walk(base):
            out += [os.path.relpath(os.path.join(dirpath, f), base).replace(os.sep, "/") for f in files]
        return sorted(out)
    if not blobs.fs.exists(base):
        return []
    return sorted(p[len(base) + 1:] for p in blobs.fs.find(base))


def test_local_memory_and_s3_backends(blobs, blob_backend):
    assert blobs.is_local == (not blob_backend.startswith(("memory://", "s3://")))


@FIXTURE_OK
@given(st.binary(max_size=3000))
def test_bytes_to_loose_blob_to_bytes(blobs, data):
    w = blobs.put_bytes(data)
    assert w.digest == hashing.digest_bytes(data)
    assert w.size == len(data)
    assert blobs.loose_exists(w.digest)
    with blobs.open_loose(w.digest) as f:
        assert f.read() == data


def test_loose_layout_and_listing(blobs):
    w = blobs.put_bytes(b"hello")
    h = hashing.hex_of(w.digest)
    assert blobs.loose_path(w.digest).endswith(f"objects/{h[:2]}/{h[2:]}")
    assert [(d, size) for d, size, _mtime in blobs.list_loose()] == [(w.digest, 5)]
    assert _files(blobs) == [f"objects/{h[:2]}/{h[2:]}"]  # the temp file is gone
    assert blobs.usage() == 5


def test_put_loose_streams_in_pieces(blobs):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read buffer
    w = blobs.put_loose(io.BytesIO(data))
    assert w.size == len(data)
    with blobs.open_loose(w.digest) as f:
        assert f.read() == data


def test_put_loose_with_wrong_expected_digest_keeps_nothing(blobs):
    wrong = hashing.digest_bytes(b"something else")
    with pytest.raises(CorruptBlob) as exc:
        blobs.put_loose(io.BytesIO(b"data"), expected=wrong)
    assert exc.value.digest == wrong
    assert wrong in str(exc.value)
    assert _files(blobs) == []


def test_writing_the_same_blob_twice_is_harmless(blobs):
    a = blobs.put_bytes(b"same")
    b = blobs.put_bytes(b"same")
    assert a == b
    assert len(list(blobs.list_loose())) == 1


def test_missing_loose_blob_names_its_digest(blobs):
    digest = hashing.digest_bytes(b"never written")
    assert not blobs.loose_exists(digest)
    with pytest.raises(CorruptBlob) as exc:
        blobs.open_loose(digest)
    assert exc.value.digest == digest
    assert digest in str(exc.value)
    assert isinstance(exc.value, OSError)


def test_pack_writer(blobs):
    with blobs.pack_writer() as pw:
        offsets = [pw.add(b"one"), pw.add(b"two!"), pw.add(memoryview(b"three"))]
        name = pw.close()
    assert offsets == [0, 3, 7]
    assert name is not None and blobs.pack_exists(name)
    assert blobs.read_range(name, 3, 4) == b"two!"
    assert blobs.read_range(name, 7, 5) == b"three"
    with blobs.open_pack(name) as f:
        assert f.read() == b"onetwo!three"
    assert [(n, size) for n, size, _ in blobs.list_packs()] == [(name, 12)]
    assert _files(blobs) == [f"packs/{name}"]


def test_empty_pack_is_not_kept(blobs):
    pw = blobs.pack_writer()
    assert pw.close() is None
    assert _files(blobs) == []


def test_aborted_pack_leaves_nothing(blobs):
    with pytest.raises(RuntimeError):
        with blobs.pack_writer() as pw:
            pw.add(b"partial")
            raise RuntimeError("crash while packing")
    assert _files(blobs) == []
    assert list(blobs.list_packs()) == []


def test_missing_pack(blobs):
    with pytest.raises(CorruptBlob, match="nope.pack is missing"):
        blobs.read_range("nope.pack", 0, 1)
    with pytest.raises(CorruptBlob, match="nope.pack is missing"):
        blobs.open_pack("nope.pack")


def test_remove(blobs):
    w = blobs.put_bytes(b"x")
    with blobs.pack_writer() as pw:
        pw.add(b"y")
        name = pw.close()
    blobs.remove_loose(w.digest)
    blobs.remove_pack(name)
    assert not blobs.loose_exists(w.digest) and not blobs.pack_exists(name)
    blobs.remove_loose(w.digest)  # removing twice is fine
    assert blobs.usage() == 0


def test_references(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"aa")
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"bbb")
    url = f"file://{tmp_path}/d"
    found = url_info(url)
    assert [(u.rsplit("/", 2)[-2:], size) for u, size in found] == [(["d", "a.txt"], 2), (["sub", "b.txt"], 3)]
    assert url_info(f"file://{tmp_path}/d/a.txt") == [(f"file://{tmp_path}/d/a.txt", 2)]
    with open_url(f"file://{tmp_path}/d/sub/b.txt") as f:
        assert f.read() == b"bbb"
    with pytest.raises(NotFound, match="missing.txt"):
        url_info(f"file://{tmp_path}/missing.txt")
    with pytest.raises(NotFound, match="missing.txt"):
        open_url(f"file://{tmp_path}/missing.txt")
    with pytest.raises(InvalidInput, match="nosuchproto"):
        open_url("nosuchproto://x/y")
