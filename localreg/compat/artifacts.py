"""``wandb.sdk.artifacts``: the package whose ``artifact`` module is :mod:`localreg.sdk.artifact`."""

from __future__ import annotations

from ..sdk.artifact import Artifact

__path__: list[str] = []  # a package for the import system: wandb.sdk.artifacts.artifact, .exceptions

__all__ = ["Artifact"]
