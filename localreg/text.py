"""Wording shared by every message that counts things."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, one: str, many: str | None = None) -> str:
    """``"1 alias"``, ``"2 aliases"``: ``n`` and the word that fits it.

    ``many`` defaults to ``one + "s"``; give it for every other plural
    (``plural(n, "alias", "aliases")``, ``plural(n, "entry", "entries")``).
    """
    return f"{n} {one if n == 1 else (many if many is not None else one + 's')}"
