"""The index read and checked as a stream, record by record, into the import's scratch database.

Every record is checked as it arrives (:class:`~.index._Schema`), then kept
as a row of :class:`~.scratch.Scratch`; manifests are read entry by entry,
their digest, size and file count summed as they go, their paths checked in
sorted order against the rule logging applies (:class:`names.FolderRule`).
What needs the whole index (every reference resolves, no alias on two
versions, every blob needed and of one size) is checked at the end, by
queries. So memory stays flat whatever the index holds.

The format and its version are checked once the whole index is read; a
record that fails a check before they were seen sends the reader back to
look for them, so that a bundle of a newer format is refused as such.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import hashing, names, registries
from ..names import REGISTRY_PREFIX
from .common import EMPTY_DIGEST, INDEX, MAX_INDEX, MAX_RECORD_CHARS, MAX_SIZE, BundleError
from .index import _check_version, _Schema
from .jsonstream import Stream
from .scratch import Blobs, Docs, Scratch

# the commonest records, as export writes them, read without building a dict (jsonstream.Stream.match); the
# pattern checks the digest; the path is then checked as logging checks it; anything else takes the slow path
_ENTRY = re.compile(r'\{"digest":"(sha256:[0-9a-f]{64})","path":"([A-Za-z0-9_.+=@,/ -]{1,1024})",'
                    r'"size":(0|[1-9][0-9]{0,15})\}')
_BLOB = re.compile(r'\{"digest":"(sha256:[0-9a-f]{64})","size":(0|[1-9][0-9]{0,15})\}')

TOP = ["format", "format_version", "registries", "collections", "versions", "links", "runs", "lineage", "blobs"]
TOP_OPTIONAL = ["written_by", "selections"]
VERSION_FIELDS = ["path", "index", "digest", "size", "file_count", "description", "metadata", "tags", "aliases",
                  "created_by", "created_at", "updated_at", "ttl_expires_at", "run", "manifest"]


@dataclass
class _Index:
    """The checked index: records keyed for the import, kept in ``scratch`` (mappings iterate in key order)."""

    doc: dict  # format, format_version, written_by, selections
    scratch: Scratch
    registries: Docs  # (org, name) -> record
    collections: Docs  # path -> record
    versions: Docs  # (path, index) -> record, without its manifest (see manifest())
    links: Docs  # (path, index) -> record
    runs: Docs  # path -> record
    lineage_docs: Docs
    blobs: Blobs  # digest -> size

    @property
    def lineage(self) -> Iterable[dict]:
        return self.lineage_docs.in_order()

    def manifest(self, key: tuple[str, int]) -> Iterable[dict]:
        """The manifest entries of version ``key`` as dicts, sorted by path."""
        n = self.versions.n_of(key)
        for path, digest, size, ref in self.scratch.rows(
                "SELECT path, digest, size, ref FROM entries WHERE v = ? ORDER BY j", (n,)):
            yield {"path": path, "digest": digest, "size": size} if ref is None else {
                "path": path, "digest": digest, "size": size, "ref": ref}

    def rows(self, key: tuple[str, int], version_id: int) -> Iterable[tuple]:
        """The ``entries`` rows of version ``key`` for the store."""
        n = self.versions.n_of(key)
        for path, digest, size, ref in self.scratch.rows(
                "SELECT path, digest, size, ref FROM entries WHERE v = ? ORDER BY j", (n,)):
            yield version_id, path, digest, size, ref


def read_index(path: str, open_pieces: Callable[[], Iterable[bytes]], scratch: Scratch) -> tuple[int, _Index]:
    """Read and check the index from ``open_pieces()``; ``(format version, index)`` or :class:`BundleError`."""
    top: dict = {}
    try:
        try:
            idx = _read(path, Stream(open_pieces(), MAX_RECORD_CHARS), scratch, top)
        except BundleError:
            # a newer format is refused as such, and what is not a bundle as not one, whatever failed first
            if not {"format", "format_version", "written_by"} <= set(top):
                _look_for_format(Stream(open_pieces(), MAX_RECORD_CHARS), top)
            _check_version(path, top)
            raise
    except BundleError:
        raise
    except (ValueError, RecursionError) as e:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        if isinstance(e, json.JSONDecodeError):
            e = f"{e.msg}: character {e.pos}"  # type: ignore[assignment]
        raise BundleError(f"bundle {path}: {INDEX} is not valid JSON ({e}); nothing was imported", path) from None
    return _check_version(path, top), idx


def _look_for_format(st: Stream, top: dict) -> None:
    if st.peek() != "{":
        return
    for key in st.object():
        if key in ("format", "format_version", "written_by"):
            top[key] = st.value()
        else:
            st.skip()


def _read(path: str, st: Stream, scratch: Scratch, top: dict) -> _Index:
    s = _Schema(path)
    idx = _Index(top, scratch, Docs(scratch, "r", True), Docs(scratch, "c", False), Docs(scratch, "v", True),
                 Docs(scratch, "l", True), Docs(scratch, "u", False), Docs(scratch, "e", False), Blobs(scratch))
    if st.peek() != "{":
        _check_version(path, st.value())  # not an object: not a bundle
    seen = set()
    sections = {"registries": _registries, "collections": _collections, "versions": _versions, "links": _links,
                "runs": _runs, "lineage": _lineage, "blobs": _blobs}
    for key in st.object():
        seen.add(key)
        if key in sections:
            if st.peek() != "[":
                raise s.fail(key, f"expected a list, got {type(st.value()).__name__}")
            sections[key](s, st, idx)
        elif key in TOP or key in TOP_OPTIONAL:
            top[key] = st.value()
        else:
            raise s.fail("the top level", f"unknown field {key}")
    st.end()
    missing = sorted(set(TOP) - seen)
    if missing:
        if "format" not in top or "format_version" not in top:
            _check_version(path, top)
        raise s.fail("the top level", f"missing {', '.join(missing)}")
    _check_version(path, top)
    scratch.finish()
    _cross_check(s, idx)
    return idx


def _records(st: Stream, name: str) -> Iterable[tuple[int, str, Any]]:
    for i in st.array():
        yield i, f"{name}[{i}]", st.value()


def _registries(s: _Schema, st: Stream, idx: _Index) -> None:
    for i, w, r in _records(st, "registries"):
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
        if not idx.registries.put((r["org"], r["name"]), i, r):
            raise s.fail(w, f"registry {r['org']}/{REGISTRY_PREFIX}{r['name']} is listed twice")


def _collections(s: _Schema, st: Stream, idx: _Index) -> None:
    for i, w, c in _records(st, "collections"):
        s.obj(c, w, ["path", "type", "description", "tags", "created_at", "updated_at"], ["kind"])
        ref = s.collection_path(c["path"], f"{w}.path")
        if c.get("kind", "portfolio") != "portfolio":
            raise s.fail(f"{w}.kind", f"{c['kind']!r} is not 'portfolio' (a project's collection of links)")
        s.check(names.check_type, c["type"], f"{w}.type")
        s.text(c["description"], f"{w}.description")
        s.unique(names.check_tags, c["tags"], f"{w}.tags")
        s.ts(c["created_at"], f"{w}.created_at")
        s.ts(c["updated_at"], f"{w}.updated_at")
        registry = f"{ref.scope}/{ref.registry}" if ref.is_registry else None
        if not idx.collections.put(c["path"], i, c, c["type"], registry):
            raise s.fail(w, f"collection {c['path']!r} is listed twice")


def _runs(s: _Schema, st: Stream, idx: _Index) -> None:
    for i, w, r in _records(st, "runs"):
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
        if not idx.runs.put(r["path"], i, r):
            raise s.fail(w, f"run {r['path']!r} is listed twice")


def _blobs(s: _Schema, st: Stream, idx: _Index) -> None:
    db = idx.scratch.db
    rows: list[tuple[str, int, int]] = []

    def flush() -> None:
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", rows)
        if db.total_changes - before != len(rows):
            for d, _size, i in rows:
                if idx.scratch.one("SELECT n FROM blobs WHERE digest = ?", (d,))[0] != i:
                    raise s.fail(f"blobs[{i}]", f"blob {d} is listed twice")
        rows.clear()

    for i in st.array():
        m = st.match(_BLOB, 120)
        if m is not None and int(m[2]) <= MAX_SIZE:  # as export writes it: checked by the pattern
            rows.append((m[1], int(m[2]), i))
        else:
            w = f"blobs[{i}]"
            b = st.value() if m is None else json.loads(m[0])
            s.obj(b, w, ["digest", "size"])
            rows.append((s.digest(b["digest"], f"{w}.digest"), s.natural(b["size"], f"{w}.size", MAX_SIZE), i))
        if len(rows) >= 1000:
            flush()
    flush()


def _aliases(idx: _Index, coll: str, index: int, aliases: list) -> None:
    idx.scratch.db.executemany("INSERT INTO aliases VALUES (?, ?, ?, ?)",
                               [(coll, a, index, pos) for pos, a in enumerate(aliases)])


def _versions(s: _Schema, st: Stream, idx: _Index) -> None:
    for i in st.array():
        w = f"versions[{i}]"
        if st.peek() != "{":
            raise s.fail(w, f"expected an object, got {type(st.value()).__name__}")
        v: dict = {}
        sums = None
        for key in st.object():
            if key == "manifest":
                sums = _manifest(s, st, idx, i, f"{w}.manifest")
            else:
                v[key] = st.value()
        s.obj({**v, "manifest": []} if sums is not None else v, w, VERSION_FIELDS)
        ref = s.collection_path(v["path"], f"{w}.path")
        if ref.is_registry:
            raise s.fail(f"{w}.path", f"{v['path']!r} is a collection of links; versions live in project sequences")
        s.natural(v["index"], f"{w}.index", MAX_INDEX)
        s.digest(v["digest"], f"{w}.digest")
        s.natural(v["size"], f"{w}.size", MAX_SIZE)
        s.natural(v["file_count"], f"{w}.file_count", MAX_INDEX)
        s.text(v["description"], f"{w}.description")
        s.json(v["metadata"], f"{w}.metadata", hashing.MAX_METADATA_KEYS)
        s.unique(names.check_tags, v["tags"], f"{w}.tags")
        s.unique(names.check_aliases, v["aliases"], f"{w}.aliases")
        s.text(v["created_by"], f"{w}.created_by")
        s.ts(v["created_at"], f"{w}.created_at")
        s.ts(v["updated_at"], f"{w}.updated_at")
        s.ts(v["ttl_expires_at"], f"{w}.ttl_expires_at", null=True)
        if v["run"] is not None:
            s.text(v["run"], f"{w}.run")
        assert sums is not None
        digest, size, count = sums
        if digest != v["digest"]:
            raise s.fail(f"{w}.digest", f"{v['digest']} is not the digest of its manifest")
        if v["size"] != size or v["file_count"] != count:
            raise s.fail(w, "size or file_count does not match the manifest")
        if not idx.versions.put((v["path"], v["index"]), i, v, v["run"]):
            raise s.fail(w, f"{v['path']}:v{v['index']} is listed twice")
        _aliases(idx, v["path"], v["index"], v["aliases"])


def _manifest(s: _Schema, st: Stream, idx: _Index, n: int, w: str) -> tuple[str, int, int]:
    """Check and keep one version's manifest, entry by entry: its digest, size and file count."""
    if st.peek() != "[":
        raise s.fail(w, f"expected a list, got {type(st.value()).__name__}")
    h = hashlib.sha256()  # as hashing.manifest_digest, whose sorted order the entries must be in already
    size = 0
    rows = []
    rule = names.FolderRule()
    last = None
    count = 0
    for j in st.array():
        m = st.match(_ENTRY, 1200)
        if m is not None and names.is_plain_path(m[2]) and int(m[3]) <= MAX_SIZE and (
                (m[3] == "0") == (m[1] == EMPTY_DIGEST)):
            # a stored file as export writes it, with a plain path: what s.entry checks, checked
            path, digest, nbytes, ref = m[2], m[1], int(m[3]), None
        else:
            path, digest, nbytes, ref = s.entry(st.value() if m is None else json.loads(m[0]), f"{w}[{j}]")
        we = f"{w}[{j}]"
        if last is not None and path <= last:
            if path == last:
                raise s.fail(we, f"file path {path!r} appears twice")
            raise s.fail(f"{we}.path", f"{path!r} is out of order: a manifest lists its files sorted by path "
                         "(as export writes them)")
        last = path
        s.check(rule.add, path, f"{w}")
        h.update(f"{path}\t{digest}\n".encode())
        size += nbytes
        count += 1
        rows.append((n, j, path, digest, nbytes, ref))
        if len(rows) >= 1000:
            idx.scratch.add_entries(rows)
            rows = []
    idx.scratch.add_entries(rows)
    return hashing.format_digest(h), size, count


