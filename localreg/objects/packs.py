"""Packs: small chunks back to back, and the footer that lists them (see docs/format.md, "Packs").

A pack is self-describing: after its chunks comes a footer naming every
chunk (digest, offset, size) and every big file whose chunk list was made
with it (digest, size, chunks), closed by a fixed-size trailer with a magic
number, a version, the footer's length and its sha256. The chunk index in
SQLite can thus be rebuilt from the blob store alone (``localreg fsck
--rebuild-index``). Readers find chunks through the index and never look at
bytes past the chunks, so packs without a footer (written before it
existed) and packs with one are read alike.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

from .. import hashing
from .base import PACK_TARGET

MAGIC = b"LRPK\r\n\x1a\n"  # last 8 bytes of a pack with a footer (CR LF and ^Z catch text-mode copies)
FOOTER_VERSION = 1
_TRAILER = struct.Struct("<Q32sI8s")  # footer body length, sha256 of the body, version, magic
_HEAD = struct.Struct("<II")          # number of chunk records, number of file records
_CHUNK = struct.Struct("<32sQQ")      # chunk sha256, offset, size
_FILE = struct.Struct("<32sQI")       # file sha256, size, number of chunks; then as many _PART
_PART = struct.Struct("<32sQ")        # chunk sha256, size
TRAILER_SIZE = _TRAILER.size          # 52


class BadFooter(ValueError):
    """A pack ends with the footer's magic number but the footer cannot be trusted."""


@dataclass
class Footer:
    """What a pack's footer lists. ``data_end``: where the chunks end; ``length``: footer bytes (body and trailer)."""

    chunks: list[tuple[str, int, int]] = field(default_factory=list)    # (digest, offset, size)
    files: list[tuple[str, int, list[list[Any]]]] = field(default_factory=list)  # (digest, size, [[chunk, size]])
    data_end: int = 0
    length: int = 0


def _raw(digest: str) -> bytes:
    return bytes.fromhex(hashing.hex_of(digest))


def _name(raw: bytes) -> str:
    return hashing.PREFIX + raw.hex()


def encode_footer(chunks: list[tuple[str, int, int]], files: list[tuple[str, int, list[list[Any]]]]) -> bytes:
    """The footer (body and trailer) listing ``chunks`` ``(digest, offset, size)`` and ``files`` ``(digest, size, parts)``."""
    out = [_HEAD.pack(len(chunks), len(files))]
    pack_chunk = _CHUNK.pack
    skip = len(hashing.PREFIX)
    raw = bytes.fromhex("".join([d[skip:] for d, _o, _s in chunks]))  # one conversion: 10,000 records in ~10 ms
    out += [pack_chunk(raw[32 * i: 32 * i + 32], off, size) for i, (_d, off, size) in enumerate(chunks)]
    for digest, size, parts in files:
        out.append(_FILE.pack(_raw(digest), size, len(parts)))
        out += [_PART.pack(_raw(cd), cs) for cd, cs in parts]
    body = b"".join(out)
    return body + _TRAILER.pack(len(body), hashlib.sha256(body).digest(), FOOTER_VERSION, MAGIC)


def footer_length(trailer: bytes, pack_size: int) -> int:
    """Bytes of footer at the end of a pack, from its last ``TRAILER_SIZE`` bytes; 0 if it has none."""
    if len(trailer) != TRAILER_SIZE or trailer[-8:] != MAGIC:
        return 0
    body_len = _TRAILER.unpack(trailer)[0]
    if body_len + TRAILER_SIZE > pack_size:
        return 0
    return body_len + TRAILER_SIZE


def data_sizes(blobs: Any, packs: dict[str, int]) -> dict[str, int]:
    """``{pack: bytes before its footer}`` for ``{pack: file size}`` (one small read per pack; no footer: the file size)."""
    out = {}
    for name, size in packs.items():
        try:
            tail = blobs.read_range(name, size - TRAILER_SIZE, TRAILER_SIZE) if size >= TRAILER_SIZE else b""
        except OSError:
            tail = b""
        out[name] = size - footer_length(tail, size)
    return out


def decode_footer(blobs: Any, pack: str, pack_size: int) -> Footer | None:
    """The footer of ``pack`` (``pack_size`` bytes) in the blob store; None if it has none.

    Raises :class:`BadFooter` if it ends with the magic number but the
    footer is damaged, of an unknown version, or names bytes outside the pack.
    """
    if pack_size < TRAILER_SIZE:
        return None
    trailer = blobs.read_range(pack, pack_size - TRAILER_SIZE, TRAILER_SIZE)
    if len(trailer) != TRAILER_SIZE or trailer[-8:] != MAGIC:
        return None
    body_len, body_sum, version, _magic = _TRAILER.unpack(trailer)
    if version != FOOTER_VERSION:
        raise BadFooter(f"footer version {version} (this localreg reads version {FOOTER_VERSION}): upgrade localreg")
    if body_len < _HEAD.size or body_len + TRAILER_SIZE > pack_size:
        raise BadFooter(f"footer length {body_len} does not fit in the pack's {pack_size} bytes")
    data_end = pack_size - TRAILER_SIZE - body_len
    body = blobs.read_range(pack, data_end, body_len)
    if len(body) != body_len or hashlib.sha256(body).digest() != body_sum:
        raise BadFooter("footer checksum does not match (the footer is damaged)")
    try:
        footer = _parse(body, data_end)
    except struct.error:
        raise BadFooter("footer records are cut short") from None
    footer.length = body_len + TRAILER_SIZE
    return footer


