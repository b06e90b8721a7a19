"""``wandb._strutils``: the string helpers W&B code and tests import."""

from __future__ import annotations

import base64
from typing import Any


def b64decode_ascii(value: str) -> str:
    """Decode base64 text to text (W&B's ids are base64 of ``Type:<n>``; see ``Registry.id``)."""
    return base64.b64decode(value.encode("ascii")).decode("ascii")


def b64encode_ascii(value: str) -> str:
    return base64.b64encode(value.encode("ascii")).decode("ascii")


def nameof(obj: Any, full: bool = True) -> str:
    """The name of a class or function (W&B names its GraphQL operations so)."""
    name = getattr(obj, "__qualname__" if full else "__name__", None) or getattr(obj, "__name__", None)
    return str(name if name is not None else type(obj).__name__)


def removeprefix(s: str, prefix: str) -> str:
    return s[len(prefix):] if s.startswith(prefix) else s


def removesuffix(s: str, suffix: str) -> str:
    return s[: -len(suffix)] if suffix and s.endswith(suffix) else s
