"""Content-addressed blob storage through fsspec; the only module that touches fsspec.

Layout under the blob root (``<home>/blobs`` or any fsspec URL):

* ``objects/<2 hex>/<62 hex>``: a loose chunk, named by its sha256;
* ``packs/<name>.pack``: many small chunks back to back; where each one
  sits is recorded in SQLite (``chunks.pack``, ``chunks.offset``), and
  in a footer at the pack's end that the caller hands to
  :meth:`PackWriter.close` (``localreg.objects.packs``; readers never look
  past the chunks);
* ``localreg-store.json``: the store marker, a small JSON object naming
  the store these blobs belong to (``{"store_id": ...}``), created once,
  exclusively, before any blob is written: a store whose database is lost
  still shows it had a history (see :meth:`BlobStore.read_marker`);
* ``tmp/``: files being written on local disk. Every local write goes to a
  temp file in the blob root, is fsynced, then ``os.replace``d into place
  and the folder fsynced, so a name either holds complete bytes or does
  not exist. Object stores (S3 and every other fsspec filesystem) have no
  rename but atomic PUTs: there each blob goes straight to its final key
  through an ``objstore.Upload``, which commits whole or aborts, leaving
  nothing (``objstore.py``).

The blob store knows nothing about SQL: callers record what was written
after it is durable, which is why a crash can leave an orphan blob but
never a row that names missing bytes.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat as stat_mod
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import fsspec
from fsspec.callbacks import Callback, NoOpCallback

from . import hashing, objstore
from .errors import CorruptBlob, DiskFull, FileChanged, InvalidInput, NotFound, ReadOnlyStore, StoreError

__all__ = ["BlobStore", "Callback", "NoOpCallback", "MARKER", "PackWriter", "open_url", "parse_blob_options", "url_info"]

MARKER = "localreg-store.json"
MARKER_FORMAT = 1

BUF = 1 << 20
READ_BLOCK = 8 << 20  # read-ahead of a pack opened on an object store
# out of space, past the file size limit (RLIMIT_FSIZE), out of quota
_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _disk_full(e: BaseException, where: str) -> BaseException:
    """:class:`DiskFull` for a write that ran out of space, else ``e`` itself."""
    if isinstance(e, OSError) and not isinstance(e, DiskFull) and e.errno in _FULL:
        return DiskFull(f"disk full while writing to {where}: {e.strerror or e}; nothing half-written was kept")
    return e


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class Written:
    digest: str
    size: int


class BlobStore:
    """Chunks by digest, loose or in packs, at an fsspec URL."""

    def __init__(self, url: str, *, shared: bool = False, readonly: bool = False,
                 options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.readonly = readonly
        self.options = dict(options or {})
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        fs_options = dict(self.options)
        if protocol in ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"):
            # other processes and machines write to the same bucket: never
            # answer from a listing this process made earlier
            fs_options.setdefault("use_listings_cache", False)
        self.fs, self.root = fsspec.core.url_to_fs(url, **fs_options)
        self.root = self.root.rstrip("/") or "/"
        self.is_local = "file" in _protocols(self.fs)
        self._made: set[str] = set()
        # a private store keeps its bytes to its owner; a shared one to its group
        self.file_mode = 0o660 if shared else 0o600
        self.dir_mode = 0o2770 if shared else 0o700

    # -- naming -------------------------------------------------------------
    def _p(self, *parts: str) -> str:
        return "/".join((self.root.rstrip("/"),) + parts)

    def loose_path(self, digest: str) -> str:
        h = hashing.hex_of(digest)
        return self._p("objects", h[:2], h[2:])

    def pack_path(self, name: str) -> str:
        return self._p("packs", name)

    def _mkdir(self, path: str) -> None:
        if path in self._made:
            return
        if self.is_local:
            if not os.path.isdir(path):
                # create each missing level with the store's mode (makedirs'
                # mode applies to the leaf only, and is cut by the umask)
                missing = []
                d = path
                while d and not os.path.isdir(d):
                    missing.append(d)
                    d = os.path.dirname(d)
                for d in reversed(missing):
                    try:
                        os.mkdir(d, self.dir_mode)
                    except FileExistsError:
                        continue
                    os.chmod(d, self.dir_mode)
        else:
            self.fs.makedirs(path, exist_ok=True)
        self._made.add(path)

    def _refuse_if_readonly(self) -> None:
        if self.readonly:
            raise ReadOnlyStore(f"blob store {self.url} is opened read-only: cannot write")

    def _tmp_path(self, suffix: str = "") -> str:
        self._refuse_if_readonly()
        try:
            self._mkdir(self._p("tmp"))
        except OSError as e:
            raise _disk_full(e, self.url) from None
        return self._p("tmp", f"{os.getpid()}-{secrets.token_hex(8)}{suffix}")

    def _commit(self, tmp: str, final: str) -> None:
        parent = final.rsplit("/", 1)[0]
        self._mkdir(parent)
        if self.is_local:
            os.replace(tmp, final)
            _fsync_dir(parent)
        else:
            self.fs.mv(tmp, final)

    # -- writing ------------------------------------------------------------
    def put_loose(self, src: BinaryIO, *, expected: str | None = None,
                  callback: Callback | None = None) -> Written:
        """Stream ``src`` into a loose object, hashing as it goes.

        If ``expected`` is given and the bytes hash otherwise, nothing is
        kept and :class:`CorruptBlob` is raised.
        """
        callback = callback or NoOpCallback()
        if not self.is_local:
            return self._put_loose_remote(src, expected, callback)
        h = hashing.new()
        size = 0
        tmp = self._tmp_path()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
            os.fchmod(fd, self.file_mode)
            try:
                buf = bytearray(BUF)
                view = memoryview(buf)
                readinto = getattr(src, "readinto", None)
                while True:
                    if readinto is not None:
                        n = readinto(view)
                        if not n:
                            break
                        piece = view[:n]
                    else:
                        data = src.read(BUF)
                        if not data:
                            break
                        piece = memoryview(data)
                        n = len(data)
                    h.update(piece)
                    _write_all(fd, piece)
                    size += n
                    callback.relative_update(n)
                os.fsync(fd)
            finally:
                os.close(fd)
            digest = hashing.format_digest(h)
            if expected is not None and digest != expected:
                raise CorruptBlob(f"bytes hash to {digest}, expected {expected}", expected)
            self._commit(tmp, self.loose_path(digest))
            return Written(digest, size)
        except BaseException as e:
            self._discard(tmp)
            full = _disk_full(e, self.url)
            if full is not e:
                raise full from None
            raise

    def _put_loose_remote(self, src: BinaryIO, expected: str | None, callback: Callback) -> Written:
        """An object store: the object goes straight to its key, which is its digest.

        The digest must be known before the first byte is sent: it is
        ``expected``, or a first read of a seekable ``src`` finds it (an
        object already stored is then not sent again), or ``src`` is spooled
        to a temp file while hashing. The upload hashes what it sends and
        aborts, storing nothing, if that differs.
        """
        self._refuse_if_readonly()
        digest = expected
        spool = None
        try:
            if digest is None:
                seekable = getattr(src, "seekable", lambda: False)()
                if seekable:
                    start = src.tell()
                    h = hashing.new()
                    while data := src.read(BUF):
                        h.update(data)
                    digest = hashing.format_digest(h)
                    src.seek(start)
                else:
                    import tempfile

                    spool = tempfile.TemporaryFile()
                    h = hashing.new()
                    while data := src.read(BUF):
                        h.update(data)
                        spool.write(data)
                    digest = hashing.format_digest(h)
                    spool.seek(0)
                    src = spool  # type: ignore[assignment]
                if self.loose_exists(digest):
                    size = 0
                    while data := src.read(BUF):
                        size += len(data)
                    callback.relative_update(size)
                    return Written(digest, size)
            h = hashing.new()
            size = 0
            with objstore.upload(self.fs, self.loose_path(digest)) as up:
                while data := src.read(BUF):
                    h.update(data)
                    up.write(data)
                    size += len(data)
                    callback.relative_update(len(data))
                got = hashing.format_digest(h)
                if got != digest:
                    up.abort()
                    if expected is not None:
                        raise CorruptBlob(f"bytes hash to {got}, expected {expected}", expected)
                    raise FileChanged("the file changed while it was being stored; nothing was kept")
                up.commit()
            return Written(digest, size)
        except OSError as e:
            raise _disk_full(e, self.url) from None
        finally:
            if spool is not None:
                spool.close()

    def put_link(self, path: str, src: BinaryIO) -> Written | None:
        """Hash ``src`` (the open file at ``path``) and hard-link the file itself in as its object.

        Returns None, having read nothing, where a link cannot be made (a
        store that is not on local disk); falls back to a copy when the
        file is on another filesystem. The file keeps its own mode: it is
        shared with the store, not the store's to lock down.
        """
        if not self.is_local:
            return None
        h = hashing.new()
        size = 0
        buf = bytearray(BUF)
        view = memoryview(buf)
        while True:
            n = src.readinto(view)  # type: ignore[attr-defined]
            if not n:
                break
            h.update(view[:n])
            size += n
        digest = hashing.format_digest(h)
        final = self.loose_path(digest)
        if os.path.exists(final):
            return Written(digest, size)
        os.fsync(src.fileno())  # the bytes become the store's: make them durable first
        tmp = self._tmp_path()
        try:
            os.link(path, tmp)
        except OSError:  # another filesystem, or links not supported: copy
            src.seek(0)
            return self.put_loose(src, expected=digest)
        try:
            self._commit(tmp, final)
        except BaseException:
            self._discard(tmp)
            raise
        return Written(digest, size)

    def put_bytes(self, data: bytes) -> Written:
        import io
        return self.put_loose(io.BytesIO(data))

    def _discard(self, path: str) -> None:
        try:
            if self.is_local:
                os.unlink(path)
            elif self.fs.exists(path):
                self.fs.rm(path)
        except OSError:
            pass

    def pack_writer(self) -> "PackWriter":
        return PackWriter(self)

    # -- reading ------------------------------------------------------------
    def open_loose(self, digest: str) -> IO[bytes]:
        path = self.loose_path(digest)
        try:
            if self.is_local:
                return open(path, "rb")
            return self.fs.open(path, "rb")
        except FileNotFoundError:
            raise CorruptBlob(f"blob {digest} is missing from {self.url}", digest) from None

    def read_range(self, pack: str, offset: int, size: int) -> bytes:
        path = self.pack_path(pack)
        try:
            if self.is_local:
                with open(path, "rb") as f:
                    data = os.pread(f.fileno(), size, offset)
            else:
                data = self.fs.cat_file(path, start=offset, end=offset + size)
        except FileNotFoundError:
            raise CorruptBlob(f"pack {pack} is missing from {self.url}") from None
        return data

    def open_pack(self, pack: str) -> IO[bytes]:
        path = self.pack_path(pack)
        try:
            if self.is_local:
                return open(path, "rb")
            # read ahead in modest blocks: several packs may be open at once (s3fs's default is 50 MiB)
            return self.fs.open(path, "rb", block_size=READ_BLOCK)
        except FileNotFoundError:
            raise CorruptBlob(f"pack {pack} is missing from {self.url}") from None

    def loose_exists(self, digest: str) -> bool:
        path = self.loose_path(digest)
        return os.path.exists(path) if self.is_local else self.fs.exists(path)

    def loose_mtime(self, digest: str) -> float | None:
        """Modification time of a loose object: 0 if it is missing, None if the backend gives no time."""
        path = self.loose_path(digest)
        try:
            if self.is_local:
                return os.stat(path).st_mtime
            info = self.fs.info(path)
        except FileNotFoundError:
            return 0.0
        return objstore.modified_time(info)

    def now(self) -> float:
        """The blob store's clock (the local clock on local disk): what blob ages are measured against."""
        if self.is_local:
            return time.time()
        measured = objstore.server_time(self.fs, self.root)
        return measured if measured is not None else time.time()

    def list_incomplete_uploads(self) -> Iterator[tuple[str, str, float | None]]:
        """``(path, upload id, start time)`` of multipart uploads under the root never completed (S3)."""
        if self.is_local:
            return iter(())
        return objstore.list_incomplete_uploads(self.fs, self.root)

    def abort_upload(self, path: str, upload_id: str) -> None:
        self._refuse_if_readonly()
        objstore.abort_incomplete_upload(self.fs, path, upload_id)

    def loose_size(self, digest: str) -> int | None:
        """Size of a loose object, None if it is missing."""
        path = self.loose_path(digest)
        try:
            if self.is_local:
                return os.stat(path).st_size
            return int(self.fs.info(path).get("size") or 0)
        except FileNotFoundError:
            return None

    def pack_size(self, pack: str) -> int:
        """Size of a pack file; :class:`CorruptBlob` if it is missing."""
        path = self.pack_path(pack)
        try:
            if self.is_local:
                return os.stat(path).st_size
            return int(self.fs.info(path).get("size") or 0)
        except FileNotFoundError:
            raise CorruptBlob(f"pack {pack} is missing from {self.url}") from None

    def pack_exists(self, pack: str) -> bool:
        path = self.pack_path(pack)
        return os.path.exists(path) if self.is_local else self.fs.exists(path)

    # -- listing and removal (gc, fsck) --------------------------------------
    def list_loose(self) -> Iterator[tuple[str, int, float | None]]:
        """Yield ``(digest, size, mtime)`` of every loose object."""
        base = self._p("objects")
        for path, info in _walk(self, base):
            rel = path[len(base) + 1:].split("/")
            if len(rel) == 2 and len(rel[0]) == 2 and len(rel[1]) == 62:
                yield hashing.PREFIX + rel[0] + rel[1], info[0], info[1]

    def list_packs(self) -> Iterator[tuple[str, int, float | None]]:
        base = self._p("packs")
        for path, info in _walk(self, base):
            yield path[len(base) + 1:], info[0], info[1]

    def list_tmp(self) -> Iterator[tuple[str, int, float | None]]:
        base = self._p("tmp")
        for path, info in _walk(self, base):
            yield path, info[0], info[1]

    def remove_loose(self, digest: str) -> None:
        self._refuse_if_readonly()
        self._discard(self.loose_path(digest))

    def remove_pack(self, name: str) -> None:
        self._refuse_if_readonly()
        self._discard(self.pack_path(name))

    def remove_path(self, path: str) -> None:
        self._refuse_if_readonly()
        self._discard(path)

    # -- the store marker -----------------------------------------------------
    def marker_path(self) -> str:
        return self._p(MARKER)

    def read_marker(self) -> dict | None:
        """The store marker at the blob root, or None where there is none.

        Raises :class:`StoreError` for a marker that is not a JSON object
        naming a store id, and lets ``OSError`` through when the blob store
        cannot be reached.
        """
        import json

        path = self.marker_path()
        try:
            if self.is_local:
                with open(path, "rb") as f:
                    raw = f.read(1 << 16)
            else:
                raw = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("store_id"), str) or not doc["store_id"]:
            raise StoreError(f"the store marker {path} is damaged: it should be a JSON object naming a store_id")
        return doc

    def create_marker(self, store_id: str, created_at: str) -> dict:
        """Create the marker naming ``store_id``, exclusively: if one exists, it is kept and returned.

        On local disk the complete file is hard-linked to its name (which
        fails if the name exists), so a marker is never seen half-written;
        elsewhere fsspec's exclusive mode ``xb`` is used (a conditional PUT
        on object stores that support one).
        """
        import json

        self._refuse_if_readonly()
        data = (json.dumps({"localreg": "blob store", "format": MARKER_FORMAT, "store_id": store_id,
                            "created_at": created_at}, sort_keys=True) + "\n").encode()
        path = self.marker_path()
        try:
            if self.is_local:
                self._mkdir(self.root)
                tmp = self._tmp_path(".json")
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
                    try:
                        _write_all(fd, data)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    os.link(tmp, path)
                    _fsync_dir(self.root)
                except FileExistsError:
                    pass
                finally:
                    self._discard(tmp)
            else:
                self.fs.makedirs(self.root, exist_ok=True)
                try:
                    with self.fs.open(path, "xb") as f:
                        f.write(data)
                except FileExistsError:
                    pass
                except (ValueError, NotImplementedError):  # no exclusive mode on this filesystem
                    if not self.fs.exists(path):
                        self.fs.pipe_file(path, data)
        except OSError as e:
            raise _disk_full(e, self.url) from None
        return self.read_marker() or {"store_id": store_id}

    def holds_data(self) -> bool:
        """Whether any loose object or pack is stored (stops at the first one found)."""
        for _ in self.list_packs():
            return True
        for _ in self.list_loose():
            return True
        return False

    def usage(self) -> int:
        total = 0
        for sub in ("objects", "packs"):
            for _, info in _walk(self, self._p(sub)):
                total += info[0]
        return total


