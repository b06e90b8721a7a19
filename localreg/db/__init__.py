"""All SQL of localreg: the schema (``sqlite_utils.Migrations``) and connections.

Invariants the schema holds:

* one ``collections`` table holds both source collections (``project_id``
  set) and registry collections (``registry_id`` set); names are unique
  within their project or registry;
* one ``versions`` table holds source versions and links; a link is a
  row whose ``source_id`` names a source version, with its own ``idx``
  in its link collection; ``idx`` values are handed out from
  ``collections.next_idx`` and never reused;
* a collection's ``kind`` is ``sequence`` (logged versions, in a project)
  or ``portfolio`` (links: every registry collection, and a project's link
  collections, W&B's older "portfolio" model registry);
* an entity belongs to its ``org_id`` and to the orgs ``entity_orgs``
  adds (a user in several orgs);
* an alias names exactly one version of its collection (primary key
  ``(collection_id, alias)``);
* a chunk row is inserted only after its bytes are durable in the blob
  store, and every manifest entry names a file digest that is either a
  whole-file chunk or a row of ``chunked_files`` (or a reference).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from typing import TYPE_CHECKING, Any, Callable

from ..errors import CorruptDatabase, DiskFull, StoreError

if TYPE_CHECKING:  # sqlite-utils (and numpy, which it pulls in) load on first connection
    from sqlite_utils import Database, Migrations

SCHEMA_SET = "localreg"
_STEPS: list[Callable[["Database"], None]] = []


def _step(fn: Callable[["Database"], None]) -> Callable[["Database"], None]:
    _STEPS.append(fn)
    return fn


def migration_set() -> "Migrations":
    """The ``sqlite_utils.Migrations`` of the schema, built on first use."""
    global _MIGRATIONS
    if _MIGRATIONS is None:
        from sqlite_utils import Migrations

        m = Migrations(SCHEMA_SET)
        for fn in _STEPS:
            m()(fn)
        _MIGRATIONS = m
    return _MIGRATIONS


_MIGRATIONS: "Migrations | None" = None


@_step
def m001_initial(db: "Database") -> None:
    db.executescript(
        """
        CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE orgs (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL
        );
        CREATE TABLE entities (
            id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id),
            name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL
        );
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY, entity_id INTEGER NOT NULL REFERENCES entities(id),
            name TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (entity_id, name)
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),
            run_id TEXT NOT NULL, name TEXT, job_type TEXT, config TEXT NOT NULL DEFAULT '{}',
            summary TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
            UNIQUE (project_id, run_id)
        );
        CREATE TABLE registries (
            id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id),
            name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
            visibility TEXT NOT NULL CHECK (visibility IN ('organization', 'restricted')),
            artifact_types TEXT,  -- JSON list; NULL: all types allowed
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            UNIQUE (org_id, name)
        );
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            project_id INTEGER REFERENCES projects(id),
            registry_id INTEGER REFERENCES registries(id),
            name TEXT NOT NULL, type TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '[]',
            next_idx INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            CHECK ((project_id IS NULL) <> (registry_id IS NULL))
        );
        CREATE UNIQUE INDEX collections_in_project ON collections (project_id, name)
            WHERE project_id IS NOT NULL;
        CREATE UNIQUE INDEX collections_in_registry ON collections (registry_id, name)
            WHERE registry_id IS NOT NULL;
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id),
            idx INTEGER NOT NULL,
            source_id INTEGER REFERENCES versions(id),  -- set on links only
            digest TEXT, size INTEGER, file_count INTEGER,
            description TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL DEFAULT '{}',
            run_pk INTEGER REFERENCES runs(id),
            created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            ttl_expires_at TEXT,
            UNIQUE (collection_id, idx)
        );
        CREATE INDEX versions_by_source ON versions (source_id) WHERE source_id IS NOT NULL;
        CREATE UNIQUE INDEX versions_link_once ON versions (collection_id, source_id)
            WHERE source_id IS NOT NULL;
        CREATE INDEX versions_by_digest ON versions (collection_id, digest);
        CREATE TABLE entries (
            version_id INTEGER NOT NULL REFERENCES versions(id),
            path TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
            ref TEXT,
            PRIMARY KEY (version_id, path)
        ) WITHOUT ROWID;
        CREATE TABLE aliases (
            collection_id INTEGER NOT NULL REFERENCES collections(id),
            alias TEXT NOT NULL,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            PRIMARY KEY (collection_id, alias)
        ) WITHOUT ROWID;
        CREATE INDEX aliases_by_version ON aliases (version_id);
        CREATE TABLE tags (
            version_id INTEGER NOT NULL REFERENCES versions(id), tag TEXT NOT NULL,
            PRIMARY KEY (version_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX tags_by_tag ON tags (tag);
        CREATE TABLE lineage (
            run_pk INTEGER NOT NULL REFERENCES runs(id),
            version_id INTEGER NOT NULL REFERENCES versions(id),
            direction TEXT NOT NULL CHECK (direction IN ('output', 'input')),
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_pk, version_id, direction)
        ) WITHOUT ROWID;
        CREATE INDEX lineage_by_version ON lineage (version_id);
        CREATE TABLE chunks (
            digest TEXT PRIMARY KEY, size INTEGER NOT NULL,
            pack TEXT, offset INTEGER,  -- NULL pack: a loose object of its own
            created_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX chunks_by_pack ON chunks (pack) WHERE pack IS NOT NULL;
        CREATE TABLE chunked_files (
            digest TEXT PRIMARY KEY, size INTEGER NOT NULL,
            chunks TEXT NOT NULL  -- JSON list of [chunk digest, size]
        ) WITHOUT ROWID;
        CREATE TABLE stat_cache (
            path TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
            size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE events (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL,
            action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}'
        );
        """
    )


@_step
def m002_registry_members(db: "Database") -> None:
    db.executescript(
        """
        CREATE TABLE registry_members (
            registry_id INTEGER NOT NULL REFERENCES registries(id),
            user TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
            added_at TEXT NOT NULL,
            PRIMARY KEY (registry_id, user)
        ) WITHOUT ROWID;
        CREATE INDEX events_by_at ON events (at);
        """
    )


@_step
def m003_link_collections_and_entity_orgs(db: "Database") -> None:
    db.executescript(
        """
        ALTER TABLE collections ADD COLUMN kind TEXT NOT NULL DEFAULT 'sequence'
            CHECK (kind IN ('sequence', 'portfolio'));
        UPDATE collections SET kind = 'portfolio' WHERE registry_id IS NOT NULL;
        CREATE TABLE entity_orgs (
            entity_id INTEGER NOT NULL REFERENCES entities(id),
            org_id INTEGER NOT NULL REFERENCES orgs(id),
            added_at TEXT NOT NULL,
            PRIMARY KEY (entity_id, org_id)
        ) WITHOUT ROWID;
        """
    )


@_step
def m004_lineage_history_step(db: "Database") -> None:
    # the run's history step when it logged a version (W&B's Artifact.history_step); NULL: none yet
    db.executescript("ALTER TABLE lineage ADD COLUMN step INTEGER;")


KNOWN_MIGRATIONS = [fn.__name__ for fn in _STEPS]
SCHEMA_VERSION = len(KNOWN_MIGRATIONS)


def connect(path: Path, *, readonly: bool = False, immutable: bool = False, timeout: float = 30.0) -> "Database":
    """Open ``path`` as a sqlite-utils Database in autocommit mode with WAL.

    Transactions are begun explicitly by the store (``BEGIN IMMEDIATE`` for
    writes), so the sqlite3 module must not begin them on its own.
    ``readonly`` opens with ``mode=ro``; ``immutable`` (for a folder that
    cannot be written, where SQLite could not make its -shm file) also
    tells SQLite that nothing changes the file, so it takes no locks.
    """
    if readonly or immutable:
        from urllib.parse import quote

        uri = f"file:{quote(str(path), safe='/')}?mode=ro" + ("&immutable=1" if immutable else "")
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False,
                               factory=Connection)
    else:
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False,
                               factory=Connection)
    conn.db_path = path
    try:
        conn.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
        if not (readonly or immutable):
            mode = _retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            if mode.lower() != "wal":
                raise StoreError(f"could not switch {path} to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise broken(e, path) or StoreError(f"cannot open database {path}: {e}") from None
    return _database_class()(conn, path)


# primary result codes that mean the file itself is unusable: never worth a retry
_CORRUPT, _NOTADB, _IOERR, _FULL = 11, 26, 10, 13


WAY_OUT = ("restore the latest backup ('localreg restore BACKUP'), or move the file aside and rebuild "
           "the chunk index from the blobs ('localreg fsck --rebuild-index'); see docs/backup.md")


def corrupt(path: Path | str, detail: str) -> CorruptDatabase:
    """The one "the database is corrupt" error, naming the file and the way out."""
    detail = " ".join(detail.split())
    if len(detail) > 120:
        detail = detail[:117] + "..."
    return CorruptDatabase(f"the database {path} is corrupt ({detail}): {WAY_OUT}", str(path))


def broken(e: BaseException, path: Path | str) -> StoreError | None:
    """A :class:`StoreError` naming ``path`` if ``e`` says the database file is corrupt, unreadable or full.

    The one place that decides what an error SQLite (or reading a value
    back from it) raised means: :class:`CorruptDatabase` for a malformed
    file or text that is not UTF-8 (a flipped byte inside a text cell, or
    inside the schema, whose text SQLite quotes in its error message),
    :class:`DiskFull`, or None for errors callers handle (busy, constraints).
    """
    if isinstance(e, UnicodeDecodeError):
        return corrupt(path, f"text that is not UTF-8: {e.reason} at byte {e.start}")
    if not isinstance(e, sqlite3.DatabaseError):
        return None
    code = getattr(e, "sqlite_errorcode", None)  # Python 3.11+
    primary = code & 0xFF if code is not None else None
    msg = str(e)
    if primary == _FULL or "database or disk is full" in msg or (
        (primary == _IOERR or "disk I/O error" in msg) and _out_of_space(path)
    ):
        return DiskFull(f"disk full while writing to {path}: {msg}; the change was not made")
    if primary in (_CORRUPT, _NOTADB) or "malformed" in msg or "not a database" in msg:
        return corrupt(path, msg)
    if primary == _IOERR or "disk I/O error" in msg:
        return StoreError(f"cannot read or write {path}: {msg}")
    if msg.startswith("Could not decode to UTF-8"):  # a text cell whose bytes were changed
        return corrupt(path, "a text value is not UTF-8")
    return None


def json_cell(text: str | None, default: Any, path: Path | str) -> Any:
    """A JSON value stored in a column of ``path`` (``default`` for NULL or '').

    Every JSON column is written by localreg from ``json.dumps``, so text
    that does not parse means the file was damaged: :class:`CorruptDatabase`.
    """
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError as e:
        raise corrupt(path, f"a stored JSON value does not parse: {e}") from None


_TRANSLATED = (sqlite3.DatabaseError, UnicodeDecodeError)


def _raise_translated(e: BaseException, path: Path | str) -> None:
    err = broken(e, path)
    if err is None:
        raise e  # busy, constraint and the like: callers decide
    raise err from None


class Cursor(sqlite3.Cursor):
    """A cursor whose every step turns a corrupt file into :class:`CorruptDatabase`.

    Preparing a statement (SQLite parses the schema then, and quotes a
    damaged schema in its error message, which may not be UTF-8) and
    fetching rows (a text cell that is not UTF-8) are where damage shows:
    both are translated here, once, for every query localreg runs.
    """

    def execute(self, sql, parameters=(), /):  # type: ignore[override]
        try:
            return super().execute(sql, parameters)
        except _TRANSLATED as e:
            _raise_translated(e, self.connection.db_path)

    def executemany(self, sql, seq_of_parameters, /):  # type: ignore[override]
        try:
            return super().executemany(sql, seq_of_parameters)
        except _TRANSLATED as e:
            _raise_translated(e, self.connection.db_path)

    def executescript(self, sql_script, /):  # type: ignore[override]
        try:
            return super().executescript(sql_script)
        except _TRANSLATED as e:
            _raise_translated(e, self.connection.db_path)

    def fetchone(self):  # type: ignore[override]
        try:
            return super().fetchone()
        except _TRANSLATED as e:
            _raise_translated(e, self.connection.db_path)

    def fetchmany(self, size=None):  # type: ignore[override]
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except _TRANSLATED as e:
            _raise_translated(e, self.connection.db_path)

    def fetchall(self):  # type: ignore[override]
        try:
            return super().fetchall()
        except _TRANSLATED as e:
            _raise_translated(e, self.connection.db_path)

    def __next__(self):
        try:
            return super().__next__()
        except _TRANSLATED as e:
            _raise_translated(e, self.connection.db_path)


class Connection(sqlite3.Connection):
    """A connection whose cursors are :class:`Cursor` (``db_path`` names the file in errors)."""

    db_path: Path | str = "localreg.db"

    def cursor(self, factory=Cursor):  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):  # type: ignore[override]
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script, /):  # type: ignore[override]
        return self.cursor().executescript(sql_script)


def _out_of_space(path: Path | str) -> bool:
    """Whether a failed write to ``path`` is best explained by a full disk or a reached file size limit.

    SQLite reports ENOSPC as "database or disk is full" but other write
    failures (EFBIG past ``RLIMIT_FSIZE``, EDQUOT) only as "disk I/O error".
    """
    import os
    import shutil

    folder = os.path.dirname(os.fspath(path)) or "."
    try:
        if shutil.disk_usage(folder).free < (1 << 20):
            return True
    except OSError:
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, OSError, ValueError):
        return False
    if soft == resource.RLIM_INFINITY:
        return False
    for suffix in ("", "-wal", "-journal"):
        try:
            if os.path.getsize(f"{os.fspath(path)}{suffix}") >= soft - (64 << 10):
                return True
        except OSError:
            continue
    return False


_DATABASE: type | None = None


def _database_class() -> type:
    """sqlite-utils' Database, whose ``execute`` names the file when it is corrupt or full."""
    global _DATABASE
    if _DATABASE is None:
        from sqlite_utils import Database

        class LocalregDatabase(Database):
            def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
                super().__init__(conn)
                self.db_path = path

            # every query goes through the connection's Cursor, which names the file when it is corrupt or full

        _DATABASE = LocalregDatabase
    return _DATABASE


def _retry_busy(fn, attempts: int = 50):
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or i == attempts - 1:
                raise
            time.sleep(min(0.005 * (2 ** i), 0.2))


_SCHEMA: dict[tuple[str, str], str] | None = None


def expected_schema() -> dict[tuple[str, str], str]:
    """``{(type, name): sql}`` of every table and index the migrations make (built once, in memory)."""
    global _SCHEMA
    if _SCHEMA is None:
        conn = sqlite3.connect(":memory:", isolation_level=None, factory=Connection)
        try:
            upgrade(_database_class()(conn, ":memory:"))
            _SCHEMA = _schema_of(conn)
        finally:
            conn.close()
    return _SCHEMA


def _schema_of(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    return {(t, n): sql for t, n, sql in conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")}


def check_schema(db: "Database", path: Path | str) -> None:
    """:class:`CorruptDatabase` unless every table and index of the schema is there, as the migrations wrote it.

    SQLite keeps the text of each ``CREATE`` statement; a changed byte in
    it may still parse (a renamed column), and would then fail queries one
    by one as "no such column": this catches it when the store opens.
    Tables and indexes other tools add (``sqlite_stat1``...) are ignored.
    """
    have = _schema_of(db.conn)
    for key, sql in expected_schema().items():
        if have.get(key) != sql:
            raise corrupt(path, f"its schema has {'a changed' if key in have else 'no'} {key[0]} {key[1]!r}")


def applied_names(db: "Database") -> list[str]:
    return [m.name for m in migration_set().applied(db)]


def upgrade(db: "Database") -> None:
    """Apply pending migrations, one ``BEGIN IMMEDIATE`` so racing openers serialize."""
    db.execute("BEGIN IMMEDIATE")
    try:
        migrations = migration_set()
        pending = migrations.pending(db)
        if pending:
            migrations.ensure_migrations_table(db)
            for m in pending:
                m.fn(db)
                migrations._record_applied(db, m.name)
        db.execute("COMMIT")
    except BaseException:
        db.conn.rollback()
        raise


__all__ = ["connect", "upgrade", "migration_set", "broken", "corrupt", "json_cell", "SCHEMA_VERSION", "KNOWN_MIGRATIONS"]
