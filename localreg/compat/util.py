"""``wandb.util``: the few helpers integrations call from it."""

from __future__ import annotations

import secrets
import string

from .lib import generate_id


def random_string(length: int = 12) -> str:
    """Random lowercase letters and digits (``wandb.util.random_string``)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


__all__ = ["generate_id", "random_string"]
