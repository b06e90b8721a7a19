"""Parsing and validating names, types, aliases, tags, refs and logical paths.

Rules follow W&B (see WANDB_SEMANTICS.md):

* artifact, collection, entity, project, org and registry names match
  ``^[A-Za-z0-9_.-]+$`` and have at most 128 characters;
* types have no ``/`` or ``:``; ``job`` and ``wandb-*`` are reserved;
* aliases have no ``/`` or ``:`` and are never ``vN`` (that is a version);
* tags match ``^[-\\w]+( +[-\\w]+)*$``;
* a ref ``[entity/][project/]name[:alias|:vN]`` whose project part starts
  with ``wandb-registry-`` is a registry ref ``[org/]wandb-registry-R/C[:alias]``.

Every function raises :class:`~localreg.errors.InvalidName` naming the bad
value and what it was meant to be.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

from .errors import InvalidInput, InvalidName

MAX_NAME = 128
REGISTRY_PREFIX = "wandb-registry-"
LATEST = "latest"

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_TAG_RE = re.compile(r"^[-\w]+( +[-\w]+)*$")
_VERSION_RE = re.compile(r"^v(0|[1-9][0-9]*)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_PART = r"(?!\.\.?(?:/|$))[A-Za-z0-9_.+=@,-][A-Za-z0-9_.+=@, -]{0,254}"
_SAFE_PATH = re.compile(rf"{_SAFE_PART}(?:/{_SAFE_PART})*")
# right-to-left and isolate controls make a listed name read as another ("txt.exe" shown as "exe.txt")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
MAX_PART_BYTES = 255  # NAME_MAX of common filesystems: a longer part could not be downloaded


def check_utf8(value: str, what: str) -> str:
    """Return ``value`` if it can be stored as UTF-8 (no lone surrogates, as from undecodable file names)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidName(
                f"invalid {what} {value!r}: not valid Unicode (lone surrogates, e.g. from undecodable bytes)", value
            ) from None
    return value


def _check_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidName(f"{what} must be a string, not {type(value).__name__}", value)
    if not value:
        raise InvalidName(f"{what} must not be empty", value)
    if len(value) > MAX_NAME:
        raise InvalidName(f"{what} {value[:40]!r}... is longer than {MAX_NAME} characters", value)
    return check_utf8(value, what)


def check_name(value: object, what: str = "artifact name") -> str:
    """Return ``value`` if it is a valid artifact/collection/entity/project/org/registry name."""
    value = _check_str(value, what)
    if value in (".", "..") or not _NAME_RE.match(value):
        raise InvalidName(
            f"invalid {what} {value!r}: use only letters, digits, '-', '_' and '.'", value
        )
    return value


def check_type(value: object, *, allow_reserved: bool = False) -> str:
    """Return ``value`` if it is a valid artifact type."""
    value = _check_str(value, "artifact type")
    if "/" in value or ":" in value or _CONTROL.search(value):
        raise InvalidName(f"invalid artifact type {value!r}: '/', ':' and control characters are not allowed", value)
    if not allow_reserved and (value == "job" or value.startswith("wandb-")):
        raise InvalidName(f"artifact type {value!r} is reserved", value)
    return value


def is_version(value: str) -> bool:
    """True for ``v0``, ``v1``, ...: a version index, never an alias."""
    return bool(_VERSION_RE.match(value))


def version_index(value: str) -> int:
    if not is_version(value):
        raise InvalidName(f"{value!r} is not a version like 'v3'", value)
    return int(value[1:])


def check_alias(value: object) -> str:
    """Return ``value`` if it can be set as an alias (``latest`` included)."""
    value = _check_str(value, "alias")
    if "/" in value or ":" in value or _CONTROL.search(value) or value != value.strip():
        raise InvalidName(
            f"invalid alias {value!r}: '/', ':', control characters and surrounding spaces are not allowed",
            value,
        )
    if is_version(value):
        raise InvalidName(f"invalid alias {value!r}: 'vN' names a version and cannot be an alias", value)
    return value


