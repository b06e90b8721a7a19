"""Checkout: placing stored files under a folder, verified, copied or linked."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from .. import hashing
from ..blobs import BUF, Callback, NoOpCallback, open_url
from ..errors import CorruptBlob, InvalidInput
from .base import Entry, _racy
from .index import _Index

LINK_MODES = ("copy", "hardlink", "symlink", "reflink")
FICLONE = 0x40049409  # Linux _IOW(0x94, 9, int): clone a whole file, copy-on-write
# errors that mean "this filesystem or store cannot link here": copy instead
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP,
            errno.ENOSYS, errno.EINVAL, errno.ENOTTY, errno.ENOENT}


class _Checkout(_Index):
    """The checkout verbs of :class:`~localreg.objects.Objects`."""

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
        """Write ``pieces`` to ``dest`` through a temporary file, renamed once ``check`` (if given) has passed.

        With ``check_ref`` (a reference's bytes), they must hash to the
        entry's digest and have its size, unless the entry was logged
        without a checksum (see :func:`unchecked_reference`).
        """
        tmp = f"{dest}.localreg-tmp-{os.getpid()}"
        h = hashing.new()
        size = 0
        try:
            with open(tmp, "wb") as out:
                for data in pieces:
                    if check_ref:
                        h.update(data)
                        size += len(data)
                    out.write(data)
            if check_ref and not unchecked_reference(e):
                got = hashing.format_digest(h)
                if got != e.digest or size != e.size:
                    raise CorruptBlob(
                        f"referenced file {e.ref!r} for {e.path!r} changed since it was logged: the manifest "
                        f"says {e.size} bytes hashing to {e.digest}, it has {size} bytes hashing to {got}", e.digest
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


def unchecked_reference(e: Entry) -> bool:
    """True for a reference logged without a checksum (``checksum=False``): its bytes cannot be checked.

    Such an entry has size 0 and, as its digest, the sha256 of its URL; any
    other reference names the bytes it expects, and a download checks them.
    """
    return e.ref is not None and e.size == 0 and e.digest == hashing.digest_bytes(e.ref.encode())


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
        if unchecked_reference(e):
            continue  # reference logged without checksum: nothing to compare
        if digest != e.digest:
            problems.append(f"changed file {path!r}: {digest} != {e.digest}")
    return problems
