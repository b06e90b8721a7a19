"""``Artifact``: a draft that collects files, then a logged version or link.

A few lines per member over the domain verbs (``localreg.versions``,
``localreg.registries``, ``localreg.objects``); no SQL, no fsspec here.
Files are stored (content-addressed) as they are added, as W&B stages
them, so later edits of the local file do not change the draft.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import hashing, ingest, names, registries, runs, versions
from ..errors import ArtifactStateError, InvalidInput, NotFound, VerificationError
from ..objects import Entry, Objects, verify_tree
from ..store import Store
from .context import default_store
from .table import Table

if TYPE_CHECKING:
    from .api import ApiRun, ArtifactCollection
    from .run import Run

TABLE_SUFFIX = ".table.json"


class ManifestEntry:
    """One file of an artifact (W&B's ``ArtifactManifestEntry``)."""

    def __init__(self, artifact: "Artifact", entry: Entry) -> None:
        self._artifact = artifact
        self._entry = entry

    path = property(lambda self: self._entry.path)
    name = property(lambda self: self._entry.path)
    digest = property(lambda self: self._entry.digest)
    size = property(lambda self: self._entry.size)
    ref = property(lambda self: self._entry.ref)

    def ref_url(self) -> str | None:
        return self._entry.ref

    def download(self, root: str | None = None, skip_cache: bool | None = None) -> str:
        """Write this file under ``root`` (the artifact's default folder) and return its path."""
        root = root or self._artifact._default_root()
        self._artifact._objects().materialize([self._entry], root)
        return os.path.join(root, *self._entry.path.split("/"))

    def __repr__(self) -> str:
        return f"<ManifestEntry {self.path} {self.digest} {self.size}>"


class Manifest:
    def __init__(self, artifact: "Artifact", entries: list[Entry]) -> None:
        self.entries = {e.path: ManifestEntry(artifact, e) for e in entries}

    def to_manifest_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "storagePolicy": "localreg-sha256",
            "contents": {p: m._entry.to_dict() for p, m in self.entries.items()},
        }

    def __len__(self) -> int:
        return len(self.entries)


