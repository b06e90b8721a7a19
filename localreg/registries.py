"""Registries, their collections, and linking source versions into them.

A registry belongs to an org and allows either every artifact type
(``artifact_types`` NULL) or a list of types that can grow, never shrink.
The core registries ``model`` and ``dataset`` exist in every org, allow
``model`` and ``dataset`` first, and keep organization visibility.

Linking writes one ``versions`` row with ``source_id`` set: no bytes are
copied, so its cost does not depend on the artifact's size. A link goes
into a registry collection (``[ORG/]wandb-registry-R/C``) or into a link
collection of a project (``C``, ``PROJECT/C``, ``ENTITY/PROJECT/C``: W&B's
older "portfolio" model registry); both are ``portfolio`` collections with
their own indexes and aliases, made on the first link by
:func:`ensure_link_collection`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import access, names, orgs
from . import db as dbmod
from .errors import AlreadyExists, Conflict, InvalidInput, InvalidName, NotFound, TypeMismatch
from .filters import Field, compile_filter, time_field
from .names import LATEST
from .store import CORE_REGISTRIES, current_user, now
from .versions import Version, _set_aliases, _touch_collection, get, keyset, load, encode_cursor, parse_order, unlink

if TYPE_CHECKING:
    from .store import Store

VISIBILITIES = ("organization", "restricted")


@dataclass(frozen=True)
class Registry:
    id: int
    org: str
    name: str
    description: str
    visibility: str
    artifact_types: tuple[str, ...] | None  # None: every type allowed
    created_at: str
    updated_at: str
    collection_count: int = 0

    @property
    def full_name(self) -> str:
        return names.REGISTRY_PREFIX + self.name

    @property
    def allow_all_artifact_types(self) -> bool:
        return self.artifact_types is None

    @property
    def is_core(self) -> bool:
        return self.name in CORE_REGISTRIES

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["artifact_types"] = list(self.artifact_types) if self.artifact_types is not None else None
        d["full_name"] = self.full_name
        d["allow_all_artifact_types"] = self.allow_all_artifact_types
        return d


@dataclass(frozen=True)
class Collection:
    """A source collection (``project`` set) or a registry collection (``registry`` set)."""

    id: int
    name: str
    type: str
    description: str
    tags: tuple[str, ...]
    created_at: str
    updated_at: str
    entity: str | None = None
    project: str | None = None
    org: str | None = None
    registry: str | None = None
    version_count: int = 0
    portfolio: bool = False  # a collection of links (every registry collection, a project's link collections)

    @property
    def is_sequence(self) -> bool:
        return not self.portfolio

    @property
    def path(self) -> str:
        if self.registry is not None:
            return f"{self.org}/{names.REGISTRY_PREFIX}{self.registry}/{self.name}"
        return f"{self.entity}/{self.project}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        d["path"] = self.path
        d["is_sequence"] = self.is_sequence
        return d


_REG_SELECT = (
    "SELECT r.id, o.name, r.name, r.description, r.visibility, r.artifact_types, r.created_at, r.updated_at, "
    "(SELECT count(*) FROM collections c WHERE c.registry_id = r.id) "
    "FROM registries r JOIN orgs o ON o.id = r.org_id"
)


def _registry(row: Sequence, db_path: Any) -> Registry:
    types = dbmod.json_cell(row[5], None, db_path) if row[5] is not None else None
    return Registry(row[0], row[1], row[2], row[3], row[4], tuple(types) if types is not None else None,
                    row[6], row[7], row[8])


def _known_org(store: "Store", org_name: str, wandb_words: bool = False) -> None:
    """Make sure ``org_name`` exists, or raise :class:`~localreg.orgs.UnknownOrganization` naming the orgs there are.

    The org the settings name (``$WANDB_ORGANIZATION``, else the store's
    default) exists as soon as it is asked for, with its core registries,
    as a W&B user's org does; any other must exist already (made by a
    link target naming it, a seed, a bundle or ``localreg org add``).
    """
    if store.db.execute("SELECT 1 FROM orgs WHERE name = ?", [org_name]).fetchone():
        return
    if org_name == store.default("org") and not store.readonly:
        store.ensure_org(names.check_name(org_name, "org name"))
        return
    known = ", ".join(orgs.list_orgs(store)) or "none"
    # W&B's Api().registry / create_registry words come first: its tests match them
    message = f"organization {org_name!r} not found in store {store.home} (organizations: {known})"
    if wandb_words:
        raise orgs.UnknownOrganization(f"{orgs.UNKNOWN.format(org=org_name)} {message}", org_name)
    raise NotFound(message, org_name)


def get_registry(store: "Store", name: str, org: str | None = None) -> Registry:
    """Registry ``name`` of ``org`` (none: the org the settings or the default entity belong to)."""
    reg = names.registry_name(name)
    org_name = orgs.resolve(store, explicit=org)
    _known_org(store, org_name, wandb_words=True)
    row = store.db.execute(f"{_REG_SELECT} WHERE o.name = ? AND r.name = ?", [org_name, reg]).fetchone()
    if not row:
        raise NotFound(f"registry {reg!r} not found in organization {org_name!r}", reg)
    if row[4] == "restricted":
        access.require(store, row[0], "read")
    return _registry(row, store.db_path)


REGISTRY_FIELDS = {
    "name": Field("r.name"),
    "full_name": Field("('wandb-registry-' || r.name)"),
    "description": Field("r.description"),
    "visibility": Field("r.visibility"),
    "created_at": time_field("r.created_at"),
    "updated_at": time_field("r.updated_at"),
}


def list_registries(store: "Store", org: str | None = None, filter: dict | None = None) -> list[Registry]:
    org_name = orgs.resolve(store, explicit=org)
    _known_org(store, org_name)
    fsql, fparams = compile_filter(filter, REGISTRY_FIELDS)
    rows = store.db.execute(
        f"{_REG_SELECT} WHERE o.name = ? AND ({fsql}) ORDER BY r.name", [org_name, *fparams]
    ).fetchall()
    # restricted registries are invisible to non-members
    return [_registry(r, store.db_path) for r in rows if r[4] != "restricted" or access.readable(store, r[0], r[4])]


def _check_types(types: Iterable[str] | None) -> list[str] | None:
    if types is None:
        return None
    if isinstance(types, str):
        types = [types]
    out: list[str] = []
    for t in types:
        if isinstance(t, str) and ("/" in t or ":" in t):
            # W&B's words: its tests and users match them
            raise InvalidName(f"Artifact types must not contain any of the following characters: '/', ':' "
                              f"(got {t!r})", t)
        names.check_type(t)
        if t not in out:
            out.append(t)
    return out


def create_registry(
    store: "Store",
    name: str,
    *,
    org: str | None = None,
    visibility: str = "organization",
    description: str | None = None,
    artifact_types: Iterable[str] | None = None,
) -> Registry:
    """Create registry ``name`` in ``org``; :class:`AlreadyExists` if it is there.

    A core registry (``model``, ``dataset``) exists in every org from the
    start. Creating one that nobody has used yet (no collection, no member,
    never edited) takes it over with the settings given, as if it were
    created now: W&B code that creates its core registries (W&B's own test
    server starts orgs empty) runs unchanged. Once used, it already exists.
    """
    reg = names.registry_name(name)
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"invalid visibility {visibility!r}: use 'organization' or 'restricted'")
    if description is not None and not isinstance(description, str):
        raise InvalidInput("description must be a string")
    types = _check_types(artifact_types)
    org_name = names.check_name(orgs.resolve(store, explicit=org), "org name")
    # W&B creates registries only in an org one belongs to (its words: test_registry.py matches them)
    _known_org(store, org_name, wandb_words=True)
    with store.transaction() as db:
        org_id = store.ensure_org(org_name)
        found = db.execute("SELECT id FROM registries WHERE org_id = ? AND name = ?", [org_id, reg]).fetchone()
        ts = now()
        if found and _untouched_core(store, found[0], reg):
            reg_id = found[0]
            db.execute(
                "UPDATE registries SET description = ?, visibility = ?, artifact_types = ?, created_at = ?, "
                "updated_at = ? WHERE id = ?",
                [description or "", visibility, json.dumps(types) if types is not None else None, ts, ts, reg_id],
            )
        elif found:
            raise AlreadyExists(f"registry {reg!r} already exists in organization {org_name!r}")
        else:
            reg_id = db.execute(
                "INSERT INTO registries (org_id, name, description, visibility, artifact_types, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [org_id, reg, description or "", visibility, json.dumps(types) if types is not None else None, ts, ts],
            ).lastrowid
        db.execute(
            "INSERT INTO registry_members (registry_id, user, role, added_at) VALUES (?, ?, 'admin', ?)",
            [reg_id, current_user(), ts],
        )
        store.event("registry-create", f"{org_name}/{names.REGISTRY_PREFIX}{reg}", visibility=visibility, types=types)
        return get_registry(store, reg, org_name)


def _untouched_core(store: "Store", registry_id: int, name: str) -> bool:
    """Whether core registry ``name`` is as its org's creation left it: never edited, no collection, no member."""
    from .store import CORE_REGISTRIES

    if name not in CORE_REGISTRIES:
        return False
    db = store.db
    desc, types = CORE_REGISTRIES[name]
    row = db.execute("SELECT description, visibility, artifact_types, created_at, updated_at FROM registries "
                     "WHERE id = ?", [registry_id]).fetchone()
    if tuple(row[:3]) != (desc, "organization", json.dumps(types)) or row[3] != row[4]:
        return False
    if db.execute("SELECT 1 FROM collections WHERE registry_id = ? LIMIT 1", [registry_id]).fetchone():
        return False
    return not db.execute("SELECT 1 FROM registry_members WHERE registry_id = ? LIMIT 1", [registry_id]).fetchone()


