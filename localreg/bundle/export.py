"""Export: selecting versions, building the index, writing the tar; and the digest lists of incremental bundles."""

from __future__ import annotations

import json
import os
import re
import secrets
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import hashing, names, registries, versions
from ..blobs import Callback, NoOpCallback
from ..errors import CorruptBlob, InvalidInput, InvalidName, NotFound
from ..names import REGISTRY_PREFIX
from ..objects import Objects
from ..store import Store, __version__
from .common import BLOB_DIR, BLOCK, FORMAT, FORMAT_VERSION, INDEX, READ, SIGNATURE, ExportReport
from .index import _encode_index, _manifest_json, _Raw
from .keys import _load_private, _raw_public, _sign, fingerprint
from .tar import _header, _pad, _WriteBehind

if TYPE_CHECKING:
    from ..versions import Version


# -- digest lists (incremental bundles) -----------------------------------------------------


def store_digests(store: Store) -> list[str]:
    """Every file digest whose bytes ``store`` holds, sorted (what ``localreg export --digests-only`` prints)."""
    with store.snapshot() as db:
        rows = db.execute("SELECT digest FROM chunks UNION SELECT digest FROM chunked_files").fetchall()
    return sorted(r[0] for r in rows)


def selection_digests(store: Store, selections: Sequence[str]) -> list[str]:
    """The stored-file digests the versions ``selections`` name need, sorted (see :func:`export_bundle`)."""
    with store.snapshot() as db:
        sel = _select(store, list(selections))
        ids = sorted(sel.sources)
        rows = db.execute("SELECT DISTINCT digest FROM entries WHERE ref IS NULL AND version_id IN "
                          "(SELECT value FROM json_each(?))", [json.dumps(ids)]).fetchall()
    return sorted(r[0] for r in rows)


def read_digests(source: str | os.PathLike) -> set[str]:
    """Digests from a store home (what it holds) or a file of digests, one a line (``#`` comments allowed)."""
    path = Path(source)
    if path.is_dir():
        other = Store(path, create=False)
        try:
            return set(store_digests(other))
        finally:
            other.close()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"digest list {str(source)!r} not found (expected a file of digests or a store folder)",
                       str(source)) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{str(source)!r} is not a digest list (one sha256:<hex> a line)") from None
    out: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.fullmatch(r"[0-9a-f]{64}", line):
            line = hashing.PREFIX + line
        if not hashing.is_digest(line):
            raise InvalidInput(f"{source}:{n}: {line[:80]!r} is not a digest like sha256:<64 hex>")
        out.add(line)
    return out


# -- selecting what to export ----------------------------------------------------------------


@dataclass
class _Selection:
    sources: set[int] = field(default_factory=set)
    links: set[int] = field(default_factory=set)
    collections: set[int] = field(default_factory=set)
    registries: set[int] = field(default_factory=set)


def _ids(db, sql: str, params: Sequence[Any]) -> set[int]:
    return {r[0] for r in db.execute(sql, list(params))}


def _select(store: Store, selections: Sequence[str]) -> _Selection:
    sel = _Selection()
    db = store.db
    for s in selections:
        if not isinstance(s, str) or not s:
            raise InvalidName(f"a selection must be a non-empty string, not {s!r}", s)
        path, colon, _alias = s.partition(":")
        parts = path.split("/")
        if colon:
            v = versions.resolve(store, s)
            (sel.links if v.is_link else sel.sources).add(v.id)
            continue
        if len(parts) == 3 or (len(parts) == 2 and parts[0].startswith(REGISTRY_PREFIX)):
            ref = names.parse_ref(path, allow_alias=False, what="collection path")
            cid, _type, _where = versions.collection_id(store, ref)
            sel.collections.add(cid)
        elif len(parts) == 2 and parts[1].startswith(REGISTRY_PREFIX):
            names.check_name(parts[0], "org name")
            sel.registries.add(registries.get_registry(store, parts[1], parts[0]).id)
        elif len(parts) == 2:
            entity = names.check_name(parts[0], "entity name")
            project = names.check_name(parts[1], "project name")
            pid = store.project_id(entity, project)
            sel.collections |= _ids(db, "SELECT id FROM collections WHERE project_id = ?", [pid])
        elif len(parts) == 1 and parts[0].startswith(REGISTRY_PREFIX):
            sel.registries.add(registries.get_registry(store, parts[0]).id)
        else:
            raise InvalidName(
                f"invalid selection {s!r}: use ENTITY/PROJECT/NAME[:ALIAS], ORG/{REGISTRY_PREFIX}R/C[:ALIAS], "
                f"ORG/{REGISTRY_PREFIX}R or ENTITY/PROJECT", s
            )
    for rid in sel.registries:
        sel.collections |= _ids(db, "SELECT id FROM collections WHERE registry_id = ?", [rid])
    for cid in sel.collections:
        for vid, source_id in db.execute("SELECT id, source_id FROM versions WHERE collection_id = ?", [cid]):
            (sel.sources if source_id is None else sel.links).add(vid)
    if sel.links:
        sel.sources |= _ids(db, "SELECT source_id FROM versions WHERE id IN (SELECT value FROM json_each(?))",
                            [json.dumps(sorted(sel.links))])
    return sel