def _links(s: _Schema, st: Stream, idx: _Index) -> None:
    for i, w, link in _records(st, "links"):
        s.obj(link, w, ["path", "index", "source", "aliases", "created_by", "created_at", "updated_at"])
        ref = s.collection_path(link["path"], f"{w}.path")
        if not ref.is_registry and "kind" not in (idx.collections.get(link["path"]) or {}):
            raise s.fail(f"{w}.path", f"{link['path']!r} is not a registry collection or a project's link collection")
        s.natural(link["index"], f"{w}.index", MAX_INDEX)
        src_path, src_index = s.qualified(link["source"], f"{w}.source")
        s.natural(src_index, f"{w}.source", MAX_INDEX)
        s.unique(names.check_aliases, link["aliases"], f"{w}.aliases")
        s.text(link["created_by"], f"{w}.created_by")
        s.ts(link["created_at"], f"{w}.created_at")
        s.ts(link["updated_at"], f"{w}.updated_at")
        if not idx.links.put((link["path"], link["index"]), i, link, src_path, src_index):
            raise s.fail(w, f"{link['path']}:v{link['index']} is listed twice")
        _aliases(idx, link["path"], link["index"], link["aliases"])


def _lineage(s: _Schema, st: Stream, idx: _Index) -> None:
    for i, w, e in _records(st, "lineage"):
        s.obj(e, w, ["run", "version", "direction", "created_at"])
        s.text(e["run"], f"{w}.run")
        s.text(e["version"], f"{w}.version")
        if e["direction"] not in ("input", "output"):
            raise s.fail(f"{w}.direction", f"{e['direction']!r} is not input or output")
        s.ts(e["created_at"], f"{w}.created_at")
        idx.lineage_docs.put(str(i), i, e, e["run"], e["version"])