def update_registry(
    store: "Store",
    registry: Registry,
    *,
    description: str | None = None,
    visibility: str | None = None,
    artifact_types: Iterable[str] | None = None,
    allow_all_artifact_types: bool | None = None,
    name: str | None = None,
) -> Registry:
    """Edit a registry. Allowed types can be added, never removed; ``name`` renames it (not a core registry)."""
    new_name = names.registry_name(name) if name is not None else None
    with store.transaction() as db:
        current = get_registry(store, registry.name, registry.org)
        access.require(store, current.id, "edit")
        sets: dict[str, Any] = {}
        if new_name is not None and new_name != current.name:
            if current.is_core:
                raise InvalidInput(f"core registry {current.name!r} cannot be renamed")
            if db.execute("SELECT 1 FROM registries WHERE org_id = (SELECT org_id FROM registries WHERE id = ?) "
                          "AND name = ?", [current.id, new_name]).fetchone():
                raise AlreadyExists(f"registry {new_name!r} already exists in organization {current.org!r}")
            sets["name"] = new_name
        if description is not None:
            if current.is_core and description != current.description:
                raise InvalidInput(f"the description of core registry {current.name!r} cannot be changed")
            sets["description"] = description
        if visibility is not None and visibility != current.visibility:
            if visibility not in VISIBILITIES:
                raise InvalidInput(f"invalid visibility {visibility!r}: use 'organization' or 'restricted'")
            if current.is_core:
                raise InvalidInput(f"core registry {current.name!r} keeps organization visibility")
            if current.visibility == "restricted":
                raise InvalidInput(f"registry {current.name!r} is restricted; it cannot become organization-wide")
            sets["visibility"] = visibility
        types = _check_types(artifact_types)
        if allow_all_artifact_types is True:
            if current.is_core:
                raise InvalidInput(f"core registry {current.name!r} cannot allow every type")
            sets["artifact_types"] = None
        elif types is not None or allow_all_artifact_types is False:
            new = list(types or [])
            if current.artifact_types is None:
                if allow_all_artifact_types is not False:
                    raise InvalidInput(
                        "Cannot update artifact types when `allows_all_artifact_types` is True. Set it to False first."
                        f" (registry {current.name!r} allows every type)"
                    )
            else:
                removed = [t for t in current.artifact_types if t not in new]
                if removed:
                    raise InvalidInput(
                        f"artifact types cannot be removed from registry {current.name!r}: {', '.join(removed)}"
                    )
            sets["artifact_types"] = json.dumps(new)
        if sets:
            sets["updated_at"] = now()
            cols = ", ".join(f"{k} = ?" for k in sets)
            db.execute(f"UPDATE registries SET {cols} WHERE id = ?", [*sets.values(), current.id])
            store.event("registry-update", f"{current.org}/{current.full_name}", fields=sorted(sets),
                        **({"renamed_to": sets["name"]} if "name" in sets else {}))
        return get_registry(store, sets.get("name", current.name), current.org)


