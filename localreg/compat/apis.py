"""``wandb.apis``: the package of W&B's public (``wandb.apis.public``) and internal API clients."""

from __future__ import annotations

from ..sdk.api import Api as PublicApi
from .internal import Api as InternalApi

__path__: list[str] = []  # a package for the import system: wandb.apis.public is localreg.sdk.api

__all__ = ["InternalApi", "PublicApi"]
