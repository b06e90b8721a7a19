"""The bundle tar: ustar headers written by hand, and a strict reader of what a bundle may hold."""

from __future__ import annotations

import functools
import os
import re
import stat as stat_mod
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound
from .common import BLOCK, INDEX, MAX_PAX_BYTES, MTIME, READ, SIGNATURE, ZERO_BLOCK, BundleError

if TYPE_CHECKING:
    pass


# -- writing the tar ---------------------------------------------------------------------------


_USTAR_SIZE_LIMIT = 8 ** 11  # the largest size an 11-digit octal field holds, plus one


def _ustar_template() -> tuple[bytes, bytes, bytes, int]:
    b = bytearray(BLOCK)
    b[100:124] = b"0000644\x000000000\x000000000\x00"
    b[136:148] = b"%011o\x00" % MTIME
    b[148:156] = b"        "
    b[156:157] = b"0"
    b[257:265] = b"ustar\x0000"
    return bytes(b[100:124]), bytes(b[136:148]), bytes(b[156:]), sum(b)


_MODE_IDS, _MTIME_FIELD, _HEADER_TAIL, _TEMPLATE_SUM = _ustar_template()


def _header(name: str, size: int) -> bytes:
    """The ustar header of a regular member with the fixed owner, mode and mtime of every bundle member.

    Written by hand from a template (tarfile's builder costs ~25 us a
    member, a third of an export of small files); the same bytes as
    ``TarInfo.tobuf`` (tested). Sizes of 8 GiB and more need a pax header:
    tarfile writes those.
    """
    raw = name.encode("utf-8")
    if size >= _USTAR_SIZE_LIMIT or len(raw) > 100:
        return _tarfile_header(name, size)
    size_field, size_sum = _size_field(size)
    checksum = _TEMPLATE_SUM + sum(raw) + size_sum
    return b"".join((raw, _ZEROS[len(raw):], _MODE_IDS, size_field, _MTIME_FIELD,
                     b"%06o\x00 " % checksum, _HEADER_TAIL))


_ZEROS = bytes(100)


@functools.lru_cache(maxsize=4096)
def _size_field(size: int) -> tuple[bytes, int]:
    """A header's size field and the sum of its bytes (many blobs share a size)."""
    field = b"%011o\x00" % size
    return field, sum(field)


def _tarfile_header(name: str, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = MTIME
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    # ustar headers; a pax header carries sizes of 8 GiB and more
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def _pad(size: int) -> bytes:
    return bytes(-size % BLOCK)


class _WriteBehind:
    """Starts the disk writes of what ``f`` was given, every ``STEP`` bytes, so the final fsync has little left to wait for.

    ``posix_fadvise(DONTNEED)`` on a written range queues its dirty pages for
    writing without waiting (and drops the pages already clean: a bundle is
    written to be carried away, not read back). Where it does not exist,
    nothing changes but the time of the fsync.
    """

    STEP = 8 << 20

    def __init__(self, f: Any) -> None:
        self.f = f
        self.fd = f.fileno()
        self.done = f.tell()
        self.on = hasattr(os, "posix_fadvise")

    def wrote(self) -> None:
        if not self.on:
            return
        end = self.f.tell()
        if end - self.done >= self.STEP:
            self.f.flush()
            try:
                os.posix_fadvise(self.fd, self.done, end - self.done, os.POSIX_FADV_DONTNEED)
            except OSError:
                self.on = False
            self.done = end


# -- reading the tar ------------------------------------------------------------------------------


_MEMBER_KINDS = {
    tarfile.LNKTYPE: "a hard link",
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.DIRTYPE: "a directory",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.XGLTYPE: "a pax global header",
    tarfile.GNUTYPE_LONGNAME: "a GNU long-name header",
    tarfile.GNUTYPE_LONGLINK: "a GNU long-link header",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}
_BLOB_NAME = re.compile(r"blobs/[0-9a-f]{64}")


def _parse_header(block: bytes) -> tuple[str, bytes, int]:
    """``(name, type flag, size)`` of a ustar (or GNU) header block; ValueError naming what is wrong.

    By hand rather than ``TarInfo.frombuf``, which costs ~40 us a member;
    only the fields a bundle uses are read, each checked.
    """
    stored = block[148:156].split(b"\0", 1)[0].strip()
    try:
        chksum = int(stored, 8)
    except ValueError:
        raise ValueError("bad checksum field") from None
    unsigned = sum(block) - sum(block[148:156]) + 256
    if chksum != unsigned:
        # some old tars summed signed bytes
        high = sum(1 for i, b in enumerate(block) if b > 127 and not 148 <= i < 156)
        if chksum != unsigned - 256 * high:
            raise ValueError("bad checksum")
    magic = block[257:265]
    if magic not in (b"ustar\x0000", b"ustar  \x00"):
        raise ValueError("not a ustar header")
    field = block[124:136]
    if field[0] & 0x80:  # GNU base-256
        if field[0] != 0x80:
            raise ValueError("negative size")
        size = int.from_bytes(field[1:], "big")
    else:
        text = field.split(b"\0", 1)[0].strip()
        try:
            size = int(text, 8) if text else 0
        except ValueError:
            raise ValueError("bad size field") from None
    name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0] if magic == b"ustar\x0000" else b""
    if prefix:
        name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape"), block[156:157], size


