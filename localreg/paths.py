"""Where a store lives: explicit argument > ``$LOCALREG_HOME`` > platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DB_NAME = "localreg.db"


def default_home() -> Path:
    env = os.environ.get("LOCALREG_HOME")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("localreg")


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The store home: ``home`` if given, else ``$LOCALREG_HOME``, else the user data dir."""
    if home is not None and str(home) != "":
        return Path(home).expanduser().absolute()
    return default_home().absolute()