# -- building the index ------------------------------------------------------------------------


def _load_versions(store: Store, ids: set[int]) -> list["Version"]:
    if not ids:
        return []
    return versions.load(store, "v.id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(ids))], order="v.id")


def _build_index(store: Store, selections: Sequence[str], sel: _Selection,
                 exclude: set[str]) -> tuple[dict, list[tuple[str, int]], int, dict]:
    """The index document, the blobs to include ``[(digest, size)]``, how many were excluded, and where blobs are.

    The last is ``{digest: (size, pack, offset)}`` of the blobs stored as one
    chunk, found in the same query as the manifests (for :meth:`Objects.reader`).
    Manifests and the blob list are :class:`_Raw` JSON, for :func:`_encode_index`.
    """
    db = store.db
    sources = _load_versions(store, sel.sources)
    links = _load_versions(store, sel.links)
    all_ids = [v.id for v in sources] + [v.id for v in links]
    qualified = {v.id: v.qualified_name for v in sources + links}
    coll_ids = sel.collections | {v.collection_id for v in sources + links}
    colls = [registries.get_collection(store, cid) for cid in sorted(coll_ids)]
    reg_keys = {(c.org, c.registry) for c in colls if c.registry is not None}
    for rid in sel.registries:
        row = db.execute("SELECT o.name, r.name FROM registries r JOIN orgs o ON o.id = r.org_id WHERE r.id = ?",
                         [rid]).fetchone()
        reg_keys.add((row[0], row[1]))
    regs = [registries.get_registry(store, name, org) for org, name in sorted(reg_keys)]

    run_pk_of = dict(db.execute("SELECT id, run_pk FROM versions WHERE id IN (SELECT value FROM json_each(?))",
                                [json.dumps([v.id for v in sources])]).fetchall())
    edges = db.execute(
        "SELECT run_pk, version_id, direction, created_at FROM lineage "
        "WHERE version_id IN (SELECT value FROM json_each(?))", [json.dumps(all_ids)]
    ).fetchall()
    run_pks = {pk for pk in run_pk_of.values() if pk is not None} | {e[0] for e in edges}
    run_rows = db.execute(
        "SELECT r.id, e.name, p.name, r.run_id, r.name, r.job_type, r.config, r.summary, r.state, r.started_at, "
        "r.finished_at FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id "
        "WHERE r.id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(run_pks))]
    ).fetchall()
    run_path = {r[0]: f"{r[1]}/{r[2]}/{r[3]}" for r in run_rows}

    blob_sizes: dict[str, int] = {}
    located: dict[str, tuple[int, str | None, int | None]] = {}
    version_docs = []
    for v in sources:
        rows = db.execute(
            "SELECT e.path, e.digest, e.size, e.ref, c.size, c.pack, c.offset FROM entries e "
            "LEFT JOIN chunks c ON c.digest = e.digest AND e.ref IS NULL WHERE e.version_id = ? ORDER BY e.path",
            [v.data_id],
        ).fetchall()
        for r in rows:
            if r[3] is None:
                blob_sizes[r[1]] = r[2]
                if r[4] is not None:
                    located[r[1]] = (r[4], r[5], r[6])
        version_docs.append({
            "path": v.path, "index": v.index, "digest": v.digest, "size": v.size, "file_count": v.file_count,
            "description": v.description, "metadata": v.metadata, "tags": sorted(v.tags),
            "aliases": sorted(v.aliases), "created_by": v.created_by, "created_at": v.created_at,
            "updated_at": v.updated_at, "ttl_expires_at": v.ttl_expires_at,
            "run": run_path.get(run_pk_of.get(v.id)),  # type: ignore[arg-type]
            "manifest": _manifest_json(rows),
        })
    included = sorted((d, s) for d, s in blob_sizes.items() if d not in exclude)
    index = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": f"localreg {__version__}",
        "selections": sorted(set(selections)),
        "registries": [{
            "org": r.org, "name": r.name, "description": r.description, "visibility": r.visibility,
            "artifact_types": list(r.artifact_types) if r.artifact_types is not None else None,
            "created_at": r.created_at, "updated_at": r.updated_at,
        } for r in regs],
        "collections": sorted(({
            "path": c.path, "type": c.type, "description": c.description, "tags": list(c.tags),
            "created_at": c.created_at, "updated_at": c.updated_at,
            **({"kind": "portfolio"} if c.portfolio and c.registry is None else {}),  # a project's link collection
        } for c in colls), key=lambda d: str(d["path"])),
        "versions": sorted(version_docs, key=lambda d: (d["path"], d["index"])),
        "links": sorted(({
            "path": v.path, "index": v.index, "source": v.source_qualified_name, "aliases": sorted(v.aliases),
            "created_by": v.created_by, "created_at": v.created_at, "updated_at": v.updated_at,
        } for v in links), key=lambda d: (d["path"], d["index"])),
        "runs": sorted(({
            "path": run_path[r[0]], "name": r[4], "job_type": r[5], "config": json.loads(r[6] or "{}"),
            "summary": json.loads(r[7] or "{}"), "state": r[8], "started_at": r[9], "finished_at": r[10],
        } for r in run_rows), key=lambda d: d["path"]),
        "lineage": sorted(({
            "run": run_path[e[0]], "version": qualified[e[1]], "direction": e[2], "created_at": e[3],
        } for e in edges), key=lambda d: (d["run"], d["version"], d["direction"])),
        # digests are "sha256:<hex>" (checked when they were stored): nothing in them to escape
        "blobs": _Raw("[" + ",".join('{"digest":"%s","size":%d}' % (d, s) for d, s in included) + "]"),
    }
    return index, included, len(blob_sizes) - len(included), located


