"""Turning local files, folders and URIs into manifest entries.

``collect_dir`` walks a folder the way ``Artifact.add_dir`` needs: logical
paths use ``/``; a symlink is followed only if it stays inside the folder
(anything else, a broken link or a loop is an error, so an artifact never
silently captures files from elsewhere on the machine).
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from . import hashing, names
from .blobs import Callback, url_info
from .errors import InvalidInput, InvalidName, NotFound, TypeMismatch
from .objects import Entry, Objects

if TYPE_CHECKING:
    from .store import Store
    from .versions import Version


def _join(prefix: str | None, rel: str) -> str:
    return f"{prefix.rstrip('/')}/{rel}" if prefix else rel


def collect_dir(root: str | os.PathLike, prefix: str | None = None) -> list[tuple[str, str]]:
    """``[(logical path, local path)]`` of every file under ``root``, sorted."""
    root = os.path.abspath(root)
    if not os.path.exists(root):
        raise NotFound(f"folder {root!r} not found", root)
    if not os.path.isdir(root):
        raise InvalidInput(f"{root!r} is not a folder")
    if prefix:
        names.check_logical_path(prefix.rstrip("/"))
    real_root = os.path.realpath(root)
    out: list[tuple[str, str]] = []
    visiting: set[str] = set()

    def walk(local_dir: str, rel_dir: str) -> None:
        real = os.path.realpath(local_dir)
        if real in visiting:
            raise InvalidInput(f"symlink loop at {local_dir!r}")
        visiting.add(real)
        try:
            try:
                it = sorted(os.scandir(local_dir), key=lambda d: d.name)
            except PermissionError:
                raise InvalidInput(f"cannot read folder {local_dir!r}: permission denied") from None
            for d in it:
                rel = f"{rel_dir}/{d.name}" if rel_dir else d.name
                if d.is_symlink():
                    target = os.path.realpath(d.path)
                    if not os.path.exists(target):
                        raise InvalidInput(f"broken symlink {d.path!r}")
                    if target != real_root and not target.startswith(real_root + os.sep):
                        raise InvalidInput(
                            f"symlink {d.path!r} points outside {root!r} (to {target!r}); "
                            "add that file on its own if you mean it"
                        )
                    if os.path.isdir(target):
                        walk(d.path, rel)
                        continue
                    if not os.path.isfile(target):
                        raise InvalidInput(f"{d.path!r} links to {target!r}, which is not a regular file (device, socket or pipe)")
                elif d.is_dir(follow_symlinks=False):
                    walk(d.path, rel)
                    continue
                elif not d.is_file(follow_symlinks=False):
                    raise InvalidInput(f"{d.path!r} is not a regular file (device, socket or pipe)")
                try:
                    logical = names.check_logical_path(_join(prefix, rel.replace(os.sep, "/")))
                except InvalidName as e:
                    raise InvalidName(f"cannot add {d.path!r}: {e}", d.path) from None
                out.append((logical, d.path))
        finally:
            visiting.discard(real)

    walk(root, "")
    return out


def add_paths(
    store: "Store",
    path: str | os.PathLike,
    name: str | None = None,
    callback: Callback | None = None,
) -> list[Entry]:
    """Store a file or a folder's files; entries named under ``name``."""
    p = os.fspath(path)
    if os.path.isdir(p):
        files = collect_dir(p, name)
    elif os.path.exists(p):
        logical = names.check_logical_path(name or os.path.basename(p))
        files = [(logical, p)]
    else:
        raise NotFound(f"file {p!r} not found", p)
    return Objects(store).add_files(files, callback)


def reference_entries(
    store: "Store", uri: str, name: str | None = None, checksum: bool = True, max_objects: int | None = None
) -> list[Entry]:
    """Entries for a file:// or fsspec URL (a file, or every file below a folder)."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidInput(f"invalid reference {uri!r}: expected a URL such as file:///path or s3://bucket/key")
    items = url_info(uri)
    if max_objects is not None and len(items) > max_objects:
        raise InvalidInput(f"reference {uri!r} holds {len(items)} files, more than max_objects={max_objects}")
    objects = Objects(store)
    base = uri.rstrip("/")
    out = []
    single = len(items) == 1 and items[0][0].rstrip("/") == base
    for url, size in items:
        if single:
            logical = name or base.rsplit("/", 1)[-1]
        else:
            rel = url[len(base):].lstrip("/") if url.startswith(base) else url.rsplit("/", 1)[-1]
            logical = _join(name, rel)
        logical = names.check_logical_path(logical)
        digest, got = objects.add_reference(url, checksum)
        out.append(Entry(logical, digest, got if checksum else size, ref=url))
    return out


def log_path(
    store: "Store",
    path: str,
    *,
    name: str,
    type: str,
    entity: str | None = None,
    project: str | None = None,
    aliases: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    metadata: dict | None = None,
    description: str | None = None,
    callback: Callback | None = None,
) -> tuple["Version", bool]:
    """Log a file, a folder or a URI as the next version of ``entity/project/name``."""
    from .versions import collection_id, log_version

    names.check_name(name)
    names.check_type(type)
    names.check_aliases(aliases)
    names.check_tags(tags)
    # validate everything log_version checks before any bytes are stored: bad input writes nothing
    hashing.clean_metadata(metadata)
    ent = names.check_name(store.default("entity", entity), "entity name")
    proj = names.check_name(store.default("project", project), "project name")
    if description is not None and not isinstance(description, str):
        raise InvalidInput(f"description must be a string, not {description.__class__.__name__}")
    try:
        _cid, ctype, _where = collection_id(store, names.Ref(name, project=proj, scope=ent))
    except NotFound:
        ctype = type
    if ctype != type:  # log_version checks again inside its transaction
        raise TypeMismatch(
            f"artifact {name!r} in project {ent}/{proj} has type {ctype!r}; cannot log a version of type {type!r}"
        )
    if "://" in path and not os.path.exists(path):
        entries = reference_entries(store, path)
    else:
        entries = add_paths(store, path, callback=callback)
    return log_version(
        store, name=name, type=type, entries=entries, entity=entity, project=project,
        aliases=aliases, tags=tags, metadata=metadata, description=description,
    )
