"""Ingest: local files, bytes and references into the blob store, with the stat cache."""

from __future__ import annotations

import json
import os
import stat as stat_mod
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import hashing
from ..blobs import BUF, Callback, NoOpCallback, open_url
from ..errors import FileChanged, InvalidInput, NotFound
from .base import (
    BATCH_BYTES,
    CDC_AVG,
    CDC_BATCH,
    CDC_MAX,
    CDC_MIN,
    PACK_LIMIT,
    Entry,
    _racy,
    _same,
)
from .index import _Index
from .packs import Pack, _BackgroundPacker


class _Ingest(_Index):
    """The ingest verbs of :class:`~localreg.objects.Objects`."""

    def add_bytes(self, data: bytes) -> tuple[str, int]:
        self.store.check_writable()
        digest = hashing.digest_bytes(data)
        if digest not in self.present([digest]):
            ts = time.time()
            if len(data) < PACK_LIMIT:
                with Pack(self.blobs) as pw:
                    off = pw.add(data, digest)
                    name = pw.close()
                self._record([(digest, len(data), name, off, ts)], [])
            else:
                w = self.blobs.put_bytes(data)
                self._record([(w.digest, w.size, None, None, ts)], [])
        return digest, len(data)

    def add_files(
        self,
        files: Sequence[tuple[str, str]],
        callback: Callback | None = None,
        *,
        whole: bool = False,
        link: bool = False,
    ) -> list[Entry]:
        """Store local files; ``files`` is ``[(logical path, local path)]``.

        Returns the entries in the same order. Unchanged files (same stat as
        when last read) are not read again. Files of ``PACK_LIMIT`` bytes or
        more are cut into content-defined chunks, so versions that differ a
        little share most of their bytes; ``whole=True`` stores them as one
        loose object each instead, and ``link=True`` (W&B's
        ``policy="immutable"``) makes that object a hard link to the file
        itself where the store is on the same local filesystem: no byte is
        copied, the file is only read once to hash it. The caller promises
        not to change such a file in place; reads re-hash and would catch it.

        Raises :class:`FileChanged` if a file changes while it is read,
        :class:`NotFound` if it vanished.
        """
        self.store.check_writable()  # before any file is read
        callback = callback or NoOpCallback()
        callback.set_size(len(files))
        n = len(files)
        abspaths = [local if local.startswith("/") else os.path.abspath(local) for _l, local in files]
        digests: list[str | None] = [None] * n
        sizes: list[int] = [0] * n
        todo: list[int] = []
        rows = self._cache_rows(abspaths)
        if rows:
            # a cache row names only bytes the store holds: gc and fsck drop
            # the rows of what they remove (see drop_stale_cache_rows)
            for i, ap in enumerate(abspaths):
                r = rows.get(ap)
                if r is None:
                    todo.append(i)
                    continue
                st = _stat(ap)
                if r[1] == st.st_dev and r[2] == st.st_ino and r[3] == st.st_size and r[4] == st.st_mtime_ns:
                    digests[i] = r[5]
                    sizes[i] = st.st_size
                else:
                    todo.append(i)
        else:
            todo = list(range(n))
        callback.relative_update(n - len(todo))

        chunk_rows: list[tuple] = []
        cache_rows: list[tuple] = []
        now_ns = time.time_ns()

        def remember(i: int, st: os.stat_result, digest: str, path: str | None = None) -> None:
            sizes[i] = st.st_size
            if not _racy(st, now_ns):
                cache_rows.append((path or abspaths[i], st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest))

        file_rows: list[tuple] = []
        try:
            large = self._ingest_small(todo, abspaths, digests, chunk_rows, remember, callback) if todo else []
            if large and (whole or link):
                self._ingest_whole(large, abspaths, digests, chunk_rows, remember, callback, link)
            elif large:
                self._ingest_chunked(large, abspaths, digests, chunk_rows, file_rows, remember, callback)
            chunk_rows.sort()
            self._record(chunk_rows, cache_rows, file_rows)
        except BaseException:
            # packs made by this call have fresh names no row names: drop them rather than leave
            # them to gc (loose objects stay: another writer may be recording the same bytes)
            for pack in {r[2] for r in chunk_rows if r[2] is not None}:
                self.blobs._discard(self.blobs.pack_path(pack))
            raise
        return [
            Entry(path=logical, digest=digests[i], size=sizes[i])  # type: ignore[arg-type]
            for i, (logical, _local) in enumerate(files)
        ]

    def _cache_rows(self, abspaths: list[str]) -> dict[str, tuple]:
        """Stat-cache rows for these paths (not yet compared with the files)."""
        db = self.store.db
        if len(abspaths) > 200:
            # one range scan over the common folder beats thousands of lookups
            lo, hi = min(abspaths), max(abspaths)
            cur = db.execute(
                "SELECT path, dev, ino, size, mtime_ns, digest FROM stat_cache WHERE path >= ? AND path <= ?",
                [os.path.commonprefix([lo, hi]), hi],
            )
        else:
            cur = db.execute(
                "SELECT path, dev, ino, size, mtime_ns, digest FROM stat_cache "
                "WHERE path IN (SELECT value FROM json_each(?))",
                [json.dumps(abspaths)],
            )
        return {r[0]: r for r in cur}

    def _ingest_small(self, todo, abspaths, digests, chunk_rows, remember, callback) -> list[int]:
        """Read, hash and pack the small files of ``todo``; return the large ones.

        One reading thread: for small files the syscalls dominate and more
        threads only add GIL hand-offs (measured ~30% slower with two). The
        pack bytes go to a writer thread, whose large ``write`` calls run
        without the GIL while the next files are read. At most two
        batches of ``BATCH_BYTES`` are held in memory.
        """
        large: list[int] = []
        known: set[str] = set()
        writer = _BackgroundPacker(self.blobs)
        ts = time.time()
        batch: list[tuple[int, bytes, str, os.stat_result]] = []
        batch_bytes = 0

        def flush() -> None:
            nonlocal batch, batch_bytes
            fresh = {r[2] for r in batch if r[2] not in known}
            known.update(self.present(fresh))
            for i, data, digest, st in batch:
                digests[i] = digest
                if digest not in known:
                    known.add(digest)
                    name, offset = writer.add(data, digest)
                    chunk_rows.append((digest, len(data), name, offset, ts))
                remember(i, st, digest)
            writer.flush()
            callback.relative_update(len(batch))
            batch, batch_bytes = [], 0

        try:
            for i in todo:
                data, digest, st = _read_small(abspaths[i])
                if data is None:
                    large.append(i)
                    continue
                batch.append((i, data, digest, st))  # type: ignore[arg-type]
                batch_bytes += len(data)
                if batch_bytes >= BATCH_BYTES or len(batch) >= 4096:
                    flush()
            if batch:
                flush()
            writer.close()
        except BaseException:
            writer.abort()
            raise
        return large

    def _ingest_chunked(self, todo, abspaths, digests, chunk_rows, file_rows, remember, callback) -> None:
        """Cut big files with FastCDC and pack the chunks the store lacks.

        Two hashes run per chunk: its own (to name it) and the whole file's
        (to name the file). The whole-file hash runs on a second thread, in
        order; sha256 releases the GIL on buffers this size, so both cores
        work. Memory stays at a few batches of ``CDC_BATCH`` bytes.
        """
        cdc = _fastcdc()
        packer = _BackgroundPacker(self.blobs)
        hasher = ThreadPoolExecutor(1)
        known: set[str] = set()
        ts = time.time()
        try:
            for i in todo:
                path = abspaths[i]
                f = _open_source(path)
                with f:
                    before = os.fstat(f.fileno())

                    def readinto(view: memoryview) -> int:
                        try:
                            return f.readinto(view) or 0
                        except OSError as e:
                            raise InvalidInput(f"cannot read {path!r}: {e.strerror or e}") from None

                    digest, size, parts = self._cut(readinto, cdc, packer, hasher, known, chunk_rows, ts)
                    after = os.fstat(f.fileno())
                if not _same(before, after) or size != after.st_size or _replaced(path, after):
                    raise FileChanged(f"file {path!r} changed while it was being read; log it again")
                digests[i] = digest
                file_rows.append((digest, size, json.dumps(parts, separators=(",", ":"))))
                packer.add_file(digest, size, parts)
                remember(i, after, digest)
                callback.relative_update(1)
            packer.close()
        except BaseException:
            packer.abort()
            raise
        finally:
            hasher.shutdown(wait=True)

    def _cut(self, readinto: Callable[[memoryview], int], cdc: Any, packer: "_BackgroundPacker",
             hasher: ThreadPoolExecutor, known: set[str], chunk_rows: list[tuple], ts: float
             ) -> tuple[str, int, list[list]]:
        """Cut one stream (``readinto`` fills a view, 0 at its end) into chunks; pack those the store lacks.

        Returns the stream's digest, its size and its ``[[chunk digest,
        size]]``; new chunks are added to ``packer`` and ``chunk_rows``.
        """
        whole = hashing.new()
        parts: list[list] = []
        size = 0

        def take(chunks: list[memoryview]) -> None:
            # name the chunks, look them up at once, pack the new ones
            names = [hashing.digest_bytes(c) for c in chunks]
            known.update(self.present(n for n in names if n not in known))
            for name, data in zip(names, chunks):
                parts.append([name, len(data)])
                if name not in known:
                    known.add(name)
                    pack, offset = packer.add(data, name)
                    chunk_rows.append((name, len(data), pack, offset, ts))
            packer.flush()

        # Read big blocks and cut them in place: chunks are views into the
        # block, so no byte is copied on its way to the hashers and the
        # pack. A block's last chunk may be cut by the block's end rather
        # than by content: carry it over.
        carry = b""
        pending_hash = None
        while True:
            # a fresh buffer per block: views of the last one may still be
            # on their way to the pack writer
            buf = bytearray(len(carry) + CDC_BATCH)
            buf[: len(carry)] = carry
            n = readinto(memoryview(buf)[len(carry):])
            eof = not n
            if n < CDC_BATCH:
                del buf[len(carry) + n:]
            if not buf:
                break
            view = memoryview(buf)
            chunks = [view[c.offset: c.offset + c.length] for c in cdc.cut_buf(buf)]
            if not eof and chunks:
                last = chunks.pop()
                carry = bytes(last)
            else:
                carry = b""
            done = sum(len(c) for c in chunks)
            if done:
                # one block in the hasher at a time: memory stays flat
                if pending_hash is not None:
                    pending_hash.result()
                pending_hash = hasher.submit(whole.update, view[:done])
                take(chunks)
                size += done
            if eof:
                break
        if pending_hash is not None:
            pending_hash.result()
        return hashing.format_digest(whole), size, parts

    def _ingest_whole(self, todo, abspaths, digests, chunk_rows, remember, callback, link: bool = False) -> None:
        def one(i: int) -> tuple[int, str, int, os.stat_result]:
            path = abspaths[i]
            f = _open_source(path)
            with f:
                before = os.fstat(f.fileno())
                w = self.blobs.put_link(path, f) if link else None
                if w is None:
                    w = self.blobs.put_loose(f)
                after = os.fstat(f.fileno())
            if not _same(before, after) or w.size != after.st_size:
                raise FileChanged(f"file {path!r} changed while it was being read; log it again")
            return i, w.digest, w.size, after

        ts = time.time()
        workers = 2 if len(todo) > 1 else 1
        with ThreadPoolExecutor(workers) as pool:
            for i, digest, size, st in pool.map(one, todo):
                digests[i] = digest
                chunk_rows.append((digest, size, None, None, ts))
                remember(i, st, digest)
                if link and self.blobs.is_local:
                    # a linked object was hashed as it went in: a linked
                    # download may trust it until its stat changes
                    obj = self.blobs.loose_path(digest)
                    remember(i, os.stat(obj), digest, obj)
                callback.relative_update(1)

    def add_reference(self, url: str, checksum: bool = True) -> tuple[str, int]:
        """Digest and size of the file at ``url`` (hashed when ``checksum``)."""
        if not checksum:
            return hashing.digest_bytes(url.encode()), 0
        h = hashing.new()
        size = 0
        with open_url(url) as f:
            while True:
                data = f.read(BUF)
                if not data:
                    break
                h.update(data)
                size += len(data)
        return hashing.format_digest(h), size

    # -- reading -------------------------------------------------------------------


