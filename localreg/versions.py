"""Source versions and links: log, resolve, list, aliases, tags, edit, delete.

A source version belongs to a collection of a project and owns a manifest;
a link belongs to a registry collection and points at one source version
(``source_id``), owning only its index and aliases. Both are rows of
``versions`` and both come back as :class:`Version`; for a link, the
content fields (digest, size, metadata, description, tags) are the
source's.

Every writing verb here is one :meth:`Store.transaction`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import access, hashing, names, orgs
from . import db as dbmod
from .errors import (
    Conflict,
    EntryNotFound,
    CorruptBlob,
    InvalidFilter,
    InvalidInput,
    InvalidName,
    NotFound,
    TypeMismatch,
)
from .filters import Field, compile_filter, time_field, version_field
from .names import LATEST
from .objects import Entry, Objects
from .store import current_user, now
from .text import plural

if TYPE_CHECKING:
    from .store import Store

_SELECT = """
SELECT v.id, v.collection_id, c.name, c.type, v.idx, v.source_id,
       e.name, p.name, o.name, r.name,
       COALESCE(s.digest, v.digest), COALESCE(s.size, v.size), COALESCE(s.file_count, v.file_count),
       COALESCE(s.description, v.description), COALESCE(s.metadata, v.metadata),
       v.created_by, v.created_at, v.updated_at, COALESCE(s.ttl_expires_at, v.ttl_expires_at),
       ru.run_id, se.name, sp.name, sc.name, s.idx, sc.type
