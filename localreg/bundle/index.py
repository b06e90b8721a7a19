"""The index document (``localreg-bundle.json``): encoded for export, parsed and checked on import."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import hashing, names, registries
from ..errors import InvalidInput, InvalidName
from ..names import REGISTRY_PREFIX
from ..objects import Entry
from ..store import __version__
from .common import FORMAT, FORMAT_VERSION, INDEX, BundleError, UnsupportedBundle

if TYPE_CHECKING:
    pass


class _Raw(str):
    """JSON text already encoded as :func:`hashing.canonical_json` would encode it, spliced in by :func:`_encode_index`.

    Manifests of many files are most of an index: encoding their entries
    from tuples costs a third of building and encoding them as dicts
    (measured: 10,000 entries).
    """


_str = json.encoder.encode_basestring  # type: ignore[attr-defined]  # a JSON string, as ensure_ascii=False writes it


def _manifest_json(rows: Sequence[Sequence[Any]]) -> _Raw:
    """Canonical JSON of the manifest entries ``rows`` (path, digest, size, ref), keys sorted."""
    return _Raw("[" + ",".join(
        '{"digest":"%s","path":%s,"size":%d}' % (r[1], _str(r[0]), r[2]) if r[3] is None
        else '{"digest":%s,"path":%s,"ref":%s,"size":%d}' % (_str(r[1]), _str(r[0]), _str(r[3]), r[2])
        for r in rows
    ) + "]")


def _encode_index(index: dict) -> bytes:
    """The index as canonical JSON, :class:`_Raw` parts spliced in; compact, so the C encoder runs."""
    token = secrets.token_hex(8)
    raws: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, _Raw):
            raws.append(value)
            return f"\x00{token}:{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = hashing.canonical_json(swap(index))
    text = re.sub(r'"\\u0000%s:(\d+)\\u0000"' % token, lambda m: raws[int(m.group(1))], text)
    # "python -m json.tool" shows it indented
    return (text + "\n").encode()

# -- the index, checked ---------------------------------------------------------------------------

_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


class _Schema:
    """Checks the index document field by field; every message names where it looked."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> BundleError:
        return BundleError(f"bundle {self.path}: {INDEX} is invalid at {where}: {message}; nothing was imported",
                           self.path)

    def obj(self, value: Any, where: str, keys: Iterable[str], optional: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {type(value).__name__}")
        keys, optional = set(keys), set(optional)
        missing = sorted(keys - set(value))
        if missing:
            raise self.fail(where, f"missing {', '.join(missing)}")
        extra = sorted(set(value) - keys - optional)
        if extra:
            raise self.fail(where, f"unknown field {', '.join(extra)}")
        return value

    def items(self, value: Any, where: str) -> list:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, where: str, *, null: bool = False) -> Any:
        if value is None and null:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {type(value).__name__}")
        return value

    def natural(self, value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(where, f"expected a non-negative integer, got {value!r}")
        return value

    def ts(self, value: Any, where: str, *, null: bool = False) -> Any:
        if value is None and null:
            return None
        if not isinstance(value, str) or not _TS.fullmatch(value):
            raise self.fail(where, f"expected a UTC time like 2026-01-02T03:04:05.000000Z, got {value!r}")
        return value

    def digest(self, value: Any, where: str) -> str:
        if not hashing.is_digest(value):
            raise self.fail(where, f"expected a digest like sha256:<64 hex>, got {value!r}")
        return value

    def check(self, fn, value: Any, where: str) -> Any:
        try:
            return fn(value)
        except (InvalidName, InvalidInput) as e:
            raise self.fail(where, str(e)) from None

    def unique(self, fn, value: Any, where: str) -> list:
        checked = self.check(fn, self.items(value, where), where)
        if checked != value:
            raise self.fail(where, "an entry appears twice")
        return value

    def json(self, value: Any, where: str, max_keys: int | None) -> dict:
        cleaned = self.check(lambda v: hashing.clean_metadata(v, where, max_keys=max_keys), value, where)
        if not isinstance(value, dict) or cleaned != value:
            raise self.fail(where, "expected a JSON object")
        return value

    def collection_path(self, value: Any, where: str) -> names.Ref:
        ref = self.check(lambda v: names.parse_ref(v, allow_alias=False, what="collection path"),
                         self.text(value, where), where)
        if ref.is_registry and not ref.scope or not ref.is_registry and not (ref.scope and ref.project):
            raise self.fail(where, f"{value!r} is not a full ENTITY/PROJECT/NAME or ORG/{REGISTRY_PREFIX}R/NAME path")
        return ref

    def qualified(self, value: Any, where: str) -> tuple[str, int]:
        path, colon, version = self.text(value, where).rpartition(":")
        if not colon or not names.is_version(version):
            raise self.fail(where, f"{value!r} is not a PATH:vN reference")
        self.collection_path(path, where)
        return path, int(version[1:])


def _parse_json(path: str, data: bytes) -> Any:
    def no_dupes(pairs):
        d = {}
        for k, v in pairs:
            if k in d:
                raise ValueError(f"duplicate key {k!r}")
            d[k] = v
        return d

    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=no_dupes, parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BundleError(f"bundle {path}: {INDEX} is not valid JSON ({e}); nothing was imported", path) from None


def _check_version(path: str, doc: Any) -> int:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BundleError(f"{path} is not a localreg bundle ({INDEX} does not say format {FORMAT!r})", path)
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"bundle {path}: invalid format_version {version!r}", path)
    if version > FORMAT_VERSION:
        raise UnsupportedBundle(
            f"bundle {path} is format version {version}, written by {doc.get('written_by', 'a newer localreg')}; "
            f"this is localreg {__version__}, which reads format version {FORMAT_VERSION} at most: upgrade localreg",
            path, version,
        )
    return version