def delete_registry(store: "Store", registry: Registry) -> None:
    """Delete a registry with its collections and links (never the source versions)."""
    if registry.is_core:
        raise InvalidInput(f"core registry {registry.name!r} cannot be deleted")
    with store.transaction() as db:
        if not db.execute("SELECT 1 FROM registries WHERE id = ?", [registry.id]).fetchone():
            raise NotFound(f"registry {registry.name!r} not found in organization {registry.org!r}", registry.name)
        access.require(store, registry.id, "delete")
        for (cid,) in db.execute("SELECT id FROM collections WHERE registry_id = ?", [registry.id]).fetchall():
            _delete_collection_rows(store, cid)
        db.execute("DELETE FROM registry_members WHERE registry_id = ?", [registry.id])
        db.execute("DELETE FROM registries WHERE id = ?", [registry.id])
        store.event("registry-delete", f"{registry.org}/{registry.full_name}")


# -- collections ------------------------------------------------------------------

_COLL_SELECT = (
    "SELECT c.id, c.name, c.type, c.description, c.tags, c.created_at, c.updated_at, "
    "e.name, p.name, o.name, r.name, (SELECT count(*) FROM versions v WHERE v.collection_id = c.id), c.kind "
    "FROM collections c LEFT JOIN projects p ON p.id = c.project_id LEFT JOIN entities e ON e.id = p.entity_id "
    "LEFT JOIN registries r ON r.id = c.registry_id LEFT JOIN orgs o ON o.id = r.org_id"
)

