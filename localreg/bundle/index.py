"""The index document (``localreg-bundle.json``): encoded for export, parsed and checked on import."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .. import hashing, names
from ..errors import InvalidInput, InvalidName
from ..names import REGISTRY_PREFIX
from ..store import __version__
from .common import EMPTY_DIGEST, FORMAT, FORMAT_VERSION, INDEX, MAX_SIZE, BundleError, UnsupportedBundle


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

_TS = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z")


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

    def text(self, value: Any, where: str, *, null: bool = False, what: str | None = None) -> Any:
        if value is None and null:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {type(value).__name__}")
        # text is stored as UTF-8: a lone surrogate (JSON "\ud800") would fail in the transaction, after staging
        return self.check(lambda v: names.check_utf8(v, what or where.rpartition(".")[2]), value, where)

    def natural(self, value: Any, where: str, maximum: int) -> int:
        """An integer from 0 to ``maximum`` (see :data:`MAX_INDEX` and :data:`MAX_SIZE` for why those)."""
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
            shown = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"{str(value)[:30]}..."
            raise self.fail(where, f"expected an integer from 0 to {maximum}, got {shown}")
        return value

    def ts(self, value: Any, where: str, *, null: bool = False) -> Any:
        if value is None and null:
            return None
        m = _TS.fullmatch(value) if isinstance(value, str) else None
        ok = False
        if m is not None:
            y, mo, d, h, mi, s, us = (int(g) for g in m.groups())
            try:
                ok = bool(datetime(y, mo, d, h, mi, s, us))
            except ValueError:  # the 30th of February, the 13th month...
                pass
        if not ok:
            raise self.fail(where, f"expected a UTC time like 2026-01-02T03:04:05.000000Z, got {value!r}")
        return value

    def entry(self, e: Any, where: str) -> tuple[str, str, int, str | None]:
        """A manifest entry, whose fields must agree with each other: ``(path, digest, size, ref)``.

        What a digest and a size can be checked for without the bytes: a
        stored file of no bytes has the digest of no bytes, and only it; so
        has a reference of no bytes, unless its digest is that of its URL (a
        reference added without checksum, whose size is what the listing
        said). A reference is a URL (``scheme://...``), as logging requires.
        """
        self.obj(e, where, ["path", "digest", "size"], ["ref"])
        path = self.text(e["path"], f"{where}.path", what="file path")
        if self.check(names.check_logical_path, path, f"{where}.path") != path:
            raise self.fail(f"{where}.path", f"{path!r} is not in normal form")
        digest = self.digest(e["digest"], f"{where}.digest")
        size = self.natural(e["size"], f"{where}.size", MAX_SIZE)
        ref = e.get("ref")
        if ref is None:
            if (size == 0) != (digest == EMPTY_DIGEST):
                if size == 0:
                    raise self.fail(where, f"a file of 0 bytes has digest {digest}, not {EMPTY_DIGEST}")
                raise self.fail(where, f"{digest} is the digest of no bytes, not of {size}")
            return path, digest, size, None
        ref = self.text(ref, f"{where}.ref", what="reference")
        if "://" not in ref or not ref.partition("://")[0]:
            raise self.fail(f"{where}.ref", f"{ref!r} is not a URL such as file:///path or s3://bucket/key")
        if (size == 0) != (digest == EMPTY_DIGEST) and digest != hashing.digest_bytes(ref.encode()):
            if size == 0:
                raise self.fail(where, f"a reference of 0 bytes has digest {digest}: only {EMPTY_DIGEST} (no bytes) "
                                "or the digest of its URL (a reference added without checksum) can be")
            raise self.fail(where, f"{digest} is the digest of no bytes, not of {size}")
        return path, digest, size, ref

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


def _split_qualified(q: str) -> tuple[str, int]:
    path, _, version = q.rpartition(":")
    return path, int(version[1:])