def _write_blobs(f: Any, reader: Any, included: list[tuple[str, int]], callback: Callback) -> None:
    """Write a member for each blob of ``included``, checked by ``reader`` before this returns.

    Small members are gathered into writes of about ``READ`` bytes; the
    progress callback moves once per write.
    """
    pending: list[bytes] = []
    pending_bytes = 0

    behind = _WriteBehind(f)

    def flush() -> None:
        nonlocal pending, pending_bytes
        f.write(b"".join(pending))
        behind.wrote()
        callback.relative_update(pending_bytes)
        pending, pending_bytes = [], 0

    for digest, size in included:
        header = _header(BLOB_DIR + hashing.hex_of(digest), size)
        got = 0
        if size < READ:
            data = reader.read_small(digest)
            if data is None:
                data = b"".join(reader.pieces(digest))
            got = len(data)
            if got == size:
                pending += (header, data, _pad(size))
                pending_bytes += size
                if pending_bytes >= READ:
                    flush()
        else:
            if pending:
                flush()
            f.write(header)
            for piece in reader.pieces(digest):
                f.write(piece)
                behind.wrote()
                got += len(piece)
                callback.relative_update(len(piece))
            f.write(_pad(size))
        if got != size:
            raise CorruptBlob(f"blob {digest} has {got} bytes in the store, its manifest says {size}", digest)
    if pending:
        flush()
    reader.check()


def export_bundle(
    store: Store,
    selections: str | Sequence[str],
    path: str | os.PathLike,
    *,
    exclude_digests: Iterable[str] | None = None,
    sign_key: Any = None,
    callback: Callback | None = None,
) -> ExportReport:
    """Write the versions ``selections`` name, with everything they need, to the bundle file ``path``.

    A selection is a ref (``entity/project/name:alias``,
    ``ORG/wandb-registry-R/C:alias``), a collection (``entity/project/name``,
    ``ORG/wandb-registry-R/C``), a registry (``ORG/wandb-registry-R``) or a
    project (``entity/project``). A link brings its source version; a
    registry brings its collections, links and their sources.
    ``exclude_digests`` leaves out blobs the importing store already has.
    ``sign_key`` (a key file path or an ``Ed25519PrivateKey``) signs the
    bundle. The callback counts blob bytes. Reads one snapshot of the
    store; writes nothing to it. The file appears under ``path`` only once
    complete. Raises :class:`NotFound` for a selection that names nothing,
    :class:`CorruptBlob` if a stored blob is missing or damaged.
    """
    if isinstance(selections, str):
        selections = [selections]
    if not selections:
        raise InvalidInput("nothing to export: give at least one selection")
    private = _load_private(sign_key) if sign_key is not None else None
    exclude = set(exclude_digests or ())
    callback = callback or NoOpCallback()
    out = Path(path)
    objects = Objects(store)
    with store.snapshot():
        sel = _select(store, list(selections))
        index, included, excluded, located = _build_index(store, list(selections), sel, exclude)
        data = _encode_index(index)
        callback.set_size(sum(s for _d, s in included))
        tmp = out.with_name(f".{out.name}.localreg-tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            with open(tmp, "xb") as f:
                f.write(_header(INDEX, len(data)) + data + _pad(len(data)))
                if private is not None:
                    sig = _sign(private, data)
                    f.write(_header(SIGNATURE, len(sig)) + sig + _pad(len(sig)))
                with objects.reader((d for d, _s in included), located) as reader:
                    _write_blobs(f, reader, included, callback)
                end = f.tell() + 2 * BLOCK
                f.write(bytes(2 * BLOCK + (-end % tarfile.RECORDSIZE)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    return ExportReport(
        path=str(out),
        versions=tuple(d["path"] + f":v{d['index']}" for d in index["versions"]),
        links=tuple(d["path"] + f":v{d['index']}" for d in index["links"]),
        registries=tuple(f"{r['org']}/{REGISTRY_PREFIX}{r['name']}" for r in index["registries"]),
        runs=len(index["runs"]),
        blobs=len(included),
        bytes=sum(s for _d, s in included),
        excluded=excluded,
        size=out.stat().st_size,
        signed_by=fingerprint(_raw_public(private.public_key())) if private is not None else None,
    )
