"""Staging: blobs verified while they stream in, kept out of sight until published."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .. import hashing
from ..blobs import Callback, NoOpCallback
from ..errors import CorruptBlob
from .base import PACK_LIMIT, PACK_TARGET
from .ingest import _fastcdc
from .packs import Pack, _BackgroundPacker

if TYPE_CHECKING:
    from .core import Objects


class Staging:
    """Blobs verified while they stream in, kept out of sight until :meth:`publish`.

    For verbs that must check everything before changing anything (bundle
    import): bytes go to pack files that no row names, so nothing is
    visible yet and :meth:`abort` removes them all; a crash leaves
    unindexed packs, which gc removes. Small blobs share packs; a blob of
    ``PACK_LIMIT`` bytes or more is cut into content-defined chunks as
    logging cuts it, and only the chunks the store lacks are written, so an
    imported version that differs a little from one already there costs
    little more than its differences. :meth:`seal` makes the staged bytes
    durable (call it before taking the write lock); :meth:`publish` records
    every row: call it inside the transaction that adds the rows naming
    these blobs.
    """

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.blobs = objects.blobs
        self._pack: Any = None
        self._packs: list[str] = []
        self._small: list[tuple[str, int, str, int]] = []
        self._chunk_rows: list[tuple] = []
        self._file_rows: list[tuple[str, int, str]] = []
        self._known: set[str] = set()
        self._packer: _BackgroundPacker | None = None
        self._hasher: ThreadPoolExecutor | None = None
        self._cdc: Any = None

    def add(self, pieces: Iterable[bytes], digest: str, size: int, callback: Callback | None = None) -> None:
        """Stage the bytes of ``pieces``; :class:`CorruptBlob` (no row kept) unless they are ``size`` bytes hashing to ``digest``."""
        callback = callback or NoOpCallback()
        if size >= PACK_LIMIT:
            self._add_chunked(iter(pieces), digest, size, callback)
            return
        data = b"".join(pieces)
        _check_staged(digest, size, hashing.digest_bytes(data), len(data))
        if self._pack is None or self._pack.offset >= PACK_TARGET:
            self._roll()
        self._small.append((digest, size, self._pack.name, self._pack.add(data, digest)))
        callback.relative_update(len(data))

    def _add_chunked(self, pieces: Iterator[bytes], digest: str, size: int, callback: Callback) -> None:
        if self._packer is None:
            self._packer = _BackgroundPacker(self.blobs)
            self._hasher = ThreadPoolExecutor(1)
            self._cdc = _fastcdc()
        assert self._hasher is not None
        rest = memoryview(b"")

        def readinto(view: memoryview) -> int:
            # fill the cutter's block from the pieces as they come
            nonlocal rest
            n = 0
            while n < len(view):
                if not rest:
                    piece = next(pieces, None)
                    if piece is None:
                        break
                    rest = memoryview(piece)
                k = min(len(rest), len(view) - n)
                view[n:n + k] = rest[:k]
                rest = rest[k:]
                n += k
            callback.relative_update(n)
            return n

        before = len(self._chunk_rows)
        known = set(self._known)
        got_digest, got, parts = self.objects._cut(readinto, self._cdc, self._packer, self._hasher, known,
                                                   self._chunk_rows, time.time())
        try:
            _check_staged(digest, size, got_digest, got)
        except CorruptBlob:
            del self._chunk_rows[before:]  # their bytes stay in unnamed packs: abort or gc removes them
            raise
        self._known = known
        self._file_rows.append((digest, size, json.dumps(parts, separators=(",", ":"))))
        self._packer.add_file(digest, size, parts)

    def _roll(self) -> None:
        if self._pack is not None:
            name = self._pack.close()
            if name is not None:
                self._packs.append(name)
        self._pack = Pack(self.blobs)

    def seal(self) -> None:
        """Make every staged byte durable (nothing names it yet)."""
        if self._pack is not None:
            name = self._pack.close()
            self._pack = None
            if name is not None:
                self._packs.append(name)
        if self._packer is not None:
            packer, self._packer = self._packer, None
            self._packs.extend(w.name for w in packer.writers)
            try:
                packer.close()
            finally:
                self._shutdown_hasher()

    def _shutdown_hasher(self) -> None:
        if self._hasher is not None:
            self._hasher.shutdown(wait=True)
            self._hasher = None

    def publish(self) -> int:
        """Record the chunk and file rows of every staged blob (sealing first); returns how many blobs.

        A chunked file may name chunks the store had when it was staged:
        they must still be there (a gc may have taken them since), or
        :class:`CorruptBlob` says to import again.
        """
        self.seal()
        if self._file_rows:
            staged = {r[0] for r in self._chunk_rows}
            needed = {cd for _d, _s, chunks in self._file_rows for cd, _size in json.loads(chunks)} - staged
            missing = needed - self.objects.present(needed)
            if missing:
                raise CorruptBlob(f"chunk {min(missing)} left the store during the import (a gc running with a "
                                  "short grace?): import again", min(missing))
        ts = time.time()
        rows = [(d, s, p, o, ts) for d, s, p, o in self._small] + self._chunk_rows
        rows.sort()
        self.objects._record(rows, [], self._file_rows)
        count = len(self._small) + len(self._file_rows)
        self._small, self._packs, self._chunk_rows, self._file_rows = [], [], [], []
        return count

    def abort(self) -> None:
        """Remove everything staged (nothing names it)."""
        if self._pack is not None:
            self._pack.abort()
            self._pack = None
        if self._packer is not None:
            packer, self._packer = self._packer, None
            self._packs.extend(w.name for w in packer.writers)
            packer.abort()
        self._shutdown_hasher()
        for name in set(self._packs):
            self.blobs.remove_pack(name)
        self._small, self._packs, self._chunk_rows, self._file_rows = [], [], [], []


def _check_staged(digest: str, size: int, got_digest: str, got: int) -> None:
    if got != size:
        raise CorruptBlob(f"blob {digest} has {got} bytes, expected {size}", digest)
    if got_digest != digest:
        raise CorruptBlob(f"blob {digest} is corrupt: its bytes hash to {got_digest}", digest)
