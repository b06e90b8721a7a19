"""``wandb.sdk.lib`` (and its ``telemetry``, ``paths`` and ``runid`` modules): the helpers integrations import.

* ``RunDisabled``: the class of W&B's run in ``mode="disabled"``;
  localreg never makes one, so ``isinstance(run, RunDisabled)`` is False.
* ``telemetry.context()``: W&B records which integration is in use; here
  a context that accepts and forgets whatever is set on it.
* ``paths.FilePathStr`` / ``StrPath`` and ``runid.generate_id``.
"""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NewType, Union

__path__: list[str] = []  # a package for the import system: wandb.sdk.lib.telemetry, .paths, .runid

FilePathStr = NewType("FilePathStr", str)
LogicalPath = NewType("LogicalPath", str)
URIStr = NewType("URIStr", str)
StrPath = Union[str, "os.PathLike[str]"]

_ALPHABET = string.ascii_lowercase + string.digits


class RunDisabled:
    """W&B's stand-in run for ``mode="disabled"`` (localreg has no disabled mode)."""


class _Ignored:
    """Takes any attribute, set or read, and keeps nothing (``tel.feature.x = True``)."""

    def __getattr__(self, name: str) -> "_Ignored":
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        pass


@contextmanager
def context(run: Any = None, obj: Any = None) -> Iterator[_Ignored]:
    """W&B's telemetry context: integrations mark features on it; localreg records none."""
    yield _Ignored()


def generate_id(length: int = 8) -> str:
    """A random run id of lowercase letters and digits, as W&B makes them."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def md5_file_hex(*paths: "str | os.PathLike[str]") -> str:
    """``wandb.sdk.lib.hashutil.md5_file_hex``: the hex MD5 of the files' bytes, one after another."""
    import hashlib

    h = hashlib.md5(usedforsecurity=False)
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()


__all__ = ["FilePathStr", "LogicalPath", "RunDisabled", "StrPath", "URIStr", "context", "generate_id",
           "md5_file_hex"]
