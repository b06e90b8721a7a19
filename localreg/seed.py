"""Seed files: what a store holds, written down; loaded in one transaction, dumped back.

A seed file (TOML or JSON; ``seed_schema.json`` is its JSON Schema) lists
orgs with their entities, registries with their collections, projects, and
artifacts with their versions: files (inline text, base64, paths relative to
the seed file, a folder, or references), aliases, tags, metadata, and the
registry links of each version.

Invariants:

* :func:`load` parses and checks the whole file, and reads every file it
  names, before it writes; then it writes everything in one
  :meth:`~localreg.store.Store.transaction`. A seed that fails leaves no row
  behind (blobs stored on the way stay as orphans that gc removes, as for
  any failed log).
* Every error is a :class:`SeedError` (a ``ValueError``) whose message reads
  ``seed file FILE: WHERE: PROBLEM``; WHERE is ``line L, column C`` for a
  parse error, else a key path such as ``artifacts[2].versions[0].aliases[1]``.
* Loading is idempotent: a version whose files its collection holds already
  is that version (dedup, as when logging), a link that exists gets the
  aliases, a registry that exists is updated where the rules allow.
* :func:`dump` writes every version and link with its ``index``, ``latest``
  only where it is not on the newest version, and ``next_index`` only where
  deleted versions left a gap at the end; so loading a dump into an empty
  store gives the same versions, indexes, aliases, tags, metadata,
  descriptions, ttl, registries and links. Timestamps, runs and lineage are
  not part of the format.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import difflib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import access, hashing, ingest, names, orgs, registries, versions
from .errors import InvalidInput, InvalidName, LocalregError, NotFound
from .names import LATEST, REGISTRY_PREFIX
from .objects import Entry, Objects
from .store import CORE_REGISTRIES, now

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads JSON seeds only
    tomllib = None

if TYPE_CHECKING:
    from .store import Store

__all__ = ["FORMAT", "SCHEMA_PATH", "SeedError", "SeedResult", "check", "dump", "dumps", "load", "read", "schema"]

FORMAT = 1
SCHEMA_PATH = Path(__file__).with_name("seed_schema.json")
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class SeedError(InvalidInput):
    """A seed file that cannot be loaded; nothing was written.

    ``source`` is the file (or ``<data>``), ``key`` the key path or None,
    ``line``/``column`` the place of a parse error, ``problem`` the rest.
    """

    def __init__(self, source: str, problem: str, *, key: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        where = f"seed file {source}"
        if line is not None:
            where += f": line {line}" + (f", column {column}" if column is not None else "")
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.problem = problem
        self.key = key
        self.line = line
        self.column = column


@dataclass(frozen=True)
class SeedResult:
    """What a seed named: registries, versions and links (qualified names), in file order."""

    source: str
    registries: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    created_versions: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("registries", "versions", "links"):
            d[k] = list(d[k])
        return d


# -- reading and checking ------------------------------------------------------------


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of the seed format (``seed_schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


_TOML_POS = re.compile(r"^(.*?)\s*\(at line (\d+), column (\d+)\)$", re.S)


def _parse(source: str | os.PathLike | Mapping) -> tuple[dict, str, Path]:
    """``(document, label for messages, folder that relative paths start from)``."""
    if isinstance(source, Mapping):
        return dict(source), "<data>", Path.cwd()
    path = Path(source)
    label = os.fspath(source)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"seed file {label} not found", label) from None
    except IsADirectoryError:
        raise SeedError(label, "is a folder, not a seed file") from None
    except OSError as e:
        raise SeedError(label, f"cannot read it: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")  # an editor's byte order mark is not content
    except UnicodeDecodeError as e:
        raise SeedError(label, f"not UTF-8 text (bad byte at offset {e.start})") from None
    suffix = path.suffix.lower()
    as_json = suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{"))
    if as_json:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise SeedError(label, e.msg, line=e.lineno, column=e.colno) from None
    else:
        if tomllib is None:  # pragma: no cover
            raise SeedError(label, "reading TOML needs Python 3.11 or later; use a JSON seed file")
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            m = _TOML_POS.match(str(e))
            if m:
                raise SeedError(label, m.group(1), line=int(m.group(2)), column=int(m.group(3))) from None
            raise SeedError(label, str(e)) from None
    return doc, label, path.parent


def _key(parent: str, k: str | int) -> str:
    if isinstance(k, int):
        return f"{parent}[{k}]"
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_-]*", k):
        return f"{parent}.{k}" if parent else k
    return f"{parent}[{json.dumps(k, ensure_ascii=False)}]"


class _Invalid(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
          "object": "a table", "array": "a list", "null": "null"}


def _is_type(value: Any, t: str | None) -> bool:
    if t is None:
        return True
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "object":
        return isinstance(value, Mapping)
    if t == "array":
        return isinstance(value, list)
    return value is None


def _what(value: Any) -> str:
    for t in ("boolean", "integer", "number", "string", "object", "array"):
        if _is_type(value, t):
            return _WORDS[t] + (f" ({value!r})" if t in ("string", "integer", "number", "boolean") and len(repr(value)) < 40 else "")
    if value is None:
        return "null"
    return type(value).__name__


def _resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _check(value: Any, node: dict, key: str, root: dict) -> None:
    """Check ``value`` against the subset of JSON Schema the seed schema uses.

    ``pattern`` and ``maxLength`` are left to :mod:`localreg.names`, whose
    messages say what the rule is.
    """
    node = _resolve(node, root)
    if "anyOf" in node:
        _check_any(value, [_resolve(b, root) for b in node["anyOf"]], key, root)
        return
    t = node.get("type")
    if t is not None and not _is_type(value, t):
        raise _Invalid(key, f"expected {_WORDS[t]}, not {_what(value)}")
    if "enum" in node and not any(value == e and type(value) is type(e) for e in node["enum"]):
        raise _Invalid(key, f"{value!r} is not one of {', '.join(repr(e) for e in node['enum'])}")
    if _is_type(value, "number"):
        if "minimum" in node and value < node["minimum"]:
            raise _Invalid(key, f"must be at least {node['minimum']}, not {value!r}")
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            raise _Invalid(key, f"must be more than {node['exclusiveMinimum']}, not {value!r}")
    if isinstance(value, Mapping):
        props = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for k, v in value.items():
            sub = _key(key, k)
            if k in props:
                _check(v, props[k], sub, root)
            elif extra is False:
                close = difflib.get_close_matches(k, list(props), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(props)})"
                raise _Invalid(sub, f"unknown key {k!r}{hint}")
            elif isinstance(extra, dict):
                _check(v, extra, sub, root)
        for req in node.get("required", ()):
            if req not in value:
                raise _Invalid(key or "(top level)", f"missing key {req!r}")
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            _check(item, node["items"], _key(key, i), root)


def _check_any(value: Any, branches: list[dict], key: str, root: dict) -> None:
    fits = [b for b in branches if _is_type(value, b.get("type"))]
    if isinstance(value, Mapping):
        fits = [b for b in fits if all(r in value for r in b.get("required", ()))]
    if len(fits) == 1:
        _check(value, fits[0], key, root)
        return
    if isinstance(value, Mapping) and len(fits) > 1:
        both = [repr(b["required"][0]) for b in fits if b.get("required")]
        raise _Invalid(key, f"give only one of {', '.join(both)}")
    for b in fits:
        try:
            _check(value, b, key, root)
            return
        except _Invalid:
            pass
    titles = [b.get("title") or _WORDS.get(b.get("type", ""), "?") for b in branches]
    raise _Invalid(key, f"expected {', '.join(titles[:-1])} or {titles[-1]}, not {_what(value)}")


# -- the plan: a checked seed with every file read ------------------------------------


@dataclass
class _File:
    key: str
    path: str
    data: bytes | None = None
    ref: str | None = None
    digest: str | None = None
    size: int = 0
    checksum: bool = True


@dataclass
class _Link:
    key: str
    target: str
    index: int | None
    aliases: list[str]
    order: int = 0


@dataclass
class _Version:
    key: str
    index: int | None
    description: str | None
    metadata: dict | None
    aliases: list[str]
    tags: list[str]
    ttl: float | None
    files: list[_File]
    links: list[_Link]


@dataclass
class _Artifact:
    key: str
    entity: str | None
    project: str | None
    name: str
    type: str
    description: str | None
    tags: list[str] | None
    next_index: int | None
    versions: list[_Version]


@dataclass
class _Collection:
    key: str
    name: str
    type: str
    description: str | None
    tags: list[str] | None
    next_index: int | None


@dataclass
class _Registry:
    key: str
    org: str | None
    name: str
    description: str | None
    visibility: str | None
    artifact_types: list[str] | None
    collections: list[_Collection]


@dataclass
class _Plan:
    label: str
    defaults: dict[str, str]
    orgs: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)
    projects: list[tuple[str, str | None, str]] = field(default_factory=list)
    registries: list[_Registry] = field(default_factory=list)
    artifacts: list[_Artifact] = field(default_factory=list)


class _Planner:
    def __init__(self, label: str, base: Path) -> None:
        self.label = label
        self.base = base

    def fail(self, key: str, problem: str) -> SeedError:
        return SeedError(self.label, problem, key=key)

    @contextmanager
    def at(self, key: str) -> Iterator[None]:
        try:
            yield
        except SeedError:
            raise
        except LocalregError as e:
            raise self.fail(key, str(e)) from None

    def name(self, value: Any, key: str, what: str) -> str:
        with self.at(key):
            return names.check_name(value, what)

    def aliases(self, values: list | None, key: str) -> list[str]:
        out: list[str] = []
        for i, a in enumerate(values or []):
            with self.at(_key(key, i)):
                names.check_alias(a)
            if a not in out:
                out.append(a)
        return out

    def tags(self, values: list | None, key: str) -> list[str]:
        out: list[str] = []
        for i, t in enumerate(values or []):
            with self.at(_key(key, i)):
                names.check_tag(t)
            if t not in out:
                out.append(t)
        return out

    def types(self, values: list, key: str) -> list[str]:
        for i, t in enumerate(values):
            with self.at(_key(key, i)):
                names.check_type(t)
        return list(values)

    def plan(self, doc: dict) -> _Plan:
        defaults = dict(doc.get("defaults") or {})
        for k, v in defaults.items():
            self.name(v, f"defaults.{k}", f"{k} name")
        plan = _Plan(self.label, defaults)
        for i, o in enumerate(doc.get("orgs") or []):
            key = f"orgs[{i}]"
            ents = [(_key(f"{key}.entities", j), self.name(e, _key(f"{key}.entities", j), "entity name"))
                    for j, e in enumerate(o.get("entities") or [])]
            plan.orgs.append((key, self.name(o["name"], f"{key}.name", "org name"), ents))
        for i, p in enumerate(doc.get("projects") or []):
            key = f"projects[{i}]"
            ent = self.name(p["entity"], f"{key}.entity", "entity name") if "entity" in p else None
            plan.projects.append((key, ent, self.name(p["name"], f"{key}.name", "project name")))
        for i, r in enumerate(doc.get("registries") or []):
            plan.registries.append(self.registry(r, f"registries[{i}]"))
        for i, a in enumerate(doc.get("artifacts") or []):
            plan.artifacts.append(self.artifact(a, f"artifacts[{i}]"))
        return plan

    def registry(self, r: dict, key: str) -> _Registry:
        with self.at(f"{key}.name"):
            reg_name = names.registry_name(r["name"])
        colls = []
        seen: dict[str, str] = {}
        for j, c in enumerate(r.get("collections") or []):
            ckey = f"{key}.collections[{j}]"
            name = self.name(c["name"], f"{ckey}.name", "collection name")
            if name in seen:
                raise self.fail(f"{ckey}.name", f"collection {name!r} is also listed at {seen[name]}")
            seen[name] = ckey
            with self.at(f"{ckey}.type"):
                names.check_type(c["type"])
            colls.append(_Collection(
                ckey, name, c["type"], c.get("description"),
                self.tags(c["tags"], f"{ckey}.tags") if "tags" in c else None, c.get("next_index"),
            ))
        return _Registry(
            key, self.name(r["org"], f"{key}.org", "org name") if "org" in r else None, reg_name,
            r.get("description"), r.get("visibility"),
            self.types(r["artifact_types"], f"{key}.artifact_types") if "artifact_types" in r else None, colls,
        )

    def artifact(self, a: dict, key: str) -> _Artifact:
        name = self.name(a["name"], f"{key}.name", "artifact name")
        with self.at(f"{key}.type"):
            names.check_type(a["type"])
        art = _Artifact(
            key, self.name(a["entity"], f"{key}.entity", "entity name") if "entity" in a else None,
            self.name(a["project"], f"{key}.project", "project name") if "project" in a else None,
            name, a["type"], a.get("description"),
            self.tags(a["tags"], f"{key}.tags") if "tags" in a else None, a.get("next_index"), [],
        )
        alias_at: dict[str, str] = {}
        last_index: tuple[int, str] | None = None
        for j, v in enumerate(a.get("versions") or []):
            vkey = f"{key}.versions[{j}]"
            version = self.version(v, vkey)
            for i, alias in enumerate(version.aliases):
                if alias in alias_at:
                    raise self.fail(_key(f"{vkey}.aliases", i),
                                    f"alias {alias!r} is also on {alias_at[alias]}; an alias names one version of a collection")
                alias_at[alias] = vkey
            if version.index is not None:
                if last_index is not None and version.index <= last_index[0]:
                    raise self.fail(f"{vkey}.index", f"v{version.index} does not come after v{last_index[0]} "
                                    f"({last_index[1]}); list versions in index order")
                last_index = (version.index, vkey)
            art.versions.append(version)
        if art.next_index is not None and last_index is not None and art.next_index <= last_index[0]:
            raise self.fail(f"{key}.next_index", f"{art.next_index} is not above the highest index v{last_index[0]}")
        return art

    def version(self, v: dict, key: str) -> _Version:
        metadata = None
        if "metadata" in v:
            what = f"{key}.metadata"
            try:
                metadata = hashing.clean_metadata(v["metadata"], what)
            except LocalregError as e:
                msg = str(e)
                sub, sep, problem = msg.partition(": ")
                if sep and sub.startswith(what):
                    raise self.fail(sub, problem) from None
                raise self.fail(what, msg[len(what):].strip() if msg.startswith(what) else msg) from None
        files = self.files(v, key)
        links = []
        for i, lk in enumerate(v.get("links") or []):
            lkey = f"{key}.links[{i}]"
            with self.at(f"{lkey}.target"):
                names.parse_link_target(lk["target"])
            links.append(_Link(lkey, lk["target"], lk.get("index"), self.aliases(lk.get("aliases"), f"{lkey}.aliases")))
        return _Version(
            key, v.get("index"), v.get("description"), metadata, self.aliases(v.get("aliases"), f"{key}.aliases"),
            self.tags(v.get("tags"), f"{key}.tags"), v.get("ttl"), files, links,
        )

    def files(self, v: dict, key: str) -> list[_File]:
        out: dict[str, _File] = {}
        if "dir" in v:
            dkey = f"{key}.dir"
            root = self.base / v["dir"]
            with self.at(dkey):
                found = ingest.collect_dir(root)
            for logical, local in found:
                out[logical] = _File(dkey, logical, data=self.read(local, dkey))
        for raw_path, spec in (v.get("files") or {}).items():
            fkey = _key(f"{key}.files", raw_path)
            with self.at(fkey):
                logical = names.check_logical_path(raw_path)
            if logical in out:
                other = out[logical].key
                raise self.fail(fkey, f"file {logical!r} is also given by {other}" if other != fkey
                                else f"file {logical!r} is given twice")
            out[logical] = self.file(spec, fkey, logical)
        return list(out.values())

    def file(self, spec: Any, key: str, logical: str) -> _File:
        if isinstance(spec, str):
            return _File(key, logical, data=spec.encode("utf-8"))
        if "text" in spec:
            return _File(key, logical, data=spec["text"].encode("utf-8"))
        if "base64" in spec:
            try:
                data = base64.b64decode("".join(spec["base64"].split()), validate=True)
            except (binascii.Error, ValueError) as e:
                raise self.fail(f"{key}.base64", f"not valid base64: {e}") from None
            return _File(key, logical, data=data)
        if "path" in spec:
            return _File(key, logical, data=self.read(self.base / spec["path"], f"{key}.path"))
        digest = spec.get("digest")
        if digest is not None and not hashing.is_digest(digest):
            raise self.fail(f"{key}.digest", f"{digest!r} is not a digest like 'sha256:<64 hex digits>'")
        if digest is None and "size" in spec:
            raise self.fail(f"{key}.size", "give 'size' together with 'digest' (without a digest the URL is read)")
        return _File(key, logical, ref=spec["ref"], digest=digest, size=spec.get("size", 0),
                     checksum=spec.get("checksum", True))

    def read(self, path: str | os.PathLike, key: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise self.fail(key, f"file {os.fspath(path)!r} not found") from None
        except IsADirectoryError:
            raise self.fail(key, f"{os.fspath(path)!r} is a folder; use 'dir' for a version made of a folder") from None
        except OSError as e:
            raise self.fail(key, f"cannot read {os.fspath(path)!r}: {e.strerror or e}") from None


def read(source: str | os.PathLike | Mapping) -> dict:
    """Parse a seed file (``.json``: JSON, else TOML) and check it against the schema.

    Raises :class:`SeedError` (parse error with its line, or the key path
    of the first problem) or :class:`NotFound` for a missing file.
    """
    doc, label, _base = _parse(source)
    _validate(doc, label)
    return doc


def _validate(doc: Any, label: str) -> None:
    try:
        _check(doc, schema(), "", schema())
    except _Invalid as e:
        raise SeedError(label, e.problem, key=e.key or None) from None


def _plan(source: str | os.PathLike | Mapping, base: str | os.PathLike | None) -> _Plan:
    doc, label, folder = _parse(source)
    _validate(doc, label)
    return _Planner(label, Path(base) if base is not None else folder).plan(doc)


def check(source: str | os.PathLike | Mapping, *, base: str | os.PathLike | None = None) -> dict[str, int]:
    """Parse and check a seed file and read every file it names, writing nothing.

    Returns counts (``registries``, ``artifacts``, ``versions``, ``links``,
    ``files``). Names, aliases and tags are checked; whether a registry or
    collection in a store accepts the seed is only known when loading.
    """
    plan = _plan(source, base)
    vs = [v for a in plan.artifacts for v in a.versions]
    return {
        "registries": len(plan.registries),
        "artifacts": len(plan.artifacts),
        "versions": len(vs),
        "links": sum(len(v.links) for v in vs),
        "files": sum(len(v.files) for v in vs),
    }


# -- loading ---------------------------------------------------------------------------


def load(store: "Store", source: str | os.PathLike | Mapping, *, base: str | os.PathLike | None = None) -> SeedResult:
    """Fill ``store`` from a seed file (or an already parsed dict), in one transaction.

    Paths in the seed are relative to the seed file's folder (``base`` for
    a dict, default the current folder). Raises :class:`SeedError` naming
    the file, the line or key path, and the problem (:class:`NotFound` for
    a missing file); on any error nothing is written. Idempotent: loading
    the same seed twice changes nothing.
    """
    plan = _plan(source, base)
    with store.transaction():
        return _Loader(store, plan).run()


class _Loader:
    def __init__(self, store: "Store", plan: _Plan) -> None:
        self.store = store
        self.db = store.db
        self.plan = plan
        self.org = plan.defaults.get("org") or store.default("org")
        self.entity = plan.defaults.get("entity") or store.default("entity")
        self.project = plan.defaults.get("project") or store.default("project")
        self.entity_org: dict[str, str] = {}
        self.objects = Objects(store)
        self.done_registries: list[str] = []
        self.done_versions: list[str] = []
        self.done_links: list[str] = []
        self.created = 0

    def fail(self, key: str, problem: str) -> SeedError:
        return SeedError(self.plan.label, problem, key=key)

    @contextmanager
    def at(self, key: str) -> Iterator[None]:
        try:
            yield
        except SeedError:
            raise
        except LocalregError as e:
            raise self.fail(key, str(e)) from None

    def run(self) -> SeedResult:
        for key, org, ents in self.plan.orgs:
            with self.at(key):
                self.store.ensure_org(org)
            for ekey, ent in ents:
                # an entity listed in several orgs is in each (a user in several orgs, as in W&B)
                self.entity_org.setdefault(ent, org)
                with self.at(ekey):
                    orgs.add_entity(self.store, org, ent)
        for r in self.plan.registries:
            self.registry(r)
        for pkey, pent, proj in self.plan.projects:
            self.ensure_entity(pent or self.entity, pkey)
            with self.at(pkey):
                self.store.ensure_project(pent or self.entity, proj)
        links: list[tuple[_Link, versions.Version]] = []
        for a in self.plan.artifacts:
            links.extend(self.artifact(a))
        self.links(links)
        for r in self.plan.registries:
            for c in r.collections:
                if c.next_index is not None:
                    reg = registries.get_registry(self.store, r.name, r.org or self.org)
                    cid = self.registry_collection(reg, c.name, c.type, c.key)
                    self.set_next_index(cid, c.next_index, f"{c.key}.next_index")
        return SeedResult(self.plan.label, tuple(self.done_registries), tuple(self.done_versions),
                          tuple(self.done_links), self.created)

    # -- scopes ------------------------------------------------------------------------
    def ensure_entity(self, name: str, key: str) -> None:
        """Make entity ``name`` if the store lacks it, in the org the seed lists it in (else the default org)."""
        if self.db.execute("SELECT 1 FROM entities WHERE name = ?", [name]).fetchone():
            return
        with self.at(key):
            orgs.add_entity(self.store, self.entity_org.get(name, self.org), name)

    def next_idx(self, cid: int) -> int:
        return self.db.execute("SELECT next_idx FROM collections WHERE id = ?", [cid]).fetchone()[0]

    def set_next_index(self, cid: int, value: int, key: str) -> None:
        current = self.next_idx(cid)
        if value < current:
            raise self.fail(key, f"{value} is below the next free index of the collection (v{current})")
        self.db.execute("UPDATE collections SET next_idx = ? WHERE id = ?", [value, cid])

    def take_index(self, cid: int, index: int, key: str, where: str) -> None:
        """Make ``index`` the next one handed out in collection ``cid``."""
        current = self.next_idx(cid)
        if index < current:
            taken = self.db.execute("SELECT 1 FROM versions WHERE collection_id = ? AND idx = ?", [cid, index]).fetchone()
            raise self.fail(key, f"v{index} of {where} " + (
                "holds other content" if taken else f"was used before (the next free index is v{current})"
            ))
        self.db.execute("UPDATE collections SET next_idx = ? WHERE id = ?", [index, cid])

    # -- registries ----------------------------------------------------------------------
    def registry(self, r: _Registry) -> None:
        org = r.org or self.org
        with self.at(r.key):
            self.store.ensure_org(org)
            try:
                reg = registries.get_registry(self.store, r.name, org)
            except NotFound:
                reg = registries.create_registry(
                    self.store, r.name, org=org, visibility=r.visibility or "organization",
                    description=r.description, artifact_types=r.artifact_types,
                )
            else:
                allow_all = False if r.artifact_types is not None and reg.allow_all_artifact_types else None
                reg = registries.update_registry(
                    self.store, reg, description=r.description, visibility=r.visibility,
                    artifact_types=r.artifact_types, allow_all_artifact_types=allow_all,
                )
        self.done_registries.append(f"{org}/{reg.full_name}")
        for c in r.collections:
            cid = self.registry_collection(reg, c.name, c.type, c.key)
            self.describe(cid, c.description, c.tags, c.key)

    def registry_collection(self, reg: registries.Registry, name: str, type_: str, key: str) -> int:
        row = self.db.execute(
            "SELECT id, type FROM collections WHERE registry_id = ? AND name = ?", [reg.id, name]
        ).fetchone()
        path = f"{reg.org}/{reg.full_name}/{name}"
        if row:
            if row[1] != type_:
                raise self.fail(key, f"collection {path} holds type {row[1]!r}, not {type_!r}")
            return row[0]
        if reg.artifact_types is not None and type_ not in reg.artifact_types:
            raise self.fail(key, f"registry {reg.name!r} in organization {reg.org!r} does not allow artifact type "
                                 f"{type_!r} (allowed: {', '.join(reg.artifact_types) or 'none'})")
        with self.at(key):
            return registries.ensure_link_collection(self.store, name=name, type=type_, path=path,
                                                     registry_id=reg.id)

    def describe(self, cid: int, description: str | None, tags: list[str] | None, key: str) -> None:
        if description is None and tags is None:
            return
        coll = registries.get_collection(self.store, cid)
        if (description is None or description == coll.description) and (tags is None or list(coll.tags) == tags):
            return
        with self.at(key):
            registries.update_collection(self.store, coll, description=description, tags=tags)

    # -- artifacts ---------------------------------------------------------------------------
    def artifact(self, a: _Artifact) -> list[tuple[_Link, versions.Version]]:
        entity = a.entity or self.entity
        project = a.project or self.project
        where = f"{entity}/{project}/{a.name}"
        self.ensure_entity(entity, a.key)
        with self.at(a.key):
            pid = self.store.ensure_project(entity, project)
        row = self.db.execute("SELECT id, type FROM collections WHERE project_id = ? AND name = ?", [pid, a.name]).fetchone()
        if row:
            if row[1] != a.type:
                raise self.fail(f"{a.key}.type", f"artifact {where} has type {row[1]!r} in store {self.store.home}, not {a.type!r}")
            cid = row[0]
        else:
            ts = now()
            cid = self.db.execute(
                "INSERT INTO collections (project_id, name, type, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                [pid, a.name, a.type, ts, ts],
            ).lastrowid
        self.describe(cid, a.description, a.tags, a.key)
        links: list[tuple[_Link, versions.Version]] = []
        seen: dict[int, str] = {}
        latest: versions.Version | None = None
        for v in a.versions:
            got = self.version(a, v, cid, entity, project, where)
            if got.id in seen:
                raise self.fail(v.key, f"same files as {seen[got.id]}; a collection keeps one version per content")
            seen[got.id] = v.key
            if LATEST in v.aliases:
                latest = got
            self.done_versions.append(got.qualified_name)
            links.extend((lk, got) for lk in v.links)
        if latest is not None:
            versions._set_aliases(self.db, cid, latest.id, [LATEST])
        if a.next_index is not None:
            self.set_next_index(cid, a.next_index, f"{a.key}.next_index")
        return links

    def entries(self, v: _Version) -> list[Entry]:
        out = []
        for f in v.files:
            with self.at(f.key):
                if f.data is not None:
                    digest, size = self.objects.add_bytes(f.data)
                    out.append(Entry(f.path, digest, size))
                elif f.digest is not None:
                    out.append(Entry(f.path, f.digest, f.size, ref=f.ref))
                else:
                    out.extend(ingest.reference_entries(self.store, f.ref, f.path, f.checksum))  # type: ignore[arg-type]
        return out

    def version(self, a: _Artifact, v: _Version, cid: int, entity: str, project: str, where: str) -> versions.Version:
        entries = self.entries(v)
        digest = hashing.manifest_digest((e.path, e.digest) for e in entries)
        found = versions.load(self.store, "v.collection_id = ? AND v.source_id IS NULL AND v.digest = ?", [cid, digest])
        if found:
            if v.index is not None and found[0].index != v.index:
                raise self.fail(f"{v.key}.index", f"{where}:v{found[0].index} holds these files already; "
                                                  f"it cannot also be v{v.index}")
        elif v.index is not None:
            self.take_index(cid, v.index, f"{v.key}.index", where)
        with self.at(v.key):
            got, created = versions.log_version(
                self.store, name=a.name, type=a.type, entries=entries, entity=entity, project=project,
                description=v.description, metadata=v.metadata, aliases=[x for x in v.aliases if x != LATEST],
                tags=v.tags, ttl_seconds=v.ttl,
            )
            if not created and ((v.description is not None and v.description != got.description)
                                or (v.metadata is not None and v.metadata != got.metadata)):
                got = versions.update(self.store, got, description=v.description, metadata=v.metadata)
        self.created += created
        return got

    # -- links ------------------------------------------------------------------------------------
    def links(self, jobs: list[tuple[_Link, versions.Version]]) -> None:
        groups: dict[str, list[tuple[_Link, versions.Version]]] = {}
        for order, (lk, source) in enumerate(jobs):
            lk.order = order
            ref = names.parse_link_target(lk.target)
            if ref.is_registry:
                target = f"{ref.scope or self.org}/{REGISTRY_PREFIX}{ref.registry}/{ref.name}"
            else:  # a project's link collection: what the path leaves out is the source's
                target = f"{ref.scope or source.entity}/{ref.project or source.project}/{ref.name}"
            groups.setdefault(target, []).append((lk, source))
        for target, group in groups.items():
            ref = names.parse_link_target(target)
            if any(lk.index is not None for lk, _ in group):
                group.sort(key=lambda j: (j[0].index is None, j[0].index or 0, j[0].order))
            alias_at: dict[str, str] = {}
            latest = None
            for lk, source in group:
                if ref.is_registry:
                    with self.at(f"{lk.key}.target"):
                        reg = registries.get_registry(self.store, str(ref.registry), ref.scope)
                    cid = self.registry_collection(reg, ref.name, source.type, f"{lk.key}.target")
                else:
                    self.ensure_entity(str(ref.scope), f"{lk.key}.target")
                    with self.at(f"{lk.key}.target"):
                        cid = registries.ensure_link_collection(
                            self.store, name=ref.name, type=source.type, path=target,
                            project_id=self.store.ensure_project(str(ref.scope), str(ref.project)),
                            linking=source.qualified_name)
                for i, alias in enumerate(lk.aliases):
                    if alias in alias_at:
                        raise self.fail(_key(f"{lk.key}.aliases", i),
                                        f"alias {alias!r} of {target} is also on {alias_at[alias]}")
                    alias_at[alias] = lk.key
                existing = versions.load(self.store, "v.collection_id = ? AND v.source_id = ?", [cid, source.id])
                if existing:
                    if lk.index is not None and existing[0].index != lk.index:
                        raise self.fail(f"{lk.key}.index", f"{source.qualified_name} is linked as "
                                                           f"{target}:v{existing[0].index} already, not v{lk.index}")
                elif lk.index is not None:
                    self.take_index(cid, lk.index, f"{lk.key}.index", target)
                with self.at(lk.key):
                    link = registries.link(self.store, source, target, [x for x in lk.aliases if x != LATEST])
                if LATEST in lk.aliases:
                    latest = link
                self.done_links.append(link.qualified_name)
            if latest is not None:
                versions._set_aliases(self.db, latest.collection_id, latest.id, [LATEST])


# -- dumping ------------------------------------------------------------------------------


class _Selection:
    """Which collections, versions and links a dump holds (None: all of a collection)."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self.db = store.db
        self.sources: dict[int, set[int] | None] = {}
        self.targets: dict[int, set[int] | None] = {}
        self.projects: set[int] = set()
        self.registries: set[int] = set()
        self.entities: set[str] = set()
        self.everything = False

    def _all(self, into: dict[int, set[int] | None], sql: str, params: Sequence[Any]) -> None:
        for (cid,) in self.db.execute(sql, list(params)):
            into[cid] = None

    @staticmethod
    def _one(into: dict[int, set[int] | None], cid: int, vid: int) -> None:
        if cid in into and into[cid] is None:
            return
        into.setdefault(cid, set()).add(vid)  # type: ignore[union-attr]

    def add_all(self) -> None:
        self.everything = True
        self._all(self.sources, "SELECT id FROM collections WHERE kind = 'sequence'", [])
        # what the acting user may read: a restricted registry of which they are no member stays out
        vis, vparams = access.visible("registry_id")
        self._all(self.targets, f"SELECT id FROM collections WHERE kind = 'portfolio' AND {vis}", vparams)
        self.projects.update(r[0] for r in self.db.execute("SELECT id FROM projects"))
        vis, vparams = access.visible("id")
        self.registries.update(r[0] for r in self.db.execute(f"SELECT id FROM registries WHERE {vis}", vparams))

    def add(self, selection: str) -> None:
        """Add ``ENTITY[/PROJECT[/NAME[:ALIAS]]]`` or ``[ORG/]wandb-registry-R[/NAME[:ALIAS]]``."""
        if not isinstance(selection, str) or not selection.strip("/"):
            raise InvalidName(f"invalid selection {selection!r}", selection)
        path, sep, _alias = selection.partition(":")
        if sep:
            v = versions.resolve(self.store, selection)
            self._one(self.targets if v.is_link else self.sources, v.collection_id, v.id)
            return
        parts = path.split("/")
        at = next((i for i, p in enumerate(parts) if p.startswith(REGISTRY_PREFIX)), None)
        if at is not None:
            if at > 1 or len(parts) > at + 2:
                raise InvalidName(
                    f"invalid selection {selection!r}: expected [ORG/]{REGISTRY_PREFIX}REGISTRY[/COLLECTION]", selection
                )
            org = parts[0] if at == 1 else self.store.default("org")
            reg = registries.get_registry(self.store, parts[at], org)
            if len(parts) == at + 1:
                self.registries.add(reg.id)
                self._all(self.targets, "SELECT id FROM collections WHERE registry_id = ?", [reg.id])
                return
        if len(parts) > 3:
            raise InvalidName(f"invalid selection {selection!r}: expected ENTITY, ENTITY/PROJECT or "
                              f"ENTITY/PROJECT/NAME, or a registry path", selection)
        if len(parts) == 1:
            ent = names.check_name(parts[0], "entity name")
            row = self.db.execute("SELECT id FROM entities WHERE name = ?", [ent]).fetchone()
            if not row:
                raise NotFound(f"entity {ent!r} not found in store {self.store.home}", ent)
            pids = [r[0] for r in self.db.execute("SELECT id FROM projects WHERE entity_id = ?", [row[0]])]
            self.entities.add(ent)
            self.projects.update(pids)
            for pid in pids:
                self._project(pid)
            return
        if len(parts) == 2 and at is None:
            pid = self.store.project_id(names.check_name(parts[0], "entity name"), names.check_name(parts[1], "project name"))
            self.projects.add(pid)
            self._project(pid)
            return
        cid, _type, _where = versions.collection_id(self.store, names.parse_ref(path, allow_alias=False))
        if registries.get_collection(self.store, cid).portfolio:
            self.targets[cid] = None
        else:
            self.sources[cid] = None

    def _project(self, pid: int) -> None:
        """A project's sequences and its link collections (W&B portfolios)."""
        self._all(self.sources, "SELECT id FROM collections WHERE project_id = ? AND kind = 'sequence'", [pid])
        self._all(self.targets, "SELECT id FROM collections WHERE project_id = ? AND kind = 'portfolio'", [pid])

    def close(self) -> None:
        """Add the links of selected versions, then the sources of selected links."""
        vis, vparams = access.visible("(SELECT c.registry_id FROM collections c WHERE c.id = l.collection_id)")
        for cid, vids in list(self.sources.items()):
            for lid, tcid, sid in self.db.execute(
                "SELECT l.id, l.collection_id, s.id FROM versions l JOIN versions s ON s.id = l.source_id "
                f"WHERE s.collection_id = ? AND {vis}", [cid, *vparams],
            ).fetchall():
                if vids is None or sid in vids:
                    self._one(self.targets, tcid, lid)
        for cid, lids in list(self.targets.items()):
            for lid, scid, sid in self.db.execute(
                "SELECT l.id, s.collection_id, s.id FROM versions l JOIN versions s ON s.id = l.source_id "
                "WHERE l.collection_id = ?", [cid],
            ).fetchall():
                if lids is None or lid in lids:
                    self._one(self.sources, scid, sid)