def _fastcdc() -> Any:
    from pyfastcdc import FastCDC

    return FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)


def _replaced(path: str, st: os.stat_result) -> bool:
    """True if ``path`` no longer names the file read (replaced by a rename while it was read)."""
    try:
        now = os.stat(path)
    except OSError:
        return True
    return (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino)


def _open_source(path: str):
    """Open a file being logged, unbuffered; errors say which file and why."""
    try:
        return open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise NotFound(f"file {path!r} disappeared while logging") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {path!r}: permission denied") from None


def _stat(path: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound(f"file {path!r} not found", path) from None
    except PermissionError:
        raise InvalidInput(f"cannot read {path!r}: permission denied") from None
    if not stat_mod.S_ISREG(st.st_mode):
        raise InvalidInput(f"{path!r} is not a regular file")
    return st


def _read_small(path: str) -> tuple[bytes | None, str | None, os.stat_result]:
    """``(bytes, digest, stat)`` of a file below ``PACK_LIMIT``; ``(None, None, stat)`` for a bigger one.

    Five syscalls (open, fstat, read, fstat, close); the two fstats catch a
    file that changes while it is read.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (fstat below refuses it)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NotFound(f"file {path!r} not found", path) from None
    except PermissionError:
        raise InvalidInput(f"cannot read {path!r}: permission denied") from None
    try:
        st0 = os.fstat(fd)
        if not stat_mod.S_ISREG(st0.st_mode):
            raise InvalidInput(f"{path!r} is not a regular file")
        if st0.st_size >= PACK_LIMIT:
            return None, None, st0
        try:
            data = os.read(fd, st0.st_size + 1)
            while len(data) < st0.st_size:
                more = os.read(fd, st0.st_size + 1 - len(data))
                if not more:
                    break
                data += more
        except OSError as e:  # EIO and the like: a file that cannot be read (/proc/self/mem, a failing disk)
            raise InvalidInput(f"cannot read {path!r}: {e.strerror or e}") from None
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if len(data) != st.st_size or not _same(st0, st):
        raise FileChanged(f"file {path!r} changed while it was being read; log it again")
    return data, hashing.digest_bytes(data), st
