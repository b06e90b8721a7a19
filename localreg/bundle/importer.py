"""Import: every check of the bundle file, then the staging of its blobs and one transaction."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from .. import hashing
from ..blobs import Callback, NoOpCallback
from ..errors import CorruptBlob
from ..names import REGISTRY_PREFIX
from ..objects import Objects, Staging
from ..store import Store
from .apply import _apply, _lineage_preview, _Plan, _plan, _raise_conflicts
from .common import BLOB_DIR, INDEX, MAX_INDEX_BYTES, MAX_SIG_BYTES, READ, SIGNATURE, BundleError, ImportReport
from .keys import _check_signature, _load_public
from .reading import _Index, read_index
from .scratch import Scratch
from .tar import _BLOB_NAME, _Member, _TarFile

# -- import ------------------------------------------------------------------------------------------------


def import_bundle(
    store: Store,
    path: str | os.PathLike,
    *,
    trust: Any = None,
    dry_run: bool = False,
    callback: Callback | None = None,
) -> ImportReport:
    """Add what the bundle at ``path`` holds to ``store``, exactly as it was at the source.

    Checks everything first and writes nothing unless every check passes:
    raises :class:`BundleError` for a file that is not a sound bundle (unsafe
    or duplicate members, truncation, a blob whose bytes do not match, a
    bad index), :class:`UnsupportedBundle` for a newer format,
    :class:`SignatureError` when ``trust`` (a public key file or key, or a
    list of them) is given and no trusted key signed it, and
    :class:`BundleConflict` listing every way the store has diverged.
    Then one transaction adds it all. Idempotent: importing the same bundle
    again changes nothing. ``dry_run`` runs every check and reports what
    would be added. The callback counts blob bytes read.
    """
    callback = callback or NoOpCallback()
    trusted: list[Any] = [] if trust is None else list(trust) if isinstance(trust, (list, tuple)) else [trust]
    if trusted:
        trusted = [_load_public(t) for t in trusted]
    tar = _TarFile(path)
    where = tar.path
    scratch = Scratch()
    try:
        first = _read_members(tar, scratch)
        index_member, sig_member = first
        if index_member.size > MAX_INDEX_BYTES:
            tar.read(index_member, MAX_INDEX_BYTES)  # refused, naming the limit
        sig = tar.read(sig_member, MAX_SIG_BYTES) if sig_member is not None else None
        signed_by = None
        if trusted:
            # Ed25519 signs the whole index: it is read whole (at most MAX_INDEX_BYTES), then parsed as a stream
            index_bytes = tar.read(index_member, MAX_INDEX_BYTES)
            signed_by = _check_signature(where, sig, index_bytes, trusted)

            def pieces() -> Iterator[bytes]:
                view = memoryview(index_bytes)
                return (bytes(view[i:i + READ]) for i in range(0, len(view), READ))
        else:
            def pieces() -> Iterator[bytes]:
                return tar.pieces(index_member)
        version, idx = read_index(where, pieces, scratch)
        _match_members(where, scratch)

        with store.snapshot():
            plan = _plan(store, idx)
        _raise_conflicts(where, store, plan)

        # every blob is hashed; those the store lacks are staged where no row names them
        objects = Objects(store)
        staging = None if dry_run else Staging(objects)
        callback.set_size(scratch.one("SELECT coalesce(sum(size), 0) FROM members")[0])
        written = 0
        staged = 0
        try:
            for digest, offset, size in scratch.rows("SELECT digest, offset, size FROM members ORDER BY offset"):
                m = _Member(BLOB_DIR + hashing.hex_of(digest), offset, size)
                try:
                    if staging is not None and digest not in plan.present:
                        staging.add(tar.pieces(m), digest, m.size, callback)
                        staged += 1
                        written += m.size
                    else:
                        _verify_only(tar.pieces(m), digest, m.size, callback)
                except CorruptBlob as e:
                    raise BundleError(f"bundle {where}: {e}; nothing was imported", where) from None
            if dry_run:
                blobs, nbytes = plan.present.missing_bytes()
                return _report(where, True, version, signed_by, idx, plan, _lineage_preview(store, idx), blobs, nbytes)
            assert staging is not None
            staging.seal()  # the staged bytes are durable before the write lock is taken
            with store.transaction():
                # the store may have changed since the plan: decide again under the write lock
                first_plan = plan
                plan = _plan(store, idx)
                _raise_conflicts(where, store, plan)
                gone = plan.present.lost_since(first_plan.present)  # not staged: the first plan found it here
                if gone:
                    raise BundleError(f"blob {gone} left store {store.home} during the import (a gc running "
                                      "with a short grace?); nothing was imported: import again", where)
                try:
                    staging.publish()
                except CorruptBlob as e:
                    raise BundleError(f"bundle {where}: {e}; nothing was imported", where) from None
                try:
                    _apply(store, idx, plan)
                except (sqlite3.IntegrityError, OverflowError) as e:  # the checks should leave nothing to fail here
                    raise BundleError(f"bundle {where} does not fit store {store.home} ({e}); "
                                      "nothing was imported", where) from None
                report = _report(where, False, version, signed_by, idx, plan, plan.lineage, staged, written)
                if report.changed:
                    store.event("import", where, versions=len(report.versions), links=len(report.links),
                                blobs=report.blobs, signed_by=signed_by)
            return report
        except BaseException:
            if staging is not None:
                staging.abort()
            raise
    finally:
        scratch.close()
        tar.close()


class _Names:
    """The names of a bundle's members seen, to refuse one twice; blob names are left to the scratch database.

    (Its primary key refuses a blob member named twice, in :func:`_read_members`.)
    """

    def __init__(self) -> None:
        self.other: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.other

    def add(self, name: str) -> None:
        if not _BLOB_NAME.fullmatch(name):
            self.other.add(name)


def _read_members(tar: _TarFile, scratch: Scratch) -> tuple[_Member, _Member | None]:
    """Check every member of the tar; keep the blobs' in ``scratch``; the index member and the signature's."""
    where = tar.path
    index_member = sig_member = None
    rows: list[tuple[str, int, int]] = []
    for k, m in enumerate(tar.iter_members(_Names())):
        if k == 0:
            if m.name != INDEX:
                break
            index_member = m
        elif k == 1 and m.name == SIGNATURE:
            sig_member = m
        elif not m.name.startswith(BLOB_DIR):
            raise BundleError(f"bundle {where}: member {m.name!r} is out of place; nothing was imported", where)
        else:
            rows.append((hashing.PREFIX + m.name[len(BLOB_DIR):], m.offset, m.size))
            if len(rows) >= 1000:
                _add_members(tar, scratch, rows)
                rows = []
    _add_members(tar, scratch, rows)
    if index_member is None:
        raise BundleError(f"{where} is not a localreg bundle (its first member is not {INDEX})", where)
    return index_member, sig_member


def _add_members(tar: _TarFile, scratch: Scratch, rows: list[tuple[str, int, int]]) -> None:
    before = scratch.db.total_changes
    scratch.db.executemany("INSERT OR IGNORE INTO members VALUES (?, ?, ?)", rows)
    if scratch.db.total_changes - before != len(rows):
        seen: set[str] = set()
        for digest, _o, _s in rows:
            name = BLOB_DIR + hashing.hex_of(digest)
            if digest in seen or scratch.one("SELECT offset FROM members WHERE digest = ?", (digest,))[0] != _o:
                raise tar._fail(f"member {name!r} appears twice")
            seen.add(digest)


def _match_members(where: str, scratch: Scratch) -> None:
    """Every blob the index lists is a member of its size; every blob member is listed."""
    row = scratch.one("SELECT b.digest, m.size, b.size FROM blobs b LEFT JOIN members m ON m.digest = b.digest "
                      "WHERE m.digest IS NULL OR m.size != b.size ORDER BY b.n LIMIT 1")
    if row and row[1] is None:
        raise BundleError(f"bundle {where}: {INDEX} names blob {row[0]}, which is not in the bundle; "
                          "nothing was imported", where)
    if row:
        raise BundleError(f"bundle {where}: blob {row[0]} has {row[1]} bytes, {INDEX} says {row[2]}; "
                          "nothing was imported", where)
    row = scratch.one("SELECT min(digest) FROM members m WHERE NOT EXISTS (SELECT 1 FROM blobs b "
                      "WHERE b.digest = m.digest)")
    if row[0] is not None:
        raise BundleError(f"bundle {where}: member blobs/{hashing.hex_of(row[0])} is not listed in {INDEX}; "
                          "nothing was imported", where)


def _verify_only(pieces: Iterable[bytes], digest: str, size: int, callback: Callback) -> None:
    h = hashing.new()
    got = 0
    for piece in pieces:
        h.update(piece)
        got += len(piece)
        callback.relative_update(len(piece))
    if got != size:
        raise CorruptBlob(f"blob {digest} has {got} bytes, expected {size}", digest)
    if hashing.format_digest(h) != digest:
        raise CorruptBlob(f"blob {digest} is corrupt: its bytes hash to {hashing.format_digest(h)}", digest)


def _report(path: str, dry_run: bool, version: int, signed_by: str | None, idx: _Index, plan: _Plan,
            lineage: list[dict], blobs: int, nbytes: int) -> ImportReport:
    return ImportReport(
        path=path, dry_run=dry_run, format_version=version, signed_by=signed_by,
        registries=tuple(f"{o}/{REGISTRY_PREFIX}{n}" for o, n in plan.registries),
        types_added=tuple(f"{o}/{REGISTRY_PREFIX}{n}: {', '.join(t) if t is not None else 'all types'}"
                          for (o, n), t in sorted(plan.types.items())),
        collections=tuple(plan.collections),
        versions=tuple(f"{p}:v{i}" for p, i in plan.versions),
        links=tuple(f"{p}:v{i} -> {idx.links[(p, i)]['source']}" for p, i in plan.links),
        aliases=tuple(f"{p}:{a} -> v{i}" for p, a, i in plan.aliases),
        runs=tuple(plan.runs),
        lineage=len(lineage),
        blobs=blobs,
        bytes=nbytes,
        blobs_present=len(plan.present),
    )
