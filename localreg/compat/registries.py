"""``wandb.apis.public.registries`` (``.registry``, ``.registries_search``, ``._utils``): localreg's registry classes.

The classes are those of :mod:`localreg.sdk.api`, so ``isinstance`` checks
against W&B's paths hold for what localreg returns.
"""

from __future__ import annotations

from typing import Any

import localreg as wandb  # noqa: F401 - W&B's module has ``wandb`` (W&B code patches wandb.termlog through it)

from ..sdk.api import Registries, Registry

__path__: list[str] = []  # a package for the import system: .registry, .registries_search, ._utils


def fetch_org_entity_from_organization(client: Any, organization: str) -> str:
    """The org's entity name: in localreg an org has one name, so the org's own; W&B's error if it is unknown."""
    from .. import orgs
    from ..store import open_store

    if organization not in orgs.list_orgs(open_store()):
        raise orgs.UnknownOrganization(orgs.UNKNOWN.format(org=organization), organization)
    return organization


__all__ = ["Registries", "Registry", "fetch_org_entity_from_organization"]
