"""``wandb.util``: the few helpers integrations call from it."""

from __future__ import annotations

from .lib import generate_id

__all__ = ["generate_id"]
