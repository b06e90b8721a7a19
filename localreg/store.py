"""Store: one home folder = a SQLite database + a blob store.

Opening a store creates the home (0700) and ``localreg.db`` when missing,
switches SQLite to WAL and applies pending schema migrations.
``Store(readonly=True)`` (or ``$LOCALREG_READONLY=1``) opens an existing
store for browsing and downloading only; a home on a network filesystem
(NFS, SMB, sshfs, ...) opens with a :class:`~localreg.errors.LocalregWarning`,
since SQLite's locking is unsafe there. Every public
write verb runs inside :meth:`Store.transaction`, a ``BEGIN IMMEDIATE``
transaction (nested calls become savepoints), so writers serialize on the
database lock instead of failing halfway, and a version becomes visible
only when its whole transaction commits.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import json
import os
import random
import re
import secrets
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import db as dbmod
from . import names
from .blobs import BlobStore
from .errors import (
    IncompatibleStore,
    InvalidInput,
    LocalregWarning,
    NotFound,
    PermissionDenied,
    ReadOnlyStore,
    StoreBusy,
    StoreError,
    UnaccountedStore,
)
from .paths import DB_NAME, network_filesystem, resolve_home

if TYPE_CHECKING:
    from sqlite_utils import Database

__version__ = "0.1.0"

DEFAULT_PROJECT = "uncategorized"
DEFAULT_ORG = "local"
CORE_REGISTRIES = {
    "model": ("The core registry for models.", ["model"]),
    "dataset": ("The core registry for datasets.", ["dataset"]),
}
BUSY_RETRIES = 12
REBUILD_PENDING = "rebuild_pending"  # store_info key: an index rebuild from the blobs has not finished


def now() -> str:
    """UTC now as ISO 8601 with microseconds; sorts as text."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def current_user() -> str:
    user = os.environ.get("LOCALREG_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _entity_from_user(user: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", user).strip("-.") or "user"
    return cleaned[: names.MAX_NAME]


def readonly_from_env() -> bool:
    """True when ``$LOCALREG_READONLY`` asks for read-only stores (``1``, ``true``, ``yes``)."""
    return os.environ.get("LOCALREG_READONLY", "").strip().lower() in ("1", "true", "yes", "on")


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def _is_busy(e: BaseException) -> bool:
    return isinstance(e, sqlite3.OperationalError) and (
        "locked" in str(e) or "busy" in str(e)
    )


