"""``Api``, ``Registry``, ``ArtifactCollection`` and their lazy, paged listings."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import access, catalog, names, registries, runs, versions
from ..errors import AlreadyExists, ApiUsageError, InvalidInput, InvalidName, NotFound, PermissionDenied, TypeMismatch
from ..store import Store, open_store
from .artifact import Artifact
from .paging import Chain, Paginator
from .runview import RunView


class ApiRun(RunView):
    """A run as read back from the store (``artifact.logged_by()``, ``Api().run(path)``)."""

    state = property(lambda self: self._info.state)
    config = property(lambda self: dict(self._info.config))
    path = property(lambda self: self._info.path.split("/"))
    created_at = property(lambda self: self._info.started_at)

    def log_artifact(self, artifact: Artifact, aliases: Iterable[str] | None = None,
                     tags: Iterable[str] | None = None) -> Artifact:
        """Record a logged version as an output of this (finished) run, as W&B's public ``Run.log_artifact``.

        Only logged artifacts of this run's project are accepted; ``aliases``
        and ``tags`` are added to the version. W&B's ``Api`` reports refusals
        as ``CommError``: so does this (they are ``ValueError`` too).
        """
        if not isinstance(artifact, Artifact):
            raise ApiUsageError("You must pass a wandb.Api().artifact() to log_artifact, "
                                f"not {type(artifact).__name__}")
        if artifact.is_draft():
            raise ApiUsageError("Only existing artifacts are accepted by this api: log the draft first "
                                "(run.log_artifact in a live run, or artifact.save())")
        if (self.entity, self.project) != (artifact.source_entity, artifact.source_project):
            raise ApiUsageError(
                f"A run can't log an artifact to a different project: {artifact.source_qualified_name} "
                f"is in {artifact.source_entity}/{artifact.source_project}, the run in {self.entity}/{self.project}"
            )
        alias_list, tag_list = names.check_aliases(aliases), names.check_tags(tags)
        source = artifact.source_artifact
        runs.record_output(self._store, self._info.pk, source._v, aliases=alias_list, tags=tag_list)  # type: ignore[arg-type]
        source._set_version(versions.get(self._store, source._v.id))  # type: ignore[union-attr]
        return artifact

    def use_artifact(self, artifact: Artifact, use_as: str | None = None) -> Artifact:
        """Record that this run used a logged artifact (W&B's public ``Run.use_artifact``)."""
        if not isinstance(artifact, Artifact):
            raise ApiUsageError("You must pass a wandb.Api().artifact() to use_artifact, "
                                f"not {type(artifact).__name__}")
        if artifact.is_draft():
            raise ApiUsageError("Only existing artifacts are accepted by this api: log the draft first")
        runs.record_use(self._store, self._info.pk, artifact._v)  # type: ignore[arg-type]
        return artifact

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


class Collections(Paginator):
    """A paged listing of collections; ``.versions(...)`` chains to their versions (W&B's registry search)."""

    def __init__(self, store: Store, where: str, params: list, filter: dict | None = None,
                 order: str | None = None, per_page: int = 50, start: str | None = None) -> None:
        def fetch(limit: int, cursor: str | None):
            items, nxt = registries.list_collections(store, where=where, params=params, filter=filter,
                                                     order=order, limit=limit, cursor=cursor)
            return [ArtifactCollection(store, c) for c in items], nxt

        def count() -> int:
            return registries.count_collections(store, where=where, params=params, filter=filter)

        registries.count_collections(store, where="0", filter=filter)  # a bad filter fails here, as in W&B
        super().__init__(fetch, count, per_page, start)
        self._store = store
        self.order = order
        self._where, self._params, self._filter = where, params, filter

    def versions(self, filter: dict | None = None, order: str | None = None, per_page: int = 50,
                 start: str | None = None) -> "Paginator | Chain":
        """The versions of these collections: grouped by collection when the collections were ordered."""
        if self.order is not None:
            if start is not None:
                raise InvalidInput(f"start={start!r} is not supported when the collections were listed with "
                                   f"order={self.order!r}; remove one of them")
            colls = list(Collections(self._store, self._where, self._params, self._filter, self.order, 500))
            return Chain(_versions_paginator(self._store, "v.collection_id = ?", [c._c.id], filter, order, per_page)
                         for c in colls)
        ids = [c._c.id for c in Collections(self._store, self._where, self._params, self._filter, None, 500)]
        where, params = _in("v.collection_id", ids)
        return _versions_paginator(self._store, where, params, filter, order, per_page, start)


def _in(column: str, ids: list[int]) -> tuple[str, list]:
    if not ids:
        return "0", []
    return f"{column} IN ({','.join('?' * len(ids))})", list(ids)


def _collections_paginator(store: Store, where: str, params: list, filter: dict | None = None,
                           order: str | None = None, per_page: int = 50, start: str | None = None) -> Collections:
    return Collections(store, where, params, filter, order, per_page, start)


class ArtifactCollection:
    """A source collection (a "sequence") or a registry collection (a "portfolio")."""

    def __init__(self, store: Store, coll: registries.Collection) -> None:
        self._store = store
        self._c = coll
        self.name = coll.name
        self.description = coll.description
        self.tags = list(coll.tags)
        self._type = coll.type
        self._deleted = False

    @property
    def type(self) -> str:
        return self._type

    @type.setter
    def type(self, value: str) -> None:
        """Set a new type, saved by ``save()``: W&B allows it for source collections (sequences) only."""
        if not self._c.is_sequence:
            raise InvalidInput("Type can only be changed if the artifact collection is a sequence.")
        self._type = value

    @classmethod
    def _load(cls, store: Store, collection_id: int) -> "ArtifactCollection":
        return cls(store, registries.get_collection(store, collection_id))

    id = property(lambda self: str(self._c.id))
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
        """Persist edits of ``name``, ``description``, ``tags`` and (for a source collection) ``type``."""
        self._c = registries.update_collection(self._store, self._c, description=self.description,
                                               tags=self.tags, name=self.name, type=self._type)
        self._type = self._c.type

    def change_type(self, new_type: str) -> None:
        """Change the type of a source collection now (W&B's deprecated form of ``type = ...; save()``)."""
        if not self._c.is_sequence:
            raise InvalidInput("Artifact collection needs to be a sequence")
        self._c = registries.update_collection(self._store, self._c, type=new_type)
        self._type = self._c.type

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
    def draft(self) -> tuple[str, ...]:
        """The types added since the last save (a tuple, as W&B's)."""
        return tuple(t for t in self if t not in self._saved)

    def _keep_saved(self, values: Any) -> None:
        gone = [v for v in values if v in self._saved]
        if gone:
            raise InvalidInput(f"Cannot remove artifact type(s) {', '.join(map(repr, gone))}: types saved on a "
                               "registry can be added to, never removed")

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


@contextlib.contextmanager
def _wandb_words(action: str, name: Any, org: Any) -> Iterator[None]:
    """Re-raise the domain's refusal with W&B's words in front (W&B code and tests match them); same class."""
    where = f"{action} registry {name!r} in organization {org!r}" if org else f"{action} registry {name!r}"
    from ..orgs import UnknownOrganization

    try:
        yield
    except UnknownOrganization:
        raise  # W&B says "Organization entity for 'X' not found." first here, as the domain does
    except NotFound as e:
        raise NotFound(f"Failed to {where}: {e}", e.ref) from None
    except AlreadyExists as e:
        raise AlreadyExists(f"Registry {name!r} already exists in organization {org!r}, please use a different "
                            f"name. ({e})") from None
    except InvalidName as e:
        text = str(e)
        prefix = "" if "characters or less" in text or text.startswith("Artifact types") else "Invalid project/registry name: "
        raise InvalidName(f"{prefix}{text}", e.value) from None
    except InvalidInput as e:
        text = str(e)
        if text.startswith("invalid visibility"):
            raise InvalidInput("Invalid visibility" + text[len("invalid visibility"):]) from None
        raise


class Registry:
    """A registry of an organization (``wandb-registry-<name>``)."""

    def __init__(self, store: Store, reg: registries.Registry) -> None:
        self._store = store
        self._load_from(reg)

    def _load_from(self, reg: registries.Registry) -> None:
        self._r = reg
        self._name = reg.name
        self.description = reg.description
        self.visibility = reg.visibility
        self.allow_all_artifact_types = reg.allow_all_artifact_types
        self.artifact_types = ArtifactTypes(reg.artifact_types or [])

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        """A new name, saved (a rename, keeping collections and links) by ``save()``."""
        self._name = value

    @property
    def full_name(self) -> str:
        return f"{names.REGISTRY_PREFIX}{self._name}"

    organization = property(lambda self: self._r.org)
    entity = property(lambda self: self._r.org)
    created_at = property(lambda self: self._r.created_at)
    updated_at = property(lambda self: self._r.updated_at)

    @property
    def id(self) -> str:
        """W&B's form of a registry id: base64 of ``Project:<n>`` (read-only)."""
        return base64.b64encode(f"Project:{self._r.id}".encode()).decode()

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
        with _wandb_words("save", self._name, self._r.org):
            reg = registries.update_registry(
                self._store, self._r, description=self.description, visibility=self.visibility,
            artifact_types=types, allow_all_artifact_types=allow_all if allow_all != self._r.allow_all_artifact_types else None,
                name=self._name if self._name != self._r.name else None,
            )
        self._load_from(reg)

    def load(self) -> None:
        with _wandb_words("load", self._r.name, self._r.org):
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
        with _wandb_words("delete", self._r.name, self._r.org):
            registries.delete_registry(self._store, self._r)

    def __repr__(self) -> str:
        return f"<Registry {self._r.org}/{self._r.full_name}>"


_REGISTRY_ORDER = {"name": lambda r: r.name, "created_at": lambda r: r.created_at,
                   "updated_at": lambda r: r.updated_at}


def _registry_filter(filter: dict | None) -> dict | None:
    """W&B matches ``name`` against the full name and adds ``wandb-registry-`` to plain operands:
    ``{"name": "model"}`` and ``{"name": "wandb-registry-model"}`` find the same registry."""
    def prefix(operand: Any) -> Any:
        if isinstance(operand, str):
            return operand if operand.startswith(names.REGISTRY_PREFIX) else names.REGISTRY_PREFIX + operand
        if isinstance(operand, dict):
            return {k: (v if k in ("$regex", "$contains") else prefix(v)) for k, v in operand.items()}
        if isinstance(operand, (list, tuple)):
            return [prefix(v) for v in operand]
        return operand

    def walk(f: Any) -> Any:
        if isinstance(f, dict):
            out: dict = {}
            for k, v in f.items():
                if k == "name" and isinstance(v, dict) and "$regex" in v:
                    # a regex is tried on the full name (W&B) and on the short name (localreg's habit)
                    out.setdefault("$and", []).append({"$or": [{"full_name": v}, {"name": v}]})
                elif k == "name":
                    out["full_name"] = prefix(v)
                else:
                    out[k] = walk(v)
            return out
        if isinstance(f, list):
            return [walk(x) for x in f]
        return f

    return walk(filter) if filter is not None else None


class Registries(Paginator):
    """``Api().registries(...)``: page through registries, or chain ``.collections()`` / ``.versions()``."""

    def __init__(self, store: Store, org: str | None, filter: dict | None, order: str | None = None,
                 per_page: int = 100, start: str | None = None) -> None:
        self._store = store
        self.order = order
        found = registries.list_registries(store, org, _registry_filter(filter))
        if order is not None:
            key = order.lstrip("+-")
            if key not in _REGISTRY_ORDER:
                raise InvalidInput(f"cannot order registries by {key!r}; use one of {', '.join(_REGISTRY_ORDER)}")
            found.sort(key=_REGISTRY_ORDER[key], reverse=order.startswith("-"))
        items = [Registry(store, r) for r in found]

        def fetch(limit: int, cursor: str | None):
            begin = _decode_offset(cursor)
            page = items[begin:begin + limit]
            return page, (_encode_offset(begin + limit) if begin + limit < len(items) else None)

        super().__init__(fetch, lambda: len(items), per_page, start)
        self._items = items

    def _where(self) -> tuple[str, list]:
        return _in("c.registry_id", [r._r.id for r in self._items])

    def collections(self, filter: dict | None = None, per_page: int = 100, order: str | None = None,
                    start: str | None = None) -> "Collections | Chain":
        """The collections of these registries (grouped by registry when the registries were ordered)."""
        if self.order is not None:
            if start is not None:
                raise InvalidInput(f"start={start!r} is not supported when the registries were listed with "
                                   f"order={self.order!r}; remove one of them")
            return Chain((r.collections(filter, per_page, order) for r in self._items), versions=True)
        where, params = self._where()
        return _collections_paginator(self._store, where, params, filter, order, per_page, start)

    def versions(self, filter: dict | None = None, per_page: int = 100, order: str | None = None,
                 start: str | None = None) -> "Paginator | Chain":
        """The linked versions in these registries (grouped by registry when the registries were ordered)."""
        if self.order is not None:
            if start is not None:
                raise InvalidInput(f"start={start!r} is not supported when the registries were listed with "
                                   f"order={self.order!r}; remove one of them")
            return Chain(r.versions(filter, per_page, order) for r in self._items)
        where, params = self._where()
        return _versions_paginator(self._store, where, params, filter, order, per_page, start)


def _encode_offset(n: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["offset", n]).encode()).decode()