FROM versions v
JOIN collections c ON c.id = v.collection_id
LEFT JOIN projects p ON p.id = c.project_id
LEFT JOIN entities e ON e.id = p.entity_id
LEFT JOIN registries r ON r.id = c.registry_id
LEFT JOIN orgs o ON o.id = r.org_id
LEFT JOIN versions s ON s.id = v.source_id
LEFT JOIN collections sc ON sc.id = s.collection_id
LEFT JOIN projects sp ON sp.id = sc.project_id
LEFT JOIN entities se ON se.id = sp.entity_id
LEFT JOIN runs ru ON ru.id = COALESCE(s.run_pk, v.run_pk)
"""


@dataclass(frozen=True)
class Version:
    """A committed source version or link, as read from the store."""

    id: int
    collection_id: int
    collection: str
    type: str
    index: int
    source_id: int | None
    entity: str | None
    project: str | None
    org: str | None
    registry: str | None
    digest: str
    size: int
    file_count: int
    description: str
    metadata: dict
    created_by: str
    created_at: str
    updated_at: str
    ttl_expires_at: str | None
    run_id: str | None
    source_entity: str | None = None
    source_project: str | None = None
    source_collection: str | None = None
    source_index: int | None = None
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def is_link(self) -> bool:
        return self.source_id is not None

    @property
    def version(self) -> str:
        return f"v{self.index}"

    @property
    def name(self) -> str:
        return f"{self.collection}:v{self.index}"

    @property
    def path(self) -> str:
        """The collection path without version: ``entity/project/name`` or ``org/wandb-registry-R/name``.

        A link is in a registry, or in a link collection of a project.
        """
        if self.registry is not None:
            return f"{self.org}/{names.REGISTRY_PREFIX}{self.registry}/{self.collection}"
        return f"{self.entity}/{self.project}/{self.collection}"

    @property
    def qualified_name(self) -> str:
        return f"{self.path}:v{self.index}"

    @property
    def data_id(self) -> int:
        """The id of the source version that owns the files."""
        return self.source_id if self.source_id is not None else self.id

    @property
    def source_name(self) -> str:
        if self.is_link:
            return f"{self.source_collection}:v{self.source_index}"
        return self.name

    @property
    def source_qualified_name(self) -> str:
        if self.is_link:
            return f"{self.source_entity}/{self.source_project}/{self.source_collection}:v{self.source_index}"
        return self.qualified_name

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        d["tags"] = list(self.tags)
        d.update(
            is_link=self.is_link,
            version=self.version,
            name=self.name,
            qualified_name=self.qualified_name,
            source_qualified_name=self.source_qualified_name,
        )
        return d


def _row_to_version(r: Sequence, aliases: tuple[str, ...], tags: tuple[str, ...], db_path: Any) -> Version:
    return Version(
        id=r[0], collection_id=r[1], collection=r[2], type=r[3], index=r[4], source_id=r[5],
        entity=r[6], project=r[7], org=r[8], registry=r[9],
        digest=r[10] or "", size=r[11] or 0, file_count=r[12] or 0,
        description=r[13] or "", metadata=dbmod.json_cell(r[14], {}, db_path),
        created_by=r[15], created_at=r[16], updated_at=r[17], ttl_expires_at=r[18],
        run_id=r[19], source_entity=r[20], source_project=r[21], source_collection=r[22],
        source_index=r[23], aliases=aliases, tags=tags,
    )


def load(store: "Store", where: str, params: Sequence[Any] = (), order: str = "v.idx", limit: int | None = None,
         *, hidden: bool = False) -> list[Version]:
    """Versions matching a SQL condition over ``v`` (versions) and ``c`` (collections).

    Links in a restricted registry the acting user may not read are left
    out (see :func:`localreg.access.visible`) unless ``hidden``: only a
    write that must account for every link (delete, a ttl) asks for them.
    """
    if not hidden:
        vis, vparams = access.visible("c.registry_id")
        where, params = f"({where}) AND {vis}", [*params, *vparams]
    sql = f"{_SELECT} WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {min(int(limit), 2**62)}"  # past SQLite's 64-bit integers it is "all" anyway
    with store.snapshot() as db:
        rows = db.execute(sql, list(params)).fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        data_ids = [r[5] if r[5] is not None else r[0] for r in rows]
        aliases: dict[int, list[str]] = {}
        tags: dict[int, list[str]] = {}
        for part in _parts(ids):
            for vid, alias in db.execute(
                f"SELECT version_id, alias FROM aliases WHERE version_id IN ({','.join('?' * len(part))}) ORDER BY alias",
                part,
            ):
                aliases.setdefault(vid, []).append(alias)
        for part in _parts(sorted(set(data_ids))):
            for vid, tag in db.execute(
                f"SELECT version_id, tag FROM tags WHERE version_id IN ({','.join('?' * len(part))}) ORDER BY tag",
                part,
            ):
                tags.setdefault(vid, []).append(tag)
    return [
        _row_to_version(r, _alias_order(aliases.get(r[0], [])), tuple(tags.get(d, [])), store.db_path)
        for r, d in zip(rows, data_ids)
    ]


def _alias_order(aliases: list[str]) -> tuple[str, ...]:
    # "latest" first, as W&B lists it
    return tuple(sorted(aliases, key=lambda a: (a != LATEST, a)))


def _parts(seq: Sequence, n: int = 500):
    for i in range(0, len(seq), n):
        yield list(seq[i: i + n])


def get(store: "Store", version_id: int) -> Version:
    found = load(store, "v.id = ?", [version_id])
    if not found:
        raise NotFound(f"artifact version id {version_id} not found in store {store.home}", version_id)
    return found[0]


def entries(store: "Store", version: Version | int) -> list[Entry]:
    vid = version.data_id if isinstance(version, Version) else version
    rows = store.db.execute(
        "SELECT path, digest, size, ref FROM entries WHERE version_id = ? ORDER BY path", [vid]
    ).fetchall()
    return [Entry(r[0], r[1], r[2], r[3]) for r in rows]


def entry(store: "Store", version: Version, path: str) -> Entry:
    try:
        path = names.check_logical_path(path)  # stored paths are NFC: find an NFD spelling too
    except InvalidName:
        raise EntryNotFound(f"file {path!r} not found in artifact {version.qualified_name}", path) from None
    r = store.db.execute(
        "SELECT path, digest, size, ref FROM entries WHERE version_id = ? AND path = ?", [version.data_id, path]
    ).fetchone()
    if not r:
        raise EntryNotFound(f"file {path!r} not found in artifact {version.qualified_name}", path)
    return Entry(r[0], r[1], r[2], r[3])


# -- resolving refs ------------------------------------------------------------


def collection_id(store: "Store", ref: names.Ref, *, entity: str | None = None,
                  project: str | None = None, org: str | None = None) -> tuple[int, str, str]:
    """``(collection id, type, where)`` of the collection a ref names."""
    db = store.db
    if ref.is_registry:
        org_name = ref.scope or orgs.resolve(store, entity=entity, explicit=org, purpose="link")
        where = f"registry {org_name}/{names.REGISTRY_PREFIX}{ref.registry}"
        row = db.execute(
            "SELECT c.id, c.type FROM collections c JOIN registries r ON r.id = c.registry_id "
            "JOIN orgs o ON o.id = r.org_id WHERE o.name = ? AND r.name = ? AND c.name = ?",
            [org_name, ref.registry, ref.name],
        ).fetchone()
        if not row:
            reg = db.execute(
                "SELECT 1 FROM registries r JOIN orgs o ON o.id = r.org_id WHERE o.name = ? AND r.name = ?",
                [org_name, ref.registry],
            ).fetchone()
            if not reg:
                raise NotFound(f"registry {ref.registry!r} not found in organization {org_name!r}", str(ref))
            raise NotFound(f"collection {ref.name!r} not found in {where}", str(ref))
        access.require_collection(store, row[0], "read", str(ref))
        return row[0], row[1], where
    ent = ref.scope or store.default("entity", entity)
    proj = ref.project or store.default("project", project)
    where = f"project {ent}/{proj}"
    row = db.execute(
        "SELECT c.id, c.type FROM collections c JOIN projects p ON p.id = c.project_id "
        "JOIN entities e ON e.id = p.entity_id WHERE e.name = ? AND p.name = ? AND c.name = ?",
        [ent, proj, ref.name],
    ).fetchone()
    if not row:
        raise NotFound(f"artifact {ref.name!r} not found in {where}", str(ref))
    return row[0], row[1], where


def resolve(store: "Store", ref: str | names.Ref, *, entity: str | None = None,
            project: str | None = None, org: str | None = None, type: str | None = None) -> Version:
    """The version a ref names; no alias means ``latest``.

    Raises :class:`InvalidName` for a malformed ref, :class:`NotFound`
    naming what is missing and where it was looked for, and
    :class:`TypeMismatch` if ``type`` is given and differs.
    """
    parsed = ref if isinstance(ref, names.Ref) else names.parse_ref(ref)
    alias = parsed.alias or LATEST
    with store.snapshot():
        cid, ctype, where = collection_id(store, parsed, entity=entity, project=project, org=org)
        if names.is_version(alias):
            idx = int(alias[1:])  # beyond SQLite's 64-bit integers no version can exist
            found = load(store, "v.collection_id = ? AND v.idx = ?", [cid, idx]) if idx < 2**63 else []
        else:
            found = load(
                store,
                "v.id = (SELECT version_id FROM aliases WHERE collection_id = ? AND alias = ?)",
                [cid, alias],
            )
    if not found:
        raise NotFound(f"artifact \"{parsed.name}:{alias}\" not found in {where}", str(parsed))
    if type is not None and found[0].type != type:
        raise TypeMismatch(f"artifact {found[0].qualified_name} has type {found[0].type!r}, not {type!r}")
    return found[0]


# -- logging --------------------------------------------------------------------


def _set_aliases(db, collection_id: int, version_id: int, aliases: Iterable[str]) -> None:
    for alias in aliases:
        db.execute(
            "INSERT INTO aliases (collection_id, alias, version_id) VALUES (?, ?, ?) "
            "ON CONFLICT (collection_id, alias) DO UPDATE SET version_id = excluded.version_id",
            [collection_id, alias, version_id],
        )


def _check_description(description: object) -> None:
    if description is not None:
        if not isinstance(description, str):
            raise InvalidInput(f"description must be a string, not {description.__class__.__name__}")
        try:
            names.check_utf8(description, "description")
        except InvalidName as e:
            raise InvalidInput(str(e)) from None


def _check_entries(entries: Sequence[Entry]) -> list[Entry]:
    """Entries with NFC paths; refuse bad or repeated paths, a path that is also a folder, bad digests."""
    out: list[Entry] = []
    seen: set[str] = set()
    for e in entries:
        path = names.check_logical_path(e.path)
        if path != e.path:
            e = Entry(path, e.digest, e.size, e.ref)
        if path in seen:
            raise InvalidInput(f"file path {path!r} appears twice in the manifest")
        seen.add(path)
        if not hashing.is_digest(e.digest):
            raise InvalidInput(f"entry {path!r} has an invalid digest {e.digest!r}")
        out.append(e)
    names.check_folders(seen)
    return out


def _touch_collection(db, collection_id: int, ts: str) -> None:
    db.execute("UPDATE collections SET updated_at = ? WHERE id = ?", [ts, collection_id])


def log_version(
    store: "Store",
    *,
    name: str,
    type: str,
    entries: Sequence[Entry],
    entity: str | None = None,
    project: str | None = None,
    description: str | None = None,
    metadata: dict | None = None,
    aliases: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    run_pk: int | None = None,
    ttl_seconds: float | None = None,
    run_step: int | None = None,
) -> tuple[Version, bool]:
    """Commit ``entries`` as the next version of ``entity/project/name``.

    Returns ``(version, created)``: if a version of the collection has the
    same digest, nothing new is made, that version is returned with
    ``created=False`` and receives ``latest`` and the aliases (dedup). One
    transaction; every stored entry's bytes must already be in the store.
    ``run_step`` is the run's history step at logging time (W&B's ``history_step``).
    """
    names.check_name(name)
    names.check_type(type)
    alias_list = names.check_aliases(aliases)
    tag_list = names.check_tags(tags)
    meta = hashing.clean_metadata(metadata)
    _check_description(description)
    ent = names.check_name(store.default("entity", entity), "entity name")
    proj = names.check_name(store.default("project", project), "project name")
    entries = _check_entries(entries)
    digest = hashing.manifest_digest((e.path, e.digest) for e in entries)
    ts = now()
    ttl = _expires_at(ts, ttl_seconds) if ttl_seconds is not None else None
    stored = [e.digest for e in entries if e.ref is None]
    with store.transaction() as db:
        project_id = store.ensure_project(ent, proj)
        row = db.execute(
            "SELECT id, type, kind FROM collections WHERE project_id = ? AND name = ?", [project_id, name]
        ).fetchone()
        if row:
            cid, ctype, kind = row
            if kind != "sequence":
                raise Conflict(
                    f"cannot log {name!r} into project {ent}/{proj}: {ent}/{proj}/{name} is a collection of links "
                    "(linked versions of other artifacts); give the artifact another name"
                )
            if ctype != type:
                raise TypeMismatch(
                    f"Artifact {name} already exists with type {ctype!r}; cannot create another with type "
                    f"{type!r} (in project {ent}/{proj})"
                )
        else:
            cid = db.execute(
                "INSERT INTO collections (project_id, name, type, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                [project_id, name, type, ts, ts],
            ).lastrowid
        dup = db.execute(
            # "+idx": order without the (collection_id, idx) index, so SQLite looks the digest up
            "SELECT id FROM versions WHERE collection_id = ? AND digest = ? AND source_id IS NULL ORDER BY +idx DESC LIMIT 1",
            [cid, digest],
        ).fetchone()
        if dup:
            vid = dup[0]
            created = False
        else:
            # a row may name a blob only once its bytes are durable; gc may have
            # taken a draft's blobs since they were added
            missing = set(stored) - Objects(store).present(stored)
            if missing:
                raise CorruptBlob(
                    f"cannot log {ent}/{proj}/{name}: {plural(len(missing), 'file')} "
                    f"{'is' if len(missing) == 1 else 'are'} not in the blob store "
                    f"(e.g. {sorted(missing)[0]}); add {'it' if len(missing) == 1 else 'them'} again",
                    sorted(missing)[0],
                )
            idx = db.execute("SELECT next_idx FROM collections WHERE id = ?", [cid]).fetchone()[0]
            db.execute("UPDATE collections SET next_idx = ? WHERE id = ?", [idx + 1, cid])
            vid = db.execute(
                "INSERT INTO versions (collection_id, idx, digest, size, file_count, description, metadata, "
                "run_pk, created_by, created_at, updated_at, ttl_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [cid, idx, digest, sum(e.size for e in entries), len(entries), description or "",
                 hashing.canonical_json(meta), run_pk, current_user(), ts, ts, ttl],
            ).lastrowid
            db.conn.executemany(
                "INSERT INTO entries (version_id, path, digest, size, ref) VALUES (?, ?, ?, ?, ?)",
                [(vid, e.path, e.digest, e.size, e.ref) for e in entries],
            )
            created = True
        _set_aliases(db, cid, vid, [LATEST, *alias_list])
        db.conn.executemany(
            "INSERT OR IGNORE INTO tags (version_id, tag) VALUES (?, ?)", [(vid, t) for t in tag_list]
        )
        if run_pk is not None:
            db.execute(
                "INSERT OR IGNORE INTO lineage (run_pk, version_id, direction, created_at, step) "
                "VALUES (?, ?, 'output', ?, ?)",
                [run_pk, vid, ts, run_step or None],
            )
        _touch_collection(db, cid, ts)
        store.event("log" if created else "log-dedup", f"{ent}/{proj}/{name}", version_id=vid, aliases=alias_list)
        return get(store, vid), created


# -- aliases, tags, edits ---------------------------------------------------------


def add_aliases(store: "Store", version: Version, aliases: Iterable[str]) -> Version:
    """Set aliases on ``version``, moving each off whichever version had it."""
    alias_list = names.check_aliases(aliases)
    with store.transaction() as db:
        access.require_collection(store, version.collection_id, "alias", version.qualified_name)
        if LATEST in alias_list and LATEST not in get(store, version.id).aliases:
            raise InvalidName(
                f"alias 'latest' is managed by localreg and stays on the newest version, not {version.qualified_name}",
                LATEST,
            )
        _set_aliases(db, version.collection_id, version.id, alias_list)
        ts = now()
        db.execute("UPDATE versions SET updated_at = ? WHERE id = ?", [ts, version.id])
        store.event("alias-add", version.qualified_name, aliases=alias_list)
        return get(store, version.id)


def remove_aliases(store: "Store", version: Version, aliases: Iterable[str]) -> Version:
    """Remove aliases from ``version``; ``latest`` is managed and cannot be removed."""
    alias_list = names.check_aliases(aliases)
    if LATEST in alias_list:
        raise InvalidName("alias 'latest' is managed by localreg and cannot be removed", LATEST)
    with store.transaction() as db:
        access.require_collection(store, version.collection_id, "alias", version.qualified_name)
        for alias in alias_list:
            cur = db.execute(
                "DELETE FROM aliases WHERE collection_id = ? AND alias = ? AND version_id = ?",
                [version.collection_id, alias, version.id],
            )
            if cur.rowcount == 0:
                raise NotFound(f"alias {alias!r} is not on {version.qualified_name}", alias)
        store.event("alias-remove", version.qualified_name, aliases=alias_list)
        return get(store, version.id)


def set_aliases(store: "Store", version: Version, aliases: Iterable[str]) -> Version:
    """Make ``version``'s aliases exactly ``aliases`` (``latest`` stays where it is)."""
    wanted = [a for a in names.check_aliases(aliases)]
    with store.transaction():
        current = set(get(store, version.id).aliases)
        drop = [a for a in current if a not in wanted and a != LATEST]
        add = [a for a in wanted if a not in current]
        if drop:
            remove_aliases(store, version, drop)
        if add:
            add_aliases(store, version, add)
        return get(store, version.id)


