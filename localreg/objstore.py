"""Writing, dating and tidying blobs on object stores (S3 and any fsspec filesystem that is not local disk).

On local disk a blob is written to a temp file, fsynced and renamed into
place (``blobs.py``). An object store has no rename, but a PUT is already
atomic: a key holds the complete bytes or does not exist. So here every
write goes straight to its final key through an :class:`Upload`, which
either *commits* (the key appears, whole) or *aborts* (nothing appears;
an S3 multipart upload is aborted, not left behind).

On S3 (``s3fs``) an upload streams its bytes as multipart parts that are
sent while the next part is being filled, several at a time, on fsspec's
I/O loop; small blobs are one ``PutObject``. Elsewhere (GCS, Azure,
memory, ...) the bytes are gathered in a spooled temp file and handed to
the filesystem in one call at commit.

Also here: :func:`modified_time`, the age of an object from the ``info``
of any fsspec backend, and the listing and aborting of incomplete S3
multipart uploads that a killed writer leaves behind.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import datetime as _dt
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Upload", "upload", "modified_time", "is_s3", "list_incomplete_uploads", "abort_incomplete_upload"]

PART_SIZE = 8 << 20          # bytes per multipart part (S3's minimum is 5 MiB)
PARTS_IN_FLIGHT = 4          # parts of one upload being sent at once
SPOOL_MAX = 8 << 20          # non-S3 uploads stay in memory up to this size

# the fields fsspec backends give for "last written": local and memory
# (mtime, created), s3fs (LastModified), adlfs (last_modified, creation_time),
# gcsfs (updated, timeCreated, mtime); the first one present wins
_TIME_FIELDS = ("mtime", "LastModified", "last_modified", "updated", "timeCreated", "created", "creation_time")


def modified_time(info: Mapping[str, Any]) -> float | None:
    """Seconds since the epoch when the object described by ``info`` was last written.

    ``info`` is what ``fs.info`` / ``fs.find(detail=True)`` return on any fsspec
    backend. None when the backend tells no time: callers that delete by age
    must then keep the object (gc never removes what it cannot date).
    """
    for key in _TIME_FIELDS:
        value = info.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            return float(value) if value > 0 else None
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=_dt.timezone.utc)
            return value.timestamp()
        if isinstance(value, str):
            try:
                parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=_dt.timezone.utc)
            return parsed.timestamp()
    return None


def is_s3(fs: Any) -> bool:
    """Whether ``fs`` is s3fs (S3 and every S3-compatible server: MinIO, Ceph, SeaweedFS, ...)."""
    protocol = fs.protocol
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return any(p in ("s3", "s3a") for p in protocols) and hasattr(fs, "_call_s3")


def upload(fs: Any, path: str, *, exclusive: bool = False) -> "Upload":
    """Start writing the blob at ``path``; ``exclusive`` refuses to replace an existing object
    (S3: a conditional ``If-None-Match: *`` write)."""
    cls = _S3Upload if is_s3(fs) else _SpooledUpload
    return cls(fs, path, exclusive=exclusive)


class Upload(abc.ABC):
    """One blob being written to its final key: ``write`` pieces, then ``commit()`` or ``abort()``.

    Nothing is visible under the key before ``commit()`` returns, and after
    ``abort()`` nothing is (S3: the multipart upload, if one was started, is
    aborted). Use as a context manager: leaving the block by an exception
    aborts, leaving it normally does not commit (call ``commit()`` yourself).
    """

    def __init__(self, fs: Any, path: str, *, exclusive: bool = False) -> None:
        self.fs = fs
        self.path = path
        self.exclusive = exclusive
        self.size = 0
        self.done = False

    @abc.abstractmethod
    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` to the blob."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the blob appear under its key, whole."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop what was written; nothing appears under the key."""

    def __enter__(self) -> "Upload":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not self.done:
            self.abort()


class _SpooledUpload(Upload):
    """Any fsspec filesystem: gather the bytes (in memory, then in a named temp file past
    ``SPOOL_MAX``), hand them over in one call at commit."""

    def __init__(self, fs: Any, path: str, *, exclusive: bool = False) -> None:
        super().__init__(fs, path, exclusive=exclusive)
        self._mem: bytearray | None = bytearray()
        self._file: Any = None

    def write(self, data: bytes | memoryview) -> None:
        if self._mem is not None and len(self._mem) + len(data) > SPOOL_MAX:
            self._file = tempfile.NamedTemporaryFile(prefix="localreg-upload-")
            self._file.write(self._mem)
            self._mem = None
        if self._mem is not None:
            self._mem += data
        else:
            self._file.write(data)
        self.size += len(data)

    def commit(self) -> None:
        try:
            if self.exclusive and self.fs.exists(self.path):
                raise FileExistsError(self.path)
            parent = self.path.rsplit("/", 1)[0]
            if parent:
                self.fs.makedirs(parent, exist_ok=True)
            if self._mem is not None:
                self.fs.pipe_file(self.path, bytes(self._mem))
            else:
                self._file.flush()
                self.fs.put_file(self._file.name, self.path)
            self.done = True
        finally:
            self._drop()

    def abort(self) -> None:
        self.done = True
        self._drop()

    def _drop(self) -> None:
        self._mem = None
        if self._file is not None:
            self._file.close()
            self._file = None


