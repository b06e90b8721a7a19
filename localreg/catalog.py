"""What a store holds, read-only: totals, and every item of a scope.

The listing verbs of :mod:`localreg.versions` and :mod:`localreg.registries`
return one page at a time; the helpers here walk all the pages, for
callers (the CLI, reports) that want a whole scope at once. Nothing here
writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import access, names, registries, versions
from .errors import NotFound

if TYPE_CHECKING:
    from .registries import Collection, Registry
    from .store import Store
    from .versions import Version

PAGE = 500


@dataclass(frozen=True)
class Stats:
    """Totals of a store. ``bytes`` sums the stored chunks (each counted once)."""

    orgs: int
    projects: int
    registries: int
    collections: int
    registry_collections: int
    versions: int
    links: int
    runs: int
    chunks: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats(store: "Store") -> Stats:
    """Count what the store holds, in one read snapshot."""
    with store.snapshot() as db:
        def one(sql: str, params: list | None = None) -> int:
            return int(db.execute(sql, params or []).fetchone()[0] or 0)

        # restricted registries the acting user may not read are not counted
        reg_vis, p1 = access.visible("id")
        coll_vis, p2 = access.visible("registry_id")
        link_vis, p3 = access.visible("(SELECT c.registry_id FROM collections c WHERE c.id = v.collection_id)")
        return Stats(
            orgs=one("SELECT count(*) FROM orgs"),
            projects=one("SELECT count(*) FROM projects"),
            registries=one(f"SELECT count(*) FROM registries WHERE {reg_vis}", p1),
            collections=one("SELECT count(*) FROM collections WHERE project_id IS NOT NULL"),
            registry_collections=one(f"SELECT count(*) FROM collections WHERE registry_id IS NOT NULL AND {coll_vis}", p2),
            versions=one("SELECT count(*) FROM versions WHERE source_id IS NULL"),
            links=one(f"SELECT count(*) FROM versions v WHERE v.source_id IS NOT NULL AND {link_vis}", p3),
            runs=one("SELECT count(*) FROM runs"),
            chunks=one("SELECT count(*) FROM chunks"),
            bytes=one("SELECT sum(size) FROM chunks"),
        )


def _all_collections(store: "Store", where: str, params: list) -> list["Collection"]:
    out: list[Collection] = []
    cursor = None
    while True:
        items, cursor = registries.list_collections(
            store, where=where, params=params, order="+name", limit=PAGE, cursor=cursor
        )
        out.extend(items)
        if cursor is None:
            return out


def project_collections(store: "Store", entity: str | None = None, project: str | None = None) -> list["Collection"]:
    """Source collections of ``entity/project``, or of every project when both are None.

    Sorted by entity, project and name. Raises :class:`~localreg.errors.NotFound`
    for a project that does not exist.
    """
    if entity is None and project is None:
        found = _all_collections(store, "c.project_id IS NOT NULL", [])
        return sorted(found, key=lambda c: (c.entity or "", c.project or "", c.name))
    ent = names.check_name(store.default("entity", entity), "entity name")
    proj = names.check_name(store.default("project", project), "project name")
    return _all_collections(store, "c.project_id = ?", [store.project_id(ent, proj)])


def registry_collections(store: "Store", registry: "Registry") -> list["Collection"]:
    """The collections of ``registry``, sorted by name."""
    return _all_collections(store, "c.registry_id = ?", [registry.id])


def collection_versions(store: "Store", collection_id: int) -> list["Version"]:
    """Every version (or link) of a collection, oldest first."""
    out: list[Version] = []
    cursor = None
    while True:
        page = versions.list_versions(
            store, where="v.collection_id = ?", params=[collection_id], order="+version", limit=PAGE, cursor=cursor
        )
        out.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return out


# -- scopes and single pages, for browsing (the web app) -----------------------------


@dataclass(frozen=True)
class Project:
    """A project of an entity, with how many source collections it holds."""

    entity: str
    name: str
    collection_count: int
    created_at: str

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": self.path}


def orgs(store: "Store") -> list[str]:
    """The names of every org in the store, sorted."""
    return [r[0] for r in store.db.execute("SELECT name FROM orgs ORDER BY name")]


def org_entities(store: "Store") -> list[tuple[str, list[str]]]:
    """Every org with the entities in it (an entity in several orgs is listed under each), sorted."""
    out: dict[str, list[str]] = {o: [] for o in orgs(store)}
    for o, e in store.db.execute(
        "SELECT o.name, e.name FROM entities e JOIN orgs o ON o.id = e.org_id "
        "UNION SELECT o.name, e.name FROM entity_orgs eo JOIN orgs o ON o.id = eo.org_id "
        "JOIN entities e ON e.id = eo.entity_id ORDER BY 1, 2"
    ):
        out[o].append(e)
    return list(out.items())


def teams(store: "Store") -> list[str]:
    """The names of every entity (team or user) in the store, sorted."""
    return [r[0] for r in store.db.execute("SELECT name FROM entities ORDER BY name")]


def projects(store: "Store", entity: str | None = None) -> list[Project]:
    """Projects of ``entity`` (every entity when None), sorted by entity and name.

    Raises :class:`~localreg.errors.NotFound` for an entity that does not exist.
    """
    where, params = "1", []
    if entity is not None:
        if not store.db.execute("SELECT 1 FROM entities WHERE name = ?", [entity]).fetchone():
            raise NotFound(f"team {entity!r} not found in store {store.home}", entity)
        where, params = "e.name = ?", [entity]
    rows = store.db.execute(
        "SELECT e.name, p.name, (SELECT count(*) FROM collections c WHERE c.project_id = p.id), p.created_at "
        f"FROM projects p JOIN entities e ON e.id = p.entity_id WHERE {where} ORDER BY e.name, p.name",
        params,
    ).fetchall()
    return [Project(r[0], r[1], r[2], r[3]) for r in rows]


def artifact_types(store: "Store", entity: str, project: str) -> list[str]:
    """The types of the source collections of ``entity/project``, sorted; NotFound for a missing project."""
    pid = store.project_id(entity, project)
    return [r[0] for r in store.db.execute(
        "SELECT DISTINCT type FROM collections WHERE project_id = ? ORDER BY type", [pid])]


def registry_collections_page(
    store: "Store", registry: "Registry", *, filter: dict | None = None, order: str | None = None,
    limit: int = 50, cursor: str | None = None,
) -> tuple[list["Collection"], str | None]:
    """One page of the collections of ``registry`` and the cursor of the next (None: last page)."""
    return registries.list_collections(
        store, where="c.registry_id = ?", params=[registry.id], filter=filter, order=order, limit=limit, cursor=cursor
    )


def count_registry_collections(store: "Store", registry: "Registry", *, filter: dict | None = None) -> int:
    return registries.count_collections(store, where="c.registry_id = ?", params=[registry.id], filter=filter)


def collection_versions_page(
    store: "Store", collection_id: int, *, filter: dict | None = None, order: str | None = "-version",
    limit: int = 50, cursor: str | None = None,
) -> "versions.Page":
    """One page of the versions (or links) of a collection, newest first unless ``order`` says otherwise."""
    return versions.list_versions(
        store, where="v.collection_id = ?", params=[collection_id], filter=filter, order=order,
        limit=limit, cursor=cursor,
    )
