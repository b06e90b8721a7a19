"""Where an import keeps what the index says while it checks and applies it: a private temporary SQLite file.

An index may describe a million files. Held as Python objects that cost
about 26 times its size; here every record (a version without its
manifest, a link, a run, a lineage edge, a manifest entry, a blob) is a row
of a private temporary database (SQLite's ``""`` file: on disk, never named,
deleted when closed) with a page cache of :data:`CACHE_KIB`, and a record is
a Python object only while it is being looked at. Cross-checks (every link
names a version of the bundle, no alias on two versions, every blob needed
and of the size its manifests say) are queries.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

CACHE_KIB = 16 << 10
BATCH = 5000

_SCHEMA = """
CREATE TABLE docs (kind TEXT NOT NULL, k1 TEXT NOT NULL, k2 NOT NULL, n INTEGER NOT NULL, doc TEXT NOT NULL,
                   a, b, PRIMARY KEY (kind, k1, k2)) WITHOUT ROWID;
CREATE TABLE entries (v INTEGER NOT NULL, j INTEGER NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL,
                      size INTEGER NOT NULL, ref TEXT);
CREATE TABLE blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE aliases (coll TEXT NOT NULL, alias TEXT NOT NULL, idx INTEGER NOT NULL, pos INTEGER NOT NULL);
CREATE TABLE members (digest TEXT PRIMARY KEY, offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE present (plan INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (plan, digest)) WITHOUT ROWID;
CREATE TABLE adding (v INTEGER PRIMARY KEY);
"""


class Scratch:
    """The private temporary database of one import (see the module)."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("", isolation_level=None)
        self.db.executescript(f"PRAGMA cache_size = -{CACHE_KIB}; PRAGMA journal_mode = OFF; "
                              "PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;" + _SCHEMA)
        self.db.execute("BEGIN")
        self._entries: list[tuple] = []
        self.plans = 0

    def close(self) -> None:
        self.db.close()

    def add_entries(self, rows: list[tuple]) -> None:
        self._entries += rows
        if len(self._entries) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self._entries:
            self.db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", self._entries)
            self._entries = []

    def finish(self) -> None:
        """Index what the checks and the import look up (after every row is in)."""
        self.flush()
        self.db.executescript(
            "CREATE INDEX entries_v ON entries (v, j); "
            "CREATE INDEX entries_digest ON entries (digest, size) WHERE ref IS NULL; "
            "CREATE INDEX aliases_coll ON aliases (coll, alias);"
        )

    def one(self, sql: str, params: Any = ()) -> Any:
        return self.db.execute(sql, params).fetchone()

    def rows(self, sql: str, params: Any = ()) -> Iterator[tuple]:
        return iter(self.db.execute(sql, params))


class Docs(Mapping):
    """The records of one kind, as a read-only mapping from key to a fresh dict, iterated in key order.

    Keys are ``k1`` (a string) or ``(k1, k2)``; ``pair`` says which.
    """

    def __init__(self, scratch: Scratch, kind: str, pair: bool) -> None:
        self.s = scratch
        self.kind = kind
        self.pair = pair

    def _k(self, key: Any) -> tuple:
        return tuple(key) if self.pair else (key, "")

    def put(self, key: Any, n: int, doc: dict, a: Any = None, b: Any = None) -> bool:
        """Add a record; False if one with this key is there already."""
        try:
            self.s.db.execute("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (self.kind, *self._k(key), n, json.dumps(doc, ensure_ascii=False), a, b))
        except sqlite3.IntegrityError:
            return False
        return True

    def __getitem__(self, key: Any) -> dict:
        row = self.s.one("SELECT doc FROM docs WHERE kind = ? AND k1 = ? AND k2 = ?", (self.kind, *self._k(key)))
        if row is None:
            raise KeyError(key)
        return json.loads(row[0])

    def __contains__(self, key: object) -> bool:
        try:
            k = self._k(key)
        except TypeError:
            return False
        return self.s.one("SELECT 1 FROM docs WHERE kind = ? AND k1 = ? AND k2 = ?", (self.kind, *k)) is not None

    def _key(self, k1: str, k2: Any) -> Any:
        return (k1, k2) if self.pair else k1

    def __iter__(self) -> Iterator[Any]:
        for k1, k2 in self.s.rows("SELECT k1, k2 FROM docs WHERE kind = ? ORDER BY k1, k2", (self.kind,)):
            yield self._key(k1, k2)

    def items(self) -> Iterator[tuple[Any, dict]]:  # type: ignore[override]
        for k1, k2, doc in self.s.rows("SELECT k1, k2, doc FROM docs WHERE kind = ? ORDER BY k1, k2", (self.kind,)):
            yield self._key(k1, k2), json.loads(doc)

    def values(self) -> Iterator[dict]:  # type: ignore[override]
        for _k, doc in self.items():
            yield doc

    def in_order(self) -> Iterator[dict]:
        """The records in the order of the index."""
        for (doc,) in self.s.rows("SELECT doc FROM docs WHERE kind = ? ORDER BY n", (self.kind,)):
            yield json.loads(doc)

    def __len__(self) -> int:
        return self.s.one("SELECT count(*) FROM docs WHERE kind = ?", (self.kind,))[0]

    def n_of(self, key: Any) -> int:
        return self.s.one("SELECT n FROM docs WHERE kind = ? AND k1 = ? AND k2 = ?", (self.kind, *self._k(key)))[0]


class Blobs(Mapping):
    """The blobs the index lists: digest -> size."""

    def __init__(self, scratch: Scratch) -> None:
        self.s = scratch

    def __getitem__(self, digest: str) -> int:
        row = self.s.one("SELECT size FROM blobs WHERE digest = ?", (digest,))
        if row is None:
            raise KeyError(digest)
        return row[0]

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and self.s.one("SELECT 1 FROM blobs WHERE digest = ?", (digest,)) is not None

    def __iter__(self) -> Iterator[str]:
        for (d,) in self.s.rows("SELECT digest FROM blobs ORDER BY n"):
            yield d

    def __len__(self) -> int:
        return self.s.one("SELECT count(*) FROM blobs")[0]

    def total(self) -> int:
        return self.s.one("SELECT coalesce(sum(size), 0) FROM blobs")[0]


class Present:
    """The bundle's blobs one plan found in the store (a set, kept in the scratch database)."""

    def __init__(self, scratch: Scratch, plan: int) -> None:
        self.s = scratch
        self.plan = plan

    def add(self, digests: Any) -> None:
        self.s.db.executemany("INSERT OR IGNORE INTO present VALUES (?, ?)", ((self.plan, d) for d in digests))

    def __contains__(self, digest: object) -> bool:
        return self.s.one("SELECT 1 FROM present WHERE plan = ? AND digest = ?", (self.plan, digest)) is not None

    def __len__(self) -> int:
        return self.s.one("SELECT count(*) FROM present WHERE plan = ?", (self.plan,))[0]

    def __iter__(self) -> Iterator[str]:
        for (d,) in self.s.rows("SELECT digest FROM present WHERE plan = ? ORDER BY digest", (self.plan,)):
            yield d

    def missing_bytes(self) -> tuple[int, int]:
        """How many of the bundle's blobs, and bytes, are not in this set."""
        row = self.s.one("SELECT count(*), coalesce(sum(size), 0) FROM blobs WHERE digest NOT IN "
                         "(SELECT digest FROM present WHERE plan = ?)", (self.plan,))
        return row[0], row[1]

    def lost_since(self, earlier: Present) -> str | None:
        """A blob ``earlier`` found in the store that this plan no longer finds."""
        row = self.s.one("SELECT min(digest) FROM present WHERE plan = ? AND digest NOT IN "
                         "(SELECT digest FROM present WHERE plan = ?)", (earlier.plan, self.plan))
        return row[0]