class PackWriter:
    """Appends small chunks to one pack file; ``close()`` makes it durable.

    Use as a context manager. Until ``close()`` returns, nothing in the
    pack may be recorded in SQLite.
    """

    def __init__(self, store: BlobStore, name: str | None = None) -> None:
        self.store = store
        self.name = name or f"{secrets.token_hex(16)}.pack"
        self.offset = 0
        self.count = 0
        self._up: objstore.Upload | None = None
        self._f: Any = None  # the local pack file, or the object store's upload (write() is all it needs there)
        if not store.is_local:
            # an object store: straight to the final key (see objstore.Upload)
            store._refuse_if_readonly()
            self.tmp = ""
            self._up = objstore.upload(store.fs, store.pack_path(self.name))
            self._f = self._up
            return
        self.tmp = store._tmp_path(".pack")
        try:
            self._f = open(self.tmp, "xb", buffering=BUF)
            os.chmod(self.tmp, store.file_mode)
        except OSError as e:
            store._discard(self.tmp)
            raise _disk_full(e, store.url) from None

    def add(self, data: bytes | memoryview) -> int:
        """Append ``data``; return its offset in the pack. Raises :class:`DiskFull` when out of space."""
        at = self.offset
        try:
            self._f.write(data)
        except OSError as e:
            raise _disk_full(e, self.store.url) from None
        self.offset += len(data)
        self.count += 1
        return at

    def add_many(self, pieces: list) -> None:
        """Append several chunks back to back (one ``writelines``, no joining copy)."""
        try:
            if self._up is not None:
                for p in pieces:
                    self._up.write(p)
            else:
                self._f.writelines(pieces)
        except OSError as e:
            raise _disk_full(e, self.store.url) from None
        self.offset += sum(len(p) for p in pieces)
        self.count += len(pieces)

    def close(self, trailer: bytes = b"") -> str | None:
        """Append ``trailer`` (a footer listing the chunks), make the pack durable under its final name; None if it is empty."""
        if self._up is not None:
            if self.count == 0:
                self._up.abort()
                return None
            try:
                if trailer:
                    self._up.write(trailer)
                self._up.commit()
            except BaseException as e:
                self._up.abort()
                raise _disk_full(e, self.store.url) from None
            return self.name
        f = self._f
        try:
            if trailer and self.count:
                f.write(trailer)
            if self.store.is_local:
                f.flush()
                os.fsync(f.fileno())
            f.close()
        except OSError as e:
            raise _disk_full(e, self.store.url) from None
        if self.count == 0:
            self.store._discard(self.tmp)
            return None
        self.store._commit(self.tmp, self.store.pack_path(self.name))
        return self.name

    def abort(self) -> None:
        """Drop the pack; never raises for the write error that made the caller abort."""
        if self._up is not None:
            self._up.abort()
            return
        try:
            self._f.close()  # flushes what is buffered: fails again on a full disk
        except OSError:
            pass
        finally:
            self.store._discard(self.tmp)

    def __enter__(self) -> "PackWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _protocols(fs) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def _walk(store: BlobStore, base: str) -> Iterator[tuple[str, tuple[int, float | None]]]:
    """``(path, (size, modification time))`` of every file below ``base``; the time is None
    where the backend tells none."""
    if store.is_local:
        if not os.path.isdir(base):
            return
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                p = os.path.join(dirpath, f)
                try:
                    st = os.stat(p)
                except FileNotFoundError:
                    continue
                yield p.replace(os.sep, "/"), (st.st_size, st.st_mtime)
    else:
        if not store.fs.exists(base):
            return
        for p, info in store.fs.find(base, detail=True).items():
            # folder markers (a zero-byte "dir/" key, or what a server such as
            # SeaweedFS answers for a prefix) are not files
            if info.get("type") == "directory" or p.endswith("/") or str(info.get("name", "")).endswith("/"):
                continue
            if p.rstrip("/") == base.rstrip("/"):
                continue
            yield p, (int(info.get("size") or 0), objstore.modified_time(info))