def set_tags(store: "Store", version: Version, tags: Iterable[str]) -> Version:
    """Make the tags of ``version`` exactly ``tags`` (on a link: its source's tags; needs the member role)."""
    tag_list = names.check_tags(tags)
    with store.transaction() as db:
        _exists(store, version)
        current = {r[0] for r in db.execute("SELECT tag FROM tags WHERE version_id = ?", [version.data_id])}
        if set(tag_list) == current:
            return version  # nothing changes: nothing to check, nothing written
        _require_edit(store, version)
        db.execute("DELETE FROM tags WHERE version_id = ?", [version.data_id])
        db.conn.executemany(
            "INSERT OR IGNORE INTO tags (version_id, tag) VALUES (?, ?)", [(version.data_id, t) for t in tag_list]
        )
        store.event("tags", version.qualified_name, tags=tag_list)
        return get(store, version.id)


def _exists(store: "Store", version: Version) -> None:
    """:class:`NotFound` if ``version`` (or, for a link, its source) was deleted meanwhile."""
    for vid in {version.id, version.data_id}:
        if not store.db.execute("SELECT 1 FROM versions WHERE id = ?", [vid]).fetchone():
            raise NotFound(f"artifact {version.qualified_name} not found in store {store.home}", version.qualified_name)


def _link_registries(store: "Store", source_id: int) -> set[int]:
    """Ids of the registries holding a link to a source version, seen or not."""
    return {r[0] for r in store.db.execute(
        "SELECT c.registry_id FROM versions l JOIN collections c ON c.id = l.collection_id "
        "WHERE l.source_id = ? AND c.registry_id IS NOT NULL", [source_id])}


