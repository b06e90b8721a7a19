"""Streaming digests and canonical JSON.

Digests are written ``sha256:<64 hex>``. A file's digest is the sha256 of
its bytes, whatever chunks the blob store keeps them in.

The digest of an artifact version is the sha256 of its manifest in
canonical form: the lines ``<logical path>\\t<file digest>\\n`` sorted by
path (UTF-8). It depends on names and contents only, never on time or on
the order files were added, so logging identical content twice gives the
same digest and dedups.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidMetadata

PREFIX = "sha256:"
CHUNK = 1 << 20  # bytes read per step when streaming
MAX_METADATA_KEYS = 100
MAX_DEPTH = 64
MAX_JSON_BYTES = 16 << 20
MAX_INT_DIGITS = 4000  # Python refuses to print ints past 4300 digits; JSON readers choke far sooner
_MAX_INT = 10 ** MAX_INT_DIGITS


def new():
    return hashlib.sha256()


def format_digest(h) -> str:
    return PREFIX + h.hexdigest()


def digest_bytes(data: bytes | bytearray | memoryview) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST_RE.fullmatch(value) is not None


def hex_of(digest: str) -> str:
    return digest[len(PREFIX):]


def manifest_digest(entries: Iterable[tuple[str, str]]) -> str:
    """Digest of a version from its ``(logical path, file digest)`` pairs."""
    h = hashlib.sha256()
    for path, digest in sorted(entries):
        h.update(f"{path}\t{digest}\n".encode())
    return format_digest(h)


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for an error message: cut short, and never failing (an int of 5000 digits cannot be printed)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clean(value: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise InvalidMetadata(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _text(value, where)
    if isinstance(value, int):
        if -_MAX_INT < value < _MAX_INT:
            return value
        raise InvalidMetadata(f"{where}: integer with more than {MAX_INT_DIGITS} digits")
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise InvalidMetadata(f"{where}: infinity is not allowed in metadata")
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidMetadata(
                    f"{where}: keys must be strings, got {type(k).__name__} {short_repr(k)}"
                )
            out[_text(k, where)] = _clean(v, f"{where}.{k}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    # numpy scalars and the like expose item()
    item = getattr(value, "item", None)
    if callable(item):
        try:
            plain = item()
        except (TypeError, ValueError):
            pass
        else:  # outside the try: an infinite numpy float must say so, not "not JSON-serializable"
            return _clean(plain, where, depth + 1)
    raise InvalidMetadata(f"{where}: {type(value).__name__} is not JSON-serializable")


def _text(value: str, where: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidMetadata(f"{where}: {value!r} is not valid Unicode (lone surrogates)") from None
    return value


def clean_metadata(value: Any, what: str = "metadata", max_keys: int | None = MAX_METADATA_KEYS) -> dict:
    """Validate a JSON-able dict: NaN becomes None, infinity is refused.

    Raises :class:`InvalidMetadata` (a ``ValueError``) naming the bad key.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidMetadata(f"{what} must be a dict, not {type(value).__name__}")
    if max_keys is not None and len(value) > max_keys:
        raise InvalidMetadata(f"{what} has {len(value)} keys; at most {max_keys} are allowed")
    try:
        cleaned = _clean(value, what, 0)
    except RecursionError:
        raise InvalidMetadata(f"{what}: nested too deeply") from None
    size = len(canonical_json(cleaned))
    if size > MAX_JSON_BYTES:
        raise InvalidMetadata(f"{what} is {size} bytes as JSON; at most {MAX_JSON_BYTES} are allowed")
    return cleaned


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