class Artifact:
    """A W&B-compatible artifact: ``Artifact(name, type)`` is a draft until logged."""

    def __init__(self, name: str, type: str, description: str | None = None,
                 metadata: dict | None = None, incremental: bool = False,
                 use_as: str | None = None, storage_region: str | None = None) -> None:
        names.check_name(name)
        names.check_type(type)
        if description is not None and not isinstance(description, str):
            raise InvalidInput("description must be a string")
        self._name = name
        self._type = type
        self._description = description
        self._metadata = hashing.clean_metadata(metadata)
        self._entries: dict[str, Entry] = {}
        self._store: Store | None = None
        self._v: versions.Version | None = None
        self._aliases: list[str] = []
        self._tags: list[str] = []
        self._ttl: _dt.timedelta | None = None
        self._ttl_changed = False
        self._deleted = False

    # -- construction from the store ------------------------------------------------
    @classmethod
    def _from_version(cls, store: Store, v: versions.Version) -> "Artifact":
        a = cls.__new__(cls)
        a._name = v.collection
        a._type = v.type
        a._store = store
        a._entries = {}
        a._set_version(v)
        a._deleted = False
        return a

    def _set_version(self, v: versions.Version) -> None:
        self._v = v
        self._description = v.description
        self._metadata = dict(v.metadata)
        self._aliases = list(v.aliases)
        self._tags = list(v.tags)
        self._ttl = None
        if v.ttl_expires_at:
            expires = _dt.datetime.strptime(v.ttl_expires_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)
            self._ttl = expires - _dt.datetime.fromisoformat(v.created_at.replace("Z", "+00:00"))
        self._ttl_changed = False

    # -- state helpers ----------------------------------------------------------------
    def _logged(self, member: str) -> versions.Version:
        if self._v is None:
            raise ArtifactStateError(
                f"{member!r} is not available on draft artifact {self._name!r}; log it first (run.log_artifact)"
            )
        if self._deleted:
            raise ArtifactStateError(f"artifact {self._v.qualified_name} was deleted")
        return self._v

    def _draft(self, member: str) -> None:
        if self._v is not None:
            raise ArtifactStateError(
                f"cannot {member} on {self._v.qualified_name}: a logged artifact's files are final; "
                "create a new Artifact to log a new version"
            )

    def _the_store(self) -> Store:
        if self._store is None:
            self._store = default_store()
        return self._store

    def _objects(self) -> Objects:
        return Objects(self._the_store())

    def _all_entries(self) -> list[Entry]:
        if self._v is None:
            return sorted(self._entries.values(), key=lambda e: e.path)
        return versions.entries(self._the_store(), self._v)

    def _put(self, new: list[Entry], overwrite: bool, merge: bool = False) -> None:
        for e in new:
            old = self._entries.get(e.path)
            if old is not None and old.digest != e.digest and not (overwrite or merge):
                raise InvalidInput(
                    f"file {e.path!r} is already in artifact {self._name!r} with other content; "
                    "pass overwrite=True to replace it"
                )
        for e in new:
            self._entries[e.path] = e

    # -- draft-only members -------------------------------------------------------------
    def add_file(self, local_path: str, name: str | None = None, is_tmp: bool = False,
                 skip_cache: bool = False, policy: str = "mutable", overwrite: bool = False) -> ManifestEntry:
        """Add one local file (stored now, so later edits of it do not change the draft).

        ``policy="immutable"`` promises the file will not change in place:
        a big file is then hard-linked into the store instead of copied.
        """
        self._draft("add a file")
        if policy not in ("mutable", "immutable"):
            raise InvalidInput(f"invalid policy {policy!r}: use 'mutable' or 'immutable'")
        if not os.path.isfile(local_path):
            if os.path.exists(local_path):
                raise InvalidInput(f"{local_path!r} is not a file; use add_dir for folders")
            raise NotFound(f"file {local_path!r} not found", local_path)
        logical = names.check_logical_path(name or os.path.basename(local_path))
        [e] = self._objects().add_files([(logical, local_path)], link=policy == "immutable")
        self._put([e], overwrite)
        return ManifestEntry(self, e)

    def add_dir(self, local_path: str, name: str | None = None, skip_cache: bool = False,
                policy: str = "mutable", merge: bool = False) -> None:
        """Add every file under a folder; logical paths are relative to it (under ``name``)."""
        self._draft("add a folder")
        if policy not in ("mutable", "immutable"):
            raise InvalidInput(f"invalid policy {policy!r}: use 'mutable' or 'immutable'")
        files = ingest.collect_dir(local_path, name)
        new = self._objects().add_files(files, link=policy == "immutable")
        if not merge:
            for e in new:
                old = self._entries.get(e.path)
                if old is not None and old.digest != e.digest:
                    raise InvalidInput(
                        f"file {e.path!r} is already in artifact {self._name!r} with other content; "
                        "pass merge=True to replace it"
                    )
        self._put(new, overwrite=True)

    def add_reference(self, uri: str, name: str | None = None, checksum: bool = True,
                      max_objects: int | None = None) -> list[ManifestEntry]:
        """Add a reference to a file or folder at a URL (file://, memory://, any fsspec URL)."""
        self._draft("add a reference")
        new = ingest.reference_entries(self._the_store(), uri, name, checksum, max_objects)
        self._put(new, overwrite=False)
        return [ManifestEntry(self, e) for e in new]

    @contextlib.contextmanager
    def new_file(self, name: str, mode: str = "x", encoding: str | None = None) -> Iterator[Any]:
        """Write a new file of the artifact: ``with artifact.new_file("a.txt") as f: f.write(...)``."""
        self._draft("add a file")
        logical = names.check_logical_path(name)
        if logical in self._entries and "x" in mode:
            raise InvalidInput(f"file {logical!r} is already in artifact {self._name!r}")
        if "r" in mode or "+" in mode:
            raise InvalidInput(f"new_file opens for writing; mode {mode!r} is not supported")
        fmode = "w" + ("b" if "b" in mode else "")
        with tempfile.TemporaryDirectory(prefix="localreg-new-") as tmp:
            path = os.path.join(tmp, "f")
            with open(path, fmode, encoding=None if "b" in mode else (encoding or "utf-8")) as f:
                yield f
            [e] = self._objects().add_files([(logical, path)])
        self._put([e], overwrite=True)

    def remove(self, item: str | ManifestEntry) -> None:
        """Remove a file, or every file under a folder path, from the draft."""
        self._draft("remove a file")
        path = item.path if isinstance(item, ManifestEntry) else item
        if not isinstance(path, str):
            raise InvalidInput(f"remove takes a path or an entry, not {type(item).__name__}")
        path = path.rstrip("/")
        gone = [p for p in self._entries if p == path or p.startswith(path + "/")]
        if not gone:
            raise NotFound(f"file {path!r} not found in artifact {self._name!r}", path)
        for p in gone:
            del self._entries[p]

    def add(self, obj: Any, name: str, overwrite: bool = False) -> ManifestEntry:
        """Add a :class:`Table` as ``<name>.table.json``."""
        self._draft("add an object")
        if not isinstance(obj, Table):
            raise InvalidInput(f"artifact.add takes a Table, not {type(obj).__name__}")
        logical = names.check_logical_path(name if name.endswith(TABLE_SUFFIX) else name + TABLE_SUFFIX)
        digest, size = self._objects().add_bytes(obj.to_json_bytes())
        e = Entry(logical, digest, size)
        self._put([e], overwrite)
        return ManifestEntry(self, e)

    def __setitem__(self, name: str, obj: Any) -> None:
        self.add(obj, name)

    def get(self, name: str) -> Table | None:
        """The Table stored as ``name`` (``<name>.table.json``), or None."""
        for candidate in (name + TABLE_SUFFIX, name):
            try:
                e = self._entry(candidate)
            except NotFound:
                continue
            if candidate.endswith(TABLE_SUFFIX):
                return Table.from_json_bytes(self._objects().read_bytes(e.digest))
        return None

    def __getitem__(self, name: str) -> Table | None:
        return self.get(name)

    # -- reading ------------------------------------------------------------------------------
    def _entry(self, name: str) -> Entry:
        if self._v is None:
            e = self._entries.get(name)
            if e is None:
                raise NotFound(f"file {name!r} not found in artifact {self._name!r}", name)
            return e
        return versions.entry(self._the_store(), self._v, name)

    def get_entry(self, name: str) -> ManifestEntry:
        return ManifestEntry(self, self._entry(name))

    get_path = get_entry

    def files(self, names: list[str] | None = None, per_page: int = 50) -> list[ManifestEntry]:
        entries = self._all_entries()
        if names is not None:
            wanted = set(names)
            entries = [e for e in entries if e.path in wanted]
        return [ManifestEntry(self, e) for e in entries]

    @property
    def manifest(self) -> Manifest:
        return Manifest(self, self._all_entries())

    def _default_root(self) -> str:
        v = self._logged("download")
        return os.path.join(".", "artifacts", v.source_name)

    def download(self, root: str | None = None, allow_missing_references: bool = False,
                 skip_cache: bool | None = None, path_prefix: str | None = None,
                 multipart: bool | None = None, link_mode: str = "copy") -> str:
        """Write the files under ``root`` (default ``./artifacts/<source name>:vN``) and return it.

        ``link_mode``: ``copy`` (default), ``hardlink``, ``symlink`` or
        ``reflink``, as :meth:`localreg.objects.Objects.materialize` explains
        (files the store cannot link are copied).
        """
        self._logged("download")
        root = root or self._default_root()
        entries = self._all_entries()
        if path_prefix:
            entries = [e for e in entries if e.path.startswith(path_prefix)]
        self._objects().materialize(entries, root, link_mode=link_mode)
        return root

    def verify(self, root: str | None = None) -> None:
        """Re-hash a download; raise :class:`VerificationError` on any missing, extra or changed file."""
        self._logged("verify")
        root = root or self._default_root()
        problems = verify_tree(self._all_entries(), root)
        if problems:
            raise VerificationError(f"{root} does not match {self.qualified_name}: " + "; ".join(problems), problems)

    def file(self, root: str | None = None) -> str:
        """Download a single-file artifact and return the file's path."""
        entries = self._all_entries()
        if len(entries) != 1:
            raise InvalidInput(f"artifact {self._name!r} has {len(entries)} files; file() needs exactly one")
        root = self.download(root)
        return os.path.join(root, *entries[0].path.split("/"))

    # -- properties -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._v.name if self._v is not None else self._name

    @name.setter
    def name(self, value: str) -> None:
        self._draft("rename")
        self._name = names.check_name(value)

    @property
    def type(self) -> str:
        return self._type

    @property
    def description(self) -> str | None:
        return self._description

    @description.setter
    def description(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise InvalidInput("description must be a string")
        self._description = value

    @property
    def metadata(self) -> dict:
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict) -> None:
        self._metadata = hashing.clean_metadata(value)

    @property
    def digest(self) -> str:
        if self._v is not None:
            return self._v.digest
        return hashing.manifest_digest((e.path, e.digest) for e in self._entries.values())

    @property
    def size(self) -> int:
        if self._v is not None:
            return self._v.size
        return sum(e.size for e in self._entries.values())

    @property
    def file_count(self) -> int:
        return self._v.file_count if self._v is not None else len(self._entries)

    @property
    def state(self) -> str:
        if self._deleted:
            return "DELETED"
        return "PENDING" if self._v is None else "COMMITTED"

    @property
    def id(self) -> str | None:
        # as in W&B, a linked artifact has the id of the artifact it links to
        return str(self._v.data_id) if self._v is not None else None

    @property
    def version(self) -> str:
        return self._logged("version").version

    @property
    def aliases(self) -> list[str]:
        self._logged("aliases")
        return self._aliases

    @aliases.setter
    def aliases(self, value: list[str]) -> None:
        self._logged("aliases")
        self._aliases = list(names.check_aliases(value))

    @property
    def tags(self) -> list[str]:
        self._logged("tags")
        return self._tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self._logged("tags")
        self._tags = list(names.check_tags(value))

    @property
    def ttl(self) -> _dt.timedelta | None:
        return self._ttl

    @ttl.setter
    def ttl(self, value: _dt.timedelta | None) -> None:
        if value is not None and not isinstance(value, _dt.timedelta):
            raise InvalidInput("ttl must be a datetime.timedelta or None")
        if value is not None and value.total_seconds() <= 0:
            raise InvalidInput("ttl must be positive")
        self._ttl = value
        self._ttl_changed = True

    @property
    def entity(self) -> str:
        v = self._logged("entity")
        return v.org if v.registry is not None else v.entity  # type: ignore[return-value]

    @property
    def project(self) -> str:
        v = self._logged("project")
        return f"{names.REGISTRY_PREFIX}{v.registry}" if v.registry is not None else v.project  # type: ignore[return-value]

    @property
    def qualified_name(self) -> str:
        return self._logged("qualified_name").qualified_name

    @property
    def is_link(self) -> bool:
        # W&B answers False for a draft rather than raising: a draft is never a link
        return self._v is not None and self._logged("is_link").is_link

    @property
    def source_name(self) -> str:
        return self._logged("source_name").source_name

    @property
    def source_version(self) -> str:
        v = self._logged("source_version")
        return f"v{v.source_index}" if v.is_link else v.version

    @property
    def source_qualified_name(self) -> str:
        return self._logged("source_qualified_name").source_qualified_name

    @property
    def source_entity(self) -> str:
        v = self._logged("source_entity")
        return v.source_entity if v.is_link else v.entity  # type: ignore[return-value]

    @property
    def source_project(self) -> str:
        v = self._logged("source_project")
        return v.source_project if v.is_link else v.project  # type: ignore[return-value]

    @property
    def source_collection(self) -> "ArtifactCollection":
        v = self._logged("source_collection")
        from .api import ArtifactCollection
        src = versions.get(self._the_store(), v.data_id)
        return ArtifactCollection._load(self._the_store(), src.collection_id)

    @property
    def source_artifact(self) -> "Artifact":
        v = self._logged("source_artifact")
        if not v.is_link:
            return self
        return Artifact._from_version(self._the_store(), versions.get(self._the_store(), v.data_id))

    @property
    def linked_artifacts(self) -> list["Artifact"]:
        v = self._logged("linked_artifacts")
        if v.is_link:
            return []  # W&B: a linked artifact lists no links of its own
        store = self._the_store()
        return [Artifact._from_version(store, l) for l in versions.links_of(store, v)]

    @property
    def collection(self) -> "ArtifactCollection":
        v = self._logged("collection")
        from .api import ArtifactCollection
        return ArtifactCollection._load(self._the_store(), v.collection_id)

    @property
    def created_at(self) -> str:
        return self._logged("created_at").created_at

    @property
    def updated_at(self) -> str:
        return self._logged("updated_at").updated_at

    @property
    def url(self) -> str:
        return f"localreg://{self.qualified_name}"

    # -- life cycle --------------------------------------------------------------------------------
    def _commit(self, run: "Run | None", aliases: list[str] | None = None, tags: list[str] | None = None,
                entity: str | None = None, project: str | None = None) -> "Artifact":
        store = run._store if run is not None else self._the_store()
        if self._store is not None and self._store.home != store.home:
            raise InvalidInput(
                f"artifact {self._name!r} was staged in store {self._store.home}; it cannot be logged to {store.home}"
            )
        ttl = self._ttl.total_seconds() if self._ttl is not None else None
        v, _created = versions.log_version(
            store, name=self._name, type=self._type, entries=list(self._entries.values()),
            entity=run.entity if run is not None else entity, project=run.project if run is not None else project,
            description=self._description, metadata=self._metadata, aliases=aliases, tags=tags,
            run_pk=run._info.pk if run is not None else None, ttl_seconds=ttl,
        )
        self._store = store
        self._entries = {}
        self._set_version(v)
        return self

    def save(self, project: str | None = None, settings: Any = None) -> None:
        """Log a draft (with no run), or persist edits of a logged artifact.

        Editable once logged: description, metadata, aliases, tags, ttl.
        """
        if self._v is None:
            from .run import current
            self._commit(current(), project=project)
            return
        v = self._logged("save")
        store = self._the_store()
        with store.transaction():
            versions.update(
                store, v, description=self._description, metadata=self._metadata,
                ttl_seconds=(self._ttl.total_seconds() if self._ttl is not None else None) if self._ttl_changed else False,
            )
            versions.set_aliases(store, v, self._aliases)
            versions.set_tags(store, v, self._tags)
        self._set_version(versions.get(store, v.id))

    def wait(self, timeout: int | None = None) -> "Artifact":
        return self

    def is_draft(self) -> bool:
        return self._v is None

    def link(self, target_path: str, aliases: list[str] | None = None) -> "Artifact":
        """Link into a registry collection or a project's link collection (logging a draft first).

        ``[ORG/]wandb-registry-R/C``, or ``C``, ``PROJECT/C``, ``ENTITY/PROJECT/C``:
        as W&B's ``Artifact.link``, a path without entity takes this
        artifact's entity and one without project the settings' project.
        Returns the linked artifact.
        """
        if self._v is None:
            from .run import current
            self._commit(current())
        v = self._logged("link")
        store = self._the_store()
        linked = registries.link(store, v, target_path, aliases)
        return Artifact._from_version(store, linked)

    def unlink(self) -> None:
        """Remove this link from its registry collection (links only)."""
        v = self._logged("unlink")
        if not v.is_link:
            # W&B raises ValueError here, with these words
            raise InvalidInput(f"Artifact {v.qualified_name!r} is not a linked artifact and cannot be unlinked.  "
                               "To delete it, use 'Artifact.delete' instead.")
        versions.unlink(self._the_store(), v)
        self._deleted = True

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete this version (a link: unlink it). Refuses while aliased unless ``delete_aliases``."""
        v = self._logged("delete")
        versions.delete(self._the_store(), v, delete_aliases=delete_aliases)
        self._deleted = True

    def logged_by(self) -> "ApiRun | None":
        from .api import ApiRun
        info = runs.logged_by(self._the_store(), self._logged("logged_by"))
        return ApiRun(self._the_store(), info) if info else None

    def used_by(self) -> list["ApiRun"]:
        from .api import ApiRun
        store = self._the_store()
        return [ApiRun(store, r) for r in runs.used_by(store, self._logged("used_by"))]

    def json_encode(self) -> dict[str, Any]:
        v = self._logged("json_encode")
        return v.to_dict()

    def __repr__(self) -> str:
        if self._v is None:
            return f"<Artifact {self._name} (draft, {self._type})>"
        return f"<Artifact {self._v.qualified_name}{' (link)' if self._v.is_link else ''}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Artifact):
            return NotImplemented
        if self._v is None or other._v is None:
            return self is other
        return self._v.id == other._v.id and self._store is other._store

    def __hash__(self) -> int:
        return hash(self._v.id) if self._v is not None else id(self)
