"""Bundles: versions, links, lineage and their blobs in one verified tar file.

A bundle carries part of a store across an air gap. It is one POSIX tar
(``tar tf`` lists it) whose members are, in this order:

* ``localreg-bundle.json``: the index. Format and format version, the
  versions with their manifests, aliases, tags, metadata, descriptions and
  creation times, the registries (description, visibility, allowed types),
  the collections, the links (with their own index and aliases), the runs
  and lineage edges of what is exported, and the sha256 and size of every
  blob the bundle holds;
* ``localreg-bundle.sig`` when signed: an Ed25519 signature over the exact
  bytes of the index, which names every blob by digest, so one signature
  covers the whole bundle;
* ``blobs/<hex>``: the whole bytes of every file the selection needs,
  sorted by digest (less those the other side has: ``exclude_digests``).

Invariants:

* Export is deterministic: members are sorted and written with a fixed
  mtime, owner and mode, and the index holds no export time, so the same
  selection of the same store gives a byte-identical file (Ed25519
  signatures are deterministic too). Blobs are streamed through
  a :class:`BlobReader`, which checks every chunk against its digest on
  two threads while the tar is written, and the file appears under its
  name only once complete and checked.
* Import checks everything before it changes anything: member names and
  types, duplicates, truncation, the signature (when ``trust`` is given),
  the format version, the index schema, that every needed blob is in the
  bundle or the store, every conflict with the store, and every blob's
  size and digest (streamed from the tar into :class:`Staging`, where no
  row names them). Only then does one transaction record the blobs and
  add every row, keeping version indexes, link indexes and aliases as they
  were at the source. A crash before the commit leaves unindexed files
  that gc removes, never a partial import.
* Import adds; it never moves, edits or removes what the store holds.
  Where the bundle says something else about something the store already
  has (another digest, type, description, metadata or tags for the same
  ``name:vN``, an alias on another version, a link index taken by another
  source, a registry of other visibility) it refuses and lists every
  conflict. ``latest`` is managed: it ends on the newest version of each
  collection the import adds to. Runs that exist already are kept as they
  are. Re-importing a bundle therefore changes nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import secrets
import sqlite3
import stat as stat_mod
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import access, hashing, names, registries, versions
from .blobs import Callback, NoOpCallback
from .errors import AlreadyExists, Conflict, CorruptBlob, InvalidInput, InvalidName, LocalregError, NotFound
from .names import LATEST, REGISTRY_PREFIX
from .objects import Entry, Objects, Staging
from .store import CORE_REGISTRIES, Store, __version__, current_user, now
from .text import plural

if TYPE_CHECKING:
    from .versions import Version

FORMAT = "localreg-bundle"
FORMAT_VERSION = 1
INDEX = "localreg-bundle.json"
SIGNATURE = "localreg-bundle.sig"
BLOB_DIR = "blobs/"
MTIME = 946684800  # 2000-01-01: fixed, and not so old that tar warns about it
MAX_INDEX_BYTES = 1 << 30
MAX_SIG_BYTES = 4096
MAX_PAX_BYTES = 4096
READ = 1 << 20
BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)

__all__ = [
    "BundleConflict", "BundleError", "ExportReport", "ImportReport", "MissingDependency", "SignatureError",
    "UnsupportedBundle", "export_bundle", "import_bundle", "keygen", "read_digests", "selection_digests",
    "store_digests",
]


# -- errors ----------------------------------------------------------------------------


class BundleError(LocalregError, ValueError):
    """The bundle cannot be used: not a bundle, unsafe, truncated, corrupt or inconsistent. Nothing was written."""

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedBundle(BundleError):
    """The bundle was written in a newer format than this localreg reads."""

    def __init__(self, message: str, path: object = None, version: object = None) -> None:
        super().__init__(message, path)
        self.version = version


class SignatureError(BundleError):
    """``trust`` was given and the bundle is unsigned, signed by another key, or altered since it was signed."""


class BundleConflict(Conflict):
    """The store has diverged from the bundle; ``conflicts`` lists every difference. Nothing was written."""

    def __init__(self, message: str, conflicts: list[str]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class MissingDependency(LocalregError, ImportError):
    """An optional package this feature needs is not installed."""


# -- reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_bundle` wrote."""

    path: str
    versions: tuple[str, ...]
    links: tuple[str, ...]
    registries: tuple[str, ...]
    runs: int
    blobs: int
    bytes: int
    excluded: int
    size: int
    signed_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("versions", "links", "registries"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_bundle` added (with ``dry_run``: would add).

    ``blobs``/``bytes`` count blobs written to the store; ``blobs_present``
    those of the bundle it already had. ``signed_by`` is the fingerprint of
    the trusted key that signed the bundle (None when ``trust`` was not given).
    """

    path: str
    dry_run: bool
    format_version: int
    signed_by: str | None = None
    registries: tuple[str, ...] = ()
    types_added: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    lineage: int = 0
    blobs: int = 0
    bytes: int = 0
    blobs_present: int = 0

    @property
    def changed(self) -> bool:
        """True if the import added (or would add) anything."""
        return bool(self.registries or self.types_added or self.collections or self.versions or self.links
                    or self.aliases or self.runs or self.lineage or self.blobs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        d["changed"] = self.changed
        return d


# -- keys and signatures ------------------------------------------------------------------


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingDependency(
            "signing and checking bundles needs the 'cryptography' package: pip install 'localreg[sign]'"
        ) from None
    return serialization, ed25519


def _raw_public(key: Any) -> bytes:
    serialization, _ = _crypto()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_raw: bytes) -> str:
    """The OpenSSH-style fingerprint of an Ed25519 public key (``ssh-keygen -l`` prints the same)."""
    blob = b"".join(len(p).to_bytes(4, "big") + p for p in (b"ssh-ed25519", public_raw))
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def keygen(path: str | os.PathLike) -> tuple[Path, Path, str]:
    """Write a new Ed25519 private key to ``path`` (mode 0600, PEM) and its public key to ``path.pub``.

    Returns ``(private path, public path, fingerprint)``. Refuses
    (:class:`AlreadyExists`) to overwrite either file.
    """
    serialization, ed25519 = _crypto()
    priv_path = Path(path)
    pub_path = Path(f"{path}.pub")
    for p in (priv_path, pub_path):
        if p.exists():
            raise AlreadyExists(f"{p} already exists; remove it or choose another path")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    try:
        fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{priv_path} already exists; remove it or choose another path") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(priv_path, 0o600)  # whatever the umask
    with open(pub_path, "xb") as f:
        f.write(pub + b" localreg\n")
    return priv_path, pub_path, fingerprint(_raw_public(key.public_key()))


def _read_key_file(path: str | os.PathLike, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16)
    except FileNotFoundError:
        raise NotFound(f"{what} {str(path)!r} not found", str(path)) from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} {str(path)!r} is a folder, not a key file") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {what} {str(path)!r}: permission denied") from None


def _load_private(key: Any) -> Any:
    serialization, ed25519 = _crypto()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    data = _read_key_file(key, "signing key")
    loaded = None
    errors = []
    for load in (serialization.load_pem_private_key, serialization.load_ssh_private_key):
        try:
            loaded = load(data, password=None)
            break
        except Exception as e:  # each loader raises its own kinds for a format it does not read
            errors.append(str(e))
    if loaded is None:
        hint = " (it is encrypted: localreg needs an unencrypted key)" if any("encrypt" in e.lower() or "password" in e.lower() for e in errors) else ""
        raise InvalidInput(f"signing key {str(key)!r} is not a PEM or OpenSSH private key{hint}")
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise InvalidInput(f"signing key {str(key)!r} is not an Ed25519 key (make one with 'localreg keygen')")
    return loaded


def _load_public(key: Any) -> Any:
    serialization, ed25519 = _crypto()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key()
    data = _read_key_file(key, "trusted key")
    loaded = None
    for load in (serialization.load_ssh_public_key, serialization.load_pem_public_key):
        try:
            loaded = load(data.strip())
            break
        except Exception:
            continue
    if loaded is None:
        raise InvalidInput(f"trusted key {str(key)!r} is not an OpenSSH or PEM public key")
    if not isinstance(loaded, ed25519.Ed25519PublicKey):
        raise InvalidInput(f"trusted key {str(key)!r} is not an Ed25519 key")
    return loaded


def _sign(private: Any, index: bytes) -> bytes:
    doc = {
        "algorithm": "ed25519",
        "key": base64.b64encode(_raw_public(private.public_key())).decode(),
        "signature": base64.b64encode(private.sign(index)).decode(),
    }
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()


def _check_signature(path: str, sig: bytes | None, index: bytes, trust: Sequence[Any]) -> str:
    """The fingerprint of the trusted key that signed ``index``, else :class:`SignatureError`."""
    from cryptography.exceptions import InvalidSignature

    keys = {_raw_public(k): k for k in (_load_public(t) for t in trust)}
    trusted = ", ".join(sorted(fingerprint(r) for r in keys))
    if sig is None:
        raise SignatureError(f"bundle {path} is not signed; a signature by {trusted} is required", path)
    try:
        doc = json.loads(sig)
        if not isinstance(doc, dict) or doc.get("algorithm") != "ed25519":
            raise ValueError("not an ed25519 signature")
        raw = base64.b64decode(doc["key"], validate=True)
        signature = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise SignatureError(f"bundle {path}: {SIGNATURE} is not a valid signature", path) from None
    key = keys.get(raw)
    if key is None:
        raise SignatureError(
            f"bundle {path} is signed by key {fingerprint(raw)}, which is not trusted (trusted: {trusted})", path
        )
    try:
        key.verify(signature, index)
    except InvalidSignature:
        raise SignatureError(
            f"bundle {path}: the signature by {fingerprint(raw)} does not match {INDEX}: "
            "the bundle was altered after it was signed", path
        ) from None
    return fingerprint(raw)


# -- digest lists (incremental bundles) -----------------------------------------------------


def store_digests(store: Store) -> list[str]:
    """Every file digest whose bytes ``store`` holds, sorted (what ``localreg export --digests-only`` prints)."""
    with store.snapshot() as db:
        rows = db.execute("SELECT digest FROM chunks UNION SELECT digest FROM chunked_files").fetchall()
    return sorted(r[0] for r in rows)


def selection_digests(store: Store, selections: Sequence[str]) -> list[str]:
    """The stored-file digests the versions ``selections`` name need, sorted (see :func:`export_bundle`)."""
    with store.snapshot() as db:
        sel = _select(store, list(selections))
        ids = sorted(sel.sources)
        rows = db.execute("SELECT DISTINCT digest FROM entries WHERE ref IS NULL AND version_id IN "
                          "(SELECT value FROM json_each(?))", [json.dumps(ids)]).fetchall()
    return sorted(r[0] for r in rows)


def read_digests(source: str | os.PathLike) -> set[str]:
    """Digests from a store home (what it holds) or a file of digests, one a line (``#`` comments allowed)."""
    path = Path(source)
    if path.is_dir():
        other = Store(path, create=False)
        try:
            return set(store_digests(other))
        finally:
            other.close()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"digest list {str(source)!r} not found (expected a file of digests or a store folder)",
                       str(source)) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{str(source)!r} is not a digest list (one sha256:<hex> a line)") from None
    out: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.fullmatch(r"[0-9a-f]{64}", line):
            line = hashing.PREFIX + line
        if not hashing.is_digest(line):
            raise InvalidInput(f"{source}:{n}: {line[:80]!r} is not a digest like sha256:<64 hex>")
        out.add(line)
    return out


# -- selecting what to export ----------------------------------------------------------------


@dataclass
class _Selection:
    sources: set[int] = field(default_factory=set)
    links: set[int] = field(default_factory=set)
    collections: set[int] = field(default_factory=set)
    registries: set[int] = field(default_factory=set)


def _ids(db, sql: str, params: Sequence[Any]) -> set[int]:
    return {r[0] for r in db.execute(sql, list(params))}


def _select(store: Store, selections: Sequence[str]) -> _Selection:
    sel = _Selection()
    db = store.db
    for s in selections:
        if not isinstance(s, str) or not s:
            raise InvalidName(f"a selection must be a non-empty string, not {s!r}", s)
        path, colon, _alias = s.partition(":")
        parts = path.split("/")
        if colon:
            v = versions.resolve(store, s)
            (sel.links if v.is_link else sel.sources).add(v.id)
            continue
        if len(parts) == 3 or (len(parts) == 2 and parts[0].startswith(REGISTRY_PREFIX)):
            ref = names.parse_ref(path, allow_alias=False, what="collection path")
            cid, _type, _where = versions.collection_id(store, ref)
            sel.collections.add(cid)
        elif len(parts) == 2 and parts[1].startswith(REGISTRY_PREFIX):
            names.check_name(parts[0], "org name")
            sel.registries.add(registries.get_registry(store, parts[1], parts[0]).id)
        elif len(parts) == 2:
            entity = names.check_name(parts[0], "entity name")
            project = names.check_name(parts[1], "project name")
            pid = store.project_id(entity, project)
            sel.collections |= _ids(db, "SELECT id FROM collections WHERE project_id = ?", [pid])
        elif len(parts) == 1 and parts[0].startswith(REGISTRY_PREFIX):
            sel.registries.add(registries.get_registry(store, parts[0]).id)
        else:
            raise InvalidName(
                f"invalid selection {s!r}: use ENTITY/PROJECT/NAME[:ALIAS], ORG/{REGISTRY_PREFIX}R/C[:ALIAS], "
                f"ORG/{REGISTRY_PREFIX}R or ENTITY/PROJECT", s
            )
    for rid in sel.registries:
        sel.collections |= _ids(db, "SELECT id FROM collections WHERE registry_id = ?", [rid])
    for cid in sel.collections:
        for vid, source_id in db.execute("SELECT id, source_id FROM versions WHERE collection_id = ?", [cid]):
            (sel.sources if source_id is None else sel.links).add(vid)
    if sel.links:
        sel.sources |= _ids(db, "SELECT source_id FROM versions WHERE id IN (SELECT value FROM json_each(?))",
                            [json.dumps(sorted(sel.links))])
    return sel


# -- building the index ------------------------------------------------------------------------


def _load_versions(store: Store, ids: set[int]) -> list["Version"]:
    if not ids:
        return []
    return versions.load(store, "v.id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(ids))], order="v.id")


def _build_index(store: Store, selections: Sequence[str], sel: _Selection,
                 exclude: set[str]) -> tuple[dict, list[tuple[str, int]], int, dict]:
    """The index document, the blobs to include ``[(digest, size)]``, how many were excluded, and where blobs are.

    The last is ``{digest: (size, pack, offset)}`` of the blobs stored as one
    chunk, found in the same query as the manifests (for :meth:`Objects.reader`).
    Manifests and the blob list are :class:`_Raw` JSON, for :func:`_encode_index`.
    """
    db = store.db
    sources = _load_versions(store, sel.sources)
    links = _load_versions(store, sel.links)
    all_ids = [v.id for v in sources] + [v.id for v in links]
    qualified = {v.id: v.qualified_name for v in sources + links}
    coll_ids = sel.collections | {v.collection_id for v in sources + links}
    colls = [registries.get_collection(store, cid) for cid in sorted(coll_ids)]
    reg_keys = {(c.org, c.registry) for c in colls if c.registry is not None}
    for rid in sel.registries:
        row = db.execute("SELECT o.name, r.name FROM registries r JOIN orgs o ON o.id = r.org_id WHERE r.id = ?",
                         [rid]).fetchone()
        reg_keys.add((row[0], row[1]))
    regs = [registries.get_registry(store, name, org) for org, name in sorted(reg_keys)]

    run_pk_of = dict(db.execute("SELECT id, run_pk FROM versions WHERE id IN (SELECT value FROM json_each(?))",
                                [json.dumps([v.id for v in sources])]).fetchall())
    edges = db.execute(
        "SELECT run_pk, version_id, direction, created_at FROM lineage "
        "WHERE version_id IN (SELECT value FROM json_each(?))", [json.dumps(all_ids)]
    ).fetchall()
    run_pks = {pk for pk in run_pk_of.values() if pk is not None} | {e[0] for e in edges}
    run_rows = db.execute(
        "SELECT r.id, e.name, p.name, r.run_id, r.name, r.job_type, r.config, r.summary, r.state, r.started_at, "
        "r.finished_at FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id "
        "WHERE r.id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(run_pks))]
    ).fetchall()
    run_path = {r[0]: f"{r[1]}/{r[2]}/{r[3]}" for r in run_rows}

    blob_sizes: dict[str, int] = {}
    located: dict[str, tuple[int, str | None, int | None]] = {}
    version_docs = []
    for v in sources:
        rows = db.execute(
            "SELECT e.path, e.digest, e.size, e.ref, c.size, c.pack, c.offset FROM entries e "
            "LEFT JOIN chunks c ON c.digest = e.digest AND e.ref IS NULL WHERE e.version_id = ? ORDER BY e.path",
            [v.data_id],
        ).fetchall()
        for r in rows:
            if r[3] is None:
                blob_sizes[r[1]] = r[2]
                if r[4] is not None:
                    located[r[1]] = (r[4], r[5], r[6])
        version_docs.append({
            "path": v.path, "index": v.index, "digest": v.digest, "size": v.size, "file_count": v.file_count,
            "description": v.description, "metadata": v.metadata, "tags": sorted(v.tags),
            "aliases": sorted(v.aliases), "created_by": v.created_by, "created_at": v.created_at,
            "updated_at": v.updated_at, "ttl_expires_at": v.ttl_expires_at,
            "run": run_path.get(run_pk_of.get(v.id)),  # type: ignore[arg-type]
            "manifest": _manifest_json(rows),
        })
    included = sorted((d, s) for d, s in blob_sizes.items() if d not in exclude)
    index = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": f"localreg {__version__}",
        "selections": sorted(set(selections)),
        "registries": [{
            "org": r.org, "name": r.name, "description": r.description, "visibility": r.visibility,
            "artifact_types": list(r.artifact_types) if r.artifact_types is not None else None,
            "created_at": r.created_at, "updated_at": r.updated_at,
        } for r in regs],
        "collections": sorted(({
            "path": c.path, "type": c.type, "description": c.description, "tags": list(c.tags),
            "created_at": c.created_at, "updated_at": c.updated_at,
        } for c in colls), key=lambda d: str(d["path"])),
        "versions": sorted(version_docs, key=lambda d: (d["path"], d["index"])),
        "links": sorted(({
            "path": v.path, "index": v.index, "source": v.source_qualified_name, "aliases": sorted(v.aliases),
            "created_by": v.created_by, "created_at": v.created_at, "updated_at": v.updated_at,
        } for v in links), key=lambda d: (d["path"], d["index"])),
        "runs": sorted(({
            "path": run_path[r[0]], "name": r[4], "job_type": r[5], "config": json.loads(r[6] or "{}"),
            "summary": json.loads(r[7] or "{}"), "state": r[8], "started_at": r[9], "finished_at": r[10],
        } for r in run_rows), key=lambda d: d["path"]),
        "lineage": sorted(({
            "run": run_path[e[0]], "version": qualified[e[1]], "direction": e[2], "created_at": e[3],
        } for e in edges), key=lambda d: (d["run"], d["version"], d["direction"])),
        # digests are "sha256:<hex>" (checked when they were stored): nothing in them to escape
        "blobs": _Raw("[" + ",".join('{"digest":"%s","size":%d}' % (d, s) for d, s in included) + "]"),
    }
    return index, included, len(blob_sizes) - len(included), located


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


# -- writing the tar ---------------------------------------------------------------------------


_USTAR_SIZE_LIMIT = 8 ** 11  # the largest size an 11-digit octal field holds, plus one


def _ustar_template() -> tuple[bytes, bytes, bytes, int]:
    b = bytearray(BLOCK)
    b[100:124] = b"0000644\x000000000\x000000000\x00"
    b[136:148] = b"%011o\x00" % MTIME
    b[148:156] = b"        "
    b[156:157] = b"0"
    b[257:265] = b"ustar\x0000"
    return bytes(b[100:124]), bytes(b[136:148]), bytes(b[156:]), sum(b)


_MODE_IDS, _MTIME_FIELD, _HEADER_TAIL, _TEMPLATE_SUM = _ustar_template()


def _header(name: str, size: int) -> bytes:
    """The ustar header of a regular member with the fixed owner, mode and mtime of every bundle member.

    Written by hand from a template (tarfile's builder costs ~25 us a
    member, a third of an export of small files); the same bytes as
    ``TarInfo.tobuf`` (tested). Sizes of 8 GiB and more need a pax header:
    tarfile writes those.
    """
    raw = name.encode("utf-8")
    if size >= _USTAR_SIZE_LIMIT or len(raw) > 100:
        return _tarfile_header(name, size)
    size_field, size_sum = _size_field(size)
    checksum = _TEMPLATE_SUM + sum(raw) + size_sum
    return b"".join((raw, _ZEROS[len(raw):], _MODE_IDS, size_field, _MTIME_FIELD,
                     b"%06o\x00 " % checksum, _HEADER_TAIL))


_ZEROS = bytes(100)


@functools.lru_cache(maxsize=4096)
def _size_field(size: int) -> tuple[bytes, int]:
    """A header's size field and the sum of its bytes (many blobs share a size)."""
    field = b"%011o\x00" % size
    return field, sum(field)


def _tarfile_header(name: str, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = MTIME
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    # ustar headers; a pax header carries sizes of 8 GiB and more
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def _pad(size: int) -> bytes:
    return bytes(-size % BLOCK)


class _WriteBehind:
    """Starts the disk writes of what ``f`` was given, every ``STEP`` bytes, so the final fsync has little left to wait for.

    ``posix_fadvise(DONTNEED)`` on a written range queues its dirty pages for
    writing without waiting (and drops the pages already clean: a bundle is
    written to be carried away, not read back). Where it does not exist,
    nothing changes but the time of the fsync.
    """

    STEP = 8 << 20

    def __init__(self, f: Any) -> None:
        self.f = f
        self.fd = f.fileno()
        self.done = f.tell()
        self.on = hasattr(os, "posix_fadvise")

    def wrote(self) -> None:
        if not self.on:
            return
        end = self.f.tell()
        if end - self.done >= self.STEP:
            self.f.flush()
            try:
                os.posix_fadvise(self.fd, self.done, end - self.done, os.POSIX_FADV_DONTNEED)
            except OSError:
                self.on = False
            self.done = end


def _write_blobs(f: Any, reader: Any, included: list[tuple[str, int]], callback: Callback) -> None:
    """Write a member for each blob of ``included``, checked by ``reader`` before this returns.

    Small members are gathered into writes of about ``READ`` bytes; the
    progress callback moves once per write.
    """
    pending: list[bytes] = []
    pending_bytes = 0

    behind = _WriteBehind(f)

    def flush() -> None:
        nonlocal pending, pending_bytes
        f.write(b"".join(pending))
        behind.wrote()
        callback.relative_update(pending_bytes)
        pending, pending_bytes = [], 0

    for digest, size in included:
        header = _header(BLOB_DIR + hashing.hex_of(digest), size)
        got = 0
        if size < READ:
            data = reader.read_small(digest)
            if data is None:
                data = b"".join(reader.pieces(digest))
            got = len(data)
            if got == size:
                pending += (header, data, _pad(size))
                pending_bytes += size
                if pending_bytes >= READ:
                    flush()
        else:
            if pending:
                flush()
            f.write(header)
            for piece in reader.pieces(digest):
                f.write(piece)
                behind.wrote()
                got += len(piece)
                callback.relative_update(len(piece))
            f.write(_pad(size))
        if got != size:
            raise CorruptBlob(f"blob {digest} has {got} bytes in the store, its manifest says {size}", digest)
    if pending:
        flush()
    reader.check()


def export_bundle(
    store: Store,
    selections: str | Sequence[str],
    path: str | os.PathLike,
    *,
    exclude_digests: Iterable[str] | None = None,
    sign_key: Any = None,
    callback: Callback | None = None,
) -> ExportReport:
    """Write the versions ``selections`` name, with everything they need, to the bundle file ``path``.

    A selection is a ref (``entity/project/name:alias``,
    ``ORG/wandb-registry-R/C:alias``), a collection (``entity/project/name``,
    ``ORG/wandb-registry-R/C``), a registry (``ORG/wandb-registry-R``) or a
    project (``entity/project``). A link brings its source version; a
    registry brings its collections, links and their sources.
    ``exclude_digests`` leaves out blobs the importing store already has.
    ``sign_key`` (a key file path or an ``Ed25519PrivateKey``) signs the
    bundle. The callback counts blob bytes. Reads one snapshot of the
    store; writes nothing to it. The file appears under ``path`` only once
    complete. Raises :class:`NotFound` for a selection that names nothing,
    :class:`CorruptBlob` if a stored blob is missing or damaged.
    """
    if isinstance(selections, str):
        selections = [selections]
    if not selections:
        raise InvalidInput("nothing to export: give at least one selection")
    private = _load_private(sign_key) if sign_key is not None else None
    exclude = set(exclude_digests or ())
    callback = callback or NoOpCallback()
    out = Path(path)
    objects = Objects(store)
    with store.snapshot():
        sel = _select(store, list(selections))
        index, included, excluded, located = _build_index(store, list(selections), sel, exclude)
        data = _encode_index(index)
        callback.set_size(sum(s for _d, s in included))
        tmp = out.with_name(f".{out.name}.localreg-tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            with open(tmp, "xb") as f:
                f.write(_header(INDEX, len(data)) + data + _pad(len(data)))
                if private is not None:
                    sig = _sign(private, data)
                    f.write(_header(SIGNATURE, len(sig)) + sig + _pad(len(sig)))
                with objects.reader((d for d, _s in included), located) as reader:
                    _write_blobs(f, reader, included, callback)
                end = f.tell() + 2 * BLOCK
                f.write(bytes(2 * BLOCK + (-end % tarfile.RECORDSIZE)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    return ExportReport(
        path=str(out),
        versions=tuple(d["path"] + f":v{d['index']}" for d in index["versions"]),
        links=tuple(d["path"] + f":v{d['index']}" for d in index["links"]),
        registries=tuple(f"{r['org']}/{REGISTRY_PREFIX}{r['name']}" for r in index["registries"]),
        runs=len(index["runs"]),
        blobs=len(included),
        bytes=sum(s for _d, s in included),
        excluded=excluded,
        size=out.stat().st_size,
        signed_by=fingerprint(_raw_public(private.public_key())) if private is not None else None,
    )


# -- reading the tar ------------------------------------------------------------------------------


_MEMBER_KINDS = {
    tarfile.LNKTYPE: "a hard link",
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.DIRTYPE: "a directory",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.XGLTYPE: "a pax global header",
    tarfile.GNUTYPE_LONGNAME: "a GNU long-name header",
    tarfile.GNUTYPE_LONGLINK: "a GNU long-link header",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}
_BLOB_NAME = re.compile(r"blobs/[0-9a-f]{64}")


def _parse_header(block: bytes) -> tuple[str, bytes, int]:
    """``(name, type flag, size)`` of a ustar (or GNU) header block; ValueError naming what is wrong.

    By hand rather than ``TarInfo.frombuf``, which costs ~40 us a member;
    only the fields a bundle uses are read, each checked.
    """
    stored = block[148:156].split(b"\0", 1)[0].strip()
    try:
        chksum = int(stored, 8)
    except ValueError:
        raise ValueError("bad checksum field") from None
    unsigned = sum(block) - sum(block[148:156]) + 256
    if chksum != unsigned:
        # some old tars summed signed bytes
        high = sum(1 for i, b in enumerate(block) if b > 127 and not 148 <= i < 156)
        if chksum != unsigned - 256 * high:
            raise ValueError("bad checksum")
    magic = block[257:265]
    if magic not in (b"ustar\x0000", b"ustar  \x00"):
        raise ValueError("not a ustar header")
    field = block[124:136]
    if field[0] & 0x80:  # GNU base-256
        if field[0] != 0x80:
            raise ValueError("negative size")
        size = int.from_bytes(field[1:], "big")
    else:
        text = field.split(b"\0", 1)[0].strip()
        try:
            size = int(text, 8) if text else 0
        except ValueError:
            raise ValueError("bad size field") from None
    name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0] if magic == b"ustar\x0000" else b""
    if prefix:
        name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape"), block[156:157], size


@dataclass(frozen=True)
class _Member:
    name: str
    offset: int  # of the data
    size: int


class _TarFile:
    """A strict reader of bundle tars: regular members only, read with ``pread``.

    Headers are decoded by :func:`_parse_header` (checksums, ustar prefixes,
    GNU base-256 sizes); everything a bundle never holds (links, devices, folders,
    GNU and global pax headers) is refused, as are unsafe or duplicate names
    and a file that ends before its end-of-archive marker.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        try:
            self.fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(f"bundle {self.path!r} not found", self.path) from None
        except IsADirectoryError:
            raise BundleError(f"{self.path} is a folder, not a bundle file", self.path) from None
        except PermissionError:
            raise InvalidInput(f"cannot read bundle {self.path!r}: permission denied") from None
        st = os.fstat(self.fd)
        if not stat_mod.S_ISREG(st.st_mode):
            os.close(self.fd)
            what = "a folder" if stat_mod.S_ISDIR(st.st_mode) else "not a regular file"
            raise BundleError(f"{self.path} is {what}, not a bundle file", self.path)
        self.size = st.st_size
        if hasattr(os, "posix_fadvise"):
            try:
                os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except OSError:
                pass
        self._buf = b""
        self._buf_at = 0

    def close(self) -> None:
        os.close(self.fd)

    def _pread(self, offset: int, n: int) -> bytes:
        # headers and small members come from one window of READ bytes
        if self._buf_at <= offset and offset + n <= self._buf_at + len(self._buf):
            start = offset - self._buf_at
            return self._buf[start: start + n]
        if n >= READ:
            return os.pread(self.fd, n, offset)
        self._buf = os.pread(self.fd, READ, offset)
        self._buf_at = offset
        return self._buf[:n]

    def _fail(self, message: str) -> BundleError:
        return BundleError(f"bundle {self.path}: {message}; nothing was imported", self.path)

    def members(self) -> list[_Member]:
        """Every member, checked; the bytes are not read."""
        out: list[_Member] = []
        seen: set[str] = set()
        offset = 0
        pax_size: int | None = None
        while True:
            block = self._pread(offset, BLOCK)
            if len(block) < BLOCK:
                raise self._fail(f"the file ends at byte {self.size}, before its end-of-archive marker "
                                 "(it is truncated)")
            if block == ZERO_BLOCK:
                if pax_size is not None:
                    raise self._fail("a pax header is not followed by a member")
                if self._pread(offset + BLOCK, BLOCK) != ZERO_BLOCK:
                    raise self._fail(f"the end-of-archive marker at byte {offset} is incomplete (truncated?)")
                return out
            try:
                name, kind_flag, size = _parse_header(block)
            except ValueError as e:
                if offset == 0:
                    raise BundleError(f"{self.path} is not a localreg bundle (not an uncompressed tar file: {e})",
                                      self.path) from None
                raise self._fail(f"invalid tar header at byte {offset} ({e})") from None
            if kind_flag == tarfile.XHDTYPE:
                if pax_size is not None or size > MAX_PAX_BYTES:
                    raise self._fail(f"unexpected pax header at byte {offset}")
                pax_size = self._pax_size(offset + BLOCK, size, offset)
                offset += BLOCK + size + (-size % BLOCK)
                continue
            self._check_name(name)
            if kind_flag not in (tarfile.REGTYPE, tarfile.AREGTYPE) or name.endswith("/"):
                kind = _MEMBER_KINDS.get(kind_flag, f"of tar type {kind_flag!r}")
                if kind_flag == tarfile.AREGTYPE:
                    kind = _MEMBER_KINDS[tarfile.DIRTYPE]
                raise self._fail(f"member {name!r} is {kind}, and a bundle holds regular files only")
            if name != INDEX and name != SIGNATURE and not _BLOB_NAME.fullmatch(name):
                raise self._fail(f"unexpected member {name!r}")
            if name in seen:
                raise self._fail(f"member {name!r} appears twice")
            seen.add(name)
            if pax_size is not None:
                size, pax_size = pax_size, None
            data = offset + BLOCK
            if data + size > self.size:
                raise self._fail(f"member {name!r} needs {size} bytes but the file ends after "
                                 f"{max(0, self.size - data)} of them (it is truncated)")
            out.append(_Member(name, data, size))
            offset = data + size + (-size % BLOCK)

    def _pax_size(self, at: int, n: int, header_at: int) -> int:
        """The ``size`` record of a pax header, the only record a bundle uses."""
        raw = self._pread(at, n)
        if len(raw) < n:
            raise self._fail("the file ends inside a pax header (it is truncated)")
        records: dict[str, str] = {}
        pos = 0
        try:
            while pos < len(raw) and raw[pos:pos + 1] != b"\0":
                length_text, _, _rest = raw[pos:pos + 20].partition(b" ")
                length = int(length_text)
                record = raw[pos:pos + length]
                if length <= len(length_text) + 1 or not record.endswith(b"\n"):
                    raise ValueError("bad record")
                key, eq, value = record[len(length_text) + 1:-1].decode("utf-8").partition("=")
                if not eq:
                    raise ValueError("bad record")
                records[key] = value
                pos += length
        except (ValueError, UnicodeDecodeError):
            raise self._fail(f"invalid pax header at byte {header_at}") from None
        if set(records) != {"size"} or not records["size"].isdigit():
            raise self._fail(f"pax header at byte {header_at} sets {', '.join(sorted(records)) or 'nothing'}; "
                             "a bundle's pax headers set only size")
        return int(records["size"])

    def _check_name(self, name: str) -> None:
        if name.startswith("/") or re.match(r"[A-Za-z]:[\\/]", name):
            raise self._fail(f"member {name!r} has an absolute path")
        if ".." in re.split(r"[\\/]", name):
            raise self._fail(f"member {name!r} has a '..' part (it would write outside the bundle)")

    def read(self, m: _Member, limit: int) -> bytes:
        if m.size > limit:
            raise self._fail(f"member {m.name!r} is {m.size} bytes; at most {limit} are allowed")
        if m.size < READ:
            data = self._pread(m.offset, m.size)
        else:
            data = b"".join(self._stream(m))
        if len(data) != m.size:
            raise self._fail(f"member {m.name!r} is truncated")
        return data

    def _stream(self, m: _Member) -> Iterator[bytes]:
        at, end = m.offset, m.offset + m.size
        while at < end:
            data = os.pread(self.fd, min(READ, end - at), at)
            if not data:
                raise self._fail(f"member {m.name!r} is truncated")
            at += len(data)
            yield data

    def pieces(self, m: _Member) -> Iterator[bytes]:
        if m.size < READ:
            yield self.read(m, READ)
        else:
            yield from self._stream(m)


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


# -- planning against the store --------------------------------------------------------------------


@dataclass
class _Plan:
    conflicts: list[str] = field(default_factory=list)
    new_orgs: set[str] = field(default_factory=set)
    registries: list[tuple[str, str]] = field(default_factory=list)
    types: dict[tuple[str, str], list[str] | None] = field(default_factory=dict)
    collections: list[str] = field(default_factory=list)
    versions: list[tuple[str, int]] = field(default_factory=list)
    links: list[tuple[str, int]] = field(default_factory=list)
    aliases: list[tuple[str, str, int]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    lineage: list[dict] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)  # digest -> versions needing it
    present: set[str] = field(default_factory=set)


def _collection_row(db, path: str) -> tuple | None:
    ref = names.parse_ref(path, allow_alias=False)
    if ref.is_registry:
        return db.execute(
            "SELECT c.id, c.type, c.description, c.tags FROM collections c JOIN registries r ON r.id = c.registry_id "
            "JOIN orgs o ON o.id = r.org_id WHERE o.name = ? AND r.name = ? AND c.name = ?",
            [ref.scope, ref.registry, ref.name],
        ).fetchone()
    return db.execute(
        "SELECT c.id, c.type, c.description, c.tags FROM collections c JOIN projects p ON p.id = c.project_id "
        "JOIN entities e ON e.id = p.entity_id WHERE e.name = ? AND p.name = ? AND c.name = ?",
        [ref.scope, ref.project, ref.name],
    ).fetchone()


def _plan(store: Store, idx: _Index) -> _Plan:
    """What the import adds, and every conflict with the store (reads only)."""
    db = store.db
    plan = _Plan()
    c_ = plan.conflicts

    orgs = {org for org, _ in idx.registries}
    for org in sorted(orgs):
        if not db.execute("SELECT 1 FROM orgs WHERE name = ?", [org]).fetchone():
            plan.new_orgs.add(org)
    for (org, name), r in sorted(idx.registries.items()):
        full = f"{org}/{REGISTRY_PREFIX}{name}"
        row = None if org in plan.new_orgs else db.execute(
            "SELECT r.description, r.visibility, r.artifact_types FROM registries r JOIN orgs o ON o.id = r.org_id "
            "WHERE o.name = ? AND r.name = ?", [org, name]).fetchone()
        if row is None:
            plan.registries.append((org, name))
            continue
        if row[0] != r["description"]:
            c_.append(f"registry {full}: description is {row[0]!r} here, {r['description']!r} in the bundle")
        if row[1] != r["visibility"]:
            c_.append(f"registry {full}: visibility is {row[1]} here, {r['visibility']} in the bundle")
        have = json.loads(row[2]) if row[2] is not None else None
        want = r["artifact_types"]
        if have is not None and (want is None or set(want) - set(have)):
            # allowed types only grow: adding the bundle's is what the source did
            plan.types[(org, name)] = None if want is None else have + [t for t in want if t not in have]

    for path, c in sorted(idx.collections.items()):
        row = _collection_row(db, path)
        if row is None:
            plan.collections.append(path)
            continue
        if row[1] != c["type"]:
            c_.append(f"collection {path}: type is {row[1]!r} here, {c['type']!r} in the bundle")
        if row[2] != c["description"]:
            c_.append(f"collection {path}: description is {row[2]!r} here, {c['description']!r} in the bundle")
        if sorted(json.loads(row[3] or "[]")) != sorted(c["tags"]):
            c_.append(f"collection {path}: tags are {sorted(json.loads(row[3] or '[]'))} here, "
                      f"{sorted(c['tags'])} in the bundle")

    # what each existing collection holds: idx -> (id, digest|source key, description, metadata, tags)
    held: dict[str, dict[int, tuple]] = {}
    alias_at: dict[str, dict[str, int]] = {}
    for path in idx.collections:
        row = _collection_row(db, path)
        held[path], alias_at[path] = {}, {}
        if row is None:
            continue
        cid = row[0]
        for vid, i, digest, desc, meta, s_path, s_idx in db.execute(
            "SELECT v.id, v.idx, v.digest, v.description, v.metadata, "
            "CASE WHEN s.id IS NULL THEN NULL ELSE se.name || '/' || sp.name || '/' || sc.name END, s.idx "
            "FROM versions v LEFT JOIN versions s ON s.id = v.source_id "
            "LEFT JOIN collections sc ON sc.id = s.collection_id LEFT JOIN projects sp ON sp.id = sc.project_id "
            "LEFT JOIN entities se ON se.id = sp.entity_id WHERE v.collection_id = ?", [cid]):
            tags = sorted(r[0] for r in db.execute("SELECT tag FROM tags WHERE version_id = ?", [vid]))
            source = f"{s_path}:v{s_idx}" if s_path is not None else None
            held[path][i] = (vid, digest, desc, json.loads(meta or "{}"), tags, source)
        for alias, i in db.execute(
            "SELECT a.alias, v.idx FROM aliases a JOIN versions v ON v.id = a.version_id WHERE a.collection_id = ?",
            [cid]):
            alias_at[path][alias] = i

    for (path, i), v in sorted(idx.versions.items()):
        have = held[path].get(i)
        name = f"{path}:v{i}"
        if have is None:
            plan.versions.append((path, i))
            continue
        if have[1] != v["digest"]:
            c_.append(f"{name} holds other content here ({have[1]}) than in the bundle ({v['digest']})")
            continue
        if have[2] != v["description"]:
            c_.append(f"{name}: description is {have[2]!r} here, {v['description']!r} in the bundle")
        if have[3] != v["metadata"]:
            c_.append(f"{name}: metadata is {hashing.canonical_json(have[3])} here, "
                      f"{hashing.canonical_json(v['metadata'])} in the bundle")
        if have[4] != sorted(v["tags"]):
            c_.append(f"{name}: tags are {have[4]} here, {sorted(v['tags'])} in the bundle")

    for (path, i), link in sorted(idx.links.items()):
        have = held[path].get(i)
        name = f"{path}:v{i}"
        if have is not None:
            if have[5] != link["source"]:
                c_.append(f"{name} links {have[5]} here, {link['source']} in the bundle")
            continue
        taken = [j for j, h in held[path].items() if h[5] == link["source"]]
        if taken:
            c_.append(f"{link['source']} is linked as {path}:v{taken[0]} here, as {name} in the bundle")
            continue
        plan.links.append((path, i))

    members: dict[str, dict[int, dict]] = {p: {} for p in idx.collections}
    for (p, i), m in [*idx.versions.items(), *idx.links.items()]:
        members[p][i] = m
    for path in sorted(idx.collections):
        for i, m in sorted(members[path].items()):
            for alias in m["aliases"]:
                if alias == LATEST:
                    continue  # managed: ends on the newest version
                at = alias_at[path].get(alias)
                if at is None:
                    plan.aliases.append((path, alias, i))
                elif at != i:
                    c_.append(f"alias {alias!r} of {path} is on v{at} here, on v{i} in the bundle")

    for run_path in sorted(idx.runs):
        e, p, rid = run_path.split("/")
        if not db.execute(
            "SELECT 1 FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id "
            "WHERE e.name = ? AND p.name = ? AND r.run_id = ?", [e, p, rid]).fetchone():
            plan.runs.append(run_path)

    _check_access(store, idx, plan)

    # blobs: the bundle's, and those new versions need from the store
    objects = Objects(store)
    plan.present = objects.present(idx.blobs)
    adding = set(plan.versions)
    needed: dict[str, list[str]] = {}
    for key in sorted(adding):
        for e in idx.versions[key]["manifest"]:
            if e.get("ref") is None and e["digest"] not in idx.blobs:
                needed.setdefault(e["digest"], []).append(f"{key[0]}:v{key[1]}")
    have_needed = objects.present(needed)
    plan.missing = {d: vs for d, vs in needed.items() if d not in have_needed}
    if have_needed:
        bad = db.execute(
            "SELECT digest, size FROM chunks WHERE digest IN (SELECT value FROM json_each(?)) "
            "UNION ALL SELECT digest, size FROM chunked_files WHERE digest IN (SELECT value FROM json_each(?))",
            [json.dumps(sorted(have_needed))] * 2).fetchall()
        sizes = {e["digest"]: e["size"] for v in idx.versions.values() for e in v["manifest"]}
        for d, size in bad:
            if sizes[d] != size:
                raise BundleError(f"bundle says blob {d} has {sizes[d]} bytes; the store holds it with {size}; "
                                  "nothing was imported")
    return plan


def _check_access(store: Store, idx: _Index, plan: _Plan) -> None:
    """Adding to a registry that exists needs the role linking needs; growing its types, admin.

    A restricted registry must be readable before anything is compared with
    it. A registry the import creates needs nothing (its importer becomes
    its admin, as its creator would).
    """
    db = store.db
    needs: dict[tuple[str, str], str] = {}
    for path in [*plan.collections, *(p for p, _i in plan.links), *(p for p, _a, _i in plan.aliases)]:
        ref = names.parse_ref(path, allow_alias=False)
        if ref.is_registry:
            needs.setdefault((ref.scope, ref.registry), "link")  # type: ignore[arg-type]
    for key in plan.types:
        needs[key] = "edit"
    new = set(plan.registries)
    for org, name in sorted(idx.registries):
        if (org, name) in new:
            continue
        row = db.execute("SELECT r.id, r.visibility FROM registries r JOIN orgs o ON o.id = r.org_id "
                         "WHERE o.name = ? AND r.name = ?", [org, name]).fetchone()
        if row[1] == "restricted":
            access.require(store, row[0], "read")
        if (org, name) in needs:
            access.require(store, row[0], needs[(org, name)], f"{org}/{REGISTRY_PREFIX}{name}")


def _raise_conflicts(path: str, store: Store, plan: _Plan) -> None:
    if plan.conflicts:
        n = len(plan.conflicts)
        raise BundleConflict(
            f"{plural(n, 'conflict')} between bundle {path} and store {store.home}; nothing was "
            f"imported: " + "; ".join(plan.conflicts),
            list(plan.conflicts),
        )
    if plan.missing:
        first = sorted(plan.missing)[0]
        raise BundleError(
            f"bundle {path} leaves out {plural(len(plan.missing), 'blob')} that store {store.home} does not have "
            f"(e.g. {first}, needed by {', '.join(plan.missing[first][:3])}); export again without those "
            "exclusions; nothing was imported", path,
        )


# -- writing the rows ---------------------------------------------------------------------------------


def _apply(store: Store, idx: _Index, plan: _Plan) -> None:
    """Add every planned row; inside the caller's transaction."""
    db = store.db
    for org in sorted({o for o, _ in idx.registries}):
        store.ensure_org(org)
    org_id = {o: store.org_id(o) for o in {o for o, _ in idx.registries}}
    for org, name in plan.registries:
        r = idx.registries[(org, name)]
        types = json.dumps(r["artifact_types"]) if r["artifact_types"] is not None else None
        # a core registry of an org new here was just made by ensure_org: it takes the bundle's settings
        db.execute(
            "INSERT INTO registries (org_id, name, description, visibility, artifact_types, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, name) DO UPDATE SET description = excluded.description, "
            "visibility = excluded.visibility, artifact_types = excluded.artifact_types, "
            "created_at = excluded.created_at, updated_at = excluded.updated_at",
            [org_id[org], name, r["description"], r["visibility"], types, r["created_at"], r["updated_at"]],
        )
    core_of_new_org = {(o, n) for o, n in plan.registries if o in plan.new_orgs and n in CORE_REGISTRIES}
    for org, name in plan.registries:
        if (org, name) not in core_of_new_org:  # core registries stay open until claimed, as ensure_org makes them
            db.execute(
                "INSERT OR IGNORE INTO registry_members (registry_id, user, role, added_at) "
                "SELECT id, ?, 'admin', ? FROM registries WHERE org_id = ? AND name = ?",
                [current_user(), now(), org_id[org], name],
            )
    for (org, name), grown in plan.types.items():
        db.execute("UPDATE registries SET artifact_types = ? WHERE org_id = ? AND name = ?",
                   [json.dumps(grown) if grown is not None else None, org_id[org], name])

    for path in plan.collections:
        c = idx.collections[path]
        ref = names.parse_ref(path, allow_alias=False)
        if ref.is_registry:
            rid = db.execute("SELECT id FROM registries WHERE org_id = ? AND name = ?",
                             [org_id[str(ref.scope)], ref.registry]).fetchone()[0]
            scope = ("registry_id", rid)
        else:
            scope = ("project_id", store.ensure_project(ref.scope, ref.project))  # type: ignore[arg-type]
        db.execute(
            f"INSERT INTO collections ({scope[0]}, name, type, description, tags, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [scope[1], ref.name, c["type"], c["description"], json.dumps(c["tags"]), c["created_at"], c["updated_at"]],
        )
    cid = {path: _collection_row(db, path)[0] for path in idx.collections}  # type: ignore[index]

    for run_path in plan.runs:
        r = idx.runs[run_path]
        e, p, rid = run_path.split("/")
        db.execute(
            "INSERT INTO runs (project_id, run_id, name, job_type, config, summary, state, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [store.ensure_project(e, p), rid, r["name"], r["job_type"], hashing.canonical_json(r["config"]),
             hashing.canonical_json(r["summary"]), r["state"], r["started_at"], r["finished_at"]],
        )
    run_pk = {}
    for run_path in idx.runs:
        e, p, rid = run_path.split("/")
        run_pk[run_path] = db.execute(
            "SELECT r.id FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id "
            "WHERE e.name = ? AND p.name = ? AND r.run_id = ?", [e, p, rid]).fetchone()[0]

    vid: dict[tuple[str, int], int] = {}
    for key in plan.versions:
        v = idx.versions[key]
        vid[key] = _rowid(db.execute(
            "INSERT INTO versions (collection_id, idx, digest, size, file_count, description, metadata, run_pk, "
            "created_by, created_at, updated_at, ttl_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [cid[key[0]], key[1], v["digest"], v["size"], v["file_count"], v["description"],
             hashing.canonical_json(v["metadata"]), run_pk.get(v["run"]) if v["run"] else None,
             v["created_by"], v["created_at"], v["updated_at"], v["ttl_expires_at"]],
        ))
        db.conn.executemany(
            "INSERT INTO entries (version_id, path, digest, size, ref) VALUES (?, ?, ?, ?, ?)",
            [(vid[key], e["path"], e["digest"], e["size"], e.get("ref")) for e in v["manifest"]],
        )
        db.conn.executemany("INSERT INTO tags (version_id, tag) VALUES (?, ?)", [(vid[key], t) for t in v["tags"]])

    def version_id(key: tuple[str, int]) -> int:
        if key not in vid:
            vid[key] = db.execute("SELECT id FROM versions WHERE collection_id = ? AND idx = ?",
                                  [cid[key[0]], key[1]]).fetchone()[0]
        return vid[key]

    for key in plan.links:
        link = idx.links[key]
        vid[key] = _rowid(db.execute(
            "INSERT INTO versions (collection_id, idx, source_id, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [cid[key[0]], key[1], version_id(_split_qualified(link["source"])), link["created_by"],
             link["created_at"], link["updated_at"]],
        ))

    for path, alias, i in plan.aliases:
        db.execute("INSERT INTO aliases (collection_id, alias, version_id) VALUES (?, ?, ?)",
                   [cid[path], alias, version_id((path, i))])

    plan.lineage = []
    for edge in idx.lineage:
        cur = db.execute(
            "INSERT OR IGNORE INTO lineage (run_pk, version_id, direction, created_at) VALUES (?, ?, ?, ?)",
            [run_pk[edge["run"]], version_id(_split_qualified(edge["version"])), edge["direction"],
             edge["created_at"]],
        )
        if cur.rowcount:
            plan.lineage.append(edge)

    # what the import adds to, it brings up to the bundle's last change (what logging or linking there would do)
    touched = sorted({k[0] for k in plan.versions} | {k[0] for k in plan.links} | {a[0] for a in plan.aliases})
    for path in touched:
        db.execute("UPDATE collections SET updated_at = max(updated_at, ?) WHERE id = ?",
                   [idx.collections[path]["updated_at"], cid[path]])
        ref = names.parse_ref(path, allow_alias=False)
        if ref.is_registry:
            reg_key = (str(ref.scope), str(ref.registry))
            db.execute("UPDATE registries SET updated_at = max(updated_at, ?) WHERE org_id = ? AND name = ?",
                       [idx.registries[reg_key]["updated_at"], org_id[reg_key[0]], reg_key[1]])
    for path in sorted({k[0] for k in plan.versions} | {k[0] for k in plan.links}):
        c = cid[path]
        db.execute("UPDATE collections SET next_idx = max(next_idx, (SELECT max(idx) + 1 FROM versions "
                   "WHERE collection_id = ?)) WHERE id = ?", [c, c])
        newest = db.execute("SELECT id FROM versions WHERE collection_id = ? ORDER BY idx DESC LIMIT 1",
                            [c]).fetchone()[0]
        versions._set_aliases(db, c, newest, [LATEST])


def _rowid(cur: Any) -> int:
    assert cur.lastrowid is not None
    return int(cur.lastrowid)


def _lineage_preview(store: Store, idx: _Index) -> list[dict]:
    """The lineage edges an import would add (for dry runs)."""
    db = store.db
    out = []
    for e in idx.lineage:
        run_parts = e["run"].split("/")
        path, i = _split_qualified(e["version"])
        row = _collection_row(db, path)
        found = row and db.execute(
            "SELECT 1 FROM lineage l JOIN versions v ON v.id = l.version_id JOIN runs r ON r.id = l.run_pk "
            "JOIN projects p ON p.id = r.project_id JOIN entities en ON en.id = p.entity_id "
            "WHERE v.collection_id = ? AND v.idx = ? AND en.name = ? AND p.name = ? AND r.run_id = ? "
            "AND l.direction = ?", [row[0], i, *run_parts, e["direction"]]).fetchone()
        if not found:
            out.append(e)
    return out


# -- import ------------------------------------------------------------------------------------------------


def import_bundle(
    store: Store,
    path: str | os.PathLike,
    *,
    trust: Any = None,
    dry_run: bool = False,
    callback: Callback | None = None,
) -> ImportReport:
    """Add what the bundle at ``path`` holds to ``store``, exactly as it was at the source.

    Checks everything first and writes nothing unless every check passes:
    raises :class:`BundleError` for a file that is not a sound bundle (unsafe
    or duplicate members, truncation, a blob whose bytes do not match, a
    bad index), :class:`UnsupportedBundle` for a newer format,
    :class:`SignatureError` when ``trust`` (a public key file or key, or a
    list of them) is given and no trusted key signed it, and
    :class:`BundleConflict` listing every way the store has diverged.
    Then one transaction adds it all. Idempotent: importing the same bundle
    again changes nothing. ``dry_run`` runs every check and reports what
    would be added. The callback counts blob bytes read.
    """
    callback = callback or NoOpCallback()
    trusted: list[Any] = [] if trust is None else list(trust) if isinstance(trust, (list, tuple)) else [trust]
    if trusted:
        trusted = [_load_public(t) for t in trusted]
    tar = _TarFile(path)
    where = tar.path
    try:
        members = tar.members()
        if not members or members[0].name != INDEX:
            raise BundleError(f"{where} is not a localreg bundle (its first member is not {INDEX})", where)
        index_bytes = tar.read(members[0], MAX_INDEX_BYTES)
        sig = None
        blob_members = members[1:]
        if blob_members and blob_members[0].name == SIGNATURE:
            sig = tar.read(blob_members[0], MAX_SIG_BYTES)
            blob_members = blob_members[1:]
        for m in blob_members:
            if not m.name.startswith(BLOB_DIR):
                raise BundleError(f"bundle {where}: member {m.name!r} is out of place; nothing was imported", where)
        signed_by = _check_signature(where, sig, index_bytes, trusted) if trusted else None
        doc = _parse_json(where, index_bytes)
        version = _check_version(where, doc)
        idx = _check_index(where, doc)
        in_tar = {hashing.PREFIX + m.name[len(BLOB_DIR):]: m for m in blob_members}
        for d, size in idx.blobs.items():
            member = in_tar.get(d)
            if member is None:
                raise BundleError(f"bundle {where}: {INDEX} names blob {d}, which is not in the bundle; "
                                  "nothing was imported", where)
            if member.size != size:
                raise BundleError(f"bundle {where}: blob {d} has {member.size} bytes, {INDEX} says {size}; "
                                  "nothing was imported", where)
        extra = sorted(set(in_tar) - set(idx.blobs))
        if extra:
            raise BundleError(f"bundle {where}: member blobs/{hashing.hex_of(extra[0])} is not listed in {INDEX}; "
                              "nothing was imported", where)

        with store.snapshot():
            plan = _plan(store, idx)
        _raise_conflicts(where, store, plan)

        # every blob is hashed; those the store lacks are staged where no row names them
        objects = Objects(store)
        staging = None if dry_run else Staging(objects)
        callback.set_size(sum(m.size for m in blob_members))
        written = 0
        staged: set[str] = set()
        try:
            for m in blob_members:
                digest = hashing.PREFIX + m.name[len(BLOB_DIR):]
                try:
                    if staging is not None and digest not in plan.present:
                        staging.add(tar.pieces(m), digest, m.size, callback)
                        staged.add(digest)
                        written += m.size
                    else:
                        _verify_only(tar.pieces(m), digest, m.size, callback)
                except CorruptBlob as e:
                    raise BundleError(f"bundle {where}: {e}; nothing was imported", where) from None
            if dry_run:
                return _report(where, True, version, signed_by, idx, plan, _lineage_preview(store, idx),
                               len(idx.blobs) - len(plan.present),
                               sum(s for d, s in idx.blobs.items() if d not in plan.present))
            assert staging is not None
            staging.seal()  # the staged bytes are durable before the write lock is taken
            with store.transaction():
                # the store may have changed since the plan: decide again under the write lock
                plan = _plan(store, idx)
                _raise_conflicts(where, store, plan)
                gone = set(idx.blobs) - staged - plan.present
                if gone:
                    raise BundleError(f"blob {min(gone)} left store {store.home} during the import (a gc running "
                                      "with a short grace?); nothing was imported: import again", where)
                try:
                    staging.publish()
                except CorruptBlob as e:
                    raise BundleError(f"bundle {where}: {e}; nothing was imported", where) from None
                try:
                    _apply(store, idx, plan)
                except sqlite3.IntegrityError as e:
                    raise BundleError(f"bundle {where} does not fit store {store.home} ({e}); "
                                      "nothing was imported", where) from None
                report = _report(where, False, version, signed_by, idx, plan, plan.lineage, len(staged), written)
                if report.changed:
                    store.event("import", where, versions=len(report.versions), links=len(report.links),
                                blobs=report.blobs, signed_by=signed_by)
            return report
        except BaseException:
            if staging is not None:
                staging.abort()
            raise
    finally:
        tar.close()


def _verify_only(pieces: Iterable[bytes], digest: str, size: int, callback: Callback) -> None:
    h = hashing.new()
    got = 0
    for piece in pieces:
        h.update(piece)
        got += len(piece)
        callback.relative_update(len(piece))
    if got != size:
        raise CorruptBlob(f"blob {digest} has {got} bytes, expected {size}", digest)
    if hashing.format_digest(h) != digest:
        raise CorruptBlob(f"blob {digest} is corrupt: its bytes hash to {hashing.format_digest(h)}", digest)


def _report(path: str, dry_run: bool, version: int, signed_by: str | None, idx: _Index, plan: _Plan,
            lineage: list[dict], blobs: int, nbytes: int) -> ImportReport:
    return ImportReport(
        path=path, dry_run=dry_run, format_version=version, signed_by=signed_by,
        registries=tuple(f"{o}/{REGISTRY_PREFIX}{n}" for o, n in plan.registries),
        types_added=tuple(f"{o}/{REGISTRY_PREFIX}{n}: {', '.join(t) if t is not None else 'all types'}"
                          for (o, n), t in sorted(plan.types.items())),
        collections=tuple(plan.collections),
        versions=tuple(f"{p}:v{i}" for p, i in plan.versions),
        links=tuple(f"{p}:v{i} -> {idx.links[(p, i)]['source']}" for p, i in plan.links),
        aliases=tuple(f"{p}:{a} -> v{i}" for p, a, i in plan.aliases),
        runs=tuple(plan.runs),
        lineage=len(lineage),
        blobs=blobs,
        bytes=nbytes,
        blobs_present=len(plan.present),
    )