def _cross_check(s: _Schema, idx: _Index) -> None:
    """What needs the whole index, as queries of the scratch database; the first failure in index order."""
    q = idx.scratch.one
    row = q("SELECT n, k1 FROM docs c WHERE kind = 'c' AND b IS NOT NULL AND NOT EXISTS (SELECT 1 FROM docs r "
            "WHERE r.kind = 'r' AND r.k1 || '/' || r.k2 = c.b) ORDER BY n LIMIT 1")
    if row:
        raise s.fail(f"collections[{row[0]}].path", f"registry of {row[1]!r} is not in the bundle")
    row = q("SELECT n, k1 FROM docs v WHERE kind = 'v' AND NOT EXISTS (SELECT 1 FROM docs c WHERE c.kind = 'c' "
            "AND c.k1 = v.k1) ORDER BY n LIMIT 1")
    if row:
        raise s.fail(f"versions[{row[0]}].path", f"collection {row[1]!r} is not in the bundle")
    row = q("SELECT v.n, v.k1 FROM docs v JOIN docs c ON c.kind = 'c' AND c.k1 = v.k1 WHERE v.kind = 'v' "
            "AND json_extract(c.doc, '$.kind') IS NOT NULL ORDER BY v.n LIMIT 1")
    if row:
        raise s.fail(f"versions[{row[0]}].path",
                     f"{row[1]!r} is a collection of links; versions live in project sequences")
    row = q("SELECT n, a FROM docs v WHERE kind = 'v' AND a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM docs u "
            "WHERE u.kind = 'u' AND u.k1 = v.a) ORDER BY n LIMIT 1")
    if row:
        raise s.fail(f"versions[{row[0]}].run", f"run {row[1]!r} is not in the bundle")
    row = q("SELECT n, k1 FROM docs l WHERE kind = 'l' AND NOT EXISTS (SELECT 1 FROM docs c WHERE c.kind = 'c' "
            "AND c.k1 = l.k1) ORDER BY n LIMIT 1")
    if row:
        raise s.fail(f"links[{row[0]}].path", f"collection {row[1]!r} is not in the bundle")
    row = q("SELECT n, a, b FROM docs l WHERE kind = 'l' AND NOT EXISTS (SELECT 1 FROM docs v WHERE v.kind = 'v' "
            "AND v.k1 = l.a AND v.k2 = l.b) ORDER BY n LIMIT 1")
    if row:
        raise s.fail(f"links[{row[0]}].source", f"source version '{row[1]}:v{row[2]}' is not in the bundle")

    # per collection: allowed types, aliases, links
    for c_path, c_type, reg in idx.scratch.rows(
            "SELECT k1, a, b FROM docs WHERE kind = 'c' AND b IS NOT NULL ORDER BY k1"):
        org, _, name = reg.partition("/")
        allowed = idx.registries[(org, name)]["artifact_types"]
        if allowed is not None and c_type not in allowed:
            raise s.fail(f"collection {c_path!r}", f"type {c_type!r} is not allowed in its registry")
    row = q("SELECT coll, alias FROM aliases GROUP BY coll, alias HAVING count(*) > 1 ORDER BY coll LIMIT 1")
    if row:
        raise s.fail(f"collection {row[0]!r}", f"alias {row[1]!r} is on two versions")
    row = q("SELECT k1 FROM docs WHERE kind = 'l' GROUP BY k1, a, b HAVING count(*) > 1 ORDER BY k1 LIMIT 1")
    if row:
        raise s.fail(f"collection {row[0]!r}", "a source version is linked twice")
    row = q("SELECT l.k1, cl.a, l.a, l.b, cs.a FROM docs l JOIN docs cl ON cl.kind = 'c' AND cl.k1 = l.k1 "
            "JOIN docs cs ON cs.kind = 'c' AND cs.k1 = l.a WHERE l.kind = 'l' AND cl.a != cs.a ORDER BY l.k1 LIMIT 1")
    if row:
        raise s.fail(f"collection {row[0]!r}", f"holds type {row[1]!r} but links {row[2]}:v{row[3]} of type {row[4]!r}")

    for n, run, version in idx.scratch.rows("SELECT n, a, b FROM docs WHERE kind = 'e' ORDER BY n"):
        if run not in idx.runs:
            raise s.fail(f"lineage[{n}].run", f"run {run!r} is not in the bundle")
        path, colon, v = version.rpartition(":")
        key = (path, int(v[1:])) if colon and names.is_version(v) else None
        if key is None or (key not in idx.versions and key not in idx.links):
            raise s.fail(f"lineage[{n}].version", f"{version!r} is not in the bundle")

    row = q("SELECT digest FROM entries WHERE ref IS NULL GROUP BY digest HAVING min(size) != max(size) "
            "ORDER BY min(v * 4294967296 + j) LIMIT 1")
    if row:
        rows = list(idx.scratch.rows("SELECT v, j, size FROM entries WHERE digest = ? AND ref IS NULL ORDER BY v, j",
                                     row))
        first = rows[0][2]
        v, j, size = next(r for r in rows if r[2] != first)
        raise s.fail(f"versions[{v}].manifest[{j}].size", f"blob {row[0]} has size {size} here and {first} elsewhere")
    row = q("SELECT b.digest FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.digest = b.digest "
            "AND e.ref IS NULL) ORDER BY b.n LIMIT 1")
    if row:
        raise s.fail("blobs", f"blob {row[0]} is in the bundle but no version needs it")
    row = q("SELECT b.digest, b.size, (SELECT size FROM entries e WHERE e.digest = b.digest AND e.ref IS NULL "
            "LIMIT 1) AS m FROM blobs b WHERE m != b.size ORDER BY b.n LIMIT 1")
    if row:
        raise s.fail("blobs", f"blob {row[0]} is listed with {row[1]} bytes but its manifests say {row[2]}")


__all__ = ["_Index", "read_index"]