def _require_edit(store: "Store", version: Version) -> None:
    """Editing through a link changes what its registry shows: that needs the member role there."""
    if version.is_link:
        access.require_collection(store, version.collection_id, "curate", version.qualified_name)


def _expires_at(created_at: str, ttl_seconds: float) -> str:
    start = _dt.datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    return (start + _dt.timedelta(seconds=float(ttl_seconds))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def update(store: "Store", version: Version, *, description: str | None = None,
           metadata: dict | None = None, ttl_seconds: float | None | bool = False) -> Version:
    """Edit description, metadata or ttl (on a link these belong to its source).

    Through a link this needs the member role in its registry, and a ttl
    is refused (it belongs to the source, as in W&B); a ttl on a source
    needs the unlink role in every registry linking it. When nothing
    would change, nothing is checked or written and ``version`` comes back.
    """
    sets: dict[str, Any] = {}
    if description is not None:
        _check_description(description)
        sets["description"] = description
    if metadata is not None:
        sets["metadata"] = hashing.canonical_json(hashing.clean_metadata(metadata))
    if ttl_seconds is not False:
        if ttl_seconds is None:
            sets["ttl_expires_at"] = None
        else:
            if not isinstance(ttl_seconds, (int, float)) or ttl_seconds <= 0:
                raise InvalidInput(f"ttl must be a positive duration, not {ttl_seconds!r}")
            # as in W&B, a ttl counts from the version's creation, not from this edit
            created = store.db.execute("SELECT created_at FROM versions WHERE id = ?", [version.data_id]).fetchone()
            sets["ttl_expires_at"] = _expires_at(created[0] if created else now(), ttl_seconds)
    if not sets:
        return version
    with store.transaction() as db:
        _exists(store, version)
        row = db.execute("SELECT description, metadata, ttl_expires_at FROM versions WHERE id = ?",
                         [version.data_id]).fetchone()
        sets = {k: value for k, value in sets.items() if row[("description", "metadata", "ttl_expires_at").index(k)] != value}
        if not sets:
            return version  # nothing changes: nothing to check, nothing written
        current = version
        if current.is_link and "ttl_expires_at" in sets:
            # as W&B: a ttl belongs to the source version
            raise InvalidInput(
                f"cannot set a ttl on link {current.qualified_name}: unlink it first, "
                f"or set the ttl of its source {current.source_qualified_name}"
            )
        _require_edit(store, current)
        if sets.get("ttl_expires_at") is not None and not current.is_link:
            # an expiring source takes its links with it: that is an unlink in each registry
            access.require_links(store, _link_registries(store, current.id), "unlink", current.qualified_name,
                                 f"change the ttl of {current.qualified_name}")
        sets["updated_at"] = now()
        cols = ", ".join(f"{k} = ?" for k in sets)
        db.execute(f"UPDATE versions SET {cols} WHERE id = ?", [*sets.values(), version.data_id])
        store.event("update", version.qualified_name, fields=sorted(sets))
        return get(store, version.id)


# -- deleting ------------------------------------------------------------------------


def _move_latest(db, collection_id: int) -> None:
    row = db.execute("SELECT id FROM versions WHERE collection_id = ? ORDER BY idx DESC LIMIT 1", [collection_id]).fetchone()
    if row and not db.execute(
        "SELECT 1 FROM aliases WHERE collection_id = ? AND alias = ?", [collection_id, LATEST]
    ).fetchone():
        _set_aliases(db, collection_id, row[0], [LATEST])


def _drop_rows(db, version_id: int) -> None:
    for table in ("aliases", "tags", "lineage", "entries"):
        db.execute(f"DELETE FROM {table} WHERE version_id = ?", [version_id])
    db.execute("DELETE FROM versions WHERE id = ?", [version_id])


def unlink(store: "Store", link: Version) -> None:
    """Remove a link; its source version stays."""
    if not link.is_link:
        raise InvalidInput(f"{link.qualified_name} is a source version, not a link; use delete")
    with store.transaction() as db:
        access.require_collection(store, link.collection_id, "unlink", link.qualified_name)
        if not db.execute("SELECT 1 FROM versions WHERE id = ?", [link.id]).fetchone():
            raise NotFound(f"link {link.qualified_name} not found", link.qualified_name)
        _drop_rows(db, link.id)
        _move_latest(db, link.collection_id)
        _touch_collection(db, link.collection_id, now())
        store.event("unlink", link.qualified_name, source=link.source_qualified_name)


def delete(store: "Store", version: Version, *, delete_aliases: bool = False, unlink_links: bool = False) -> None:
    """Delete a source version (or unlink a link).

    Refuses while the version has aliases other than ``latest`` unless
    ``delete_aliases``, and while registry links point at it unless
    ``unlink_links``. Its blobs stay until gc.
    """
    if version.is_link:
        unlink(store, version)
        return
    with store.transaction() as db:
        current = get(store, version.id)
        user_aliases = [a for a in current.aliases if a != LATEST]
        if user_aliases and not delete_aliases:
            raise Conflict(
                f"{version.qualified_name} has aliases {', '.join(user_aliases)}; "
                "pass delete_aliases=True to delete it with them"
            )
        links = load(store, "v.source_id = ?", [version.id], hidden=True)
        if links and not unlink_links:
            shown = {l.id for l in load(store, "v.source_id = ?", [version.id])}
            named = [l.qualified_name for l in links if l.id in shown]
            unseen = len(links) - len(named)
            if unseen:  # a restricted registry the user may not read is not named
                named.append(f"{plural(unseen, 'link')} in registries you are not a member of")
            raise Conflict(
                f"{version.qualified_name} is linked to {', '.join(named)}; "
                "unlink it first or pass unlink_links=True"
            )
        if links:
            # every unlink checks its role; checked here first so a registry the user may not see goes unnamed
            access.require_links(store, _link_registries(store, version.id), "unlink", version.qualified_name,
                                 f"delete {version.qualified_name}")
        for link in links:
            unlink(store, link)
        _drop_rows(db, version.id)
        _move_latest(db, version.collection_id)
        _touch_collection(db, version.collection_id, now())
        store.event("delete", version.qualified_name, digest=version.digest)


# -- listing ---------------------------------------------------------------------------

VERSION_FIELDS = {
    "name": Field("c.name"),
    "type": Field("c.type"),
    "description": Field("COALESCE(s.description, v.description)"),
    "version": version_field("v.idx"),
    "created_at": time_field("v.created_at"),
    "updated_at": time_field("v.updated_at"),
    "digest": Field("COALESCE(s.digest, v.digest)"),
    "alias": Field("a.alias", multi_source="FROM aliases a WHERE a.version_id = v.id"),
    "tag": Field("t.tag", multi_source="FROM tags t WHERE t.version_id = COALESCE(v.source_id, v.id)"),
}
VERSION_FIELDS["aliases"] = VERSION_FIELDS["alias"]
VERSION_FIELDS["tags"] = VERSION_FIELDS["tag"]
# W&B's registry search names: version_index, linked_at (when the version joined the collection)
VERSION_FIELDS["version_index"] = VERSION_FIELDS["version"]
VERSION_FIELDS["linked_at"] = VERSION_FIELDS["created_at"]
ORDER_FIELDS = {"created_at": "v.created_at", "updated_at": "v.updated_at", "version": "v.idx",
                "index": "v.idx", "version_index": "v.idx", "linked_at": "v.created_at",
                "name": "c.name", "id": "v.id"}


def parse_order(order: str | None, fields: dict[str, str], default: str) -> tuple[str, bool]:
    if not order:
        order = default
    desc = order.startswith("-")
    key = order.lstrip("+-")
    if key not in fields:
        raise InvalidFilter(f"cannot order by {key!r}; use one of {', '.join(sorted(fields))}")
    return fields[key], desc


@dataclass
class Page:
    items: list
    cursor: str | None


def encode_cursor(value: Any, id_: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, id_]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        value, id_ = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(value, (str, int, float)) or isinstance(id_, bool) or not isinstance(id_, int):
            raise ValueError(value)  # a hand-made cursor: nothing this store gave out
        if isinstance(value, str):
            names.check_utf8(value, "cursor")
        if not -(2**63) <= id_ < 2**63 or (isinstance(value, int) and not -(2**63) <= value < 2**63):
            raise ValueError(id_)
        return value, id_
    except Exception:
        raise InvalidInput(f"invalid cursor {cursor!r}") from None


def keyset(where: str, params: list, col: str, desc: bool, cursor: str | None, id_col: str = "v.id") -> tuple[str, list, str]:
    """Add a keyset-pagination condition; returns (where, params, order)."""
    op = "<" if desc else ">"
    if cursor:
        value, last_id = decode_cursor(cursor)
        where = f"({where}) AND (({col} {op} ?) OR ({col} = ? AND {id_col} {op} ?))"
        params = [*params, value, value, last_id]
    direction = "DESC" if desc else "ASC"
    return where, params, f"{col} {direction}, {id_col} {direction}"


def list_versions(
    store: "Store",
    *,
    where: str = "1",
    params: Sequence[Any] = (),
    filter: dict | None = None,
    order: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """One page of versions matching a base condition and a MongoDB-style filter."""
    fsql, fparams = compile_filter(filter, VERSION_FIELDS, metadata_expr="COALESCE(s.metadata, v.metadata)")
    col, desc = parse_order(order, ORDER_FIELDS, "+version")
    w, p, ordering = keyset(f"({where}) AND ({fsql})", [*params, *fparams], col, desc, cursor)
    items = load(store, w, p, order=ordering, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    next_cursor = None
    if more and items:
        last = items[-1]
        value = {"v.created_at": last.created_at, "v.updated_at": last.updated_at, "v.idx": last.index,
                 "c.name": last.collection, "v.id": last.id}[col]
        next_cursor = encode_cursor(value, last.id)
    return Page(items, next_cursor)


def count_versions(store: "Store", *, where: str = "1", params: Sequence[Any] = (), filter: dict | None = None) -> int:
    fsql, fparams = compile_filter(filter, VERSION_FIELDS, metadata_expr="COALESCE(s.metadata, v.metadata)")
    vis, vparams = access.visible("c.registry_id")
    fsql, fparams = f"({fsql}) AND {vis}", [*fparams, *vparams]
    sql = (
        "SELECT count(*) FROM versions v JOIN collections c ON c.id = v.collection_id "
        "LEFT JOIN versions s ON s.id = v.source_id "
        "LEFT JOIN registries r ON r.id = c.registry_id LEFT JOIN orgs o ON o.id = r.org_id "
        "LEFT JOIN projects p ON p.id = c.project_id LEFT JOIN entities e ON e.id = p.entity_id "
        f"WHERE ({where}) AND ({fsql})"
    )
    return store.db.execute(sql, [*params, *fparams]).fetchone()[0]


def links_of(store: "Store", version: Version) -> list[Version]:
    """The registry links that point at ``version`` (or at its source) that the acting user may see."""
    return load(store, "v.source_id = ?", [version.data_id], order="v.created_at, v.id")
