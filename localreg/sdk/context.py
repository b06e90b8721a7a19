"""Which store the W&B-shaped facade works on: the active run's, else the default one."""

from __future__ import annotations

import os

from ..store import Store, open_store


def default_store(home: str | os.PathLike | None = None) -> Store:
    from . import run as run_mod

    if home is None and run_mod.current() is not None:
        return run_mod.current()._store  # type: ignore[union-attr]
    return open_store(home)
