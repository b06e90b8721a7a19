"""Backups of a store's database, and restoring one.

:func:`backup` copies ``localreg.db`` with SQLite's online backup API
(``sqlite3.Connection.backup``) in one step, i.e. inside one read
transaction: writers keep going (WAL) and the copy is the database as of
one commit, never a mix. The copy is written to a temp file next to the
destination, switched to a single-file journal, checked with
``PRAGMA integrity_check`` and fsynced before it gets its name; an existing
file is never overwritten without ``force``.

The blobs are not copied: they are content-addressed and never change once
written, so a database copy plus the blob store is a whole store, as long
as gc has not removed blobs the copy still names (gc removes only what no
version of the *live* database needs: take backups of the blob store too,
or restore before the next gc, see docs/backup.md).

:func:`restore` puts a backup in place of a store's database: it checks the
backup (integrity, a localreg store, the blob store's marker names the same
store), moves the current database and its ``-wal``/``-shm`` files aside
(never deleting them: a stale ``-wal`` would be replayed into the restored
file), then renames a fsynced copy into place. It refuses to replace a
healthy database unless ``force``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .blobs import BlobStore
from .errors import AlreadyExists, CorruptDatabase, InvalidInput, NotFound, StoreError
from .paths import DB_NAME, resolve_home

if TYPE_CHECKING:
    from .store import Store

__all__ = ["BackupReport", "RestoreReport", "backup", "check_backup", "restore"]


@dataclass
class BackupReport:
    """What :func:`backup` wrote: ``path``, its ``size`` in bytes, and what the copy holds."""

    path: str
    size: int
    store_id: str | None
    versions: int
    blobs: int
    integrity: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RestoreReport:
    """What :func:`restore` did: the backup put in place, and where the replaced files went."""

    home: str
    backup: str
    store_id: str | None
    versions: int
    moved_aside: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backup(store: "Store", dest: str | os.PathLike, *, force: bool = False) -> BackupReport:
    """Write a consistent copy of ``store``'s database to ``dest`` while writers run.

    Raises :class:`AlreadyExists` if ``dest`` exists (unless ``force``),
    :class:`InvalidInput` for a destination that is the store's own
    database or whose folder does not exist, and
    :class:`CorruptDatabase` if the copy fails its integrity check (then
    nothing is left at ``dest``).
    """
    dest = Path(os.path.abspath(os.fspath(dest)))
    if dest.is_dir():
        raise InvalidInput(f"backup destination {dest} is a folder: give a file name, e.g. {dest / 'localreg.db.bak'}")
    if not dest.parent.is_dir():
        raise InvalidInput(f"cannot write backup {dest}: folder {dest.parent} does not exist")
    if _same_file(dest, store.db_path) or dest.parent == Path(os.path.abspath(store.home)) and dest.name.startswith(DB_NAME):
        raise InvalidInput(f"backup destination {dest} is the store's own database: write the backup elsewhere")
    if dest.exists() and not force:
        raise AlreadyExists(f"backup destination {dest} exists: pass force=True (--force) to overwrite it")
    tmp = dest.parent / f".{dest.name}.tmp-{secrets.token_hex(6)}"
    try:
        out = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            try:
                store.db.conn.backup(out)  # pages=-1: one step, one read transaction: one commit's state
            except sqlite3.DatabaseError as e:
                raise store._translate(e) from None
            out.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            integrity = _integrity(out)
            if integrity != "ok":
                raise CorruptDatabase(f"the backup of {store.db_path} failed its integrity check ({integrity}); "
                                      "nothing was written: run 'localreg fsck' on the store", str(store.db_path))
            store_id, versions, blobs = _summary(out)
        finally:
            out.close()
        _fsync(tmp)
        if force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # never overwrites, even if dest appeared meanwhile
            except FileExistsError:
                raise AlreadyExists(f"backup destination {dest} exists: pass force=True (--force) to overwrite it") from None
            except OSError:  # a filesystem without hard links
                if dest.exists():
                    raise AlreadyExists(f"backup destination {dest} exists: pass force=True (--force) "
                                        "to overwrite it") from None
                os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except OSError as e:
        if isinstance(e, StoreError):
            raise
        raise StoreError(f"cannot write backup {dest}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        for suffix in ("-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{tmp}{suffix}")
    return BackupReport(str(dest), dest.stat().st_size, store_id, versions, blobs)


def check_backup(path: str | os.PathLike) -> tuple[str | None, str, int]:
    """``(store id, blob URL, versions)`` of a backup file; :class:`StoreError` if it is not a sound one."""
    path = Path(os.path.abspath(os.fspath(path)))
    if not path.is_file():
        raise NotFound(f"backup {path} not found", str(path))
    from urllib.parse import quote

    try:
        conn = sqlite3.connect(f"file:{quote(str(path), safe='/')}?mode=ro&immutable=1", uri=True)
    except sqlite3.DatabaseError as e:
        raise CorruptDatabase(f"backup {path} cannot be opened: {e}", str(path)) from None
    try:
        integrity = _integrity(conn)
        if integrity != "ok":
            raise CorruptDatabase(f"backup {path} is corrupt ({integrity}): use an older backup", str(path))
        try:
            info = dict(conn.execute("SELECT key, value FROM store_info").fetchall())
        except sqlite3.DatabaseError:
            info = {}
        if "blob_url" not in info:
            raise InvalidInput(f"{path} is not a backup of a localreg store (it records no store)")
        _store_id, versions, _blobs = _summary(conn)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
        raise CorruptDatabase(f"backup {path} is corrupt ({e}): use an older backup", str(path)) from None
    finally:
        conn.close()
    return info.get("store_id"), info["blob_url"], versions


def restore(home: str | os.PathLike | None, backup_path: str | os.PathLike, *, force: bool = False) -> RestoreReport:
    """Put the backup at ``backup_path`` in place of the database of the store at ``home``.

    Stop every process using the store first. Refuses (writing nothing)
    a backup that is corrupt or not a localreg store, one whose blob store
    belongs to another store, and (unless ``force``) replacing a database
    that is healthy: a restore drops every change made since the backup.
    The replaced files are kept as ``localreg.db.replaced-<time>``.
    """
    home = resolve_home(home)
    backup_path = Path(os.path.abspath(os.fspath(backup_path)))
    store_id, blob_url, versions = check_backup(backup_path)
    try:
        marker = BlobStore(blob_url, readonly=True).read_marker()
    except (OSError, ValueError, ImportError):
        marker = None
    if marker is not None and store_id is not None and marker["store_id"] != store_id and not force:
        raise InvalidInput(
            f"backup {backup_path} is of store {store_id}, but its blob store {blob_url} belongs to store "
            f"{marker['store_id']}: this backup is of another store (pass --force to restore it anyway)")
    db_path = home / DB_NAME
    if _same_file(backup_path, db_path):
        raise InvalidInput(f"backup {backup_path} is the store's own database")
    if not force:
        problem = _unusable(db_path)
        if problem is None:
            raise AlreadyExists(
                f"the database {db_path} is healthy: restoring {backup_path} would drop every change made "
                "since that backup; pass --force (-f) to restore anyway (the current file is kept aside)")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = home / f".{DB_NAME}.restore-{secrets.token_hex(6)}"
    moved: list[str] = []
    try:
        with open(backup_path, "rb") as src, open(tmp, "xb") as out:
            os.chmod(tmp, 0o600)
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        for suffix in ("", "-wal", "-shm", "-journal"):
            old = Path(f"{db_path}{suffix}")
            if old.exists():
                aside = Path(f"{db_path}.replaced-{stamp}{suffix}")
                os.replace(old, aside)
                moved.append(str(aside))
        os.replace(tmp, db_path)
        _fsync_dir(home)
    except OSError as e:
        raise StoreError(f"cannot restore {backup_path} into {home}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return RestoreReport(str(home), str(backup_path), store_id, versions, moved)


def _unusable(db_path: Path) -> str | None:
    """Why the database at ``db_path`` cannot be used (missing, empty, corrupt), None if it is healthy."""
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size == 0:
        return "empty"
    try:
        conn = sqlite3.connect(str(db_path), timeout=30)
    except sqlite3.DatabaseError as e:
        return str(e)
    try:
        integrity = _integrity(conn)
        if integrity != "ok":
            return integrity
        if not conn.execute("SELECT 1 FROM store_info WHERE key = 'blob_url'").fetchone():
            return "records no store"
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
        return str(e)
    finally:
        conn.close()
    return None


def _integrity(conn: sqlite3.Connection) -> str:
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    return "ok" if rows == ["ok"] else "; ".join(rows)


def _summary(conn: sqlite3.Connection) -> tuple[str | None, int, int]:
    row = conn.execute("SELECT value FROM store_info WHERE key = 'store_id'").fetchone()
    versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    blobs = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    return (row[0] if row else None), versions, blobs


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