class Store:
    """A localreg store at ``home``.

    ``blob_url`` is honoured only when the store is created; afterwards the
    URL recorded in the database is used. ``org``, ``entity`` and
    ``project`` likewise set the defaults written at creation.

    ``readonly=True`` (default: ``$LOCALREG_READONLY``) opens an existing
    store with SQLite's ``mode=ro`` (and ``immutable=1`` when the home
    folder cannot be written): listing, resolving and downloading work,
    every write raises :class:`ReadOnlyStore` saying why. A store whose
    files cannot be written is opened read-only anyway. Raises
    :class:`StoreError` for a database that cannot be read
    (:class:`~localreg.errors.CorruptDatabase` for a damaged one),
    :class:`IncompatibleStore` for one written by a newer localreg.

    A store knows it had a history: its blob store holds a marker naming
    the store's id (``localreg-store.json``, written once, before any blob),
    and the database records the same id. A database that is missing, empty
    (0 bytes) or holds no store while its blob store holds a marker or
    blobs is refused with :class:`~localreg.errors.UnaccountedStore`,
    writing nothing, as is a database whose id is not the marker's: opened
    as a new store it would lose every version, and gc every blob.
    ``allow_unaccounted=True`` opens it anyway (creating an empty database
    that adopts the marker's id): that is for the paths that rebuild a
    store, ``localreg fsck --rebuild-index``, and nothing else.
    """

    def __init__(
        self,
        home: str | os.PathLike | None = None,
        *,
        blob_url: str | None = None,
        org: str | None = None,
        entity: str | None = None,
        project: str | None = None,
        create: bool = True,
        shared_group: str | None = None,
        readonly: bool | None = None,
        blob_options: dict[str, Any] | None = None,
        allow_unaccounted: bool = False,
    ) -> None:
        self.home = resolve_home(home)
        self._new_blob_options = blob_options  # for looking at the blob store before the database names them
        # opened to rebuild or repair: a database that cannot account for the blob store is not refused
        self.allow_unaccounted = bool(allow_unaccounted)
        self.db_path = self.home / DB_NAME
        self.allow_unaccounted = allow_unaccounted
        self.store_id: str | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self.readonly = readonly_from_env() if readonly is None else bool(readonly)
        self.readonly_reason = (
            ("opened with readonly=True" if readonly else "opened with $LOCALREG_READONLY set") if self.readonly else ""
        )
        self.immutable = False
        if not self.db_path.exists():
            self._refuse_lost_history(blob_url, "is missing")
            if self.readonly:
                raise NotFound(f"no localreg store at {self.home} (opened read-only, so none is created)",
                               str(self.home))
            if not create:
                raise NotFound(f"no localreg store at {self.home}", str(self.home))
            _check_creation_args(blob_url, org, entity, project, blob_options)
            gid = _group_id(shared_group) if shared_group is not None else None
            self._create_home(gid)
        else:
            if _file_size(self.db_path) == 0:
                self._refuse_lost_history(blob_url, "is empty (0 bytes)")
            if not _writable(self.home) or not _writable(self.db_path):
                self.readonly = True
                self.readonly_reason = self.readonly_reason or f"no write permission on {self.home}"
        if self.readonly and not _writable(self.home):
            # SQLite cannot make the -shm file WAL readers need: read the file as it is, without locks
            self.immutable = True
        fstype = network_filesystem(self.home)
        if fstype is not None:
            warnings.warn(LocalregWarning(
                f"store {self.home} is on a network filesystem ({fstype}): SQLite's file locking is unreliable "
                "there, so writers on different machines can corrupt the database; keep the home on a local "
                "disk (the blobs may live elsewhere, see blob_url)"), stacklevel=2)
        try:
            self._check_and_upgrade(blob_url)
            info = self.info()
            if "blob_url" not in info:
                self._initialize(blob_url, org, entity, project, blob_options)
                info = self.info()
        except sqlite3.DatabaseError as e:
            self.close()
            raise self._translate(e) from None
        except BaseException:
            self.close()
            raise
        self.blob_url = info["blob_url"]
        self.shared_group = info.get("shared_group")
        self.blob_options = json.loads(info.get("blob_options") or "{}")
        self.blobs = BlobStore(self.blob_url, shared=self.shared_group is not None,
                               readonly=self.readonly, options=self.blob_options)
        try:
            self._check_marker(info.get("store_id"))
        except BaseException:
            self.close()
            raise
        self._defaults = {
            "org": info.get("default_org", DEFAULT_ORG),
            "entity": info.get("default_entity", _entity_from_user(current_user())),
            "project": info.get("default_project", DEFAULT_PROJECT),
        }

    # -- opening -------------------------------------------------------------
    def _create_home(self, gid: int | None = None) -> None:
        """Create the home (0700, or 2770 for a shared group) and an empty database file (0600 or 0660).

        The file is made before SQLite opens it so it never exists with
        looser permissions; SQLite gives its -wal and -shm files the same.
        """
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            if gid is not None:
                os.chown(self.home, -1, gid)
                os.chmod(self.home, 0o2770)
            fd = os.open(self.db_path, os.O_WRONLY | os.O_CREAT, 0o600 if gid is None else 0o660)
            if gid is not None:
                os.fchown(fd, -1, gid)
                os.fchmod(fd, 0o660)
            os.close(fd)
            self._new_group = gid
        except PermissionError as e:
            raise ReadOnlyStore(f"cannot create store home {self.home}: {e.strerror}") from None
        except OSError as e:
            raise StoreError(f"cannot create store home {self.home}: {e}") from None

    # -- history: the marker in the blob store and the id in the database ------------------------
    def _refuse_lost_history(self, blob_url: str | None, state: str) -> None:
        """Raise :class:`UnaccountedStore` if the blob store shows a history this database lacks.

        Called while the database holds no store (``state`` says how); looks
        at ``blob_url``, else the default ``<home>/blobs``.
        """
        if self.allow_unaccounted:
            return
        url = blob_url or str(self.home / "blobs")
        try:
            blobs = BlobStore(url, readonly=True, options=self._new_blob_options)
            marker = blobs.read_marker()
            data = blobs.holds_data()
        except StoreError:
            marker, data = {"store_id": "unknown (its marker is damaged)"}, True
        except (OSError, ValueError, ImportError):
            return  # unreachable or a bad URL: nothing shown, and creation reports a bad URL
        if marker is None and not data:
            return
        if self._holds_store():
            return  # another process created the store meanwhile: the marker is its own
        held = "blobs" if data else "no blob yet"
        whose = f"store {marker['store_id']}" if marker else "a store (no marker: written by an older localreg)"
        raise UnaccountedStore(
            f"store {self.home}: the database {self.db_path} {state}, but the blob store {url} holds the data "
            f"of {whose} ({held}): opened as a new store it would lose every version, and gc every blob. "
            "Restore the database from a backup ('localreg restore BACKUP'), or rebuild the chunk index from "
            "the blobs ('localreg fsck --rebuild-index'); see docs/backup.md",
            [f"database {state}", f"blob store holds {whose}"],
        )

    def _holds_store(self) -> bool:
        """Whether the database records a store (as this connection sees it; never creates the file)."""
        if not _file_size(self.db_path):
            return False
        try:
            return self.db.execute("SELECT 1 FROM store_info WHERE key = 'blob_url'").fetchone() is not None
        except (sqlite3.DatabaseError, StoreError):
            return False

    def _check_marker(self, store_id: str | None) -> None:
        """Check the blob store's marker against the database's store id; write what is missing.

        A store made before markers existed gets its id and marker on its
        first writable open. The marker is created after the id commits, so
        a crash in between leaves an id without a marker, which the next
        open writes.
        """
        try:
            marker = self.blobs.read_marker()
        except StoreError:
            if not self.allow_unaccounted:
                raise
            marker = None
        except OSError:
            self.store_id = store_id  # unreachable now: gc checks again before it removes anything
            return
        if marker is not None and store_id is not None and marker["store_id"] != store_id:
            self._refuse_foreign(marker["store_id"], store_id)
        if not self.readonly:
            if store_id is None:
                store_id = self._record_store_id(marker["store_id"] if marker else _new_store_id())
            if marker is None and self._blob_root_present():
                marker = self.blobs.create_marker(store_id, now())
                if marker["store_id"] != store_id:
                    self._refuse_foreign(marker["store_id"], store_id)
        self.store_id = store_id

    def _blob_root_present(self) -> bool:
        """False for a local blob folder that is gone while rows name blobs (unmounted, most likely): no marker is
        written into the mount point then; fsck reports the store as unreachable, gc refuses."""
        if not self.blobs.is_local or os.path.isdir(self.blobs.root):
            return True
        return self.db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def _refuse_foreign(self, theirs: str, ours: str) -> None:
        if self.allow_unaccounted:
            return
        raise UnaccountedStore(
            f"store {self.home}: the blob store {self.blob_url} belongs to store {theirs}, but the database "
            f"{self.db_path} is store {ours}: it is another store's database, or the blob URL names another "
            "store's blobs. Restore this store's database from a backup ('localreg restore BACKUP'); "
            "see docs/backup.md",
            [f"blob store marker names {theirs}", f"database names {ours}"],
        )

    def _record_store_id(self, store_id: str) -> str:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO store_info (key, value) VALUES ('store_id', ?)", [store_id])
            return db.execute("SELECT value FROM store_info WHERE key = 'store_id'").fetchone()[0]

    @property
    def rebuild_pending(self) -> bool:
        """True while a database made with ``allow_unaccounted`` has not had its index rebuilt."""
        return REBUILD_PENDING in self.info()

    def finish_rebuild(self) -> None:
        """Say the chunk index was rebuilt from the blob store (call it inside the rebuild's last transaction).

        Until then a database created by ``Store(..., allow_unaccounted=True)``
        over a blob store with a history is marked as being rebuilt, and gc
        refuses to remove anything from it.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM store_info WHERE key = ?", [REBUILD_PENDING])

    def _check_and_upgrade(self, blob_url: str | None = None) -> None:
        db = self.db
        try:
            applied = dbmod.applied_names(db)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.db_path} is not a readable localreg database: {e}") from None
        if not applied:
            self._refuse_lost_history(blob_url, "holds no store")
        unknown = [n for n in applied if n not in dbmod.KNOWN_MIGRATIONS]
        if unknown:
            written_by = "a newer localreg"
            try:
                row = db.execute("SELECT value FROM store_info WHERE key='written_by'").fetchone()
                if row:
                    written_by = f"localreg {row[0]}"
            except sqlite3.DatabaseError:
                pass
            raise IncompatibleStore(
                f"store {self.home} was written by {written_by} (schema {len(applied)}); "
                f"this is localreg {__version__} (schema {dbmod.SCHEMA_VERSION}): upgrade localreg"
            )
        if len(applied) < len(dbmod.KNOWN_MIGRATIONS):
            if self.readonly:
                raise ReadOnlyStore(f"store {self.home} needs a schema upgrade but is read-only")
            try:
                dbmod.upgrade(db)
            except sqlite3.DatabaseError as e:
                raise StoreError(f"cannot set up the database {self.db_path}: {e}") from None
        dbmod.check_schema(db, self.db_path)


    def _initialize(self, blob_url, org, entity, project, blob_options=None) -> None:
        url = blob_url or str(self.home / "blobs")
        store_id = _new_store_id()
        rebuilding = False
        if self.allow_unaccounted:  # a rebuilt store takes the id its blobs name
            with contextlib.suppress(OSError, ValueError, ImportError, StoreError):
                found = BlobStore(url, readonly=True, options=blob_options)
                marker = found.read_marker()
                if marker is not None:
                    store_id = marker["store_id"]
                rebuilding = marker is not None or found.holds_data()
        values = {
            "blob_url": url,
            **({"blob_options": json.dumps(blob_options, sort_keys=True)} if blob_options else {}),
            "default_org": names.check_name(org or DEFAULT_ORG, "org name"),
            "default_entity": names.check_name(entity or _entity_from_user(current_user()), "entity name"),
            "default_project": names.check_name(project or DEFAULT_PROJECT, "project name"),
            "created_at": now(),
            "written_by": __version__,
            "schema": str(dbmod.SCHEMA_VERSION),
            "store_id": store_id,
        }
        if rebuilding:  # gc refuses until the rebuild says it is done (finish_rebuild)
            values[REBUILD_PENDING] = now()
        gid = getattr(self, "_new_group", None)
        if gid is not None:
            import grp
            values["shared_group"] = grp.getgrgid(gid).gr_name
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM store_info WHERE key = 'blob_url'").fetchone():
                return  # another process initialized it meanwhile
            self._refuse_lost_history(blob_url, "holds no store")
            for k, v in values.items():
                db.execute("INSERT OR IGNORE INTO store_info (key, value) VALUES (?, ?)", [k, v])
            self.ensure_org(values["default_org"])

    @property
    def db(self) -> Database:
        """This thread's connection (SQLite connections are not shared between threads)."""
        d = getattr(self._local, "db", None)
        if d is None:
            d = dbmod.connect(self.db_path, readonly=self.readonly, immutable=self.immutable)
            d.conn.create_function("regexp", 2, _regexp, deterministic=True)
            self._local.db = d
        return d

    def close(self) -> None:
        d = getattr(self._local, "db", None)
        if d is not None:
            d.conn.close()
            self._local.db = None

    def info(self) -> dict[str, str]:
        try:
            return {r[0]: r[1] for r in self.db.execute("SELECT key, value FROM store_info")}
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return {}
            raise self._translate(e) from None
        except sqlite3.DatabaseError as e:
            raise self._translate(e) from None

    def check_writable(self) -> None:
        """Raise :class:`ReadOnlyStore`, saying why, if this store was opened read-only."""
        if self.readonly:
            raise ReadOnlyStore(f"store {self.home} is read-only ({self.readonly_reason}): cannot write")

    # -- transactions ---------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction: ``BEGIN IMMEDIATE`` with retries, or a savepoint if nested."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        self.check_writable()
        for attempt in range(BUSY_RETRIES):
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                if not _is_busy(e):
                    raise self._translate(e) from None
                if attempt == BUSY_RETRIES - 1:
                    raise StoreBusy(f"store {self.home} stayed locked by other writers: {e}") from None
                time.sleep(min(0.01 * 2 ** attempt, 1.0) * (0.5 + random.random()))
        try:
            yield db
        except BaseException as e:
            if db.conn.in_transaction:
                db.conn.rollback()
            if isinstance(e, PermissionDenied):
                self.log_denial(e)
            if isinstance(e, (sqlite3.DatabaseError, UnicodeEncodeError)):
                raise self._translate(e) from None
            raise
        self._commit(db)

    def _commit(self, db: Database) -> None:
        """COMMIT the open transaction, retrying while SQLite reports busy.

        Every write of localreg ends here, which also makes it the seam the
        crash tests use to kill a process just before or after a commit.
        """
        for attempt in range(BUSY_RETRIES):
            try:
                db.execute("COMMIT")
                return
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or attempt == BUSY_RETRIES - 1:
                    if db.conn.in_transaction:
                        db.conn.rollback()
                    raise self._translate(e) from None
                time.sleep(min(0.01 * 2 ** attempt, 1.0))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Database]:
        """A read transaction: every query inside sees the same committed state."""
        db = self.db
        if db.conn.in_transaction:
            yield db
            return
        try:
            db.execute("BEGIN")
        except sqlite3.DatabaseError as e:
            raise self._translate(e) from None
        try:
            yield db
        except PermissionDenied as e:
            self._end_read(db)
            self.log_denial(e)
            raise
        except (sqlite3.DatabaseError, UnicodeEncodeError) as e:
            self._end_read(db, quiet=True)
            raise self._translate(e) from None
        except BaseException:
            self._end_read(db, quiet=True)
            raise
        self._end_read(db)

    def _end_read(self, db: Database, quiet: bool = False) -> None:
        """End a read transaction; ``quiet`` when another error is already on its way."""
        if not db.conn.in_transaction:
            return
        try:
            db.conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            with contextlib.suppress(sqlite3.DatabaseError):
                db.conn.rollback()
            if not quiet:
                raise self._translate(e) from None

    def _translate(self, e: BaseException) -> Exception:
        """The localreg error for an error SQLite raised, naming the database file."""
        if isinstance(e, UnicodeEncodeError):  # a str with lone surrogates cannot be stored
            return InvalidInput(f"text {e.object[e.start:e.end]!r} is not valid Unicode (lone surrogates)")
        if isinstance(e, StoreError):
            return e
        msg = str(e)
        if _is_busy(e):
            return StoreBusy(f"store {self.home} stayed locked by other writers: {msg}")
        if "readonly" in msg or "read-only" in msg:
            return ReadOnlyStore(f"store {self.home} is read-only: {msg}")
        return dbmod.broken(e, self.db_path) or StoreError(f"database error in {self.db_path}: {msg}")

    def log_denial(self, e: PermissionDenied) -> None:
        """Record a refused action in the audit log (its own transaction; the change itself was rolled back)."""
        if self.readonly or self.db.conn.in_transaction or getattr(e, "_logged", False):
            return
        e._logged = True  # type: ignore[attr-defined]
        with self.transaction():
            self.event("denied", e.target or "", refused=e.action, message=str(e))

    def event(self, action: str, target: str, **detail: Any) -> None:
        """Append to the audit log (inside the caller's transaction)."""
        self.db.execute(
            "INSERT INTO events (at, user, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            [now(), current_user(), action, target, json.dumps(detail, sort_keys=True, default=str)],
        )

    # -- scopes -----------------------------------------------------------------
    def default(self, what: str, explicit: str | None = None) -> str:
        """The org/entity/project to use: explicit > $LOCALREG_* > $WANDB_* > store default."""
        if explicit:
            return explicit
        env = {
            "org": ("LOCALREG_ORG", "WANDB_ORGANIZATION"),
            "entity": ("LOCALREG_ENTITY", "WANDB_ENTITY"),
            "project": ("LOCALREG_PROJECT", "WANDB_PROJECT"),
        }[what]
        for var in env:
            value = os.environ.get(var)
            if value:
                return value
        return self._defaults[what]

    def ensure_org(self, name: str) -> int:
        """The id of org ``name``, creating it (with its core registries) if missing."""
        names.check_name(name, "org name")
        row = self.db.execute("SELECT id FROM orgs WHERE name = ?", [name]).fetchone()
        if row:
            return row[0]
        with self.transaction() as db:
            ts = now()
            db.execute("INSERT OR IGNORE INTO orgs (name, created_at) VALUES (?, ?)", [name, ts])
            org_id = db.execute("SELECT id FROM orgs WHERE name = ?", [name]).fetchone()[0]
            for reg, (desc, types) in CORE_REGISTRIES.items():
                db.execute(
                    "INSERT OR IGNORE INTO registries (org_id, name, description, visibility, "
                    "artifact_types, created_at, updated_at) VALUES (?, ?, ?, 'organization', ?, ?, ?)",
                    [org_id, reg, desc, json.dumps(types), ts, ts],
                )
            return org_id

    def ensure_entity(self, name: str, org: str | None = None) -> list[str]:
        """Put entity ``name`` in ``org`` (default: the default org), making both if missing; its orgs after.

        A user may be in several orgs: see :func:`localreg.orgs.add_entity`.
        """
        from .orgs import add_entity

        return add_entity(self, org or self.default("org"), name)

    def org_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM orgs WHERE name = ?", [name]).fetchone()
        if not row:
            raise NotFound(f"organization {name!r} not found in store {self.home}", name)
        return row[0]

    def ensure_project(self, entity: str, project: str) -> int:
        """The id of ``entity/project``, creating both if missing (the entity joins the default org)."""
        names.check_name(entity, "entity name")
        names.check_name(project, "project name")
        row = self.db.execute(
            "SELECT p.id FROM projects p JOIN entities e ON e.id = p.entity_id "
            "WHERE e.name = ? AND p.name = ?",
            [entity, project],
        ).fetchone()
        if row:
            return row[0]
        with self.transaction() as db:
            ts = now()
            erow = db.execute("SELECT id FROM entities WHERE name = ?", [entity]).fetchone()
            if erow:
                entity_id = erow[0]
            else:
                org_id = self.ensure_org(self.default("org"))
                entity_id = db.execute(
                    "INSERT INTO entities (org_id, name, created_at) VALUES (?, ?, ?)",
                    [org_id, entity, ts],
                ).lastrowid
            db.execute(
                "INSERT OR IGNORE INTO projects (entity_id, name, created_at) VALUES (?, ?, ?)",
                [entity_id, project, ts],
            )
            return db.execute(
                "SELECT id FROM projects WHERE entity_id = ? AND name = ?", [entity_id, project]
            ).fetchone()[0]

    def project_id(self, entity: str, project: str) -> int:
        row = self.db.execute(
            "SELECT p.id FROM projects p JOIN entities e ON e.id = p.entity_id "
            "WHERE e.name = ? AND p.name = ?",
            [entity, project],
        ).fetchone()
        if not row:
            raise NotFound(f"project {entity}/{project} not found in store {self.home}", f"{entity}/{project}")
        return row[0]

    def __repr__(self) -> str:
        return f"<Store {self.home}>"


