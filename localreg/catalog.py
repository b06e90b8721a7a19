"""What a store holds, read-only: totals, and every item of a scope.

The listing verbs of :mod:`localreg.versions` and :mod:`localreg.registries`
return one page at a time; the helpers here walk all the pages, for
callers (the CLI, reports) that want a whole scope at once. Nothing here
writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import names, registries, versions

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
        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0] or 0)

        return Stats(
            orgs=one("SELECT count(*) FROM orgs"),
            projects=one("SELECT count(*) FROM projects"),
            registries=one("SELECT count(*) FROM registries"),
            collections=one("SELECT count(*) FROM collections WHERE project_id IS NOT NULL"),
            registry_collections=one("SELECT count(*) FROM collections WHERE registry_id IS NOT NULL"),
            versions=one("SELECT count(*) FROM versions WHERE source_id IS NULL"),
            links=one("SELECT count(*) FROM versions WHERE source_id IS NOT NULL"),
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
