"""Where a store lives: explicit argument > ``$LOCALREG_HOME`` > platformdirs; what filesystem holds it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

DB_NAME = "localreg.db"


def default_home() -> Path:
    env = os.environ.get("LOCALREG_HOME")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("localreg")


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The store home: ``home`` if given, else ``$LOCALREG_HOME``, else the user data dir."""
    if home is not None and str(home) != "":
        return Path(home).expanduser().absolute()
    return default_home().absolute()


# Filesystems where SQLite's POSIX locks (and WAL's shared memory) are unreliable:
# https://www.sqlite.org/useovernet.html and https://www.sqlite.org/wal.html
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
    "beegfs", "ncpfs", "coda", "davfs", "ocfs2", "gfs2", "fuse.sshfs", "fuse.ceph", "fuse.glusterfs",
    "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse", "fuse.juicefs", "fuse.davfs2", "fuse.cephfs",
})


def _unescape_mount(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash in octal (\040 ...)
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_of(path: str | os.PathLike, mounts: str) -> str | None:
    """The filesystem type holding ``path``, read from ``mounts`` (the text of ``/proc/mounts``).

    The mount point with the longest matching prefix wins; None if no line parses.
    """
    target = os.path.realpath(path)
    best, best_type = -1, None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape_mount(fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:  # later mounts over the same point hide earlier ones
            best, best_type = len(point), fields[2]
    return best_type


def network_filesystem(path: str | os.PathLike, mounts: str | None = None) -> str | None:
    """The network filesystem type holding ``path`` (``nfs4``, ``cifs``, ...), or None if it is local or unknown.

    ``mounts`` defaults to the text of ``/proc/mounts`` (Linux); elsewhere nothing is detected.
    """
    if mounts is None:
        try:
            with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
                mounts = f.read()
        except OSError:
            return None
    fstype = filesystem_of(path, mounts)
    return fstype if fstype in NETWORK_FILESYSTEMS else None