def dump(store: "Store", selections: Sequence[str] = ()) -> dict[str, Any]:
    """The whole store, or the selected part, as a seed document (a dict; see :func:`dumps`).

    A selection is ``ENTITY``, ``ENTITY/PROJECT``, ``ENTITY/PROJECT/NAME``,
    ``[ORG/]wandb-registry-R`` or ``[ORG/]wandb-registry-R/NAME``, any of
    them with ``:ALIAS`` or ``:vN`` for one version. A dump also holds the
    links of the versions it holds, the source versions of the links it
    holds, and the registries, orgs and entities they need, so it loads
    into an empty store. File contents are inline (text, else base64).
    Reads one snapshot; writes nothing.
    """
    with store.snapshot():
        sel = _Selection(store)
        if not selections:
            sel.add_all()
        for s in selections:
            sel.add(s)
        sel.close()
        return _Dumper(store, sel).document()


def dumps(store: "Store", selections: Sequence[str] = ()) -> str:
    """:func:`dump` as JSON text, two-space indented, ending in a newline."""
    return json.dumps(dump(store, selections), indent=2, ensure_ascii=False) + "\n"


_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _as_text(data: bytes) -> str | None:
    """``data`` as text if it is UTF-8 without control characters (but tab, newlines, form feed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _BINARY.search(text) else text


class _Dumper:
    def __init__(self, store: "Store", sel: _Selection) -> None:
        self.store = store
        self.db = store.db
        self.sel = sel
        self.objects = Objects(store)

    def _ids(self, ids: Sequence[int]) -> str:
        return ",".join(str(int(i)) for i in ids) or "NULL"

    def _tops(self, cids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
        """``{collection id: (next_idx, highest idx or None)}``."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            f"SELECT c.id, c.next_idx, (SELECT max(idx) FROM versions v WHERE v.collection_id = c.id) "
            f"FROM collections c WHERE c.id IN ({self._ids(cids)})"
        )}

    @staticmethod
    def _next_index(top: tuple[int, int | None]) -> int | None:
        nxt, high = top
        return None if nxt == (high + 1 if high is not None else 0) else nxt

    @staticmethod
    def _aliases(v: versions.Version, high: int | None) -> list[str]:
        return [a for a in v.aliases if a != LATEST or v.index != high]

    def _pick(self, wanted: dict[int, set[int] | None]) -> list[versions.Version]:
        out: list[versions.Version] = []
        for cid, ids in wanted.items():
            out.extend(v for v in versions.load(self.store, "v.collection_id = ?", [cid]) if ids is None or v.id in ids)
        return out

    def document(self) -> dict[str, Any]:
        sources = self._pick(self.sel.sources)
        links = self._pick(self.sel.targets)
        source_tops = self._tops(list(self.sel.sources))
        target_tops = self._tops(list(self.sel.targets))

        # scopes: projects and registries the selection needs, and their entities and orgs
        pids = set(self.sel.projects)
        pids.update(r[0] for r in self.db.execute(
            f"SELECT project_id FROM collections WHERE id IN ({self._ids(list(self.sel.sources))})"))
        rids = set(self.sel.registries)
        rids.update(r[0] for r in self.db.execute(
            f"SELECT registry_id FROM collections WHERE id IN ({self._ids(list(self.sel.targets))}) "
            "AND registry_id IS NOT NULL"))
        ent_where = "1" if self.sel.everything else (
            f"e.id IN (SELECT entity_id FROM projects WHERE id IN ({self._ids(sorted(pids))})) "
            "OR e.name IN (SELECT value FROM json_each(?))"
        )
        ent_rows = self.db.execute(
            "SELECT o.name, e.name FROM entities e JOIN orgs o ON o.id = e.org_id "
            "OR o.id IN (SELECT org_id FROM entity_orgs WHERE entity_id = e.id) "
            f"WHERE {ent_where} ORDER BY e.name, o.name",
            [] if self.sel.everything else [json.dumps(sorted(self.sel.entities))],
        ).fetchall()
        org_entities: dict[str, list[str]] = {}
        if self.sel.everything:
            for (o,) in self.db.execute("SELECT name FROM orgs ORDER BY name"):
                org_entities[o] = []
        for o, e in ent_rows:
            org_entities.setdefault(o, []).append(e)
        reg_rows = self.db.execute(
            f"SELECT r.id, o.name, r.name FROM registries r JOIN orgs o ON o.id = r.org_id "
            f"WHERE r.id IN ({self._ids(sorted(rids))}) ORDER BY o.name, r.name"
        ).fetchall()
        for _rid, o, _r in reg_rows:
            org_entities.setdefault(o, [])

        doc: dict[str, Any] = {"format": FORMAT}
        doc["orgs"] = [{"name": o, **({"entities": e} if e else {})} for o, e in sorted(org_entities.items())]

        coll_rows = {c: registries.get_collection(self.store, c) for c in [*self.sel.sources, *self.sel.targets]}
        with_artifacts = {(c.entity, c.project) for c in coll_rows.values() if c.registry is None}
        empty_projects = [
            {"entity": e, "name": p} for e, p in self.db.execute(
                f"SELECT e.name, p.name FROM projects p JOIN entities e ON e.id = p.entity_id "
                f"WHERE p.id IN ({self._ids(sorted(pids))}) ORDER BY e.name, p.name"
            ) if (e, p) not in with_artifacts
        ]
        if empty_projects:
            doc["projects"] = empty_projects

        regs = []
        for rid, org, name in reg_rows:
            reg = registries.get_registry(self.store, name, org)
            colls = sorted((c for c in coll_rows.values() if c.registry == name and c.org == org), key=lambda c: c.name)
            core_types = CORE_REGISTRIES.get(name, (None, None))[1]
            if self.sel.everything and reg.is_core and not colls and list(reg.artifact_types or ()) == core_types:
                continue
            r: dict[str, Any] = {"org": org, "name": name}
            if not reg.is_core:
                if reg.description:
                    r["description"] = reg.description
                r["visibility"] = reg.visibility
            if reg.artifact_types is not None and (not reg.is_core or list(reg.artifact_types) != core_types):
                r["artifact_types"] = list(reg.artifact_types)
            if colls:
                r["collections"] = [self._collection(c, target_tops[c.id]) for c in colls]
            regs.append(r)
        if regs:
            doc["registries"] = regs

        links_of: dict[int, list[versions.Version]] = {}
        for lk in sorted(links, key=lambda x: (x.path, x.index)):
            links_of.setdefault(lk.source_id, []).append(lk)  # type: ignore[arg-type]
        by_coll: dict[int, list[versions.Version]] = {}
        for v in sources:
            by_coll.setdefault(v.collection_id, []).append(v)
        arts = []
        for cid in sorted(self.sel.sources, key=lambda c: (coll_rows[c].entity, coll_rows[c].project, coll_rows[c].name)):
            c = coll_rows[cid]
            a: dict[str, Any] = {"entity": c.entity, "project": c.project, "name": c.name, "type": c.type}
            if c.description:
                a["description"] = c.description
            if c.tags:
                a["tags"] = list(c.tags)
            nxt = self._next_index(source_tops[cid])
            if nxt is not None:
                a["next_index"] = nxt
            high = source_tops[cid][1]
            a["versions"] = [self._version(v, high, links_of.get(v.id, []), target_tops)
                             for v in sorted(by_coll.get(cid, []), key=lambda v: v.index)]
            arts.append(a)
        if arts:
            doc["artifacts"] = arts
        return doc

    def _collection(self, c: registries.Collection, top: tuple[int, int | None]) -> dict[str, Any]:
        d: dict[str, Any] = {"name": c.name, "type": c.type}
        if c.description:
            d["description"] = c.description
        if c.tags:
            d["tags"] = list(c.tags)
        nxt = self._next_index(top)
        if nxt is not None:
            d["next_index"] = nxt
        return d

    def _version(self, v: versions.Version, high: int | None, links: list[versions.Version],
                 target_tops: dict[int, tuple[int, int | None]]) -> dict[str, Any]:
        d: dict[str, Any] = {"index": v.index}
        if v.description:
            d["description"] = v.description
        if v.metadata:
            d["metadata"] = v.metadata
        aliases = self._aliases(v, high)
        if aliases:
            d["aliases"] = aliases
        if v.tags:
            d["tags"] = list(v.tags)
        if v.ttl_expires_at:
            seconds = (_dt.datetime.strptime(v.ttl_expires_at, _TIME) - _dt.datetime.strptime(v.created_at, _TIME)).total_seconds()
            d["ttl"] = int(seconds) if seconds == int(seconds) else seconds
        files: dict[str, Any] = {}
        for e in versions.entries(self.store, v):
            if e.ref is not None:
                files[e.path] = {"ref": e.ref, "digest": e.digest, "size": e.size}
                continue
            data = self.objects.read_bytes(e.digest)
            text = _as_text(data)
            files[e.path] = text if text is not None else {"base64": base64.b64encode(data).decode("ascii")}
        d["files"] = files
        if links:
            d["links"] = []
            for lk in links:
                ld: dict[str, Any] = {"target": lk.path, "index": lk.index}
                la = self._aliases(lk, target_tops[lk.collection_id][1])
                if la:
                    ld["aliases"] = la
                d["links"].append(ld)
        return d
