"""``Artifact``: a draft that collects files, then a logged version or link.

A few lines per member over the domain verbs (``localreg.versions``,
``localreg.registries``, ``localreg.objects``); no SQL, no fsspec here.
Files are stored (content-addressed) as they are added, as W&B stages
them, so later edits of the local file do not change the draft.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import io
import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Union

from .. import hashing, ingest, names, registries, runs, versions
from ..errors import (ArtifactFinalized, ArtifactNotLogged, EntryNotFound, FileNotInArtifact, InvalidInput,
                      NotFound, VerificationError)
from ..objects import Entry, Objects, verify_tree
from ..store import Store
from .context import default_store
from .paging import Paginator
from .table import Table

if TYPE_CHECKING:
    from .api import ApiRun, ArtifactCollection
    from .run import Run

TABLE_SUFFIX = ".table.json"

StrPath = Union[str, "os.PathLike[str]"]


class ArtifactTTL(enum.Enum):
    """W&B's ``wandb.ArtifactTTL``: ``INHERIT`` takes the TTL policy of the collection's team.

    localreg has no team TTL policies, so an inherited TTL is no TTL.
    """

    INHERIT = 0


def artifact_dir() -> str:
    """Where downloads go by default: ``$WANDB_ARTIFACT_DIR``, else ``./artifacts``, made absolute (as W&B)."""
    return os.path.abspath(os.fspath(os.environ.get("WANDB_ARTIFACT_DIR") or os.path.join(".", "artifacts")))


def _root_name(name: str) -> str:
    # W&B's validate_artifact_root_name: ':' is not allowed in Windows paths
    return name.replace(":", "-") if os.name == "nt" else name


def _fspath(value: Any, what: str) -> str:
    """``value`` as a path string: ``str``, ``pathlib.Path`` or any ``os.PathLike`` (W&B's StrPath)."""
    try:
        out = os.fspath(value)
    except TypeError:
        raise InvalidInput(f"{what} must be a str or os.PathLike path, not {type(value).__name__}") from None
    if isinstance(out, bytes):
        raise InvalidInput(f"{what} must be a str path, not bytes")
    return out


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

    def download(self, root: StrPath | None = None, skip_cache: bool | None = None) -> str:
        """Write this file under ``root`` and return its path.

        As in W&B, the default root is the artifact's absolute default folder
        (``$WANDB_ARTIFACT_DIR`` or ``./artifacts``, then ``<name>:<version>``);
        a given root is used as given.
        """
        rootdir = _fspath(root, "root") if root is not None else self._artifact._default_root()
        self._artifact._objects().materialize([self._entry], rootdir)
        return os.path.join(rootdir, *self._entry.path.split("/"))

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


class ArtifactFiles(Paginator):
    """``artifact.files()``: the artifact's files, ``per_page`` at a time (W&B's ``ArtifactFiles``)."""

    def __init__(self, artifact: "Artifact", names: list[str] | None = None, per_page: int = 50,
                 start: str | None = None) -> None:
        self._artifact = artifact
        wanted = set(names) if names is not None else None

        def entries() -> list[Entry]:
            found = artifact._all_entries()
            return [e for e in found if wanted is None or e.path in wanted]

        def fetch(limit: int, cursor: str | None) -> tuple[list, str | None]:
            found = entries()
            paths = [e.path for e in found]
            begin = 0
            if cursor is not None:
                # the cursor is the last path of the previous page
                begin = next((i for i, p in enumerate(paths) if p > cursor), len(paths))
            page = found[begin:begin + limit]
            more = begin + limit < len(found)
            return [ManifestEntry(artifact, e) for e in page], (page[-1].path if page and more else None)

        super().__init__(fetch, lambda: len(entries()), per_page, start)

    def __repr__(self) -> str:
        a = self._artifact
        where = a.qualified_name if a._v is not None else f"{a._name} (draft)"
        return f"<ArtifactFiles {where} ({len(self)})>"


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
        # as in W&B, a draft's TTL is inherited (from the team's policy) until one is set
        self._ttl_inherited = True
        self._deleted = False
        # set by new_draft(): the source entity/project a new version must be logged to
        self._source_entity: str | None = None
        self._source_project: str | None = None

    # -- construction from the store ------------------------------------------------
    @classmethod
    def _from_version(cls, store: Store, v: versions.Version) -> "Artifact":
        a = cls.__new__(cls)
        a._name = v.collection
        a._type = v.type
        a._store = store
        a._entries = {}
        a._source_entity = a._source_project = None
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
        self._ttl_inherited = False

    # -- state helpers ----------------------------------------------------------------
    def _logged(self, member: str) -> versions.Version:
        if self._v is None:
            raise ArtifactNotLogged(
                f"'Artifact.{member}' used prior to logging artifact {self._name!r}; log it first "
                "(run.log_artifact)", name=member, obj=self,
            )
        if self._deleted:
            raise ArtifactNotLogged(f"artifact {self._v.qualified_name} was deleted", name=member, obj=self)
        return self._v

    def _draft(self, member: str) -> None:
        if self._v is not None:
            raise ArtifactFinalized(
                f"'Artifact.{member}' used on logged artifact {self._v.qualified_name}. Can't modify finalized "
                "artifact: a logged artifact's files are final; call new_draft() to make the next version",
                name=member, obj=self,
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
    def add_file(self, local_path: StrPath, name: StrPath | None = None, is_tmp: bool = False,
                 skip_cache: bool = False, policy: str = "mutable", overwrite: bool = False) -> ManifestEntry:
        """Add one local file (stored now, so later edits of it do not change the draft).

        ``local_path`` and ``name`` may be ``str`` or any ``os.PathLike``.
        ``policy="immutable"`` promises the file will not change in place:
        a big file is then hard-linked into the store instead of copied.
        """
        self._draft("add_file")
        local_path = _fspath(local_path, "local_path")
        if name is not None:
            name = _fspath(name, "name").replace(os.sep, "/")
        if policy not in ("mutable", "immutable"):
            raise InvalidInput(f"invalid policy {policy!r}: use 'mutable' or 'immutable'")
        if not os.path.isfile(local_path):
            if os.path.exists(local_path):
                raise InvalidInput(f"Path is not a file: {local_path!r} (use add_dir for folders)")
            raise NotFound(f"Path is not a file: {local_path!r} (no such file)", local_path)
        logical = names.check_logical_path(name or os.path.basename(local_path))
        [e] = self._objects().add_files([(logical, local_path)], link=policy == "immutable")
        self._put([e], overwrite)
        return ManifestEntry(self, e)

    def add_dir(self, local_path: StrPath, name: str | None = None, skip_cache: bool = False,
                policy: str = "mutable", merge: bool = False) -> None:
        """Add every file under a folder (``str`` or ``os.PathLike``); logical paths are relative to it (under ``name``)."""
        self._draft("add_dir")
        local_path = _fspath(local_path, "local_path")
        if name is not None:
            name = _fspath(name, "name").replace(os.sep, "/")
        if policy not in ("mutable", "immutable"):
            raise InvalidInput(f"invalid policy {policy!r}: use 'mutable' or 'immutable'")
        if not os.path.isdir(local_path):
            if os.path.exists(local_path):
                raise InvalidInput(f"Path is not a directory: {local_path!r}")
            raise NotFound(f"Path is not a directory: {local_path!r} (no such folder)", local_path)
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
        self._draft("add_reference")
        uri = _fspath(uri, "uri")
        new = ingest.reference_entries(self._the_store(), uri, name, checksum, max_objects)
        self._put(new, overwrite=False)
        return [ManifestEntry(self, e) for e in new]

    @contextlib.contextmanager
    def new_file(self, name: StrPath, mode: str = "x", encoding: str | None = None) -> Iterator[Any]:
        """Write a new file of the artifact: ``with artifact.new_file("a.txt") as f: f.write(...)``."""
        self._draft("new_file")
        logical = names.check_logical_path(_fspath(name, "name").replace(os.sep, "/"))
        if logical in self._entries and "x" in mode:
            raise InvalidInput(f"File with name {logical!r} already exists in artifact {self._name!r}")
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
        self._draft("remove")
        path = item.path if isinstance(item, ManifestEntry) else item
        if not isinstance(path, str):
            raise InvalidInput(f"remove takes a path or an entry, not {type(item).__name__}")
        path = path.rstrip("/")
        gone = [p for p in self._entries if p == path or p.startswith(path + "/")]
        if not gone:
            raise FileNotInArtifact(f"No such file or directory: {path!r} is not in artifact {self._name!r}", path)
        for p in gone:
            del self._entries[p]

    def add(self, obj: Any, name: str, overwrite: bool = False) -> ManifestEntry:
        """Add a :class:`Table` as ``<name>.table.json``."""
        self._draft("add")
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
                raise EntryNotFound(f"file {name!r} not found in artifact {self._name!r}", name)
            return e
        return versions.entry(self._the_store(), self._v, name)

    def get_entry(self, name: StrPath) -> ManifestEntry:
        """The file ``name`` of the artifact; ``KeyError`` (:class:`EntryNotFound`) if it has none, as in W&B."""
        return ManifestEntry(self, self._entry(_fspath(name, "name").replace(os.sep, "/")))

    get_path = get_entry

    def files(self, names: list[str] | None = None, per_page: int = 50, start: str | None = None) -> ArtifactFiles:
        """The files, paged ``per_page`` at a time (``len()``, indexing, ``cursor``/``start`` as W&B's)."""
        return ArtifactFiles(self, names, per_page, start)

    @property
    def manifest(self) -> Manifest:
        return Manifest(self, self._all_entries())

    def _default_root(self, include_version: bool = True) -> str:
        """``$WANDB_ARTIFACT_DIR`` (else ``./artifacts``) / ``<source name>:vN``, absolute, as in W&B."""
        v = self._logged("download")
        name = v.source_name if include_version else v.source_name.split(":")[0]
        return os.path.join(artifact_dir(), _root_name(name))

    def download(self, root: StrPath | None = None, allow_missing_references: bool = False,
                 skip_cache: bool | None = None, path_prefix: StrPath | None = None,
                 multipart: bool | None = None, link_mode: str = "copy") -> str:
        """Write the files under ``root`` and return it (the default root is absolute, see ``_default_root``).

        ``root`` may be ``str`` or ``os.PathLike``; a given root is returned
        as given (W&B does the same). ``multipart`` is accepted and ignored
        (there is no HTTP download). ``link_mode``: ``copy`` (default),
        ``hardlink``, ``symlink`` or ``reflink``, as
        :meth:`localreg.objects.Objects.materialize` explains (files the
        store cannot link are copied).
        """
        self._logged("download")
        rootdir = _fspath(root, "root") if root is not None else self._default_root()
        entries = self._all_entries()
        if path_prefix:
            prefix = _fspath(path_prefix, "path_prefix")
            entries = [e for e in entries if e.path.startswith(prefix)]
        self._objects().materialize(entries, rootdir, link_mode=link_mode)
        return rootdir

    def checkout(self, root: StrPath | None = None) -> str:
        """Make ``root`` hold exactly this version: files not in it are removed, the rest downloaded.

        The default root has no version in it (``<artifact dir>/<name>``), as in W&B,
        so successive checkouts update one folder.
        """
        self._logged("checkout")
        rootdir = _fspath(root, "root") if root is not None else self._default_root(include_version=False)
        keep = {os.path.join(rootdir, *e.path.split("/")) for e in self._all_entries()}
        for dirpath, _dirs, files in os.walk(rootdir):
            for f in files:
                full = os.path.join(dirpath, f)
                if full not in keep:
                    os.remove(full)
        return self.download(rootdir)

    def verify(self, root: StrPath | None = None) -> None:
        """Re-hash a download; raise :class:`VerificationError` on any missing, extra or changed file."""
        self._logged("verify")
        rootdir = _fspath(root, "root") if root is not None else self._default_root()
        problems = verify_tree(self._all_entries(), rootdir)
        if problems:
            raise VerificationError(f"{rootdir} does not match {self.qualified_name}: " + "; ".join(problems), problems)

    def file(self, root: StrPath | None = None) -> str:
        """Download a single-file artifact and return the file's path.

        As in W&B, the default root here is the relative ``./artifacts/<name>:vN``
        (not ``$WANDB_ARTIFACT_DIR``), and the path is returned as built from it.
        """
        self._logged("file")
        entries = self._all_entries()
        if len(entries) != 1:
            raise InvalidInput(
                f"This artifact contains {len(entries)} files, not one: call download() to get all files "
                "or get_entry(name).download()"
            )
        rootdir = _fspath(root, "root") if root is not None else os.path.join(".", "artifacts", _root_name(self.name))
        return self.get_entry(entries[0].path).download(rootdir)

    # -- properties -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._v.name if self._v is not None else self._name

    @name.setter
    def name(self, value: str) -> None:
        self._draft("name")
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
        """The version's id; a link has its source's id, as in W&B (one artifact, two memberships)."""
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
        if self._ttl_inherited and (self._v is None or self._ttl_changed):
            # W&B: an inherited TTL is known only once the artifact is logged (or saved)
            raise ArtifactNotLogged("'Artifact.ttl' is inherited: it is known once the artifact is logged",
                                    name="ttl", obj=self)
        return self._ttl

    @ttl.setter
    def ttl(self, value: "_dt.timedelta | ArtifactTTL | None") -> None:
        if self._v is not None and self._v.is_link:
            raise InvalidInput("Cannot set TTL for link artifact. Unlink the artifact first then set the TTL "
                               "for the source artifact")
        if isinstance(value, ArtifactTTL):
            # INHERIT: the team's TTL policy; localreg has none, so no TTL
            self._ttl, self._ttl_inherited, self._ttl_changed = None, True, True
            return
        if value is not None and not isinstance(value, _dt.timedelta):
            raise InvalidInput("ttl must be a datetime.timedelta, wandb.ArtifactTTL.INHERIT or None")
        if value is not None and value.total_seconds() <= 0:
            raise InvalidInput(f"Artifact TTL Duration has to be positive. ttl: {value.total_seconds()}")
        self._ttl = value
        self._ttl_inherited = False
        self._ttl_changed = True

    @property
    def history_step(self) -> int | None:
        """The run's history step when this version was logged (``None`` if the run had logged nothing)."""
        v = self._logged("history_step")
        step = runs.history_step(self._the_store(), v)
        return None if step is None else max(0, step - 1)

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
        # W&B answers a draft's name (no version yet) rather than raising
        return self._name if self._v is None else self._logged("source_name").source_name

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
        entity = run.entity if run is not None else (entity or self._source_entity)
        project = run.project if run is not None else (project or self._source_project)
        # a draft made by new_draft() belongs to its source's entity and project (W&B's words)
        if self._source_entity and entity and entity != self._source_entity:
            raise InvalidInput(f"Artifact {self._name} is owned by entity '{self._source_entity}'; "
                               f"it can't be moved to '{entity}'")
        if self._source_project and project and project != self._source_project:
            raise InvalidInput(f"Artifact {self._name} exists in project '{self._source_project}'; "
                               f"it can't be moved to '{project}'")
        ttl = self._ttl.total_seconds() if self._ttl is not None else None
        v, _created = versions.log_version(
            store, name=self._name, type=self._type, entries=list(self._entries.values()),
            entity=entity, project=project,
            description=self._description, metadata=self._metadata, aliases=aliases, tags=tags,
            run_pk=run._info.pk if run is not None else None, ttl_seconds=ttl,
            run_step=run._step if run is not None else None,
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

    def new_draft(self) -> "Artifact":
        """A draft of the next version: this version's files, description and metadata, same name and type.

        As in W&B, it belongs to the source collection: logging it from a run
        of another entity or project is refused.
        """
        v = self._logged("new_draft")
        draft = Artifact(v.source_name.split(":")[0], v.type, description=self._description,
                         metadata=dict(self._metadata))
        draft._store = self._the_store()
        draft._entries = {e.path: e for e in self._all_entries()}
        src = v if not v.is_link else versions.get(draft._store, v.data_id)
        draft._source_entity = src.entity
        draft._source_project = src.project
        return draft

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