def check_aliases(values: object) -> list[str]:
    """Validate a list of aliases, keeping order and dropping duplicates."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple, set, frozenset)):
        raise InvalidName(f"aliases must be a list of strings, not {type(values).__name__}", values)
    out: list[str] = []
    for v in values:
        a = check_alias(v)
        if a not in out:
            out.append(a)
    return out


def check_tag(value: object) -> str:
    # W&B's tests match "Invalid tag": every refusal starts with those words
    try:
        value = _check_str(value, "tag")
    except InvalidName as e:
        raise InvalidName(f"Invalid tag {value!r}: {e}", value) from None
    if not _TAG_RE.match(value):
        raise InvalidName(
            f"Invalid tag {value!r}: use words of letters, digits, '-' and '_' separated by single spaces",
            value,
        )
    return value


def check_tags(values: object) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple, set, frozenset)):
        raise InvalidName(f"tags must be a list of strings, not {type(values).__name__}", values)
    out: list[str] = []
    for v in values:
        t = check_tag(v)
        if t not in out:
            out.append(t)
    return out


def is_plain_path(value: object) -> TypeGuard[str]:
    """True for a logical path of plain ASCII parts (none empty, ``.`` or ``..``): valid and in normal form as it is."""
    return isinstance(value, str) and _SAFE_PATH.fullmatch(value) is not None and len(value) <= 1024


def check_logical_path(value: object) -> str:
    """Return the normalized logical path of a manifest entry.

    A logical path is relative, uses ``/`` between parts, and has no empty,
    ``.`` or ``..`` parts, no backslash, no NUL or other control character,
    no right-to-left or isolate control, no lone surrogate, and no part
    longer than 255 bytes (it could not be downloaded). It is normalized
    to Unicode NFC so that one name has one spelling.
    """
    if is_plain_path(value):
        return value  # the common case: plain ASCII parts, none of them '.' or '..'
    if not isinstance(value, str):
        raise InvalidName(f"file path must be a string, not {type(value).__name__}", value)
    if not value:
        raise InvalidName("file path must not be empty", value)
    if _CONTROL.search(value):
        raise InvalidName(f"invalid file path {value!r}: control characters (NUL included) are not allowed", value)
    if "\\" in value:
        raise InvalidName(f"invalid file path {value!r}: use '/' between parts, not '\\'", value)
    check_utf8(value, "file path")
    if _BIDI.search(value):
        raise InvalidName(f"invalid file path {value!r}: right-to-left and isolate controls are not allowed", value)
    if value.startswith("/") or (len(value) > 1 and value[1] == ":"):
        raise InvalidName(f"invalid file path {value!r}: must be relative, not absolute", value)
    value = unicodedata.normalize("NFC", value)
    parts = value.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidName(
                f"invalid file path {value!r}: empty, '.' and '..' parts are not allowed", value
            )
    if len(value.encode("utf-8")) > 4096:
        raise InvalidName(f"invalid file path {value[:40]!r}...: longer than 4096 bytes", value)
    for part in parts:
        if len(part) * 4 > MAX_PART_BYTES and len(part.encode("utf-8")) > MAX_PART_BYTES:
            raise InvalidName(
                f"invalid file path {value[:60]!r}...: a part is longer than {MAX_PART_BYTES} bytes", value
            )
    return value


class FolderRule:
    """The rule a manifest's paths keep: no file path is also the folder of another (``a`` and ``a/b``).

    A download could not make both a file and a folder of one name. Feed
    the paths with :meth:`add` in sorted order (code point order, which is
    UTF-8 byte order and SQLite's); it holds only the chain of paths that
    are prefixes of the last one, so a manifest of any length is checked
    in constant memory. :func:`check_folders` checks paths in any order.
    """

    def __init__(self) -> None:
        self._chain: list[str] = []

    def add(self, path: str) -> None:
        chain = self._chain
        while chain and not path.startswith(chain[-1]):
            chain.pop()
        # every path sorted between a file "a" and "a/b" starts with "a", so "a" is still in the chain; and
        # only the last one can be a folder of this path (it would be a folder of the last one otherwise)
        if chain and path.startswith(chain[-1] + "/"):
            raise InvalidInput(f"file path {chain[-1]!r} is also the folder of {path!r} in the manifest")
        chain.append(path)


def check_folders(paths: Iterable[str]) -> None:
    """Refuse (:class:`InvalidInput`) paths of which one is also the folder of another (see :class:`FolderRule`)."""
    rule = FolderRule()
    for path in sorted(paths):
        rule.add(path)


@dataclass(frozen=True)
class Ref:
    """A parsed artifact reference.

    For a source ref, ``scope`` is the entity and ``project`` the project
    (either may be None when left out). For a registry ref, ``registry``
    is the registry name without its ``wandb-registry-`` prefix and
    ``scope`` is the org (None: the default org).
    """

    name: str
    alias: str | None = None
    project: str | None = None
    scope: str | None = None
    registry: str | None = None

    @property
    def is_registry(self) -> bool:
        return self.registry is not None

    def __str__(self) -> str:
        if self.registry is not None:
            head = f"{REGISTRY_PREFIX}{self.registry}/{self.name}"
        else:
            head = "/".join(p for p in (self.scope, self.project, self.name) if p)
        if self.registry is not None and self.scope:
            head = f"{self.scope}/{head}"
        return f"{head}:{self.alias}" if self.alias else head


def parse_ref(value: object, *, allow_alias: bool = True, what: str = "artifact ref") -> Ref:
    """Parse ``[entity/][project/]name[:alias]`` or a registry ref.

    The string splits at the first ``:`` into path and alias (or ``vN``);
    the path splits on ``/`` into one to three parts.
    """
    if not isinstance(value, str):
        raise InvalidName(f"{what} must be a string, not {type(value).__name__}", value)
    if not value:
        raise InvalidName(f"{what} must not be empty", value)
    path, sep, alias = value.partition(":")
    if sep:
        if not allow_alias:
            raise InvalidName(f"invalid {what} {value!r}: no ':alias' or ':vN' allowed here", value)
        if not alias:
            raise InvalidName(f"invalid {what} {value!r}: nothing after ':'", value)
        if not is_version(alias):
            try:
                check_alias(alias)
            except InvalidName as e:
                raise InvalidName(f"invalid {what} {value!r}: {e}", value) from None
    parts = path.split("/")
    if len(parts) > 3:
        raise InvalidName(
            f"invalid {what} {value!r}: expected name, project/name or entity/project/name", value
        )
    try:
        for p in parts[:-1]:
            if p.startswith(REGISTRY_PREFIX):
                continue
            check_name(p, "entity or project name")
        name = check_name(parts[-1], "artifact name")
    except InvalidName as e:
        raise InvalidName(f"invalid {what} {value!r}: {e}", value) from None
    project = parts[-2] if len(parts) >= 2 else None
    scope = parts[-3] if len(parts) == 3 else None
    if scope is not None and scope.startswith(REGISTRY_PREFIX):
        raise InvalidName(f"invalid {what} {value!r}: a registry goes in the middle part", value)
    if project is not None and project.startswith(REGISTRY_PREFIX):
        registry = project[len(REGISTRY_PREFIX):]
        try:
            check_name(registry, "registry name")
        except InvalidName as e:
            raise InvalidName(f"invalid {what} {value!r}: {e}", value) from None
        return Ref(name=name, alias=alias or None, scope=scope, registry=registry)
    return Ref(name=name, alias=alias or None, project=project, scope=scope)


def parse_target_path(value: object) -> Ref:
    """Parse a link target ``[org/]wandb-registry-R/COLLECTION`` (no alias)."""
    ref = parse_ref(value, allow_alias=False, what="target path")
    if not ref.is_registry:
        raise InvalidName(
            f"invalid target path {value!r}: expected ORG/{REGISTRY_PREFIX}REGISTRY/COLLECTION",
            value,
        )
    return ref


def parse_link_target(value: object) -> Ref:
    """Parse a link target: ``[org/]wandb-registry-R/COLLECTION``, or a project's link collection.

    ``COLLECTION``, ``PROJECT/COLLECTION`` and ``ENTITY/PROJECT/COLLECTION``
    name a link collection of a project (W&B's older "portfolio" model
    registry). No ``:alias``: aliases are given apart.
    """
    return parse_ref(value, allow_alias=False, what="target path")


MAX_REGISTRY_NAME = MAX_NAME - len(REGISTRY_PREFIX)  # W&B: the project name wandb-registry-NAME is <= 128


def registry_name(value: object) -> str:
    """Accept ``model`` or ``wandb-registry-model`` and return ``model``.

    At most 113 characters (W&B: the project name ``wandb-registry-NAME`` is at most 128).
    """
    if isinstance(value, str) and value.startswith(REGISTRY_PREFIX):
        value = value[len(REGISTRY_PREFIX):]
    if isinstance(value, str) and len(value) > MAX_REGISTRY_NAME:
        raise InvalidName(
            f"invalid registry name {value[:40] + '...'!r}: must be {MAX_REGISTRY_NAME} characters or less", value
        )
    return check_name(value, "registry name")
