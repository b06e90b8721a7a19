"""Garbage collection: expired versions, and blobs no live version needs.

Order of work, so that a crash at any point leaves a consistent store:

1. versions whose ttl has passed are deleted (their links and aliases
   too), one transaction each;
2. chunk rows that no manifest entry needs and that are older than the
   grace period are deleted in one transaction that re-checks, inside it,
   that nothing names them (with any ``chunked_files`` row that would
   lose a chunk, so no row outlives the bytes it names);
3. only then are their bytes removed: loose objects, and packs left with
   no chunk row at all. A pack that still holds a live chunk stays whole;
   its dead bytes are reported as ``pack_bytes_dead``. A crash between 2
   and 3 leaves orphan files, which the next gc removes;
4. files with no row (left by crashes or by step 3 being cut short), temp
   files and incomplete multipart uploads (object stores), once older than
   the grace period. Ages come from every backend's own field (``mtime``,
   S3's ``LastModified``, ...) and are measured against the blob store's
   clock; an object whose age cannot be read is never removed.

Before any of it, gc checks that the database accounts for the blob store
(:func:`unaccounted`): the blob store's marker names this store, and every
blob a version needs is in the chunk index. If not, a file with no row may
be the only copy of a needed blob (the index lost rows, or this is another
store's database), so gc refuses with
:class:`~localreg.errors.UnaccountedStore` and removes nothing.

The grace period (default one hour) protects writes in progress: a draft's
blobs are stored before the version that names them commits, and an
ingest records its chunk rows only once all its files are stored. It must
be longer than the longest ingest; ``grace=0`` is safe only while nothing
writes to the store. If gc still removes a blob a slow draft meant to
reuse, logging that draft fails with a clear error (the version's
transaction re-checks every blob) instead of committing a row that names
missing bytes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import db as dbmod
from . import versions
from .errors import InvalidInput, NotFound, PermissionDenied, StoreError, UnaccountedStore
from .objects import Objects
from .objects.packs import data_sizes
from .store import now
from .text import plural

if TYPE_CHECKING:
    from .store import Store

DEFAULT_GRACE = 3600.0


@dataclass
class GCReport:
    """What one gc run did (or, with ``dry_run``, would do).

    ``removed`` names every file removed: ``loose <digest>``, ``pack <name>``,
    ``orphan blob <digest>``, ``orphan pack <name>``, ``temp file <path>``.
    ``kept_young`` counts unneeded blobs and files left because they are
    younger than the grace period. ``expired_refused`` names expired
    versions the acting user may not delete (``"<name>: <reason>"``, e.g. a
    link in a restricted registry): they stay, and so do their blobs.
    """

    expired_versions: list[str] = field(default_factory=list)
    expired_refused: list[str] = field(default_factory=list)
    chunks_removed: int = 0
    loose_removed: int = 0
    packs_removed: int = 0
    orphan_files_removed: int = 0
    bytes_freed: int = 0
    pack_bytes_dead: int = 0  # dead bytes still inside packs that hold live chunks
    kept_young: int = 0
    removed: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_chunks(store: "Store", exclude_versions: tuple[int, ...] | list[int] = ()) -> set[str]:
    """Every chunk digest some manifest entry needs (ignoring ``exclude_versions``)."""
    db = store.db
    skip = json.dumps(list(exclude_versions))
    needed = (
        "SELECT DISTINCT digest FROM entries WHERE ref IS NULL "
        "AND version_id NOT IN (SELECT value FROM json_each(?))"
    )
    live = {r[0] for r in db.execute(needed, [skip])}
    for (chunks,) in db.execute(f"SELECT chunks FROM chunked_files WHERE digest IN ({needed})", [skip]):
        live.update(d for d, _size in dbmod.json_cell(chunks, [], store.db_path))
    return live


def unaccounted(store: "Store") -> list[str]:
    """Why the database cannot account for the blob store's history (empty: it can).

    * the database was made to rebuild the store and the rebuild has not finished;
    * the blob store's marker is missing, unreadable, or names another store;
    * blobs that versions need are not in the chunk index (then the files
      no row names may hold them: ``localreg fsck --rebuild-index`` finds out).
    """
    reasons = []
    blobs = store.blobs
    if store.rebuild_pending:
        reasons.append("the database was made to rebuild the store from its blobs, and the rebuild "
                       "('localreg fsck --rebuild-index') has not finished")
    try:
        marker = blobs.read_marker()
    except StoreError as e:
        reasons.append(str(e))
        marker = {}
    except OSError as e:
        reasons.append(f"the blob store {blobs.url} cannot be read: {e}")
        marker = {}
    if marker is None:
        reasons.append(f"the blob store {blobs.url} has no store marker ({blobs.marker_path()})")
    elif marker and marker.get("store_id") != store.store_id:
        reasons.append(f"the blob store {blobs.url} belongs to store {marker.get('store_id')}, "
                       f"the database to store {store.store_id}")
    with store.snapshot() as db:
        missing = db.execute(
            "SELECT count(*), min(d) FROM ("
            " SELECT DISTINCT digest AS d FROM entries WHERE ref IS NULL"
            " UNION SELECT json_extract(j.value, '$[0]') FROM chunked_files f, json_each(f.chunks) j"
            ") WHERE d NOT IN (SELECT digest FROM chunks) AND d NOT IN (SELECT digest FROM chunked_files)"
        ).fetchone()
    if missing[0]:
        reasons.append(f"{plural(missing[0], 'blob')} that versions need {'is' if missing[0] == 1 else 'are'} "
                       f"not in the chunk index (e.g. {missing[1]})")
    return reasons


def refuse_unaccounted(store: "Store") -> None:
    """Raise :class:`UnaccountedStore` unless the database accounts for the blob store (see :func:`unaccounted`)."""
    reasons = unaccounted(store)
    if reasons:
        raise UnaccountedStore(
            f"gc refused: the database {store.db_path} cannot account for the blob store {store.blobs.url} "
            f"({'; '.join(reasons)}), so files it does not know may be the only copy of needed data; "
            "nothing was removed. Rebuild the chunk index from the blobs ('localreg fsck --rebuild-index') "
            "or restore the database from a backup ('localreg restore BACKUP'); see docs/backup.md",
            reasons,
        )


def expired(store: "Store") -> list["versions.Version"]:
    """Source versions whose ttl has passed (a link expires with its source)."""
    return versions.load(
        store, "v.source_id IS NULL AND v.ttl_expires_at IS NOT NULL AND v.ttl_expires_at < ?", [now()]
    )


def gc(store: "Store", *, grace: float = DEFAULT_GRACE, dry_run: bool = False) -> GCReport:
    """Remove what no live version needs; see the module docstring for the order of work.

    ``grace`` is in seconds. Idempotent: a second run right after frees
    nothing. With ``dry_run`` nothing is written or removed and the report
    says what a real run would do (counting expired versions as deleted).
    Raises :class:`InvalidInput` for a negative grace and
    :class:`~localreg.errors.ReadOnlyStore` on a read-only store (unless
    ``dry_run``), and :class:`~localreg.errors.UnaccountedStore`, removing
    nothing, when the database cannot account for the blob store
    (:func:`unaccounted`).
    """
    if not isinstance(grace, (int, float)) or grace < 0:
        raise InvalidInput(f"grace must be a duration of 0 seconds or more, not {grace!r}")
    if not dry_run:
        store.check_writable()  # even when there is nothing to remove: say so up front
    refuse_unaccounted(store)
    report = GCReport(dry_run=dry_run)
    gone = expired(store)
    if not dry_run:
        kept = []
        for v in gone:
            try:
                versions.delete(store, v, delete_aliases=True, unlink_links=True)
            except NotFound:
                pass  # deleted meanwhile
            except PermissionDenied as e:
                report.expired_refused.append(f"{v.qualified_name}: {e}")
                kept.append(v)
        gone = [v for v in gone if v not in kept]
    report.expired_versions = [v.qualified_name for v in gone]
    blobs = store.blobs
    # rows are dated by the clock of the machine that wrote them; files by
    # the blob store's own clock (an object store's LastModified is the
    # server's time, not this machine's)
    cutoff = time.time() - grace
    blob_cutoff = blobs.now() - grace
    with store.snapshot() as db:
        live = live_chunks(store, [v.id for v in gone] if dry_run else ())
        rows = db.execute("SELECT digest, size, pack, offset, created_at FROM chunks").fetchall()
    unneeded = [r for r in rows if r[0] not in live]
    dead = [r for r in unneeded if r[4] < cutoff]
    report.kept_young += len(unneeded) - len(dead)

    if dry_run:
        dead_set = {r[0] for r in dead}
        still_used = {r[2] for r in rows if r[2] is not None and r[0] not in dead_set}
        empty_packs = {r[2] for r in dead if r[2] is not None} - still_used
    else:
        dead, empty_packs = _drop_rows(store, dead)
    report.chunks_removed = len(dead)

    loose = [r for r in dead if r[2] is None]
    back = set() if dry_run else _indexed(store, [r[0] for r in loose])
    skipped: set[str] = set()
    for digest, size, _pack, _offset, _created in loose:
        # a writer that stored the same bytes since our commit rewrote the
        # file (new mtime) and may re-add its row: leave it to a later gc
        if digest in back or _young(blobs.loose_mtime(digest), blob_cutoff):
            report.kept_young += 1
            skipped.add(digest)
            continue
        if not dry_run:
            blobs.remove_loose(digest)
        report.loose_removed += 1
        report.bytes_freed += size
        report.removed.append(f"loose {digest}")

    pack_files = {name: size for name, size, _m in blobs.list_packs()}
    for pack in sorted(empty_packs):
        if pack not in pack_files:
            continue  # already gone: fsck reports the rows that named it
        if not dry_run:
            blobs.remove_pack(pack)
        report.packs_removed += 1
        report.bytes_freed += pack_files[pack]
        report.removed.append(f"pack {pack}")

    report.pack_bytes_dead = _dead_pack_bytes(store, pack_files, empty_packs,
                                              {r[0] for r in dead} if dry_run else set())
    _orphans(store, blob_cutoff, dry_run, report, skipped)
    return report


def _drop_rows(store: "Store", dead: list) -> tuple[list, set[str]]:
    """Delete the rows of ``dead`` chunks still unneeded; return them and the packs left empty."""
    if not dead:
        return [], set()
    with store.transaction() as db:
        # re-check inside the transaction: a version committed since the
        # snapshot may need some of these again
        still = live_chunks(store)
        dead = [r for r in dead if r[0] not in still]
        digests = json.dumps([r[0] for r in dead])
        # a chunked file that would lose a chunk goes too (nothing live names it,
        # or its chunks would be live): no row may outlive the bytes it names
        dead_set = {r[0] for r in dead}
        broken = [
            d for d, chunks in db.execute("SELECT digest, chunks FROM chunked_files").fetchall()
            if any(c in dead_set for c, _s in dbmod.json_cell(chunks, [], store.db_path))
        ]
        db.conn.executemany("DELETE FROM chunked_files WHERE digest = ?", [(d,) for d in broken])
        db.execute("DELETE FROM chunks WHERE digest IN (SELECT value FROM json_each(?))", [digests])
        Objects.drop_stale_cache_rows(db)
        touched = sorted({r[2] for r in dead if r[2] is not None})
        remaining = {
            r[0] for r in db.execute(
                "SELECT DISTINCT pack FROM chunks WHERE pack IN (SELECT value FROM json_each(?))",
                [json.dumps(touched)],
            )
        }
        if dead:
            store.event("gc", str(store.home), chunks=len(dead), packs_emptied=len(set(touched) - remaining))
    return dead, set(touched) - remaining


def _indexed(store: "Store", digests: list[str]) -> set[str]:
    return {
        r[0] for r in store.db.execute(
            "SELECT digest FROM chunks WHERE digest IN (SELECT value FROM json_each(?))", [json.dumps(digests)]
        )
    }


def _dead_pack_bytes(store: "Store", pack_files: dict[str, int], empty: set[str], dead: set[str]) -> int:
    """Bytes inside kept packs that no chunk row names (``dead``: rows a dry run would drop)."""
    used: dict[str, int] = {}
    for digest, size, pack in store.db.execute("SELECT digest, size, pack FROM chunks WHERE pack IS NOT NULL"):
        if digest not in dead:
            used[pack] = used.get(pack, 0) + size
    data = data_sizes(store.blobs, {p: pack_files[p] for p in used if p in pack_files and p not in empty})
    return sum(max(data[p] - n, 0) for p, n in used.items() if p in data)  # a pack's footer is not dead space


def _young(mtime: float | None, cutoff: float) -> bool:
    """Whether a blob written at ``mtime`` is inside the grace period; a blob whose age
    cannot be read is always kept."""
    return mtime is None or mtime >= cutoff


def _orphans(store: "Store", cutoff: float, dry_run: bool, report: GCReport, skipped: set[str]) -> None:
    """Remove files with no row (left by crashes), and temp files, older than the cutoff."""
    blobs = store.blobs
    # list the files before reading the rows: a file committed and recorded
    # in between is then known, never taken for an orphan
    loose_files = list(blobs.list_loose())
    pack_files = list(blobs.list_packs())
    tmp_files = list(blobs.list_tmp())
    db = store.db
    known_loose = {r[0] for r in db.execute("SELECT digest FROM chunks WHERE pack IS NULL")}
    known_packs = {r[0] for r in db.execute("SELECT DISTINCT pack FROM chunks WHERE pack IS NOT NULL")}
    found: list[tuple[str, int, float | None, Any]] = []
    for digest, size, mtime in loose_files:
        if digest not in known_loose and digest not in skipped:
            found.append((f"orphan blob {digest}", size, mtime, lambda d=digest: blobs.remove_loose(d)))
    for name, size, mtime in pack_files:
        if name not in known_packs:
            found.append((f"orphan pack {name}", size, mtime, lambda n=name: blobs.remove_pack(n)))
    for path, size, mtime in tmp_files:
        found.append((f"temp file {path}", size, mtime, lambda p=path: blobs.remove_path(p)))
    for path, upload_id, started in blobs.list_incomplete_uploads():
        found.append((f"incomplete upload {path} ({upload_id})", 0, started,
                      lambda p=path, u=upload_id: blobs.abort_upload(p, u)))
    for what, size, mtime, remove in found:
        if _young(mtime, cutoff):
            report.kept_young += 1
            continue
        if not dry_run:
            remove()
        report.orphan_files_removed += 1
        report.bytes_freed += size
        report.removed.append(what)