def _parse(body: bytes, data_end: int) -> Footer:
    n_chunks, n_files = _HEAD.unpack_from(body, 0)
    at = _HEAD.size
    footer = Footer(data_end=data_end)
    for _ in range(n_chunks):
        raw, off, size = _CHUNK.unpack_from(body, at)
        at += _CHUNK.size
        if off + size > data_end:
            raise BadFooter(f"chunk {_name(raw)} at {off} ({size} bytes) lies past the pack's data ({data_end} bytes)")
        footer.chunks.append((_name(raw), off, size))
    for _ in range(n_files):
        raw, size, n_parts = _FILE.unpack_from(body, at)
        at += _FILE.size
        parts: list[list[Any]] = []
        for _ in range(n_parts):
            craw, csize = _PART.unpack_from(body, at)
            at += _PART.size
            parts.append([_name(craw), csize])
        if sum(p[1] for p in parts) != size:
            raise BadFooter(f"file {_name(raw)} is {size} bytes but its chunks add up to {sum(p[1] for p in parts)}")
        footer.files.append((_name(raw), size, parts))
    if at != len(body):
        raise BadFooter(f"footer has {len(body) - at} bytes after its last record")
    return footer


class Pack:
    """A pack being written and the list of what it holds, written as its footer by :meth:`close`.

    Wraps the blob store's ``PackWriter``: :meth:`add` writes at once;
    :meth:`place` only records a chunk whose bytes a writer thread appends
    later, in order, through :meth:`add_many`.
    """

    def __init__(self, blobs: Any) -> None:
        self.writer = blobs.pack_writer()
        self.name: str = self.writer.name
        self.chunks: list[tuple[str, int, int]] = []
        self.files: list[tuple[str, int, list[list[Any]]]] = []

    @property
    def offset(self) -> int:
        return self.writer.offset

    def add(self, data: Any, digest: str) -> int:
        at = self.writer.add(data)
        self.chunks.append((digest, at, len(data)))
        return at

    def place(self, digest: str, offset: int, size: int) -> None:
        self.chunks.append((digest, offset, size))

    def add_many(self, pieces: list) -> None:
        self.writer.add_many(pieces)

    def add_file(self, digest: str, size: int, parts: list[list[Any]]) -> None:
        self.files.append((digest, size, parts))

    def close(self) -> str | None:
        """Write the footer and make the pack durable; None (nothing kept) if it holds no chunk."""
        return self.writer.close(encode_footer(self.chunks, self.files) if self.chunks else b"")

    def abort(self) -> None:
        self.writer.abort()

    def __enter__(self) -> "Pack":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()


class _BackgroundPacker:
    """Packs chunks on a writer thread; rows can be built before the bytes land.

    ``add(data, digest)`` returns ``(pack name, offset)`` at once and queues the
    bytes for the pack they were placed in; a pack that reaches
    ``PACK_TARGET`` is handed over whole (its queued bytes, then its close)
    before the next one starts, so every offset names bytes of its own
    pack. ``flush()`` sends what is queued; ``close()`` waits until every
    pack is durable and re-raises any write error.
    """

    def __init__(self, blobs) -> None:
        import queue
        import threading

        self.blobs = blobs
        self.q: "queue.Queue" = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.writers: list[Pack] = []
        self.current: Pack | None = None
        self.offset = 0
        self.pending: list = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, data, digest: str) -> tuple[str, int]:
        if self.error is not None:
            raise self.error
        if self.current is None or self.offset >= PACK_TARGET:
            if self.current is not None:
                self.flush()
                self.q.put(("close", self.current))
            self.current = Pack(self.blobs)
            self.writers.append(self.current)
            self.offset = 0
        at = self.offset
        self.offset += len(data)
        self.pending.append(data)
        self.current.place(digest, at, len(data))
        return self.current.name, at

    def add_file(self, digest: str, size: int, parts: list[list[Any]]) -> None:
        """List a big file's chunks in the footer of the pack being filled (none open: not listed)."""
        if self.current is not None:
            self.current.add_file(digest, size, parts)

    def flush(self) -> None:
        if self.error is not None:
            raise self.error
        if self.pending:
            self.q.put(("add", self.current, self.pending))
            self.pending = []

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item[0] == "stop":
                return
            if self.error is not None:
                continue
            try:
                if item[0] == "add":
                    item[1].add_many(item[2])
                else:
                    item[1].close()
            except BaseException as e:  # reported to the caller by write()/close()
                self.error = e

    def close(self) -> None:
        if self.current is not None:
            self.flush()
            self.q.put(("close", self.current))
            self.current = None
        self.q.put(("stop",))
        self.thread.join()
        if self.error is not None:
            self.abort()
            raise self.error

    def abort(self) -> None:
        if self.thread.is_alive():
            self.q.put(("stop",))
            self.thread.join()
        for w in self.writers:
            try:
                w.abort()
            except OSError:
                pass