def _decode_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        tag, n = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if tag != "offset" or not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(cursor)
        return n
    except Exception:
        raise InvalidInput(f"invalid cursor {cursor!r}") from None


class ArtifactType:
    """An artifact type of a project (W&B's ``Api().artifact_type(name, project)``)."""

    def __init__(self, store: Store, entity: str, project: str, name: str) -> None:
        self._store = store
        self.entity, self.project, self.name = entity, project, name

    @property
    def id(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"

    def collections(self, per_page: int = 50) -> Collections:
        """The source collections of this type in the project."""
        pid = self._store.project_id(self.entity, self.project)
        return _collections_paginator(self._store, "c.project_id = ? AND c.type = ?", [pid, self.name], None, None,
                                      per_page)

    def collection(self, name: str) -> "ArtifactCollection":
        ref = names.parse_ref(f"{self.entity}/{self.project}/{name}", allow_alias=False, what="collection name")
        cid, ctype, where = versions.collection_id(self._store, ref, entity=self.entity, project=self.project)
        if ctype != self.name:
            raise TypeMismatch(f"collection {name!r} in {where} has type {ctype!r}, not {self.name!r}")
        return ArtifactCollection._load(self._store, cid)

    def __repr__(self) -> str:
        return f"<ArtifactType {self.name}>"


class Project:
    """A project (W&B's ``Api().project(name, entity)``)."""

    def __init__(self, store: Store, entity: str, name: str) -> None:
        self._store = store
        self.entity, self.name = entity, name

    @property
    def path(self) -> list[str]:
        return [self.entity, self.name]

    def artifacts_types(self, per_page: int = 50) -> list[ArtifactType]:
        return [ArtifactType(self._store, self.entity, self.name, t)
                for t in catalog.artifact_types(self._store, self.entity, self.name)]

    def __repr__(self) -> str:
        return f"<Project {self.entity}/{self.name}>"


class _NoGraphQL:
    """``Api().client``: W&B code reaches for the GraphQL client; localreg has no server behind it."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        raise ApiUsageError("localreg has no GraphQL server: Api().client.execute is not available; "
                            "use the Api methods instead")

    def __repr__(self) -> str:
        return "<localreg: no GraphQL client>"


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

    client = _NoGraphQL()

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """The version ``[entity/project/]name:alias`` or ``[org/]wandb-registry-R/C:alias``."""
        v = versions.resolve(self._store, name, type=type, **self._scope())
        return Artifact._from_version(self._store, v)

    def _parse_artifact_path(self, path: str) -> tuple[str, str, str]:
        """W&B's split of ``[entity/[project/]]name[:alias]`` (the alias may hold ``/`` and ``:``)."""
        head, sep, alias = path.partition(":")
        parts = head.split("/")
        if len(parts) > 3:
            raise InvalidInput(f"Invalid artifact path: {path}")
        name = parts[-1] + sep + alias
        project = parts[-2] if len(parts) >= 2 else self._store.default("project", self._overrides.get("project"))
        entity = parts[-3] if len(parts) == 3 else self.default_entity
        return entity, project, name

    def artifact_type(self, type_name: str, project: str | None = None) -> ArtifactType:
        """The type ``type_name`` of a project (``project`` or ``entity/project``, default the default project)."""
        entity, proj = self._project_path(project)
        names.check_type(type_name, allow_reserved=True)
        if type_name not in catalog.artifact_types(self._store, entity, proj):
            raise NotFound(f"artifact type {type_name!r} not found in project {entity}/{proj}", type_name)
        return ArtifactType(self._store, entity, proj, type_name)

    def artifact_types(self, project: str | None = None) -> list[ArtifactType]:
        """The artifact types of a project's source collections."""
        entity, proj = self._project_path(project)
        return [ArtifactType(self._store, entity, proj, t) for t in catalog.artifact_types(self._store, entity, proj)]

    def project(self, name: str, entity: str | None = None) -> Project:
        """A project by name (of ``entity``, default the default entity)."""
        ent = self._store.default("entity", entity or self._overrides.get("entity"))
        self._store.project_id(ent, names.check_name(name, "project name"))  # NotFound if missing
        return Project(self._store, ent, name)

    def projects(self, entity: str | None = None, per_page: int = 200) -> list[Project]:
        """The projects of ``entity`` (default the default entity)."""
        ent = self._store.default("entity", entity or self._overrides.get("entity"))
        return [Project(self._store, p.entity, p.name) for p in catalog.projects(self._store, ent)]

    def automations(self, entity: str | None = None, *, name: str | None = None, per_page: int = 50) -> list:
        """W&B automations: localreg has none (it runs no server), so this is always empty."""
        return []

    def _project_path(self, project: str | None) -> tuple[str, str]:
        parts = project.split("/") if project else []
        if len(parts) > 2:
            raise InvalidInput(f"invalid project {project!r}: expected project or entity/project")
        entity = parts[0] if len(parts) == 2 else self.default_entity
        proj = parts[-1] if parts else self._store.default("project", self._overrides.get("project"))
        return names.check_name(entity, "entity name"), names.check_name(proj, "project name")

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
            # W&B: a version must carry every tag asked for
            wanted = names.check_tags([tags] if isinstance(tags, str) else list(tags))
            tag_filter = {"$and": [{"tag": t} for t in wanted]}
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
        org = organization or self._overrides.get("organization")
        with _wandb_words("create", name, org or self._store.default("org")):
            reg = registries.create_registry(self._store, name, org=org, visibility=visibility,
                                             description=description, artifact_types=artifact_types)
        return Registry(self._store, reg)

    def registry(self, name: str, organization: str | None = None) -> Registry:
        org = organization or self._overrides.get("organization")
        with _wandb_words("load", name, org or self._store.default("org")):
            return Registry(self._store, registries.get_registry(self._store, name, org))

    def registries(self, organization: str | None = None, filter: dict | None = None, order: str | None = None,
                   per_page: int = 100, start: str | None = None) -> Registries:
        """The registries of an org, paged; ``filter`` on ``name`` matches with or without ``wandb-registry-``;
        ``order`` is ``name``, ``created_at`` or ``updated_at`` (``-`` for descending)."""
        # no org: the settings' org, else the org of the default entity (several: W&B's error)
        return Registries(self._store, organization or self._overrides.get("organization"), filter, order,
                          per_page, start)

    def run(self, path: str = "") -> ApiRun:
        """A run by ``entity/project/run_id``, ``project/run_id`` or ``run_id`` (defaults fill the rest)."""
        parts = [p for p in path.split("/") if p]
        if len(parts) == 4 and parts[2] == "runs":  # W&B also takes entity/project/runs/run_id
            parts = [parts[0], parts[1], parts[3]]
        if not 1 <= len(parts) <= 3:
            raise InvalidInput(f"invalid run path {path!r}: expected entity/project/run_id, project/run_id or run_id")
        run_id = parts[-1]
        project = parts[-2] if len(parts) >= 2 else self._store.default("project", self._overrides.get("project"))
        entity = parts[-3] if len(parts) == 3 else self.default_entity
        return ApiRun(self._store, runs.find_run(self._store, f"{entity}/{project}/{run_id}"))