# option names that would carry a secret: never stored with the store
_SECRET_WORDS = ("secret", "password", "token", "credential", "session", "private")
_SECRET_NAMES = {"key", "access_key", "access_key_id", "aws_access_key_id", "sas_token", "account_key"}


def parse_blob_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``["endpoint_url=http://127.0.0.1:9000", "anon=false"]`` -> the options handed to fsspec.

    Values ``true``/``false`` become booleans and whole numbers ints; a
    dotted name sets a nested option (``client_kwargs.region_name=eu-west-1``).
    Options that would carry a secret (keys, secrets, tokens, passwords) are
    refused: they belong in the environment (``AWS_*`` variables, profiles),
    never in the store's database.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = str(pair).partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"blob option {pair!r} is not NAME=VALUE (e.g. endpoint_url=http://127.0.0.1:9000)")
        check_blob_option_name(name)
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif raw.lstrip("-").isdigit():
            value = int(raw)
        target = options
        *outer, last = name.split(".")
        for part in outer:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise InvalidInput(f"blob option {name!r} sets inside {part!r}, which has a value already")
        target[last] = value
    return options


def check_blob_option_name(name: str) -> None:
    """Refuse an option name that would store a secret."""
    leaf = name.rsplit(".", 1)[-1].lower()
    if leaf in _SECRET_NAMES or any(w in leaf for w in _SECRET_WORDS):
        raise InvalidInput(
            f"blob option {name!r} would store a secret with the store: localreg never does; set it in the "
            "environment instead (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or FSSPEC_S3_* variables)"
        )


def url_info(url: str) -> list[tuple[str, int]]:
    """``(url, size)`` of every file at ``url`` (a file, or all files below a folder)."""
    fs, path = fsspec.core.url_to_fs(url)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise NotFound(f"reference {url!r} not found") from None
    proto = _protocols(fs)[0]
    def full(p: str) -> str:
        return p if "://" in p else f"{proto}://{p}" if proto != "file" else f"file://{p}"
    if info.get("type") == "directory":
        found = fs.find(path, detail=True)
        return [(full(p), int(i.get("size") or 0)) for p, i in sorted(found.items()) if i.get("type") != "directory"]
    return [(full(path), int(info.get("size") or 0))]


def open_url(url: str) -> IO[bytes]:
    """Open a referenced file (``file://``, ``memory://``, any fsspec URL) for reading."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
        return fs.open(path, "rb")
    except FileNotFoundError:
        raise NotFound(f"reference {url!r} not found") from None
    except (ValueError, ImportError) as e:
        raise InvalidInput(f"cannot open reference {url!r}: {e}") from None


def copy_local_file(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)
