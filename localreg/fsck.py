"""Consistency checks of a store, and the repairs that are safe.

``fsck`` looks for rows that name missing things (entries whose blob is not
indexed, chunk rows whose bytes are gone or short, aliases, links, tags and
lineage pointing at nothing) and for leftovers of crashes (orphan blobs,
dead pack space, temp files). Leftovers are not inconsistencies: gc removes
them. ``verify`` re-hashes stored bytes and names the versions that need a
missing or corrupt blob.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import versions
from .objects import Objects

if TYPE_CHECKING:
    from .store import Store


@dataclass
class Finding:
    kind: str
    message: str
    repairable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FsckReport:
    problems: list[Finding] = field(default_factory=list)
    leftovers: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "leftovers": [p.to_dict() for p in self.leftovers],
            "repaired": self.repaired,
            "unrepaired": self.unrepaired,
        }


_DANGLING = [
    ("alias", "SELECT a.collection_id, a.alias FROM aliases a LEFT JOIN versions v ON v.id = a.version_id "
              "WHERE v.id IS NULL OR v.collection_id != a.collection_id",
     "DELETE FROM aliases WHERE collection_id = ? AND alias = ?"),
    ("tag", "SELECT t.version_id, t.tag FROM tags t LEFT JOIN versions v ON v.id = t.version_id WHERE v.id IS NULL",
     "DELETE FROM tags WHERE version_id = ? AND tag = ?"),
    ("lineage", "SELECT l.run_pk, l.version_id FROM lineage l LEFT JOIN versions v ON v.id = l.version_id "
                "LEFT JOIN runs r ON r.id = l.run_pk WHERE v.id IS NULL OR r.id IS NULL",
     "DELETE FROM lineage WHERE run_pk = ? AND version_id = ?"),
    ("link", "SELECT v.id, v.collection_id FROM versions v LEFT JOIN versions s ON s.id = v.source_id "
             "WHERE v.source_id IS NOT NULL AND s.id IS NULL",
     "DELETE FROM versions WHERE id = ? AND collection_id = ?"),
]


def fsck(store: "Store", repair: bool = False) -> FsckReport:
    """Check the store; with ``repair``, fix what is safe and say what is not."""
    report = FsckReport()
    db = store.db
    blobs = store.blobs
    with store.snapshot():
        for kind, query, _fix in _DANGLING:
            for row in db.execute(query).fetchall():
                report.problems.append(Finding(kind, f"{kind} row {tuple(row)} points at nothing", True))
        missing_index = db.execute(
            "SELECT DISTINCT e.digest FROM entries e WHERE e.ref IS NULL "
            "AND e.digest NOT IN (SELECT digest FROM chunks) AND e.digest NOT IN (SELECT digest FROM chunked_files)"
        ).fetchall()
        chunk_rows = db.execute("SELECT digest, size, pack, offset FROM chunks").fetchall()
    for (digest,) in missing_index:
        report.problems.append(Finding("blob", f"blob {digest} is named by {_needers(store, digest)} but not stored"))
    pack_sizes = {name: size for name, size, _m in blobs.list_packs()}
    loose = {d: size for d, size, _m in blobs.list_loose()}
    lost: list[str] = []
    for digest, size, pack, offset in chunk_rows:
        if pack is None:
            if digest not in loose:
                lost.append(digest)
                report.problems.append(Finding("blob", f"blob {digest} is missing from {blobs.url}"))
            elif loose[digest] != size:
                lost.append(digest)
                report.problems.append(Finding("blob", f"blob {digest} has {loose[digest]} bytes, expected {size}"))
        elif pack not in pack_sizes:
            lost.append(digest)
            report.problems.append(Finding("blob", f"blob {digest}: pack {pack} is missing"))
        elif pack_sizes[pack] < (offset or 0) + size:
            lost.append(digest)
            report.problems.append(Finding("blob", f"blob {digest}: pack {pack} is truncated"))
    known_packs = {r[2] for r in chunk_rows if r[2] is not None}
    known_loose = {r[0] for r in chunk_rows if r[2] is None}
    for name in pack_sizes:
        if name not in known_packs:
            report.leftovers.append(Finding("orphan", f"pack {name} is not indexed (gc removes it)"))
    for digest in loose:
        if digest not in known_loose:
            report.leftovers.append(Finding("orphan", f"blob {digest} is not indexed (gc removes it)"))
    for path, _size, _m in blobs.list_tmp():
        report.leftovers.append(Finding("tmp", f"temp file {path} (gc removes it)"))
    if repair:
        _repair(store, report, lost)
    return report


def _needers(store: "Store", digest: str) -> str:
    rows = store.db.execute("SELECT DISTINCT version_id FROM entries WHERE digest = ? LIMIT 5", [digest]).fetchall()
    names = []
    for (vid,) in rows:
        try:
            names.append(versions.get(store, vid).qualified_name)
        except LookupError:
            names.append(f"version id {vid}")
    return ", ".join(names) or "no version"


def _repair(store: "Store", report: FsckReport, lost: list[str]) -> None:
    with store.transaction() as db:
        for kind, query, fix in _DANGLING:
            for row in db.execute(query).fetchall():
                db.execute(fix, list(row))
                report.repaired.append(f"removed dangling {kind} {tuple(row)}")
        if lost:
            # a chunk row whose bytes are gone lies about the store: drop it so
            # the next ingest of the same bytes stores them again
            db.conn.executemany("DELETE FROM chunks WHERE digest = ?", [(d,) for d in lost])
            report.repaired.extend(f"dropped index row of lost blob {d}" for d in lost)
    for f in report.problems:
        if f.kind == "blob":
            report.unrepaired.append(f"{f.message}: restore it (e.g. import a bundle that holds it, or log the file again)")


@dataclass
class VerifyReport:
    checked: int = 0
    bad: dict[str, str] = field(default_factory=dict)  # digest -> problem
    versions: dict[str, list[str]] = field(default_factory=dict)  # digest -> versions needing it

    @property
    def ok(self) -> bool:
        return not self.bad

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "bad": self.bad, "versions": self.versions}


def verify(store: "Store", version: "versions.Version | None" = None) -> VerifyReport:
    """Re-hash the stored blobs of ``version`` (all versions if None)."""
    report = VerifyReport()
    objects = Objects(store)
    if version is not None:
        digests = sorted({e.digest for e in versions.entries(store, version) if e.ref is None})
    else:
        digests = [r[0] for r in store.db.execute("SELECT DISTINCT digest FROM entries WHERE ref IS NULL ORDER BY digest")]
    for digest in digests:
        report.checked += 1
        problem = objects.check(digest)
        if problem:
            report.bad[digest] = problem
            rows = store.db.execute(
                "SELECT DISTINCT version_id FROM entries WHERE digest = ?", [digest]
            ).fetchall()
            report.versions[digest] = [versions.get(store, vid).qualified_name for (vid,) in rows]
    return report
