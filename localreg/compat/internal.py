"""``wandb.sdk.internal.internal_api``: W&B's GraphQL client, as a stand-in.

Integrations build one next to ``wandb.init`` (Dagster's ``wandb_resource``
does ``Api(default_settings=..., load_settings=False)``), so it can be
constructed; every member raises: localreg has no W&B server to talk to.
Read artifacts through ``wandb.Api()`` (:class:`localreg.Api`) instead.
"""

from __future__ import annotations

from typing import Any

from . import unsupported

__path__: list[str] = []  # a package for the import system: wandb.sdk.internal.internal_api


class Api:
    """W&B's internal API client: constructible, but any member raises."""

    def __init__(self, default_settings: Any = None, load_settings: bool = True, retry_timedelta: Any = None,
                 environ: Any = None, retry_callback: Any = None, api_key: str | None = None) -> None:
        self.default_settings = dict(default_settings or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported(f"wandb.sdk.internal.internal_api.Api.{name}",
                          "it talks to a W&B server; read artifacts with wandb.Api() instead")

    def __repr__(self) -> str:
        return "<localreg stand-in for wandb.sdk.internal.internal_api.Api>"


__all__ = ["Api"]
