"""Import: every check of the bundle file, then the staging of its blobs and one transaction."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import hashing
from ..blobs import Callback, NoOpCallback
from ..errors import CorruptBlob
from ..names import REGISTRY_PREFIX
from ..objects import Objects, Staging
from ..store import Store
from .apply import _apply, _lineage_preview, _Plan, _plan, _raise_conflicts
from .common import BLOB_DIR, INDEX, MAX_INDEX_BYTES, MAX_SIG_BYTES, SIGNATURE, BundleError, ImportReport
from .index import _check_index, _check_version, _Index, _parse_json
from .keys import _check_signature, _load_public
from .tar import _TarFile

if TYPE_CHECKING:
    pass


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
    try:
        members = tar.members()
        if not members or members[0].name != INDEX:
            raise BundleError(f"{where} is not a localreg bundle (its first member is not {INDEX})", where)
        index_bytes = tar.read(members[0], MAX_INDEX_BYTES)
        sig = None
        blob_members = members[1:]
        if blob_members and blob_members[0].name == SIGNATURE:
            sig = tar.read(blob_members[0], MAX_SIG_BYTES)
            blob_members = blob_members[1:]
        for m in blob_members:
            if not m.name.startswith(BLOB_DIR):
                raise BundleError(f"bundle {where}: member {m.name!r} is out of place; nothing was imported", where)
        signed_by = _check_signature(where, sig, index_bytes, trusted) if trusted else None
        doc = _parse_json(where, index_bytes)
        version = _check_version(where, doc)
        idx = _check_index(where, doc)
        in_tar = {hashing.PREFIX + m.name[len(BLOB_DIR):]: m for m in blob_members}
        for d, size in idx.blobs.items():
            member = in_tar.get(d)
            if member is None:
                raise BundleError(f"bundle {where}: {INDEX} names blob {d}, which is not in the bundle; "
                                  "nothing was imported", where)
            if member.size != size:
                raise BundleError(f"bundle {where}: blob {d} has {member.size} bytes, {INDEX} says {size}; "
                                  "nothing was imported", where)
        extra = sorted(set(in_tar) - set(idx.blobs))
        if extra:
            raise BundleError(f"bundle {where}: member blobs/{hashing.hex_of(extra[0])} is not listed in {INDEX}; "
                              "nothing was imported", where)

        with store.snapshot():
            plan = _plan(store, idx)
        _raise_conflicts(where, store, plan)

        # every blob is hashed; those the store lacks are staged where no row names them
        objects = Objects(store)
        staging = None if dry_run else Staging(objects)
        callback.set_size(sum(m.size for m in blob_members))
        written = 0
        staged: set[str] = set()
        try:
            for m in blob_members:
                digest = hashing.PREFIX + m.name[len(BLOB_DIR):]
                try:
                    if staging is not None and digest not in plan.present:
                        staging.add(tar.pieces(m), digest, m.size, callback)
                        staged.add(digest)
                        written += m.size
                    else:
                        _verify_only(tar.pieces(m), digest, m.size, callback)
                except CorruptBlob as e:
                    raise BundleError(f"bundle {where}: {e}; nothing was imported", where) from None
            if dry_run:
                return _report(where, True, version, signed_by, idx, plan, _lineage_preview(store, idx),
                               len(idx.blobs) - len(plan.present),
                               sum(s for d, s in idx.blobs.items() if d not in plan.present))
            assert staging is not None
            staging.seal()  # the staged bytes are durable before the write lock is taken
            with store.transaction():
                # the store may have changed since the plan: decide again under the write lock
                plan = _plan(store, idx)
                _raise_conflicts(where, store, plan)
                gone = set(idx.blobs) - staged - plan.present
                if gone:
                    raise BundleError(f"blob {min(gone)} left store {store.home} during the import (a gc running "
                                      "with a short grace?); nothing was imported: import again", where)
                try:
                    staging.publish()
                except CorruptBlob as e:
                    raise BundleError(f"bundle {where}: {e}; nothing was imported", where) from None
                try:
                    _apply(store, idx, plan)
                except sqlite3.IntegrityError as e:
                    raise BundleError(f"bundle {where} does not fit store {store.home} ({e}); "
                                      "nothing was imported", where) from None
                report = _report(where, False, version, signed_by, idx, plan, plan.lineage, len(staged), written)
                if report.changed:
                    store.event("import", where, versions=len(report.versions), links=len(report.links),
                                blobs=report.blobs, signed_by=signed_by)
            return report
        except BaseException:
            if staging is not None:
                staging.abort()
            raise
    finally:
        tar.close()


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
