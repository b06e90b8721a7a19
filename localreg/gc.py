"""Garbage collection: expired versions, and blobs no live version needs.

Order of work, so that a crash at any point leaves a consistent store:

1. versions whose ttl has passed are deleted (their links too), one
   transaction each;
2. chunk rows that no manifest entry needs and that are older than the
   grace period are deleted in one transaction that re-checks, inside it,
   that nothing names them;
3. only then are their bytes removed: loose objects, and packs that hold
   no live chunk. A crash between 2 and 3 leaves orphan files, which the
   next gc removes (files with no row, older than the grace period).

The grace period (default one hour) protects writes in progress: a draft's
blobs are stored before the version that names them commits. If gc still
removes a blob a slow draft meant to reuse, logging that draft fails with
a clear error (the version's transaction re-checks every blob) instead of
committing a row that names missing bytes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import versions
from .store import now

if TYPE_CHECKING:
    from .store import Store

DEFAULT_GRACE = 3600.0


@dataclass
class GCReport:
    expired_versions: list[str] = field(default_factory=list)
    chunks_removed: int = 0
    loose_removed: int = 0
    packs_removed: int = 0
    orphan_files_removed: int = 0
    bytes_freed: int = 0
    pack_bytes_dead: int = 0  # dead bytes still inside packs that hold live chunks
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_chunks(store: "Store") -> set[str]:
    """Every chunk digest some manifest entry needs."""
    db = store.db
    live = {r[0] for r in db.execute("SELECT DISTINCT digest FROM entries WHERE ref IS NULL")}
    for (chunks,) in db.execute(
        "SELECT chunks FROM chunked_files WHERE digest IN (SELECT DISTINCT digest FROM entries WHERE ref IS NULL)"
    ):
        live.update(d for d, _size in json.loads(chunks))
    return live


def expire(store: "Store", dry_run: bool = False) -> list[str]:
    """Delete versions whose ttl has passed; return their names."""
    expired = versions.load(store, "v.source_id IS NULL AND v.ttl_expires_at IS NOT NULL AND v.ttl_expires_at < ?", [now()])
    names = [v.qualified_name for v in expired]
    if not dry_run:
        for v in expired:
            versions.delete(store, v, delete_aliases=True, unlink_links=True)
    return names


def gc(store: "Store", *, grace: float = DEFAULT_GRACE, dry_run: bool = False) -> GCReport:
    """Remove what no live version needs; see the module docstring for the order of work."""
    report = GCReport(dry_run=dry_run)
    report.expired_versions = expire(store, dry_run)
    cutoff = time.time() - grace
    blobs = store.blobs
    with store.snapshot() as db:
        live = live_chunks(store)
        rows = db.execute("SELECT digest, size, pack, offset, created_at FROM chunks").fetchall()
    dead = [r for r in rows if r[0] not in live and r[4] < cutoff]
    dead_set = {r[0] for r in dead}
    pack_live: dict[str, int] = {}
    pack_dead: dict[str, int] = {}
    for r in rows:
        if r[2] is None:
            continue
        if r[0] in dead_set:
            pack_dead[r[2]] = pack_dead.get(r[2], 0) + r[1]
        else:
            pack_live[r[2]] = pack_live.get(r[2], 0) + r[1]
    if not dry_run and dead:
        with store.transaction() as wdb:
            # re-check inside the transaction: a version committed since the
            # snapshot may need some of these again
            still = live_chunks(store)
            dead = [r for r in dead if r[0] not in still]
            wdb.conn.executemany("DELETE FROM chunks WHERE digest = ?", [(r[0],) for r in dead])
            store.event("gc", str(store.home), chunks=len(dead))
        dead_set = {r[0] for r in dead}
    report.chunks_removed = len(dead)
    loose = [r for r in dead if r[2] is None]
    back = set() if dry_run else {
        r[0] for r in store.db.execute(
            "SELECT digest FROM chunks WHERE digest IN (SELECT value FROM json_each(?))",
            [json.dumps([r[0] for r in loose])],
        )
    }
    for r in loose:
        report.loose_removed += 1
        report.bytes_freed += r[1]
        # a writer that stored the same bytes since our commit rewrote the
        # file (new mtime) and re-added its row: leave it
        if not dry_run and r[0] not in back and blobs.loose_mtime(r[0]) < cutoff:
            blobs.remove_loose(r[0])
    # packs with no live chunk left go whole; a pack that still holds one stays
    for pack, dead_bytes in pack_dead.items():
        if pack in pack_live:
            report.pack_bytes_dead += dead_bytes
            continue
        report.packs_removed += 1
        report.bytes_freed += dead_bytes
        if not dry_run:
            blobs.remove_pack(pack)
    report.orphan_files_removed, freed = _orphans(store, cutoff, dry_run)
    report.bytes_freed += freed
    return report


def _orphans(store: "Store", cutoff: float, dry_run: bool) -> tuple[int, int]:
    """Remove files with no row (left by crashes), older than the cutoff."""
    blobs = store.blobs
    db = store.db
    known_loose = {r[0] for r in db.execute("SELECT digest FROM chunks WHERE pack IS NULL")}
    known_packs = {r[0] for r in db.execute("SELECT DISTINCT pack FROM chunks WHERE pack IS NOT NULL")}
    count = freed = 0
    for digest, size, mtime in list(blobs.list_loose()):
        if digest not in known_loose and mtime < cutoff:
            count += 1
            freed += size
            if not dry_run:
                blobs.remove_loose(digest)
    for name, size, mtime in list(blobs.list_packs()):
        if name not in known_packs and mtime < cutoff:
            count += 1
            freed += size
            if not dry_run:
                blobs.remove_pack(name)
    for path, size, mtime in list(blobs.list_tmp()):
        if mtime < cutoff:
            count += 1
            freed += size
            if not dry_run:
                blobs.remove_path(path)
    return count, freed
