"""``wandb.termlog``, ``termwarn``, ``termerror``: the one-line messages integrations print.

W&B prints them to stderr with a ``wandb:`` prefix; localreg prints them
with a ``localreg:`` prefix, and not at all when ``WANDB_SILENT`` (or
``LOCALREG_SILENT``) is true.
"""

from __future__ import annotations

import os
import sys

_TRUE = ("1", "true", "yes", "on")


def _silent() -> bool:
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("WANDB_SILENT", "LOCALREG_SILENT"))


def _write(level: str, string: object, newline: bool, prefix: bool) -> None:
    if _silent():
        return
    head = f"localreg: {level}" if prefix else ""
    text = "\n".join(head + line for line in str(string).split("\n"))
    sys.stderr.write(text + ("\n" if newline else ""))
    sys.stderr.flush()


def termlog(string: object = "", newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print an informational line to stderr."""
    _write("", string, newline, prefix)


def termwarn(string: object, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print a warning line to stderr."""
    _write("WARNING ", string, newline, prefix)


def termerror(string: object, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print an error line to stderr."""
    _write("ERROR ", string, newline, prefix)
