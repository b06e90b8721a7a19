"""``Api``, ``Registry``, ``ArtifactCollection`` and their lazy, paged listings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from .. import access, names, registries, runs, versions
from ..errors import InvalidInput, NotFound, PermissionDenied, TypeMismatch
from ..store import Store, open_store
from .artifact import Artifact
from .runview import RunView


class Paginator:
    """A lazy listing fetched ``per_page`` items at a time, like W&B's ``Paginator``.

    It is its own iterator (``next(p)`` works); iterating again replays the
    items already fetched before fetching more. ``cursor`` is set after the
    first page is fetched (None once the last page is in); ``start=cursor``
    resumes after it. ``len()`` counts without fetching the items.
    """

    def __init__(self, fetch: Callable[[int, str | None], tuple[list, str | None]],
                 count: Callable[[], int], per_page: int = 50, start: str | None = None) -> None:
        if not isinstance(per_page, int) or isinstance(per_page, bool) or per_page < 1:
            raise InvalidInput(f"per_page must be a positive integer, not {per_page!r}")
        self._fetch = fetch
        self._count = count
        self.per_page = per_page
        self.cursor: str | None = start
        self.objects: list = []
        self.index = -1
        self._started = False

    @property
    def more(self) -> bool:
        return not self._started or self.cursor is not None

    def _load_page(self) -> bool:
        if not self.more:
            return False
        items, self.cursor = self._fetch(self.per_page, self.cursor)
        self._started = True
        self.objects.extend(items)
        return True

    def __iter__(self) -> "Paginator":
        self.index = -1
        return self

    def __next__(self) -> Any:
        self.index += 1
        while len(self.objects) <= self.index:
            if not self._load_page():
                raise StopIteration
        return self.objects[self.index]

    def __len__(self) -> int:
        return self._count()

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice) or index < 0:
            while self._load_page():
                pass
        else:
            while index >= len(self.objects) and self._load_page():
                pass
        return self.objects[index]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} per_page={self.per_page}>"


class ApiRun(RunView):
    """A run as read back from the store (``artifact.logged_by()``, ``Api().run(path)``)."""

    state = property(lambda self: self._info.state)
    config = property(lambda self: dict(self._info.config))
    path = property(lambda self: self._info.path.split("/"))
    created_at = property(lambda self: self._info.started_at)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiRun) and other._info.pk == self._info.pk

    def __hash__(self) -> int:
        return hash(self._info.pk)

    def __repr__(self) -> str:
        return f"<Run {self._info.path} ({self._info.state})>"


def _versions_paginator(store: Store, where: str, params: list, filter: dict | None = None,
                        order: str | None = None, per_page: int = 50, start: str | None = None) -> Paginator:
    def fetch(limit: int, cursor: str | None):
        page = versions.list_versions(store, where=where, params=params, filter=filter, order=order,
                                      limit=limit, cursor=cursor)
        return [Artifact._from_version(store, v) for v in page.items], page.cursor

    def count() -> int:
        return versions.count_versions(store, where=where, params=params, filter=filter)

    # compile once now so a bad filter fails at the call, as W&B's does
    versions.count_versions(store, where="0", filter=filter)
    return Paginator(fetch, count, per_page, start)


def _collections_paginator(store: Store, where: str, params: list, filter: dict | None = None,
                           order: str | None = None, per_page: int = 50, start: str | None = None) -> Paginator:
    def fetch(limit: int, cursor: str | None):
        items, nxt = registries.list_collections(store, where=where, params=params, filter=filter,
                                                 order=order, limit=limit, cursor=cursor)
        return [ArtifactCollection(store, c) for c in items], nxt

    def count() -> int:
        return registries.count_collections(store, where=where, params=params, filter=filter)

    registries.count_collections(store, where="0", filter=filter)
    return Paginator(fetch, count, per_page, start)


class ArtifactCollection:
    """A source collection (a "sequence") or a registry collection (a "portfolio")."""

    def __init__(self, store: Store, coll: registries.Collection) -> None:
        self._store = store
        self._c = coll
        self.name = coll.name
        self.description = coll.description
        self.tags = list(coll.tags)
        self._deleted = False

    @classmethod
    def _load(cls, store: Store, collection_id: int) -> "ArtifactCollection":
        return cls(store, registries.get_collection(store, collection_id))

    id = property(lambda self: str(self._c.id))
    type = property(lambda self: self._c.type)
    created_at = property(lambda self: self._c.created_at)
    updated_at = property(lambda self: self._c.updated_at)

    @property
    def entity(self) -> str:
        return self._c.org if self._c.registry else self._c.entity  # type: ignore[return-value]

    @property
    def project(self) -> str:
        return f"{names.REGISTRY_PREFIX}{self._c.registry}" if self._c.registry else self._c.project  # type: ignore[return-value]

    @property
    def path(self) -> str:
        return self._c.path

    def is_sequence(self) -> bool:
        return self._c.is_sequence

    @property
    def aliases(self) -> list[str]:
        out: list[str] = []
        for a in self.artifacts(per_page=500):
            out.extend(x for x in a.aliases if x not in out)
        return sorted(out)

    def artifacts(self, per_page: int = 50, order: str | None = None, filter: dict | None = None,
                  start: str | None = None) -> Paginator:
        return _versions_paginator(self._store, "v.collection_id = ?", [self._c.id], filter, order, per_page, start)

    versions = artifacts

    def save(self) -> None:
        """Persist edits of ``name``, ``description`` and ``tags``."""
        self._c = registries.update_collection(self._store, self._c, description=self.description,
                                               tags=self.tags, name=self.name)

    def delete(self) -> None:
        """Delete the collection: for a registry collection its links (never the sources)."""
        registries.delete_collection(self._store, self._c)
        self._deleted = True

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self._c.path} ({self._c.type})>"


class ArtifactTypes(list):
    """``Registry.artifact_types``: types can be added, never removed once saved.

    As in W&B, a type appended since the last save can still be removed.
    """

    def __init__(self, saved: Any = ()) -> None:
        super().__init__(saved)
        self._saved = tuple(saved)

    @property
    def draft(self) -> list[str]:
        return [t for t in self if t not in self._saved]

    def _keep_saved(self, values: Any) -> None:
        gone = [v for v in values if v in self._saved]
        if gone:
            raise InvalidInput(f"artifact types cannot be removed from a registry: {', '.join(map(str, gone))}")

    def append(self, value: Any) -> None:
        if value not in self:
            super().append(value)

    def remove(self, value: Any) -> None:
        self._keep_saved([value])
        super().remove(value)

    def pop(self, index: Any = -1) -> Any:
        self._keep_saved([self[index]])
        return super().pop(index)

    def clear(self) -> None:
        self._keep_saved(list(self))
        super().clear()

    def __delitem__(self, key: Any) -> None:
        self._keep_saved(self[key] if isinstance(key, slice) else [self[key]])
        super().__delitem__(key)


class Registry:
    """A registry of an organization (``wandb-registry-<name>``)."""

    def __init__(self, store: Store, reg: registries.Registry) -> None:
        self._store = store
        self._load_from(reg)

    def _load_from(self, reg: registries.Registry) -> None:
        self._r = reg
        self.description = reg.description
        self.visibility = reg.visibility
        self.allow_all_artifact_types = reg.allow_all_artifact_types
        self.artifact_types = ArtifactTypes(reg.artifact_types or [])

    name = property(lambda self: self._r.name)
    full_name = property(lambda self: self._r.full_name)
    organization = property(lambda self: self._r.org)
    entity = property(lambda self: self._r.org)
    created_at = property(lambda self: self._r.created_at)
    updated_at = property(lambda self: self._r.updated_at)
    id = property(lambda self: str(self._r.id))

    def collections(self, filter: dict | None = None, per_page: int = 50, order: str | None = None,
                    start: str | None = None) -> Paginator:
        return _collections_paginator(self._store, "c.registry_id = ?", [self._r.id], filter, order, per_page, start)

    def versions(self, filter: dict | None = None, per_page: int = 50, order: str | None = None,
                 start: str | None = None) -> Paginator:
        return _versions_paginator(self._store, "c.registry_id = ?", [self._r.id], filter, order, per_page, start)

    def save(self) -> None:
        """Persist edits of description, visibility and artifact types."""
        allow_all = self.allow_all_artifact_types
        # types added while every type is allowed are an error (as in W&B), not silently dropped
        types = list(self.artifact_types) if not allow_all or self.artifact_types.draft else None
        self._load_from(registries.update_registry(
            self._store, self._r, description=self.description, visibility=self.visibility,
            artifact_types=types, allow_all_artifact_types=allow_all if allow_all != self._r.allow_all_artifact_types else None,
        ))

    def load(self) -> None:
        self._load_from(registries.get_registry(self._store, self._r.name, self._r.org))

    def members(self) -> list[access.Member]:
        """The registry's members with their roles (``admin``, ``member``, ``viewer``)."""
        return access.members(self._store, self._r)

    def add_members(self, *members: Any, role: str = "member") -> list[access.Member]:
        """Add users (names, or objects with ``username``) with ``role``; needs admin."""
        return access.add_members(self._store, self._r, list(members), role)

    def remove_members(self, *members: Any) -> list[access.Member]:
        return access.remove_members(self._store, self._r, list(members))

    def update_member(self, member: Any, role: str) -> list[access.Member]:
        return access.update_member(self._store, self._r, member, role)

    def delete(self) -> None:
        registries.delete_registry(self._store, self._r)

    def __repr__(self) -> str:
        return f"<Registry {self._r.org}/{self._r.full_name}>"


