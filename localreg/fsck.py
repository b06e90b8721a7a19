"""Consistency checks of a store, and the repairs that are safe.

``fsck`` looks for *problems*, rows that name missing things:

* manifest entries whose blob is not indexed, chunk rows whose bytes are
  gone or short (a missing loose object, a missing or truncated pack),
  chunked files that name unindexed chunks;
* aliases, tags, lineage and manifest entries of versions that do not
  exist, links whose source version does not exist, and collections whose
  ``latest`` is missing or not on their newest version;

and for *leftovers*, which are not inconsistencies and which gc removes:
orphan blobs and packs (no row names them), dead bytes inside packs, chunk
rows no version needs, temp files.

``repair`` fixes what it can without losing anything that is still there:
it deletes dangling rows, moves ``latest`` back onto the newest version,
and drops the index rows of lost blobs (so that logging the same file
again stores its bytes again). It cannot bring back lost bytes: the report
names the versions that need them. It never removes files (gc does), and
it refuses to drop index rows when the blob store looks empty or
unreachable, since then the bytes are more likely unmounted than lost.

``verify`` re-hashes stored bytes and names the versions (and links) that
need a missing or corrupt blob.

``rebuild_index`` rebuilds the chunk index (``chunks`` and
``chunked_files``) from the blob store alone: loose objects are named by
their digest, and every pack ends with a footer listing what it holds
(see ``localreg.objects.packs``). Packs written before footers existed
are re-hashed against the blobs the manifests still name, where they can
be; the report says what could not be recovered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import db as dbmod
from . import hashing, versions
from .blobs import Callback, NoOpCallback
from .text import plural
from .objects import Objects
from .objects.packs import TRAILER_SIZE, BadFooter, data_sizes, decode_footer, footer_length

if TYPE_CHECKING:
    from .store import Store


@dataclass
class Finding:
    """One thing fsck found. ``kind``: alias, tag, lineage, entry, link, version,
    latest, blob, chunked-file (problems); orphan, tmp, upload (an incomplete multipart
    upload on an object store), pack-space, unneeded (leftovers)."""

    kind: str
    message: str
    repairable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FsckReport:
    """``problems`` as found; with repair, ``repaired`` lists what was done and
    ``unrepaired`` the problems a check after the repair still finds."""

    problems: list[Finding] = field(default_factory=list)
    leftovers: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)
    repair: bool = False

    @property
    def ok(self) -> bool:
        """True if the store had no problem (leftovers are no problem)."""
        return not self.problems

    @property
    def clean(self) -> bool:
        """True if no problem remains: none found, or all of them repaired."""
        return not self.unrepaired if self.repair else not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "clean": self.clean,
            "problems": [p.to_dict() for p in self.problems],
            "leftovers": [p.to_dict() for p in self.leftovers],
            "repaired": self.repaired,
            "unrepaired": self.unrepaired,
        }


# (kind, query finding the rows, message, statements fixing one row; None: not repairable)
_Rule = tuple[str, str, Callable[[tuple], str], "list[str] | None"]
_DANGLING: list[_Rule] = [
    ("link",
     "SELECT v.id, v.collection_id, v.idx, v.source_id FROM versions v LEFT JOIN versions s ON s.id = v.source_id "
     "WHERE v.source_id IS NOT NULL AND s.id IS NULL",
     lambda r: f"link v{r[2]} of collection id {r[1]} points at source version id {r[3]}, which does not exist",
     ["DELETE FROM aliases WHERE version_id = :p0", "DELETE FROM tags WHERE version_id = :p0",
      "DELETE FROM lineage WHERE version_id = :p0", "DELETE FROM entries WHERE version_id = :p0",
      "DELETE FROM versions WHERE id = :p0"]),
    ("version",
     "SELECT v.id, v.collection_id, v.idx FROM versions v LEFT JOIN collections c ON c.id = v.collection_id "
     "WHERE c.id IS NULL",
     lambda r: f"version id {r[0]} (v{r[2]}) belongs to collection id {r[1]}, which does not exist",
     None),
    ("alias",
     "SELECT a.collection_id, a.alias, a.version_id FROM aliases a LEFT JOIN versions v ON v.id = a.version_id "
     "WHERE v.id IS NULL OR v.collection_id != a.collection_id",
     lambda r: f"alias {r[1]!r} of collection id {r[0]} points at version id {r[2]}, "
               "which does not exist in that collection",
     ["DELETE FROM aliases WHERE collection_id = :p0 AND alias = :p1"]),
    ("tag",
     "SELECT t.version_id, t.tag FROM tags t LEFT JOIN versions v ON v.id = t.version_id WHERE v.id IS NULL",
     lambda r: f"tag {r[1]!r} is on version id {r[0]}, which does not exist",
     ["DELETE FROM tags WHERE version_id = :p0 AND tag = :p1"]),
    ("lineage",
     "SELECT l.run_pk, l.version_id, l.direction FROM lineage l LEFT JOIN versions v ON v.id = l.version_id "
     "LEFT JOIN runs r ON r.id = l.run_pk WHERE v.id IS NULL OR r.id IS NULL",
     lambda r: f"lineage edge ({r[2]}) between run id {r[0]} and version id {r[1]} names a missing run or version",
     ["DELETE FROM lineage WHERE run_pk = :p0 AND version_id = :p1 AND direction = :p2"]),
    ("entry",
     "SELECT e.version_id, count(*) FROM entries e LEFT JOIN versions v ON v.id = e.version_id "
     "WHERE v.id IS NULL GROUP BY e.version_id",
     lambda r: f"{r[1]} manifest entries belong to version id {r[0]}, which does not exist",
     ["DELETE FROM entries WHERE version_id = :p0"]),
    # latest may sit on an older version (logging known content moves it
    # there), but a collection with versions always has it
    ("latest",
     "SELECT c.id, c.name, (SELECT id FROM versions WHERE collection_id = c.id ORDER BY idx DESC LIMIT 1) AS newest "
     "FROM collections c WHERE newest IS NOT NULL AND NOT EXISTS "
     "(SELECT 1 FROM aliases a JOIN versions v ON v.id = a.version_id AND v.collection_id = a.collection_id "
     "WHERE a.collection_id = c.id AND a.alias = 'latest')",
     lambda r: f"collection {r[1]!r} (id {r[0]}) has versions but no alias 'latest'",
     ["INSERT INTO aliases (collection_id, alias, version_id) VALUES (:p0, 'latest', :p2) "
      "ON CONFLICT (collection_id, alias) DO UPDATE SET version_id = excluded.version_id"]),
]


def fsck(store: "Store", repair: bool = False) -> FsckReport:
    """Check the store; with ``repair``, fix what is safe and say what is not.

    Reads in one snapshot, then lists the blob store. ``repair`` runs one
    transaction that re-checks every finding inside it, then checks again
    to fill ``unrepaired``. Raises :class:`~localreg.errors.ReadOnlyStore`
    if a repair is asked of a read-only store.
    """
    if repair:
        store.check_writable()
    report = _check(store)
    if repair:
        report.repair = True
        _repair(store, report)
        after = _check(store)
        report.unrepaired = [f"{f.message}: {_advice(f)}" for f in after.problems]
    return report


def _check(store: "Store") -> FsckReport:
    report = FsckReport()
    db = store.db
    blobs = store.blobs
    with store.snapshot():
        for kind, query, message, fix in _DANGLING:
            for row in db.execute(query).fetchall():
                report.problems.append(Finding(kind, message(tuple(row)), fix is not None))
        needed = {r[0] for r in db.execute("SELECT DISTINCT digest FROM entries WHERE ref IS NULL")}
        chunk_rows = db.execute("SELECT digest, size, pack, offset FROM chunks").fetchall()
        chunked = db.execute("SELECT digest, chunks FROM chunked_files").fetchall()
    indexed = {r[0] for r in chunk_rows}
    chunked_digests = {r[0] for r in chunked}
    needed_chunks = set(needed)
    for digest, chunks in chunked:
        parts = [c for c, _s in dbmod.json_cell(chunks, [], store.db_path)]
        if digest in needed:
            needed_chunks.update(parts)
        missing = [c for c in parts if c not in indexed]
        if missing:
            report.problems.append(Finding(
                "chunked-file",
                f"file {digest} (needed by {_needers(store, digest)}) names {plural(len(missing), 'chunk')} "
                f"that are not stored, e.g. {missing[0]}",
                digest not in needed,
            ))
    for digest in sorted(needed - indexed - chunked_digests):
        report.problems.append(Finding("blob", f"blob {digest} is needed by {_needers(store, digest)} but not stored"))

    # rows were read first: a file written and recorded since is then seen
    # as present, never as missing
    loose = {d: size for d, size, _m in blobs.list_loose()}
    packs = {name: size for name, size, _m in blobs.list_packs()}
    for digest, size, pack, offset in chunk_rows:
        problem = _lost_because(digest, size, pack, offset, loose, packs)
        if problem:
            need = digest in needed_chunks
            who = f" (needed by {_needers(store, digest)})" if need else " (no version needs it)"
            report.problems.append(Finding("blob", f"{problem}{who}", not need))
    if chunk_rows and not loose and not packs:
        report.problems.append(Finding(
            "blob", f"the blob store at {blobs.url} is empty or unreachable but {plural(len(chunk_rows), 'blob')} {'is' if len(chunk_rows) == 1 else 'are'} indexed"
        ))

    used: dict[str, int] = {}
    for digest, size, pack, _offset in chunk_rows:
        if pack is not None:
            used[pack] = used.get(pack, 0) + size
    known_loose = {r[0] for r in chunk_rows if r[2] is None}
    data = data_sizes(blobs, {name: size for name, size in packs.items() if name in used})  # less the footers
    for name, size in sorted(packs.items()):
        if name not in used:
            report.leftovers.append(Finding("orphan", f"pack {name} ({size} bytes) is not indexed (gc removes it)"))
        elif data[name] > used[name]:
            report.leftovers.append(Finding(
                "pack-space", f"pack {name} holds {data[name] - used[name]} bytes no row names (dead pack space)"
            ))
    for digest in sorted(loose):
        if digest not in known_loose:
            report.leftovers.append(Finding("orphan", f"blob {digest} is not indexed (gc removes it)"))
    unneeded = [r for r in chunk_rows if r[0] not in needed_chunks]
    if unneeded:
        report.leftovers.append(Finding(
            "unneeded", f"{plural(len(unneeded), 'stored blob')}, {plural(sum(r[1] for r in unneeded), 'byte')}, "
                        f"{'is' if len(unneeded) == 1 else 'are'} needed by no version (gc removes them after the grace period)"
        ))
    for path, _size, _m in blobs.list_tmp():
        report.leftovers.append(Finding("tmp", f"temp file {path} (gc removes it)"))
    for path, upload_id, _started in blobs.list_incomplete_uploads():
        report.leftovers.append(Finding(
            "upload", f"incomplete multipart upload of {path} (id {upload_id}) (gc aborts it after the grace period)"
        ))
    return report


def _lost_because(digest: str, size: int, pack: str | None, offset: int | None,
                  loose: dict[str, int], packs: dict[str, int]) -> str | None:
    if pack is None:
        if digest not in loose:
            return f"blob {digest} is missing"
        if loose[digest] != size:
            return f"blob {digest} has {loose[digest]} bytes, expected {size}"
        return None
    if pack not in packs:
        return f"blob {digest}: pack {pack} is missing"
    if packs[pack] < (offset or 0) + size:
        return f"blob {digest}: pack {pack} is truncated ({packs[pack]} bytes, the blob ends at {(offset or 0) + size})"
    return None


def _needers(store: "Store", digest: str, limit: int = 5) -> str:
    """The versions whose manifests name ``digest`` (directly or as a chunk), for messages."""
    db = store.db
    rows = db.execute(
        "SELECT DISTINCT version_id FROM entries WHERE digest = ? OR digest IN "
        "(SELECT f.digest FROM chunked_files f, json_each(f.chunks) j WHERE json_extract(j.value, '$[0]') = ?) "
        "ORDER BY version_id LIMIT ?",
        [digest, digest, limit + 1],
    ).fetchall()
    names = []
    for (vid,) in rows[:limit]:
        try:
            names.append(versions.get(store, vid).qualified_name)
        except LookupError:
            names.append(f"version id {vid}")
    if len(rows) > limit:
        names.append("...")
    return ", ".join(names) or "no version"


def _advice(f: Finding) -> str:
    if f.kind in ("blob", "chunked-file"):
        return "restore the bytes (log the same file again, or import a bundle that holds it), or delete the versions that need it"
    return "fix it by hand; fsck cannot repair it safely"


def _repair(store: "Store", report: FsckReport) -> None:
    blobs = store.blobs
    with store.transaction() as db:
        for kind, query, message, fix in _DANGLING:
            if fix is None:
                continue
            for row in db.execute(query).fetchall():
                params = {f"p{i}": v for i, v in enumerate(row)}
                for statement in fix:
                    db.execute(statement, params)
                report.repaired.append(f"fixed {kind}: {message(tuple(row))}")
        # a chunk row whose bytes are gone lies about the store: drop it so
        # the next ingest of the same bytes stores them again. Re-check here,
        # inside the transaction: the bytes may have come back meanwhile.
        loose = {d: size for d, size, _m in blobs.list_loose()}
        packs = {name: size for name, size, _m in blobs.list_packs()}
        rows = db.execute("SELECT digest, size, pack, offset FROM chunks").fetchall()
        if rows and not loose and not packs:
            return  # more likely unmounted than lost: keep the index
        lost = [r[0] for r in rows if _lost_because(r[0], r[1], r[2], r[3], loose, packs)]
        if lost:
            db.conn.executemany("DELETE FROM chunks WHERE digest = ?", [(d,) for d in lost])
            report.repaired.extend(f"dropped the index row of lost blob {d}" for d in lost)
        lost_set = set(lost)
        for digest, chunks in db.execute("SELECT digest, chunks FROM chunked_files").fetchall():
            parts = [c for c, _s in dbmod.json_cell(chunks, [], store.db_path)]
            if any(c in lost_set for c in parts):
                db.execute("DELETE FROM chunked_files WHERE digest = ?", [digest])
                report.repaired.append(f"dropped the index row of file {digest}, which lost a chunk")
        if lost:
            Objects.drop_stale_cache_rows(db)
        if report.repaired:
            store.event("fsck-repair", str(store.home), repaired=len(report.repaired))


@dataclass
class VerifyReport:
    """``bad`` maps a digest to what is wrong; ``versions`` to the versions
    (and links to them) that need it."""

    checked: int = 0
    bad: dict[str, str] = field(default_factory=dict)
    versions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.bad

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "bad": self.bad, "versions": self.versions}


def verify(store: "Store", version: "versions.Version | None" = None,
           callback: Callback | None = None) -> VerifyReport:
    """Re-hash the stored blobs of ``version``, or every stored blob if None.

    For a version, every file its manifest names is read back and hashed
    (a missing or unindexed one is reported too), keyed by the file's
    digest. With ``version=None`` every stored blob (chunk row) is read
    once, and every blob a version needs that the index lacks is reported
    missing: one finding per damaged blob, keyed by the blob's digest, with
    the versions that need it directly or as a chunk of one of their files.
    Writes nothing.
    """
    callback = callback or NoOpCallback()
    report = VerifyReport()
    objects = Objects(store)
    db = store.db
    if version is not None:
        digests = sorted({e.digest for e in versions.entries(store, version) if e.ref is None})
    else:
        # the stored blobs, and the needed ones the index lacks (no row, so nothing else reports them)
        digests = [r[0] for r in db.execute(
            "SELECT digest FROM chunks UNION SELECT d FROM ("
            " SELECT digest AS d FROM entries WHERE ref IS NULL"
            " UNION SELECT json_extract(j.value, '$[0]') FROM chunked_files f, json_each(f.chunks) j"
            ") WHERE d NOT IN (SELECT digest FROM chunks) AND d NOT IN (SELECT digest FROM chunked_files) "
            "ORDER BY 1"
        )]
    callback.set_size(len(digests))
    # in batches: an object store reads each batch's packs once, in few requests
    for start in range(0, len(digests), VERIFY_BATCH):
        batch = digests[start:start + VERIFY_BATCH]
        found = objects.check_many(batch)
        for digest in batch:
            report.checked += 1
            problem = found.get(digest)
            if problem:
                report.bad[digest] = problem
                report.versions[digest] = _users(store, digest)
        callback.relative_update(len(batch))
    return report


VERIFY_BATCH = 50_000  # files located and checked together (bounds the plan's memory)


def _users(store: "Store", digest: str) -> list[str]:
    """Qualified names of the versions that need ``digest`` (a file, or a chunk of one), each followed by its links."""
    out: list[str] = []
    rows = store.db.execute(
        "SELECT DISTINCT version_id FROM entries WHERE ref IS NULL AND (digest = ? OR digest IN "
        "(SELECT f.digest FROM chunked_files f, json_each(f.chunks) j WHERE json_extract(j.value, '$[0]') = ?)) "
        "ORDER BY version_id", [digest, digest]
    ).fetchall()
    for (vid,) in rows:
        try:
            v = versions.get(store, vid)
        except LookupError:
            out.append(f"version id {vid}")
            continue
        out.append(v.qualified_name)
        out.extend(link.qualified_name for link in versions.links_of(store, v))
    return out


# -- rebuilding the chunk index from the blob store ------------------------------------------------

LEGACY_SIZES = 256  # a pack without a footer is re-hashed only against this many distinct wanted sizes


@dataclass
class RebuildReport:
    """What :func:`rebuild_index` found and added.

    ``recovered``: packs without a footer whose chunks were found by
    re-hashing; ``unrecovered``: packs (or parts of packs) it could not
    read, and why; ``still_missing``: blobs manifests need that are still
    not indexed afterwards.
    """

    packs: int = 0
    packs_with_footer: int = 0
    loose: int = 0
    chunks_added: int = 0
    files_added: int = 0
    recovered: list[str] = field(default_factory=list)
    unrecovered: list[str] = field(default_factory=list)
    still_missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rebuild_index(store: "Store", callback: Callback | None = None) -> RebuildReport:
    """Add the ``chunks`` and ``chunked_files`` rows the blob store can vouch for; keep every row there is.

    Loose objects are indexed under their names. A pack's footer lists its
    chunks and the big files whose chunk lists were made with it; a footer
    that fails its checksum is reported and not used. A pack without a
    footer that no row names is cut back into the chunks the manifests
    need, where its bytes are exactly such chunks back to back (the layout
    localreg wrote before footers). Nothing is removed; the bytes are not
    re-hashed (``verify --all`` does that). Raises
    :class:`~localreg.errors.ReadOnlyStore` on a read-only store.
    """
    store.check_writable()
    callback = callback or NoOpCallback()
    report = RebuildReport()
    blobs = store.blobs
    db = store.db
    with store.snapshot():
        indexed = {r[0] for r in db.execute("SELECT digest FROM chunks")}
        indexed_packs = {r[0] for r in db.execute("SELECT DISTINCT pack FROM chunks WHERE pack IS NOT NULL")}
        chunked = {r[0]: json.loads(r[1]) for r in db.execute("SELECT digest, chunks FROM chunked_files")}
        needed = {(r[0], r[1]) for r in db.execute("SELECT DISTINCT digest, size FROM entries WHERE ref IS NULL")}
    ts = time.time()
    chunk_rows: dict[str, tuple] = {}
    file_rows: dict[str, tuple] = {}

    def add_chunk(digest: str, size: int, pack: str | None, offset: int | None) -> None:
        if digest not in indexed and digest not in chunk_rows:
            chunk_rows[digest] = (digest, size, pack, offset, ts)

    for digest, size, _m in blobs.list_loose():
        report.loose += 1
        add_chunk(digest, size, None, None)
    packs = sorted((name, size) for name, size, _m in blobs.list_packs())
    callback.set_size(len(packs))
    legacy: list[tuple[str, int, str | None]] = []
    for name, size in packs:
        report.packs += 1
        bad = None
        try:
            footer = decode_footer(blobs, name, size)
        except BadFooter as e:
            footer, bad = None, f"pack {name}: {e}"
        except OSError as e:
            report.unrecovered.append(f"pack {name} cannot be read: {e}")
            callback.relative_update(1)
            continue
        if footer is not None:
            report.packs_with_footer += 1
            for digest, offset, csize in footer.chunks:
                add_chunk(digest, csize, name, offset)
            for digest, fsize, parts in footer.files:
                if digest not in chunked and digest not in file_rows:
                    file_rows[digest] = (digest, fsize, json.dumps(parts, separators=(",", ":")))
        elif name not in indexed_packs:
            legacy.append((name, size, bad))
        elif bad:
            report.unrecovered.append(f"{bad}; the index rows that name it are kept")
        callback.relative_update(1)
    if legacy:
        # what the manifests still name, by size: single-chunk files and the chunks of big files
        wanted: dict[int, set[str]] = {}
        for digest, size in needed:
            if digest not in chunked:
                wanted.setdefault(size, set()).add(digest)
        for parts in chunked.values():
            for cd, csize in parts:
                wanted.setdefault(csize, set()).add(cd)
        for name, size, bad in legacy:
            _rehash_legacy(blobs, name, size, bad, wanted, add_chunk, report)
    if chunk_rows or file_rows:
        rows = sorted(chunk_rows.values())
        with store.transaction():
            Objects(store)._record(rows, [], list(file_rows.values()))
            store.event("fsck-rebuild-index", str(store.home), chunks=len(rows), files=len(file_rows))
        report.chunks_added, report.files_added = len(rows), len(file_rows)
    have = indexed | set(chunk_rows) | set(chunked) | set(file_rows)
    report.still_missing = sorted(d for d, _s in needed if d not in have)
    if store.rebuild_pending:
        store.finish_rebuild()  # gc may run again: the index holds what the blob store vouches for
    return report


def _rehash_legacy(blobs: Any, name: str, size: int, bad: str | None, wanted: dict[int, set[str]],
                   add_chunk: Callable[[str, int, str | None, int | None], None], report: RebuildReport) -> None:
    """Cut a pack without a usable footer into wanted chunks, front to back, by hashing; report what it could not.

    ``bad``: why its footer was not used (None: it has none). A damaged
    footer still says where the chunks end, when its trailer is readable.
    """
    what = f"pack {name} ({size} bytes) has no footer (written by an older localreg)"
    if bad:
        what = f"{bad}, so it was re-hashed"
        try:
            tail = blobs.read_range(name, size - TRAILER_SIZE, TRAILER_SIZE)
        except OSError:
            tail = b""
        size -= footer_length(tail, size)
    sizes = sorted(s for s in wanted if 0 < s <= size)
    if not sizes:
        report.unrecovered.append(f"{what} and no manifest names blobs it could hold: restore the database "
                                  "from a backup to use it")
        return
    if len(sizes) > LEGACY_SIZES:
        report.unrecovered.append(f"{what} and the manifests name blobs of {len(sizes)} different sizes, too many "
                                  "to try: restore the database from a backup to use it")
        return
    try:
        data = memoryview(blobs.read_range(name, 0, size))
    except OSError as e:
        report.unrecovered.append(f"pack {name} cannot be read: {e}")
        return
    offset = found = 0
    while offset < len(data):
        step = 0
        for s in sizes:
            if offset + s > len(data):
                break  # sizes are sorted: no bigger one fits either
            digest = hashing.digest_bytes(data[offset: offset + s])
            if digest in wanted[s]:
                add_chunk(digest, s, name, offset)
                step = s
                break
        if not step:
            break
        offset += step
        found += 1
    if offset == len(data):
        report.recovered.append(f"{what}: re-hashed into {plural(found, 'chunk')} the manifests name")
    else:
        report.unrecovered.append(
            f"{what}: re-hashing found {plural(found, 'chunk')} the manifests name in its first {offset} bytes; "
            f"the other {len(data) - offset} bytes hold nothing a manifest names that could be told apart"
        )
