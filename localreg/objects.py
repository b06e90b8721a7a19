"""Files in and out of the blob store, with their chunk index in SQLite.

A file is stored as one chunk named by the file's own digest (today's
rule for every file) or, once content-defined chunking lands, as a list
of chunks in ``chunked_files``. Chunks smaller than ``PACK_LIMIT`` go into
pack files, bigger ones are loose objects: creating one file per small
blob costs about as much as copying it, so 10,000 small files become a
handful of packs and 10,000 rows.

Ingest keeps a stat cache (path, device, inode, size, mtime in ns ->
digest): a file whose stat is unchanged is not read again. Entries whose
mtime is too close to the moment they were read are not cached, since a
write within the same timestamp tick would go unseen ("racy clean", as
git calls it).

Reads always re-hash: a chunk whose bytes do not match its digest raises
:class:`~localreg.errors.CorruptBlob` naming it, and a download never
leaves a file with wrong bytes under its final name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat as stat_mod
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import hashing
from .blobs import BUF, Callback, NoOpCallback, open_url
from .errors import CorruptBlob, FileChanged, InvalidInput, NotFound, VerificationError

if TYPE_CHECKING:
    from .store import Store

PACK_LIMIT = 1 << 20          # files below this size are one chunk in a pack
CDC_AVG = 128 << 10           # content-defined chunking of bigger files (FastCDC):
CDC_MIN = 32 << 10            #   average, smallest and largest chunk; every chunk
CDC_MAX = 512 << 10           #   goes into a pack
CDC_BATCH = 4 << 20           # chunk bytes hashed and looked up per step
HASH_THREAD_MIN = 8 << 20     # reads of this many bytes hash on a second thread ...
HASH_BATCH = 4 << 20          # ... fed this many bytes at a time
PACK_TARGET = 64 << 20        # start a new pack past this size
BATCH_BYTES = 8 << 20         # bytes read ahead per hashing batch
RACY_NS = 50_000_000          # mtime this close to "now" is not trusted (ns clocks)
RACY_COARSE_NS = 2_000_000_000  # ... or this close, on filesystems with whole-second mtimes
SQL_VARS = 500
VERIFY_THREAD_MIN = 64 << 10  # pieces this big are checked on the verifying threads, smaller ones at once
VERIFY_BATCH = 1 << 20        # bytes of pieces checked per task on the verifying threads
VERIFY_IN_FLIGHT = 32 << 20   # most bytes read and not yet checked
OPEN_PACKS = 64               # pack files a reader keeps open


@dataclass(frozen=True)
class Entry:
    """One manifest entry: a logical path and the file it holds."""

    path: str
    digest: str
    size: int
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["ref"] is None:
            del d["ref"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Entry":
        return cls(path=d["path"], digest=d["digest"], size=int(d["size"]), ref=d.get("ref"))


def _chunks(seq: Sequence, n: int = SQL_VARS) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i: i + n]


def _racy(st: os.stat_result, now_ns: int) -> bool:
    margin = RACY_COARSE_NS if st.st_mtime_ns % 1_000_000_000 == 0 else RACY_NS
    return now_ns - st.st_mtime_ns < margin


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns and a.st_ino == b.st_ino


class Objects:
    """The chunk index of a store and the file-level verbs over it."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self.blobs = store.blobs

    # -- what is there --------------------------------------------------------
    def present(self, digests: Iterable[str]) -> set[str]:
        """The subset of ``digests`` whose bytes the store holds (one query, any count)."""
        arg = json.dumps(list(set(digests)))
        if arg == "[]":
            return set()
        return {
            r[0]
            for r in self.store.db.execute(
                "SELECT digest FROM chunks WHERE digest IN (SELECT value FROM json_each(?)) "
                "UNION ALL SELECT digest FROM chunked_files WHERE digest IN (SELECT value FROM json_each(?))",
                [arg, arg],
            )
        }

    def _record(self, chunk_rows: list[tuple], cache_rows: list[tuple], file_rows: Sequence[tuple] = ()) -> None:
        with self.store.transaction() as db:
            if file_rows:
                db.conn.executemany(
                    "INSERT OR IGNORE INTO chunked_files (digest, size, chunks) VALUES (?, ?, ?)", file_rows
                )
            if chunk_rows:
                db.conn.executemany(
                    "INSERT OR IGNORE INTO chunks (digest, size, pack, offset, created_at) VALUES (?, ?, ?, ?, ?)",
                    chunk_rows,
                )
            if cache_rows:
                db.conn.executemany(
                    "INSERT OR REPLACE INTO stat_cache (path, dev, ino, size, mtime_ns, digest) VALUES (?, ?, ?, ?, ?, ?)",
                    cache_rows,
                )

    # -- ingest -----------------------------------------------------------------
    def add_bytes(self, data: bytes) -> tuple[str, int]:
        self.store.check_writable()
        digest = hashing.digest_bytes(data)
        if digest not in self.present([digest]):
            ts = time.time()
            if len(data) < PACK_LIMIT:
                with self.blobs.pack_writer() as pw:
                    off = pw.add(data)
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

    @staticmethod
    def drop_stale_cache_rows(db: Any) -> int:
        """Delete stat-cache rows naming bytes the store no longer holds; call in the transaction that removed them.

        :meth:`add_files` trusts a matching row without asking whether its
        digest is still stored, so every verb that drops chunk rows (gc,
        fsck --repair) calls this.
        """
        return db.execute(
            "DELETE FROM stat_cache WHERE digest NOT IN (SELECT digest FROM chunks) "
            "AND digest NOT IN (SELECT digest FROM chunked_files)"
        ).rowcount

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
                    name, offset = writer.add(data)
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
                    pack, offset = packer.add(data)
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
    def iter_bytes(self, digest: str) -> Iterator[bytes]:
        """Yield the bytes of file ``digest``; raise :class:`CorruptBlob` if they do not hash to it.

        The check comes after the last piece: callers keep nothing under a
        final name until the iterator is exhausted. A file of many chunks is
        checked once, as a whole (what ``verify`` needs: the list of chunks
        is checked too); only when that fails are its chunks re-hashed, to
        name the corrupt one. Past a few MiB the hashing runs on a second
        thread while the caller writes (sha256 releases the GIL).
        """
        with self.reader([digest]) as reader:
            yield from reader.pieces(digest, whole=True)

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

    def check(self, digest: str) -> str | None:
        """None if file ``digest`` is intact, else what is wrong."""
        try:
            for _ in self.iter_bytes(digest):
                pass
        except CorruptBlob as e:
            return str(e)
        except OSError as e:
            return f"blob {digest}: {e}"
        return None

    def materialize(
        self,
        entries: Sequence[Entry],
        root: str | os.PathLike,
        callback: Callback | None = None,
        link_mode: str = "copy",
    ) -> None:
        """Write ``entries`` under ``root``; every file is verified before it gets its name.

        ``link_mode`` (see ``LINK_MODES``) says how a file stored as one loose
        object of a local blob store is placed: ``copy`` (the default),
        ``hardlink`` or ``symlink`` (the store's object loses its write bits
        first, 0444 at most: 0400 in a private store, 0440 in a shared one,
        so a write through the link fails instead of corrupting the store
        and no one gains read access; root ignores modes, so do not write to
        linked files as root), or ``reflink`` (a copy-on-write clone through
        Linux's ``ioctl(FICLONE)``, on btrfs, XFS and the like). Packed and
        chunked files, blob stores that are not local folders, and
        filesystems that cannot link or clone fall back to copying. A symlink
        dangles once its version is deleted and gc has run.
        """
        if link_mode not in LINK_MODES:
            raise InvalidInput(f"link mode must be one of {', '.join(LINK_MODES)}, not {link_mode!r}")
        callback = callback or NoOpCallback()
        callback.set_size(len(entries))
        root = os.path.abspath(root)
        made: set[str] = set()

        def dest_of(e: Entry) -> str:
            dest = os.path.join(root, *e.path.split("/"))
            parent = os.path.dirname(dest)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            return dest

        refs = [e for e in entries if e.ref is not None]
        stored = [e for e in entries if e.ref is None]
        locs = self._locate_many(sorted({e.digest for e in stored}))
        packed: dict[str, list[Entry]] = {}
        loose: list[Entry] = []
        for e in stored:
            loc = locs.get(e.digest)
            if loc is not None and loc[1] is not None:
                packed.setdefault(loc[1], []).append(e)
            else:
                loose.append(e)
        for pack, group in packed.items():
            group.sort(key=lambda e: locs[e.digest][2] or 0)
            with self.blobs.open_pack(pack) as f:
                fd = f.fileno() if self.blobs.is_local else None
                for e in group:
                    size, _pack, maybe_offset = locs[e.digest]
                    offset = maybe_offset or 0
                    if fd is not None:
                        data = os.pread(fd, size, offset)
                    else:
                        f.seek(offset)
                        data = f.read(size)
                    if len(data) != size or hashing.digest_bytes(data) != e.digest:
                        raise CorruptBlob(
                            f"blob {e.digest} (for {e.path!r}) in pack {pack} is corrupt", e.digest
                        )
                    with _open_new(dest_of(e)) as out:
                        out.write(data)
                    callback.relative_update(1)
        if loose:
            # chunked files and loose objects: chunks checked on two threads while the file is written
            with self.reader((e.digest for e in loose), locs) as reader:
                for e in loose:
                    dest = dest_of(e)
                    if link_mode == "copy" or e.digest not in locs or not self._link_loose(e, dest, link_mode):
                        self._write_verified(reader.pieces(e.digest), dest, e, check=reader.check)
                    callback.relative_update(1)
        for e in refs:
            self._write_verified(_iter_url(e.ref), dest_of(e), e, check_ref=True)  # type: ignore[arg-type]
            callback.relative_update(1)

    def _write_verified(self, pieces: Iterable[bytes], dest: str, e: Entry, check_ref: bool = False,
                        check: Callable[[], None] | None = None) -> None:
        """Write ``pieces`` to ``dest`` through a temporary file, renamed once ``check`` (if given) has passed."""
        tmp = f"{dest}.localreg-tmp-{os.getpid()}"
        h = hashing.new()
        try:
            with open(tmp, "wb") as out:
                for data in pieces:
                    if check_ref:
                        h.update(data)
                    out.write(data)
            if check_ref and hashing.format_digest(h) != e.digest and e.size:
                raise CorruptBlob(
                    f"referenced file {e.ref!r} for {e.path!r} changed since it was logged", e.digest
                )
            if check is not None:
                check()
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _link_loose(self, e: Entry, dest: str, link_mode: str) -> bool:
        """Place loose object ``e`` at ``dest`` by ``link_mode``, verified; False if it cannot be linked."""
        if not self.blobs.is_local:
            return False
        tmp = f"{dest}.localreg-tmp-{os.getpid()}"
        _unlink_quiet(tmp)
        if not _link_file(self.blobs.loose_path(e.digest), tmp, link_mode):
            return False
        try:
            st = os.stat(tmp)
            if not self._known_good(tmp, st, e.digest):
                h = hashing.new()
                size = 0
                with open(tmp, "rb") as f:
                    while data := f.read(BUF):
                        h.update(data)
                        size += len(data)
                if size != e.size or hashing.format_digest(h) != e.digest:
                    raise CorruptBlob(
                        f"blob {e.digest} (for {e.path!r}) is corrupt (its bytes do not match its digest)", e.digest
                    )
                self._remember_good(self.blobs.loose_path(e.digest), st, e.digest)
            os.replace(tmp, dest)
            # renaming a hardlink onto another link of the same file does nothing
            _unlink_quiet(tmp)
        except BaseException:
            _unlink_quiet(tmp)
            raise
        return True

    def _known_good(self, path: str, st: os.stat_result, digest: str) -> bool:
        """True if the store object behind ``path`` was hashed since it last changed.

        A linked file shares its inode with the store's object; the stat
        cache remembers (inode, size, mtime) of objects that hashed right,
        so linking the same object again costs a stat, not a read. Bit rot
        that keeps the mtime goes unseen here; ``localreg verify`` reads all.
        """
        row = self.store.db.execute(
            "SELECT dev, ino, size, mtime_ns, digest FROM stat_cache WHERE path = ?",
            [self.blobs.loose_path(digest)],
        ).fetchone()
        return row is not None and tuple(row) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest)

    def _remember_good(self, path: str, st: os.stat_result, digest: str) -> None:
        if self.store.readonly or _racy(st, time.time_ns()):
            return
        self._record([], [(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest)])

    def _locate_many(self, digests: list[str]) -> dict[str, tuple[int, str | None, int | None]]:
        """``{digest: (size, pack, offset)}`` of the single-chunk blobs among ``digests``."""
        return {
            r[0]: (r[1], r[2], r[3])
            for r in self.store.db.execute(
                "SELECT digest, size, pack, offset FROM chunks WHERE digest IN (SELECT value FROM json_each(?))",
                [json.dumps(digests)],
            )
        }


    def _locate_all(self, digests: Iterable[str]) -> dict[str, list[tuple[str, int, str | None, int | None]]]:
        """``{digest: [(chunk digest, size, pack, offset)]}`` for the files among ``digests`` the store has, in few queries."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        out = {d: [(d, s, p, o)] for d, (s, p, o) in self._locate_many(wanted).items()}
        rest = [d for d in wanted if d not in out]
        if not rest:
            return out
        lists = {
            r[0]: json.loads(r[1])
            for r in self.store.db.execute(
                "SELECT digest, chunks FROM chunked_files WHERE digest IN (SELECT value FROM json_each(?))",
                [json.dumps(rest)],
            )
        }
        where = self._locate_many(sorted({cd for parts in lists.values() for cd, _size in parts}))
        for digest, parts in lists.items():
            located = []
            for cd, _size in parts:
                loc = where.get(cd)
                if loc is None:
                    raise CorruptBlob(f"chunk {cd} of blob {digest} is not in the store", digest)
                located.append((cd, loc[0], loc[1], loc[2]))
            out[digest] = located
        return out

    def reader(self, digests: Iterable[str], known: dict[str, tuple[int, str | None, int | None]] | None = None
               ) -> "BlobReader":
        """A :class:`BlobReader` for the files ``digests``: close it, or use it as a context manager.

        ``known``: ``{digest: (size, pack, offset)}`` of single-chunk files
        the caller has looked up already, in the same snapshot.
        """
        return BlobReader(self, digests, known)


_sha256 = hashlib.sha256
_PREFIX_LEN = len(hashing.PREFIX)


def _fastcdc() -> Any:
    from pyfastcdc import FastCDC

    return FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)


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
    final name. Used by bundle export and by materialize.
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
        try:
            for cd, size, pack, offset in parts:
                if pack is not None:
                    f = self._pack(pack)
                    if local:
                        data = os.pread(f.fileno(), size, offset or 0)
                    else:
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
        if total is not None and got_digest != digest:
            bad = self.objects._corrupt_chunk(parts) if len(parts) > 1 else digest
            raise CorruptBlob(f"blob {bad} is corrupt (its bytes do not match its digest)", bad)

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
        self._small.append((digest, size, self._pack.name, self._pack.add(data)))
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

    def _roll(self) -> None:
        if self._pack is not None:
            name = self._pack.close()
            if name is not None:
                self._packs.append(name)
        self._pack = self.blobs.pack_writer()

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


class _BackgroundPacker:
    """Packs chunks on a writer thread; rows can be built before the bytes land.

    ``add(data)`` returns ``(pack name, offset)`` at once and queues the
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
        self.writers: list = []
        self.current = None
        self.offset = 0
        self.pending: list = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, data) -> tuple[str, int]:
        if self.error is not None:
            raise self.error
        if self.current is None or self.offset >= PACK_TARGET:
            if self.current is not None:
                self.flush()
                self.q.put(("close", self.current))
            self.current = self.blobs.pack_writer()
            self.writers.append(self.current)
            self.offset = 0
        at = self.offset
        self.offset += len(data)
        self.pending.append(data)
        return self.current.name, at  # type: ignore[attr-defined]

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