@dataclass
class _Index:
    """The checked index: plain dicts keyed for the import."""

    doc: dict
    registries: dict[tuple[str, str], dict]
    collections: dict[str, dict]
    versions: dict[tuple[str, int], dict]
    links: dict[tuple[str, int], dict]
    runs: dict[str, dict]
    lineage: list[dict]
    blobs: dict[str, int]


def _check_index(path: str, doc: dict) -> _Index:
    s = _Schema(path)
    s.obj(doc, "the top level",
          ["format", "format_version", "registries", "collections", "versions", "links", "runs", "lineage", "blobs"],
          ["written_by", "selections"])

    regs: dict[tuple[str, str], dict] = {}
    for i, r in enumerate(s.items(doc["registries"], "registries")):
        w = f"registries[{i}]"
        s.obj(r, w, ["org", "name", "description", "visibility", "artifact_types", "created_at", "updated_at"])
        s.check(lambda v: names.check_name(v, "org name"), r["org"], f"{w}.org")
        s.check(lambda v: names.check_name(v, "registry name"), r["name"], f"{w}.name")
        s.text(r["description"], f"{w}.description")
        if r["visibility"] not in registries.VISIBILITIES:
            raise s.fail(f"{w}.visibility", f"{r['visibility']!r} is not one of {', '.join(registries.VISIBILITIES)}")
        if r["artifact_types"] is not None:
            for j, t in enumerate(s.items(r["artifact_types"], f"{w}.artifact_types")):
                s.check(names.check_type, t, f"{w}.artifact_types[{j}]")
        s.ts(r["created_at"], f"{w}.created_at")
        s.ts(r["updated_at"], f"{w}.updated_at")
        key = (r["org"], r["name"])
        if key in regs:
            raise s.fail(w, f"registry {key[0]}/{REGISTRY_PREFIX}{key[1]} is listed twice")
        regs[key] = r

    colls: dict[str, dict] = {}
    for i, c in enumerate(s.items(doc["collections"], "collections")):
        w = f"collections[{i}]"
        s.obj(c, w, ["path", "type", "description", "tags", "created_at", "updated_at"])
        ref = s.collection_path(c["path"], f"{w}.path")
        s.check(names.check_type, c["type"], f"{w}.type")
        s.text(c["description"], f"{w}.description")
        s.unique(names.check_tags, c["tags"], f"{w}.tags")
        s.ts(c["created_at"], f"{w}.created_at")
        s.ts(c["updated_at"], f"{w}.updated_at")
        if ref.is_registry and (ref.scope, ref.registry) not in regs:
            raise s.fail(f"{w}.path", f"registry of {c['path']!r} is not in the bundle")
        if c["path"] in colls:
            raise s.fail(w, f"collection {c['path']!r} is listed twice")
        colls[c["path"]] = c

    run_docs: dict[str, dict] = {}
    for i, r in enumerate(s.items(doc["runs"], "runs")):
        w = f"runs[{i}]"
        s.obj(r, w, ["path", "name", "job_type", "config", "summary", "state", "started_at", "finished_at"])
        parts = s.text(r["path"], f"{w}.path").split("/")
        if len(parts) != 3:
            raise s.fail(f"{w}.path", f"{r['path']!r} is not ENTITY/PROJECT/RUN_ID")
        for part, what in zip(parts, ("entity name", "project name", "run id")):
            s.check(lambda v, what=what: names.check_name(v, what), part, f"{w}.path")
        s.text(r["name"], f"{w}.name", null=True)
        s.text(r["job_type"], f"{w}.job_type", null=True)
        s.json(r["config"], f"{w}.config", None)
        s.json(r["summary"], f"{w}.summary", None)
        s.text(r["state"], f"{w}.state")
        s.ts(r["started_at"], f"{w}.started_at")
        s.ts(r["finished_at"], f"{w}.finished_at", null=True)
        if r["path"] in run_docs:
            raise s.fail(w, f"run {r['path']!r} is listed twice")
        run_docs[r["path"]] = r

    blobs: dict[str, int] = {}
    for i, b in enumerate(s.items(doc["blobs"], "blobs")):
        w = f"blobs[{i}]"
        s.obj(b, w, ["digest", "size"])
        d = s.digest(b["digest"], f"{w}.digest")
        if d in blobs:
            raise s.fail(w, f"blob {d} is listed twice")
        blobs[d] = s.natural(b["size"], f"{w}.size")

    vers: dict[tuple[str, int], dict] = {}
    sizes: dict[str, int] = {}
    for i, v in enumerate(s.items(doc["versions"], "versions")):
        w = f"versions[{i}]"
        s.obj(v, w, ["path", "index", "digest", "size", "file_count", "description", "metadata", "tags", "aliases",
                     "created_by", "created_at", "updated_at", "ttl_expires_at", "run", "manifest"])
        ref = s.collection_path(v["path"], f"{w}.path")
        if ref.is_registry:
            raise s.fail(f"{w}.path", f"{v['path']!r} is a registry collection; versions live in projects")
        if v["path"] not in colls:
            raise s.fail(f"{w}.path", f"collection {v['path']!r} is not in the bundle")
        s.natural(v["index"], f"{w}.index")
        s.digest(v["digest"], f"{w}.digest")
        s.text(v["description"], f"{w}.description")
        s.json(v["metadata"], f"{w}.metadata", hashing.MAX_METADATA_KEYS)
        s.unique(names.check_tags, v["tags"], f"{w}.tags")
        s.unique(names.check_aliases, v["aliases"], f"{w}.aliases")
        s.text(v["created_by"], f"{w}.created_by")
        s.ts(v["created_at"], f"{w}.created_at")
        s.ts(v["updated_at"], f"{w}.updated_at")
        s.ts(v["ttl_expires_at"], f"{w}.ttl_expires_at", null=True)
        if v["run"] is not None and v["run"] not in run_docs:
            raise s.fail(f"{w}.run", f"run {v['run']!r} is not in the bundle")
        entries: list[Entry] = []
        for j, e in enumerate(s.items(v["manifest"], f"{w}.manifest")):
            we = f"{w}.manifest[{j}]"
            s.obj(e, we, ["path", "digest", "size"], ["ref"])
            logical = s.check(names.check_logical_path, s.text(e["path"], f"{we}.path"), f"{we}.path")
            if logical != e["path"]:
                raise s.fail(f"{we}.path", f"{e['path']!r} is not in normal form")
            s.digest(e["digest"], f"{we}.digest")
            s.natural(e["size"], f"{we}.size")
            s.text(e.get("ref"), f"{we}.ref", null=True)
            if e.get("ref") is None:
                if sizes.setdefault(e["digest"], e["size"]) != e["size"]:
                    raise s.fail(f"{we}.size", f"blob {e['digest']} has size {e['size']} here and "
                                 f"{sizes[e['digest']]} elsewhere")
            entries.append(Entry.from_dict(e))
        if len({e.path for e in entries}) != len(entries):
            raise s.fail(f"{w}.manifest", "a file path appears twice")
        if hashing.manifest_digest((e.path, e.digest) for e in entries) != v["digest"]:
            raise s.fail(f"{w}.digest", f"{v['digest']} is not the digest of its manifest")
        if v["size"] != sum(e.size for e in entries) or v["file_count"] != len(entries):
            raise s.fail(w, "size or file_count does not match the manifest")
        key = (v["path"], v["index"])
        if key in vers:
            raise s.fail(w, f"{v['path']}:v{v['index']} is listed twice")
        vers[key] = v

    lnks: dict[tuple[str, int], dict] = {}
    for i, link in enumerate(s.items(doc["links"], "links")):
        w = f"links[{i}]"
        s.obj(link, w, ["path", "index", "source", "aliases", "created_by", "created_at", "updated_at"])
        ref = s.collection_path(link["path"], f"{w}.path")
        if not ref.is_registry:
            raise s.fail(f"{w}.path", f"{link['path']!r} is not a registry collection")
        if link["path"] not in colls:
            raise s.fail(f"{w}.path", f"collection {link['path']!r} is not in the bundle")
        s.natural(link["index"], f"{w}.index")
        if s.qualified(link["source"], f"{w}.source") not in vers:
            raise s.fail(f"{w}.source", f"source version {link['source']!r} is not in the bundle")
        s.unique(names.check_aliases, link["aliases"], f"{w}.aliases")
        s.text(link["created_by"], f"{w}.created_by")
        s.ts(link["created_at"], f"{w}.created_at")
        s.ts(link["updated_at"], f"{w}.updated_at")
        key = (link["path"], link["index"])
        if key in lnks:
            raise s.fail(w, f"{link['path']}:v{link['index']} is listed twice")
        lnks[key] = link

    by_collection: dict[str, list[dict]] = {p: [] for p in colls}
    for (p, _i), m in [*vers.items(), *lnks.items()]:
        by_collection[p].append(m)
    for path_, c in colls.items():
        ref = names.parse_ref(path_, allow_alias=False)
        members = by_collection[path_]
        if ref.is_registry:
            allowed = regs[(ref.scope, ref.registry)]["artifact_types"]  # type: ignore[index]
            if allowed is not None and c["type"] not in allowed:
                raise s.fail(f"collection {path_!r}", f"type {c['type']!r} is not allowed in its registry")
        aliases: dict[str, Any] = {}
        for m in members:
            for a in m["aliases"]:
                if a in aliases:
                    raise s.fail(f"collection {path_!r}", f"alias {a!r} is on two versions")
                aliases[a] = m
        if ref.is_registry:
            srcs = [m["source"] for m in members]
            if len(set(srcs)) != len(srcs):
                raise s.fail(f"collection {path_!r}", "a source version is linked twice")
            for m in members:
                src = vers[_split_qualified(m["source"])]
                if colls[src["path"]]["type"] != c["type"]:
                    raise s.fail(f"collection {path_!r}", f"holds type {c['type']!r} but links {m['source']} "
                                 f"of type {colls[src['path']]['type']!r}")

    known = {f"{p}:v{i}" for p, i in vers} | {f"{p}:v{i}" for p, i in lnks}
    for i, e in enumerate(s.items(doc["lineage"], "lineage")):
        w = f"lineage[{i}]"
        s.obj(e, w, ["run", "version", "direction", "created_at"])
        if e["run"] not in run_docs:
            raise s.fail(f"{w}.run", f"run {e['run']!r} is not in the bundle")
        if e["version"] not in known:
            raise s.fail(f"{w}.version", f"{e['version']!r} is not in the bundle")
        if e["direction"] not in ("input", "output"):
            raise s.fail(f"{w}.direction", f"{e['direction']!r} is not input or output")
        s.ts(e["created_at"], f"{w}.created_at")

    for d, size in blobs.items():
        if d not in sizes:
            raise s.fail("blobs", f"blob {d} is in the bundle but no version needs it")
        if sizes[d] != size:
            raise s.fail("blobs", f"blob {d} is listed with {size} bytes but its manifests say {sizes[d]}")
    return _Index(doc, regs, colls, vers, lnks, run_docs, doc["lineage"], blobs)


def _split_qualified(q: str) -> tuple[str, int]:
    path, _, version = q.rpartition(":")
    return path, int(version[1:])