COLLECTION_FIELDS = {
    "name": Field("c.name"),
    "type": Field("c.type"),
    "description": Field("c.description"),
    "created_at": time_field("c.created_at"),
    "updated_at": time_field("c.updated_at"),
    "tag": Field("je.value", multi_source="FROM json_each(c.tags) je WHERE 1"),
}
COLLECTION_FIELDS["tags"] = COLLECTION_FIELDS["tag"]
COLLECTION_ORDER = {"name": "c.name", "created_at": "c.created_at", "updated_at": "c.updated_at", "id": "c.id"}


def _collection(row: Sequence, db_path: Any) -> Collection:
    return Collection(row[0], row[1], row[2], row[3], tuple(dbmod.json_cell(row[4], [], db_path)), row[5], row[6],
                      row[7], row[8], row[9], row[10], row[11], row[12] == "portfolio")


def get_collection(store: "Store", collection_id: int) -> Collection:
    row = store.db.execute(f"{_COLL_SELECT} WHERE c.id = ?", [collection_id]).fetchone()
    if not row:
        raise NotFound(f"collection id {collection_id} not found", collection_id)
    return _collection(row, store.db_path)


def list_collections(
    store: "Store",
    *,
    where: str = "1",
    params: Sequence[Any] = (),
    filter: dict | None = None,
    order: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Collection], str | None]:
    fsql, fparams = _visible_filter(filter)
    col, desc = parse_order(order, COLLECTION_ORDER, "+name")
    w, p, ordering = keyset(f"({where}) AND ({fsql})", [*params, *fparams], col, desc, cursor, id_col="c.id")
    rows = store.db.execute(f"{_COLL_SELECT} WHERE {w} ORDER BY {ordering} LIMIT {min(int(limit), 2**62) + 1}", p).fetchall()
    items = [_collection(r, store.db_path) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        value = {"c.name": last.name, "c.created_at": last.created_at, "c.updated_at": last.updated_at, "c.id": last.id}[col]
        next_cursor = encode_cursor(value, last.id)
    return items, next_cursor


def _visible_filter(filter: dict | None) -> tuple[str, list[Any]]:
    """The filter's SQL, and the collections of restricted registries the acting user may not read left out."""
    fsql, fparams = compile_filter(filter, COLLECTION_FIELDS)
    vis, vparams = access.visible("c.registry_id")
    return f"({fsql}) AND {vis}", [*fparams, *vparams]


def count_collections(store: "Store", *, where: str = "1", params: Sequence[Any] = (), filter: dict | None = None) -> int:
    fsql, fparams = _visible_filter(filter)
    return store.db.execute(
        "SELECT count(*) FROM collections c LEFT JOIN projects p ON p.id = c.project_id "
        "LEFT JOIN entities e ON e.id = p.entity_id LEFT JOIN registries r ON r.id = c.registry_id "
        f"LEFT JOIN orgs o ON o.id = r.org_id WHERE ({where}) AND ({fsql})",
        [*params, *fparams],
    ).fetchone()[0]


def update_collection(store: "Store", coll: Collection, *, description: str | None = None,
                      tags: Iterable[str] | None = None, name: str | None = None,
                      type: str | None = None) -> Collection:
    """Edit a collection; ``type`` changes the type of a source collection (W&B allows it for sequences only)."""
    sets: dict[str, Any] = {}
    if type is not None and type != coll.type:
        if not coll.is_sequence:
            raise InvalidInput("Type can only be changed if the artifact collection is a sequence: "
                               f"{coll.path} is a link collection")
        try:
            names.check_type(coll.type)
        except InvalidName:
            raise InvalidInput(f"Failed to save artifact collection {coll.name!r}: the current type "
                               f"{coll.type!r} is an internal type and cannot be changed.") from None
        try:
            sets["type"] = names.check_type(type)
        except InvalidName as e:
            raise InvalidName(f"Failed to save artifact collection {coll.name!r}: {e}", type) from None
    if description is not None:
        if not isinstance(description, str):
            raise InvalidInput("description must be a string")
        sets["description"] = description
    if tags is not None:
        sets["tags"] = json.dumps(names.check_tags(list(tags)))
    if name is not None and name != coll.name:
        sets["name"] = names.check_name(name, "collection name")
    if not sets:
        return coll
    sets["updated_at"] = now()
    with store.transaction() as db:
        access.require_collection(store, coll.id, "curate", coll.path)
        if "name" in sets:
            scope_col, scope_val = ("registry_id", db.execute("SELECT registry_id FROM collections WHERE id = ?", [coll.id]).fetchone()[0]) \
                if coll.registry else ("project_id", db.execute("SELECT project_id FROM collections WHERE id = ?", [coll.id]).fetchone()[0])
            if db.execute(f"SELECT 1 FROM collections WHERE {scope_col} = ? AND name = ?", [scope_val, sets["name"]]).fetchone():
                raise AlreadyExists(f"a collection named {sets['name']!r} already exists next to {coll.path}")
        cols = ", ".join(f"{k} = ?" for k in sets)
        db.execute(f"UPDATE collections SET {cols} WHERE id = ?", [*sets.values(), coll.id])
        store.event("collection-update", coll.path, fields=sorted(sets))
        return get_collection(store, coll.id)


def _delete_collection_rows(store: "Store", cid: int) -> None:
    db = store.db
    for (vid,) in db.execute("SELECT id FROM versions WHERE collection_id = ? AND source_id IS NOT NULL", [cid]).fetchall():
        for table in ("aliases", "tags", "lineage", "entries"):
            db.execute(f"DELETE FROM {table} WHERE version_id = ?", [vid])
        db.execute("DELETE FROM versions WHERE id = ?", [vid])
    db.execute("DELETE FROM aliases WHERE collection_id = ?", [cid])
    db.execute("DELETE FROM collections WHERE id = ?", [cid])


def delete_collection(store: "Store", coll: Collection) -> None:
    """Delete a registry collection (its links go; source versions stay) or an empty-able source collection."""
    with store.transaction() as db:
        access.require_collection(store, coll.id, "delete", coll.path)
        if coll.is_sequence:
            from .versions import delete as delete_version
            for v in load(store, "v.collection_id = ?", [coll.id]):
                delete_version(store, v, delete_aliases=True)
        _delete_collection_rows(store, coll.id)
        store.event("collection-delete", coll.path)


# -- linking --------------------------------------------------------------------------


def ensure_link_collection(store: "Store", *, name: str, type: str, path: str, registry_id: int | None = None,
                           project_id: int | None = None, linking: str = "an artifact") -> int:
    """The id of link collection ``name`` of a registry or a project, made with ``type`` if missing.

    The one place that makes a collection of links; in a registry it needs
    the member role (``link``). Raises
    :class:`TypeMismatch` if it holds another type, :class:`Conflict` if
    the project's collection of that name holds logged versions (a
    sequence, which cannot take links). Inside the caller's transaction.
    """
    db = store.db
    scope_col, scope = ("registry_id", registry_id) if registry_id is not None else ("project_id", project_id)
    row = db.execute(f"SELECT id, type, kind FROM collections WHERE {scope_col} = ? AND name = ?", [scope, name]).fetchone()
    if row:
        cid, ctype, kind = row
        if kind != "portfolio":
            raise Conflict(
                f"cannot link into {path}: it is an artifact sequence (versions logged there), not a collection "
                "of links; choose another collection name"
            )
        if ctype != type:
            raise TypeMismatch(f"collection {path} holds type {ctype!r}; cannot link {linking} of type {type!r}")
        return cid
    if registry_id is not None:
        access.require(store, registry_id, "link", path)
    names.check_name(name, "collection name")
    ts = now()
    cid = db.execute(
        f"INSERT INTO collections ({scope_col}, name, type, kind, created_at, updated_at) "
        "VALUES (?, ?, ?, 'portfolio', ?, ?)",
        [scope, name, type, ts, ts],
    ).lastrowid
    assert cid is not None
    return cid


def link(
    store: "Store",
    version: Version,
    target_path: str,
    aliases: Iterable[str] | None = None,
    *,
    org: str | None = None,
    entity: str | None = None,
    project: str | None = None,
) -> Version:
    """Link ``version`` (its source, if it is a link) into a registry or project link collection.

    ``target_path`` is ``[ORG/]wandb-registry-R/C``, or ``C``,
    ``PROJECT/C`` or ``ENTITY/PROJECT/C`` for a link collection of a
    project (W&B's "portfolio"). A registry path without an org links into
    ``org``, else the settings' org, else the org of the source's entity
    (:func:`localreg.orgs.resolve`; several: an error). A project path
    without entity or project takes ``entity`` (default: the source's
    entity) and ``project`` (default: the settings' project). An org named
    in the path is created on first use.

    Creates the collection with the artifact's type on first use. Linking
    a version that is already in the collection adds the aliases to the
    existing link. Raises :class:`TypeMismatch` for a collection of
    another type or a type the registry does not allow, :class:`NotFound`
    for a missing registry, :class:`Conflict` for a project collection of
    logged versions; writes nothing on error. One transaction.
    """
    ref = names.parse_link_target(target_path)
    alias_list = names.check_aliases(aliases)
    source_id = version.data_id
    user = current_user()
    with store.transaction() as db:
        source = get(store, source_id)
        ts = now()
        if ref.is_registry:
            org_name = names.check_name(
                ref.scope or orgs.resolve(store, entity=source.entity, explicit=org, purpose="link"), "org name")
            path = f"{org_name}/{names.REGISTRY_PREFIX}{ref.registry}/{ref.name}"
            org_id = store.ensure_org(org_name)
            reg = db.execute(
                "SELECT id, artifact_types FROM registries WHERE org_id = ? AND name = ?", [org_id, ref.registry]
            ).fetchone()
            if not reg:
                existing = [r[0] for r in db.execute("SELECT name FROM registries WHERE org_id = ? ORDER BY name", [org_id])]
                raise NotFound(
                    f"registry {ref.registry!r} not found in organization {org_name!r} "
                    f"(registries there: {', '.join(existing) or 'none'})",
                    target_path,
                )
            reg_id, types_json = reg
            access.require(store, reg_id, "link", path)
            types = json.loads(types_json) if types_json is not None else None
            if types is not None and source.type not in types:
                raise TypeMismatch(
                    f"registry {ref.registry!r} in organization {org_name!r} does not allow artifact type "
                    f"{source.type!r} (allowed: {', '.join(types) or 'none'})"
                )
            cid = ensure_link_collection(store, name=ref.name, type=source.type, path=path, registry_id=reg_id,
                                         linking=source.qualified_name)
            db.execute("UPDATE registries SET updated_at = ? WHERE id = ?", [ts, reg_id])
        else:
            ent = names.check_name(ref.scope or entity or source.entity, "entity name")
            proj = names.check_name(ref.project or store.default("project", project), "project name")
            path = f"{ent}/{proj}/{ref.name}"
            project_id = store.ensure_project(ent, proj)
            cid = ensure_link_collection(store, name=ref.name, type=source.type, path=path, project_id=project_id,
                                         linking=source.qualified_name)
        existing_link = db.execute(
            "SELECT id FROM versions WHERE collection_id = ? AND source_id = ?", [cid, source_id]
        ).fetchone()
        if existing_link:
            lid = existing_link[0]
            _set_aliases(db, cid, lid, alias_list)
        else:
            idx = db.execute("SELECT next_idx FROM collections WHERE id = ?", [cid]).fetchone()[0]
            db.execute("UPDATE collections SET next_idx = ? WHERE id = ?", [idx + 1, cid])
            lid = db.execute(
                "INSERT INTO versions (collection_id, idx, source_id, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [cid, idx, source_id, user, ts, ts],
            ).lastrowid
            assert lid is not None
            _set_aliases(db, cid, lid, [LATEST, *alias_list])
        _touch_collection(db, cid, ts)
        store.event("link", path, source=source.qualified_name, aliases=alias_list)
        return get(store, lid)


__all__ = [
    "Registry", "Collection", "get_registry", "list_registries", "create_registry", "update_registry",
    "delete_registry", "get_collection", "list_collections", "count_collections", "update_collection",
    "delete_collection", "link", "unlink", "ensure_link_collection",
]