LINK_MODES = ("copy", "hardlink", "symlink", "reflink")
FICLONE = 0x40049409  # Linux _IOW(0x94, 9, int): clone a whole file, copy-on-write
# errors that mean "this filesystem or store cannot link here": copy instead
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP,
            errno.ENOSYS, errno.EINVAL, errno.ENOTTY, errno.ENOENT}


def _link_file(src: str, dst: str, mode: str) -> bool:
    """Make ``dst`` a hardlink, symlink or reflink of ``src``; False if the filesystem cannot."""
    try:
        if mode == "reflink":
            return _reflink(src, dst)
        # a link shares the store's bytes: make them read-only before anyone
        # can reach them, keeping the store's read bits (private stays private)
        os.chmod(src, stat_mod.S_IMODE(os.stat(src).st_mode) & 0o444)
        if mode == "hardlink":
            os.link(src, dst)
        else:
            os.symlink(src, dst)
    except OSError as e:
        if e.errno in _NO_LINK:
            return False
        raise
    return True


def _reflink(src: str, dst: str) -> bool:
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return False
    with open(src, "rb") as s:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            fcntl.ioctl(fd, FICLONE, s.fileno())
        except OSError:
            os.close(fd)
            _unlink_quiet(dst)
            return False
        os.close(fd)
    return True


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _open_new(dest: str):
    """Open ``dest`` as a new file: never write through a link an earlier download left there."""
    try:
        return open(dest, "xb")
    except FileExistsError:
        os.unlink(dest)
        return open(dest, "xb")


def _iter_url(url: str) -> Iterator[bytes]:
    with open_url(url) as f:
        while True:
            data = f.read(BUF)
            if not data:
                return
            yield data


def verify_tree(entries: Sequence[Entry], root: str | os.PathLike) -> list[str]:
    """Problems of a downloaded tree against its manifest: missing, extra, changed files."""
    root = os.path.abspath(root)
    problems: list[str] = []
    expected = {e.path: e for e in entries}
    found: set[str] = set()
    if os.path.isdir(root):
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
                found.add(rel)
    for path in sorted(found - set(expected)):
        problems.append(f"extra file {path!r}")
    for path, e in sorted(expected.items()):
        if path not in found:
            problems.append(f"missing file {path!r}")
            continue
        h = hashing.new()
        with open(os.path.join(root, *path.split("/")), "rb") as f:
            while True:
                data = f.read(BUF)
                if not data:
                    break
                h.update(data)
        digest = hashing.format_digest(h)
        if e.ref is not None and e.size == 0 and e.digest == hashing.digest_bytes(e.ref.encode()):
            continue  # reference logged without checksum: nothing to compare
        if digest != e.digest:
            problems.append(f"changed file {path!r}: {digest} != {e.digest}")
    return problems
