"""Checked reads: every piece of a stored file is hashed against its digest."""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .. import hashing
from ..blobs import BUF
from ..errors import CorruptBlob
from .base import (
    HASH_BATCH,
    HASH_THREAD_MIN,
    OPEN_PACKS,
    SPOOL_MAX,
    VERIFY_BATCH,
    VERIFY_IN_FLIGHT,
    VERIFY_THREAD_MIN,
)
from .index import _Index

if TYPE_CHECKING:
    from .core import Objects


class _Read(_Index):
    """The reading verbs of :class:`~localreg.objects.Objects`."""

    def iter_bytes(self, digest: str) -> Iterator[bytes]:
        """Yield the bytes of file ``digest``, every piece checked before it is yielded.

        For callers that hand the bytes on at once (a web download, a
        reader of the SDK): see :meth:`BlobReader.checked`. A missing or
        damaged blob raises :class:`CorruptBlob` naming it; when it is
        found after the first piece, the last piece is never yielded, so
        what left is visibly short of the file.
        """
        with self.reader([digest]) as reader:
            yield from reader.checked(digest)

    def _corrupt_chunk(self, parts: list[tuple[str, int, str | None, int | None]]) -> str:
        for cd, size, pack, offset in parts:
            if pack is not None:
                data = self.blobs.read_range(pack, offset or 0, size)
            else:
                with self.blobs.open_loose(cd) as f:
                    data = f.read()
            if hashing.digest_bytes(data) != cd:
                return cd
        return parts[0][0]

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_bytes(digest))

    def check_many(self, digests: Iterable[str]) -> dict[str, str | None]:
        """:meth:`check` for many files: ``{digest: None or what is wrong}``.

        On an object store the files are read in the order of their packs
        through a :class:`~localreg.objects.fetch.Fetcher`: each pack once,
        neighbouring files in one ranged request, a few requests in flight,
        every chunk hashed against its digest and every file of many chunks
        against its own. On local disk each file is checked as :meth:`check` does.
        """
        wanted = list(dict.fromkeys(digests))
        if self.blobs.is_local:
            return {d: self.check(d) for d in wanted}
        from .fetch import SPAN_MAX, Fetcher, Piece

        where = self._locate_all(wanted)
        out: dict[str, str | None] = {}
        files = []
        for d in wanted:
            parts = where.get(d)
            if parts is None:
                out[d] = f"blob {d} is not in the store at {self.store.home}"
            else:
                files.append((d, parts))
        # files in the order their first piece is stored: each pack is read front to back
        files.sort(key=lambda f: (f[1][0][2] or "~" + f[1][0][0], f[1][0][3] or 0))
        pieces = []
        for d, parts in files:
            for cd, size, pack, offset in parts:
                if pack is not None:
                    pieces.append(Piece(self.blobs.pack_path(pack), offset or 0, size, (d, cd, size, True)))
                else:
                    path = self.blobs.loose_path(cd)
                    starts = list(range(0, size, SPAN_MAX)) or [0]
                    for i, start in enumerate(starts):
                        last = i == len(starts) - 1
                        pieces.append(Piece(path, start, min(SPAN_MAX, size - start), (d, cd, size, last)))
        state: dict[str, Any] = {"file": None}

        def finish() -> None:
            d = state["file"]
            if d is not None and out.get(d) is None and state["parts"] > 1 and state["whole"].hexdigest() != d[_PREFIX_LEN:]:
                out[d] = f"blob {d} is corrupt: its chunks hash to another digest as a whole"

        chunk_h = None
        for piece, data in Fetcher(self.blobs.fs).fetch(pieces):
            d, cd, size, chunk_ends = piece.key
            if d != state["file"]:
                finish()
                state.update(file=d, whole=_sha256(), parts=len(where[d]))
                out[d] = None
            if isinstance(data, BaseException):
                if out[d] is None:
                    out[d] = f"blob {cd}: {data}"
                chunk_h = None
                continue
            state["whole"].update(data)
            chunk_h = chunk_h or _sha256()
            chunk_h.update(data)
            if chunk_ends:
                if chunk_h.hexdigest() != cd[_PREFIX_LEN:] and out[d] is None:
                    out[d] = f"blob {cd} is corrupt (its bytes do not match its digest)"
                chunk_h = None
        finish()
        return out

    def check(self, digest: str) -> str | None:
        """None if file ``digest`` is intact, else what is wrong.

        A file of many chunks is checked once, as a whole (what ``verify``
        needs: the list of chunks is checked too); only when that fails are
        its chunks re-hashed, to name the corrupt one.
        """
        try:
            with self.reader([digest]) as reader:
                for _ in reader.pieces(digest, whole=True):
                    pass
        except CorruptBlob as e:
            return str(e)
        except OSError as e:
            return f"blob {digest}: {e}"
        return None