def _new_store_id() -> str:
    return secrets.token_hex(16)


def _file_size(path: Path) -> int | None:
    """Size of ``path``, None if it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _group_id(name: str) -> int:
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise InvalidInput(f"unknown group {name!r}: a shared store needs an existing group") from None


def _check_creation_args(blob_url: str | None, org: str | None, entity: str | None, project: str | None,
                         blob_options: dict[str, Any] | None = None) -> None:
    """Refuse bad defaults before the home is created: bad input writes nothing."""
    for value, what in ((org, "org name"), (entity, "entity name"), (project, "project name")):
        if value is not None:
            names.check_name(value, what)
    if blob_options:
        if blob_url is None:
            raise InvalidInput("blob options need a blob URL (--blob-url) to apply to")
        if not isinstance(blob_options, dict):
            raise InvalidInput(f"blob options must be a dict of option names to values, not {blob_options!r}")
        _check_option_names(blob_options)
    if blob_url is not None:
        try:
            BlobStore(blob_url, options=blob_options)
        except ImportError as e:
            proto = blob_url.split("://", 1)[0]
            extra = " (pip install 'localreg[s3]')" if proto in ("s3", "s3a") else ""
            raise InvalidInput(f"cannot use blob URL {blob_url!r}: {e}{extra}") from None
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"cannot use blob URL {blob_url!r}: {e}") from None


def _check_option_names(options: dict[str, Any], prefix: str = "") -> None:
    from .blobs import check_blob_option_name

    for name, value in options.items():
        check_blob_option_name(prefix + str(name))
        if isinstance(value, dict):
            _check_option_names(value, prefix + str(name) + ".")


_REGEX_CACHE: dict[str, re.Pattern] = {}


def _regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    rx = _REGEX_CACHE.get(pattern)
    if rx is None:
        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise InvalidInput(f"invalid regular expression {pattern!r}: {e}") from None
        if len(_REGEX_CACHE) > 256:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[pattern] = rx
    return rx.search(str(value)) is not None


_STORES: dict[tuple[str, ...], Store] = {}
_STORES_LOCK = threading.Lock()


def open_store(home: str | os.PathLike | None = None, **kwargs: Any) -> Store:
    """A cached :class:`Store` for ``home`` (resolved as :func:`resolve_home` does)."""
    path = resolve_home(home)
    ro = kwargs.get("readonly")
    key = (str(path), str(os.getpid()), str(readonly_from_env() if ro is None else bool(ro)),
           str(bool(kwargs.get("allow_unaccounted"))))
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None or not store.db_path.exists():
            store = Store(path, **kwargs)
            _STORES[key] = store
        return store