class _S3Upload(Upload):
    """S3: one PutObject for a small blob, else a multipart upload whose parts go out in parallel."""

    def __init__(self, fs: Any, path: str, *, exclusive: bool = False) -> None:
        super().__init__(fs, path, exclusive=exclusive)
        self.bucket, self.key, _ = fs.split_path(path)
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[tuple[int, concurrent.futures.Future]] = []

    def _run(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.fs.loop)

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._run(self.fs._call_s3(method, **kwargs)).result()

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        self.size += len(view)
        while view:
            room = PART_SIZE - len(self._buf)
            self._buf += view[:room]  # a copy: the caller may reuse its buffer
            view = view[room:]
            if len(self._buf) >= PART_SIZE:  # every part but the last is PART_SIZE (S3: >= 5 MiB)
                part, self._buf = bytes(self._buf), bytearray()
                self._send(part)

    def _send(self, part: bytes) -> None:
        if self._upload_id is None:
            res = self._call("create_multipart_upload", Bucket=self.bucket, Key=self.key)
            self._upload_id = res["UploadId"]
        # bounded: wait for the oldest part while too many are out
        in_flight = [f for _n, f in self._parts if not f.done()]
        if len(in_flight) >= PARTS_IN_FLIGHT:
            concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
        for _n, f in self._parts:
            if f.done() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        number = len(self._parts) + 1
        fut = self._run(self.fs._call_s3("upload_part", Bucket=self.bucket, Key=self.key,
                                         UploadId=self._upload_id, PartNumber=number, Body=part))
        self._parts.append((number, fut))

    def commit(self) -> None:
        match = {"IfNoneMatch": "*"} if self.exclusive else {}
        if self._upload_id is None:
            self._call("put_object", Bucket=self.bucket, Key=self.key, Body=bytes(self._buf), **match)
            self._buf = bytearray()
            self.done = True
            self.fs.invalidate_cache(self.path)
            return
        if self._buf:
            self._send(bytes(self._buf))
            self._buf = bytearray()
        parts = [{"PartNumber": n, "ETag": f.result()["ETag"]} for n, f in self._parts]
        self._call("complete_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                   MultipartUpload={"Parts": parts}, **match)
        self.done = True
        self.fs.invalidate_cache(self.path)

    def abort(self) -> None:
        self.done = True
        self._buf = bytearray()
        for _n, f in self._parts:
            f.cancel()
        if self._parts:
            concurrent.futures.wait([f for _n, f in self._parts])
        if self._upload_id is not None:
            try:
                self._call("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            except Exception:  # noqa: BLE001 - the caller's error matters more; gc aborts leftovers
                return
            self._upload_id = None


def list_incomplete_uploads(fs: Any, root: str) -> Iterator[tuple[str, str, float | None]]:
    """``(path, upload id, last activity)`` of every incomplete multipart upload under ``root`` (S3 only).

    The last activity is the latest of the upload's start and its parts'
    times: an upload still receiving parts is young however long ago it
    began (and some servers report no true start time).
    """
    if not is_s3(fs):
        return
    bucket, prefix, _ = fs.split_path(root)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        res = asyncio.run_coroutine_threadsafe(fs._call_s3("list_multipart_uploads", **kwargs), fs.loop).result()
        for up in res.get("Uploads", []) or []:
            yield f"{bucket}/{up['Key']}", up["UploadId"], _last_activity(fs, bucket, up)
        if not res.get("IsTruncated"):
            return
        kwargs["KeyMarker"] = res.get("NextKeyMarker")
        kwargs["UploadIdMarker"] = res.get("NextUploadIdMarker")


def _last_activity(fs: Any, bucket: str, up: Mapping[str, Any]) -> float | None:
    times = [modified_time({"LastModified": up.get("Initiated")})]
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": up["Key"], "UploadId": up["UploadId"]}
    while True:
        try:
            res = asyncio.run_coroutine_threadsafe(fs._call_s3("list_parts", **kwargs), fs.loop).result()
        except FileNotFoundError:  # completed or aborted meanwhile
            return None
        times.extend(modified_time({"LastModified": p.get("LastModified")}) for p in res.get("Parts", []) or [])
        if not res.get("IsTruncated"):
            break
        kwargs["PartNumberMarker"] = res.get("NextPartNumberMarker")
    known = [t for t in times if t is not None]
    return max(known) if known else None


def abort_incomplete_upload(fs: Any, path: str, upload_id: str) -> None:
    """Abort one incomplete multipart upload (its parts stop costing storage)."""
    bucket, key, _ = fs.split_path(path)
    asyncio.run_coroutine_threadsafe(
        fs._call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id), fs.loop
    ).result()


def server_time(fs: Any, root: str) -> float | None:
    """The object store's clock, read from the ``Date`` header of one listing request (S3).

    gc compares objects' ages with this, not with the local clock, so a
    machine whose clock runs ahead of the store's never takes a fresh blob for
    an old one. Nothing is written. None where the store tells no time (then
    the caller uses the local clock: local disk, memory).
    """
    if not is_s3(fs):
        return None
    bucket, _key, _ = fs.split_path(root)
    res = asyncio.run_coroutine_threadsafe(
        fs._call_s3("list_objects_v2", Bucket=bucket, MaxKeys=1), fs.loop
    ).result()
    date = (res.get("ResponseMetadata") or {}).get("HTTPHeaders", {}).get("date")
    if not date:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None