_sha256 = hashlib.sha256
_PREFIX_LEN = len(hashing.PREFIX)


def _check_piece(data: bytes, digest: str, size: int, where: str = "") -> None:
    if len(data) != size:
        raise CorruptBlob(f"blob {digest}{where} has {len(data)} bytes, expected {size} (truncated)", digest)
    if _sha256(data).hexdigest() != digest[_PREFIX_LEN:]:
        raise CorruptBlob(f"blob {digest}{where} is corrupt (its bytes do not match its digest)", digest)


def _first_bad(batch: list[tuple[Any, str]]) -> str | None:
    for data, digest in batch:
        if hashing.digest_bytes(data) != digest:
            return digest
    return None


class _Verifier:
    """Checks pieces against their own digests on two threads while the caller goes on.

    sha256 releases the GIL, so the caller's reads and writes overlap the
    hashing. Pieces go in tasks of about ``VERIFY_BATCH`` bytes; at most
    ``VERIFY_IN_FLIGHT`` bytes wait to be checked, so memory stays bounded
    however fast the caller reads. Pieces under ``VERIFY_THREAD_MIN`` are
    checked at once instead: for them, handing the GIL back and forth
    costs more than the hashing (measured: reading 10,000 packed 4 KiB
    blobs took 7x longer). :meth:`finish` waits for every check and raises
    :class:`CorruptBlob` naming the first bad piece.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._batch: list[tuple[Any, str]] = []
        self._batch_bytes = 0
        self._pending: deque = deque()
        self._in_flight = 0

    def add(self, data: Any, digest: str) -> None:
        if len(data) < VERIFY_THREAD_MIN:
            if hashing.digest_bytes(data) != digest:
                raise CorruptBlob(f"blob {digest} is corrupt (its bytes do not match its digest)", digest)
            return
        self._batch.append((data, digest))
        self._batch_bytes += len(data)
        if self._batch_bytes >= VERIFY_BATCH:
            self._submit()

    def _submit(self) -> None:
        batch, size = self._batch, self._batch_bytes
        self._batch, self._batch_bytes = [], 0
        if self._pool is None:
            self._pool = ThreadPoolExecutor(2, thread_name_prefix="localreg-verify")
        self._pending.append((self._pool.submit(_first_bad, batch), size))
        self._in_flight += size
        while self._in_flight > VERIFY_IN_FLIGHT:
            self._wait_one()

    def _wait_one(self) -> None:
        future, size = self._pending.popleft()
        self._in_flight -= size
        bad = future.result()
        if bad is not None:
            raise CorruptBlob(f"blob {bad} is corrupt (its bytes do not match its digest)", bad)

    def finish(self) -> None:
        if self._batch:
            self._submit()
        while self._pending:
            self._wait_one()

    def close(self) -> None:
        self._batch, self._pending = [], deque()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class BlobReader:
    """Streams many stored files: one lookup for all, pack files kept open, every chunk checked on two threads.

    :meth:`pieces` yields a file's bytes as they are read; each chunk is
    checked against its own sha256 (the list of a chunked file's chunks was
    checked against the whole file's sha256 when it was logged), loose
    objects as one stream. Checks of pieces already yielded may still be
    running: call :meth:`check` before giving what was written from them a
    final name. Used by bundle export and by materialize, which write to a
    temporary file renamed only once every check passed.

    :meth:`checked` is for bytes that leave at once (a web download, the
    SDK's readers): every piece is checked before it is yielded.
    """

    def __init__(self, objects: Objects, digests: Iterable[str],
                 known: dict[str, tuple[int, str | None, int | None]] | None = None) -> None:
        self.objects = objects
        self.blobs = objects.blobs
        self._local = objects.blobs.is_local
        # single-chunk files the caller located are used as they are (no copy: many small files)
        self.known = known or {}
        self.where = objects._locate_all(d for d in digests if d not in self.known)
        self._verifier = _Verifier()
        self._packs: dict[str, Any] = {}
        self._fds: dict[str, int] = {}

    def _parts(self, digest: str) -> list[tuple[str, int, str | None, int | None]] | None:
        parts = self.where.get(digest)
        if parts is None and digest in self.known:
            size, pack, offset = self.known[digest]
            parts = [(digest, size, pack, offset)]
        return parts

    def _pack(self, pack: str) -> Any:
        f = self._packs.get(pack)
        if f is None:
            if len(self._packs) >= OPEN_PACKS:
                self._packs.pop(next(iter(self._packs))).close()
            f = self._packs[pack] = self.blobs.open_pack(pack)
            self._fds.clear()
        return f

    def read_small(self, digest: str) -> bytes | None:
        """The checked bytes of ``digest`` if it is one chunk in a pack of a local store, else None (use :meth:`pieces`).

        The fast path for many small files: no generator, checked at once.
        """
        loc = self.known.get(digest)
        if loc is None:
            parts = self.where.get(digest)
            if parts is None or len(parts) != 1:
                return None
            loc = parts[0][1:]
        size, pack, offset = loc
        if pack is None or not self._local:
            return None
        fd = self._fds.get(pack)
        if fd is None:
            fd = self._fds[pack] = self._pack(pack).fileno()
        data = os.pread(fd, size, offset or 0)
        if len(data) != size:
            raise CorruptBlob(f"blob {digest} in pack {pack} is truncated", digest)
        if _sha256(data).hexdigest() != digest[_PREFIX_LEN:]:
            raise CorruptBlob(f"blob {digest} is corrupt (its bytes do not match its digest)", digest)
        return data

    def pieces(self, digest: str, whole: bool = False) -> Iterator[bytes]:
        """The bytes of file ``digest``, checked chunk by chunk (see :meth:`check`), or with ``whole``, as one stream.

        ``whole=True`` hashes the whole file, on a second thread past
        ``HASH_THREAD_MIN``, and raises after the last piece if it does not
        match, naming the corrupt chunk.
        """
        parts = self._parts(digest)
        if parts is None:
            raise CorruptBlob(f"blob {digest} is not in the store at {self.objects.store.home}", digest)
        local = self._local
        total = _Hasher(sum(p[1] for p in parts) >= HASH_THREAD_MIN) if whole else None
        fetched = None
        if not local and len(parts) > 1:
            # a big file on an object store: its chunks come in ranged requests, several in flight
            from .fetch import Fetcher, Piece

            fetched = Fetcher(self.blobs.fs).fetch(
                Piece(self.blobs.pack_path(pack), offset or 0, size, cd)
                for cd, size, pack, offset in parts if pack is not None)
        try:
            for cd, size, pack, offset in parts:
                if pack is not None:
                    if fetched is not None:
                        _piece, got_data = next(fetched)
                        if isinstance(got_data, BaseException):
                            raise CorruptBlob(f"blob {cd}: {got_data}", cd)
                        data = got_data
                    elif local:
                        data = os.pread(self._pack(pack).fileno(), size, offset or 0)
                    else:
                        f = self._pack(pack)
                        f.seek(offset or 0)
                        data = f.read(size)
                    if len(data) != size:
                        raise CorruptBlob(f"blob {cd} in pack {pack} is truncated", cd)
                    if total is not None:
                        total.update(data)
                    else:
                        self._verifier.add(data, cd)
                    yield data
                    continue
                hasher = total or _Hasher(size >= HASH_THREAD_MIN)
                got = 0
                with self.blobs.open_loose(cd) as lf:
                    while data := lf.read(BUF):
                        hasher.update(data)
                        got += len(data)
                        yield data
                if got != size:
                    raise CorruptBlob(f"blob {cd} has {got} bytes, expected {size}", cd)
                if total is None and hasher.digest() != cd:
                    raise CorruptBlob(f"blob {cd} is corrupt (its bytes do not match its digest)", cd)
        finally:
            got_digest = total.digest() if total is not None else None
            if fetched is not None:
                fetched.close()
        if total is not None and got_digest != digest:
            bad = self.objects._corrupt_chunk(parts) if len(parts) > 1 else digest
            raise CorruptBlob(f"blob {bad} is corrupt (its bytes do not match its digest)", bad)

    def checked(self, digest: str) -> Iterator[bytes]:
        """The bytes of file ``digest``, each piece checked against its digest *before* it is yielded.

        Every blob the file needs is opened first, so a missing one raises
        before anything is yielded. A packed chunk (small file or chunk of a
        big one, at most ``PACK_LIMIT`` bytes) is read and hashed whole. A
        loose object up to ``SPOOL_MAX`` bytes is read whole into memory and
        checked; a bigger one is hashed in full first, then streamed while it
        is hashed again. The whole file is hashed too (for a file of many
        chunks: its list of chunks is then checked as well), and the last
        piece is held back until that hash matches: whatever goes wrong after
        the first piece, the caller never gets the whole file. Memory stays
        at a few MiB whatever the file's size. Raises :class:`CorruptBlob`.
        """
        parts = self._parts(digest)
        if parts is None:
            raise CorruptBlob(f"blob {digest} is not in the store at {self.objects.store.home}", digest)
        self._preflight(parts)
        single = len(parts) == 1 and parts[0][0] == digest
        total = None if single else _Hasher(sum(p[1] for p in parts) >= HASH_THREAD_MIN)
        held: bytes | None = None
        try:
            for cd, size, pack, offset in parts:
                for piece in self._checked_part(cd, size, pack, offset):
                    if total is not None:
                        total.update(piece)
                    if held is not None:
                        yield held
                    held = piece
        finally:
            got_digest = total.digest() if total is not None else digest
        if got_digest != digest:
            raise CorruptBlob(f"blob {digest} is corrupt: its chunks hash to {got_digest} as a whole", digest)
        if held is not None:
            yield held

    def _preflight(self, parts: list[tuple[str, int, str | None, int | None]]) -> None:
        """Raise :class:`CorruptBlob` if a blob of ``parts`` is missing or too short (no byte read)."""
        ends: dict[str, tuple[int, str]] = {}
        for cd, size, pack, offset in parts:
            if pack is None:
                have = self.blobs.loose_size(cd)
                if have is None:
                    raise CorruptBlob(f"blob {cd} is missing from {self.blobs.url}", cd)
                if have != size:
                    raise CorruptBlob(f"blob {cd} has {have} bytes, expected {size}", cd)
            elif pack not in ends:
                ends[pack] = ((offset or 0) + size, cd)  # named if the pack is missing: its first chunk here
            elif ends[pack][0] < (offset or 0) + size:
                ends[pack] = ((offset or 0) + size, ends[pack][1])
        for pack, (end, cd) in ends.items():
            try:
                have = self._pack_size(pack)
            except CorruptBlob as e:
                raise CorruptBlob(f"blob {cd}: {e}", cd) from None
            if have < end:
                raise CorruptBlob(f"blob {cd}: pack {pack} is truncated ({have} bytes, the blob ends at {end})", cd)

    def _pack_size(self, pack: str) -> int:
        f = self._pack(pack)
        if self._local:
            return os.fstat(f.fileno()).st_size
        size = getattr(f, "size", None)
        return int(size) if size is not None else self.blobs.pack_size(pack)

    def _checked_part(self, cd: str, size: int, pack: str | None, offset: int | None) -> Iterator[bytes]:
        if pack is not None:
            f = self._pack(pack)
            if self._local:
                data = os.pread(f.fileno(), size, offset or 0)
            else:
                f.seek(offset or 0)
                data = f.read(size)
            _check_piece(data, cd, size, f" in pack {pack}")
            yield data
            return
        if size <= SPOOL_MAX:
            with self.blobs.open_loose(cd) as lf:
                data = lf.read(size + 1)
            _check_piece(data, cd, size)
            yield data
            return
        # too big to hold: hash it all first, then stream it hashed again. The
        # caller holds the last piece back until this second hash matched too.
        first = _Hasher(True)
        got = 0
        with self.blobs.open_loose(cd) as lf:
            while data := lf.read(BUF):
                first.update(data)
                got += len(data)
        if got != size:
            raise CorruptBlob(f"blob {cd} has {got} bytes, expected {size}", cd)
        if first.digest() != cd:
            raise CorruptBlob(f"blob {cd} is corrupt (its bytes do not match its digest)", cd)
        again = _Hasher(True)
        got = 0
        held: bytes | None = None
        try:
            with self.blobs.open_loose(cd) as lf:
                while data := lf.read(BUF):
                    again.update(data)
                    got += len(data)
                    if held is not None:
                        yield held
                    held = data
        finally:
            second = again.digest()
        if got != size or second != cd:
            raise CorruptBlob(f"blob {cd} changed while it was being sent", cd)
        if held is not None:
            yield held

    def check(self) -> None:
        """Wait for every check of what was read so far; :class:`CorruptBlob` for the first bad chunk."""
        self._verifier.finish()

    def close(self) -> None:
        self._verifier.close()
        for f in self._packs.values():
            f.close()
        self._packs.clear()

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Hasher:
    """sha256 of a stream, on a second thread for big streams (batched, in order)."""

    def __init__(self, threaded: bool) -> None:
        self.h = hashing.new()
        self.pool = ThreadPoolExecutor(1) if threaded else None
        self.batch: list[bytes] = []
        self.batch_bytes = 0
        self.last: Any = None

    @staticmethod
    def _feed(h, pieces: list[bytes]) -> None:
        for p in pieces:
            h.update(p)

    def update(self, data: bytes) -> None:
        if self.pool is None:
            self.h.update(data)
            return
        self.batch.append(data)
        self.batch_bytes += len(data)
        if self.batch_bytes >= HASH_BATCH:
            if self.last is not None:
                # at most one batch waits for the hasher while the next fills: a reader
                # faster than sha256 must not queue the whole file in memory
                self.last.result()
            self.last = self.pool.submit(self._feed, self.h, self.batch)
            self.batch, self.batch_bytes = [], 0

    def digest(self) -> str:
        if self.pool is not None:
            if self.batch:
                self.last = self.pool.submit(self._feed, self.h, self.batch)
                self.batch = []
            if self.last is not None:
                self.last.result()
            self.pool.shutdown()
        return hashing.format_digest(self.h)