@dataclass(frozen=True)
class _Member:
    name: str
    offset: int  # of the data
    size: int


class _TarFile:
    """A strict reader of bundle tars: regular members only, read with ``pread``.

    Headers are decoded by :func:`_parse_header` (checksums, ustar prefixes,
    GNU base-256 sizes); everything a bundle never holds (links, devices, folders,
    GNU and global pax headers) is refused, as are unsafe or duplicate names
    and a file that ends before its end-of-archive marker.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        try:
            self.fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(f"bundle {self.path!r} not found", self.path) from None
        except IsADirectoryError:
            raise BundleError(f"{self.path} is a folder, not a bundle file", self.path) from None
        except PermissionError:
            raise InvalidInput(f"cannot read bundle {self.path!r}: permission denied") from None
        st = os.fstat(self.fd)
        if not stat_mod.S_ISREG(st.st_mode):
            os.close(self.fd)
            what = "a folder" if stat_mod.S_ISDIR(st.st_mode) else "not a regular file"
            raise BundleError(f"{self.path} is {what}, not a bundle file", self.path)
        self.size = st.st_size
        if hasattr(os, "posix_fadvise"):
            try:
                os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except OSError:
                pass
        self._buf = b""
        self._buf_at = 0

    def close(self) -> None:
        os.close(self.fd)

    def _pread(self, offset: int, n: int) -> bytes:
        # headers and small members come from one window of READ bytes
        if self._buf_at <= offset and offset + n <= self._buf_at + len(self._buf):
            start = offset - self._buf_at
            return self._buf[start: start + n]
        if n >= READ:
            return os.pread(self.fd, n, offset)
        self._buf = os.pread(self.fd, READ, offset)
        self._buf_at = offset
        return self._buf[:n]

    def _fail(self, message: str) -> BundleError:
        return BundleError(f"bundle {self.path}: {message}; nothing was imported", self.path)

    def members(self) -> list[_Member]:
        """Every member, checked; the bytes are not read."""
        return list(self.iter_members())

    def iter_members(self, seen: Any = None) -> Iterator[_Member]:
        """Every member, checked, as it is read (``seen``: where names are remembered, to refuse one twice)."""
        seen = set() if seen is None else seen
        offset = 0
        pax_size: int | None = None
        while True:
            block = self._pread(offset, BLOCK)
            if len(block) < BLOCK:
                raise self._fail(f"the file ends at byte {self.size}, before its end-of-archive marker "
                                 "(it is truncated)")
            if block == ZERO_BLOCK:
                if pax_size is not None:
                    raise self._fail("a pax header is not followed by a member")
                if self._pread(offset + BLOCK, BLOCK) != ZERO_BLOCK:
                    raise self._fail(f"the end-of-archive marker at byte {offset} is incomplete (truncated?)")
                return
            try:
                name, kind_flag, size = _parse_header(block)
            except ValueError as e:
                if offset == 0:
                    raise BundleError(f"{self.path} is not a localreg bundle (not an uncompressed tar file: {e})",
                                      self.path) from None
                raise self._fail(f"invalid tar header at byte {offset} ({e})") from None
            if kind_flag == tarfile.XHDTYPE:
                if pax_size is not None or size > MAX_PAX_BYTES:
                    raise self._fail(f"unexpected pax header at byte {offset}")
                pax_size = self._pax_size(offset + BLOCK, size, offset)
                offset += BLOCK + size + (-size % BLOCK)
                continue
            self._check_name(name)
            if kind_flag not in (tarfile.REGTYPE, tarfile.AREGTYPE) or name.endswith("/"):
                kind = _MEMBER_KINDS.get(kind_flag, f"of tar type {kind_flag!r}")
                if kind_flag == tarfile.AREGTYPE:
                    kind = _MEMBER_KINDS[tarfile.DIRTYPE]
                raise self._fail(f"member {name!r} is {kind}, and a bundle holds regular files only")
            if name != INDEX and name != SIGNATURE and not _BLOB_NAME.fullmatch(name):
                raise self._fail(f"unexpected member {name!r}")
            if name in seen:
                raise self._fail(f"member {name!r} appears twice")
            seen.add(name)
            if pax_size is not None:
                size, pax_size = pax_size, None
            data = offset + BLOCK
            if data + size > self.size:
                raise self._fail(f"member {name!r} needs {size} bytes but the file ends after "
                                 f"{max(0, self.size - data)} of them (it is truncated)")
            yield _Member(name, data, size)
            offset = data + size + (-size % BLOCK)

    def _pax_size(self, at: int, n: int, header_at: int) -> int:
        """The ``size`` record of a pax header, the only record a bundle uses."""
        raw = self._pread(at, n)
        if len(raw) < n:
            raise self._fail("the file ends inside a pax header (it is truncated)")
        records: dict[str, str] = {}
        pos = 0
        try:
            while pos < len(raw) and raw[pos:pos + 1] != b"\0":
                length_text, _, _rest = raw[pos:pos + 20].partition(b" ")
                length = int(length_text)
                record = raw[pos:pos + length]
                if length <= len(length_text) + 1 or not record.endswith(b"\n"):
                    raise ValueError("bad record")
                key, eq, value = record[len(length_text) + 1:-1].decode("utf-8").partition("=")
                if not eq:
                    raise ValueError("bad record")
                records[key] = value
                pos += length
        except (ValueError, UnicodeDecodeError):
            raise self._fail(f"invalid pax header at byte {header_at}") from None
        if set(records) != {"size"} or not records["size"].isdigit():
            raise self._fail(f"pax header at byte {header_at} sets {', '.join(sorted(records)) or 'nothing'}; "
                             "a bundle's pax headers set only size")
        return int(records["size"])

    def _check_name(self, name: str) -> None:
        if name.startswith("/") or re.match(r"[A-Za-z]:[\\/]", name):
            raise self._fail(f"member {name!r} has an absolute path")
        if ".." in re.split(r"[\\/]", name):
            raise self._fail(f"member {name!r} has a '..' part (it would write outside the bundle)")

    def read(self, m: _Member, limit: int) -> bytes:
        if m.size > limit:
            raise self._fail(f"member {m.name!r} is {m.size} bytes; at most {limit} are allowed")
        if m.size < READ:
            data = self._pread(m.offset, m.size)
        else:
            data = b"".join(self._stream(m))
        if len(data) != m.size:
            raise self._fail(f"member {m.name!r} is truncated")
        return data

    def _stream(self, m: _Member) -> Iterator[bytes]:
        at, end = m.offset, m.offset + m.size
        while at < end:
            data = os.pread(self.fd, min(READ, end - at), at)
            if not data:
                raise self._fail(f"member {m.name!r} is truncated")
            at += len(data)
            yield data

    def pieces(self, m: _Member) -> Iterator[bytes]:
        if m.size < READ:
            yield self.read(m, READ)
        else:
            yield from self._stream(m)