class Registries:
    """``Api().registries(...)``: iterate registries, or chain ``.collections()`` / ``.versions()``."""

    def __init__(self, store: Store, org: str | None, filter: dict | None) -> None:
        self._store = store
        self._items = [Registry(store, r) for r in registries.list_registries(store, org, filter)]

    def __iter__(self) -> Iterator[Registry]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Registry:
        return self._items[i]

    def _where(self) -> tuple[str, list]:
        ids = [r._r.id for r in self._items]
        if not ids:
            return "0", []
        return f"c.registry_id IN ({','.join('?' * len(ids))})", ids

    def collections(self, filter: dict | None = None, per_page: int = 50, order: str | None = None,
                    start: str | None = None) -> Paginator:
        where, params = self._where()
        return _collections_paginator(self._store, where, params, filter, order, per_page, start)

    def versions(self, filter: dict | None = None, per_page: int = 50, order: str | None = None,
                 start: str | None = None) -> Paginator:
        where, params = self._where()
        return _versions_paginator(self._store, where, params, filter, order, per_page, start)


class Api:
    """Read and manage artifacts and registries (W&B's public API), with no network."""

    def __init__(self, overrides: dict | None = None, timeout: int | None = None,
                 api_key: str | None = None, home: str | None = None) -> None:
        self._store = open_store(home)
        self._overrides = dict(overrides or {})

    @property
    def store(self) -> Store:
        return self._store

    @property
    def default_entity(self) -> str:
        return self._store.default("entity", self._overrides.get("entity"))

    def _scope(self) -> dict[str, str | None]:
        return {"entity": self._overrides.get("entity"), "project": self._overrides.get("project"),
                "org": self._overrides.get("organization")}

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """The version ``[entity/project/]name:alias`` or ``[org/]wandb-registry-R/C:alias``."""
        v = versions.resolve(self._store, name, type=type, **self._scope())
        return Artifact._from_version(self._store, v)

    def _collection_id(self, type_name: str | None, name: str) -> int:
        ref = names.parse_ref(name, allow_alias=False, what="collection name")
        s = self._scope()
        cid, ctype, where = versions.collection_id(self._store, ref, entity=s["entity"], project=s["project"], org=s["org"])
        if type_name is not None and ctype != type_name:
            raise TypeMismatch(f"collection {ref.name!r} in {where} has type {ctype!r}, not {type_name!r}")
        return cid

    def artifacts(self, type_name: str | None, name: str, per_page: int = 50, tags: Any = None,
                  order: str | None = None, filter: dict | None = None, start: str | None = None) -> Paginator:
        """The versions of a collection, oldest first unless ``order`` says otherwise."""
        cid = self._collection_id(type_name, name)
        flt = filter
        if tags:
            tag_filter = {"tag": {"$in": [tags] if isinstance(tags, str) else list(tags)}}
            flt = {"$and": [flt, tag_filter]} if flt else tag_filter
        return _versions_paginator(self._store, "v.collection_id = ?", [cid], flt, order, per_page, start)

    artifact_versions = artifacts

    def artifact_collection(self, type_name: str | None, name: str) -> ArtifactCollection:
        return ArtifactCollection._load(self._store, self._collection_id(type_name, name))

    def artifact_collections(self, project_name: str, type_name: str | None = None, per_page: int = 50,
                             start: str | None = None) -> Paginator:
        """The source collections of a project (``entity/project`` or ``project``)."""
        parts = project_name.split("/")
        if len(parts) > 2:
            raise InvalidInput(f"invalid project {project_name!r}: expected entity/project")
        entity = parts[0] if len(parts) == 2 else self._store.default("entity", self._overrides.get("entity"))
        pid = self._store.project_id(entity, parts[-1])
        where = "c.project_id = ?"
        params: list[Any] = [pid]
        if type_name is not None:
            names.check_type(type_name, allow_reserved=True)
            where, params = "c.project_id = ? AND c.type = ?", [pid, type_name]
        return _collections_paginator(self._store, where, params, None, None, per_page, start)

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        try:
            self.artifact(name, type)
            return True
        except (NotFound, TypeMismatch, PermissionDenied):  # a restricted registry you may not read: not there
            return False

    def artifact_collection_exists(self, name: str, type: str | None = None) -> bool:
        try:
            self._collection_id(type, name)
            return True
        except (NotFound, TypeMismatch, PermissionDenied):
            return False

    def create_registry(self, name: str, visibility: str = "organization", organization: str | None = None,
                        description: str | None = None, artifact_types: list[str] | None = None) -> Registry:
        reg = registries.create_registry(self._store, name, org=organization or self._overrides.get("organization"),
                                         visibility=visibility, description=description, artifact_types=artifact_types)
        return Registry(self._store, reg)

    def registry(self, name: str, organization: str | None = None) -> Registry:
        return Registry(self._store, registries.get_registry(self._store, name, organization or self._overrides.get("organization")))

    def registries(self, organization: str | None = None, filter: dict | None = None) -> Registries:
        return Registries(self._store, organization or self._overrides.get("organization"), filter)

    def run(self, path: str) -> ApiRun:
        """A run by ``entity/project/run_id``."""
        return ApiRun(self._store, runs.find_run(self._store, path))
