"""``wandb.apis.public``: the classes of :mod:`localreg.sdk.api` (the very same objects), as a package.

W&B code imports submodules of it (``wandb.apis.public.registries``,
``.artifacts``, ``.api``); the import system sets each as an attribute of
this package, which must therefore not be :mod:`localreg.sdk.api` itself.
"""

from __future__ import annotations

from ..sdk.api import (  # noqa: F401 - re-exported under W&B's path
    Api,
    ApiRun,
    ArtifactCollection,
    ArtifactType,
    Collections,
    Project,
    Registries,
    Registry,
)
from ..sdk.api import ApiRun as Run  # noqa: F401 - W&B's name for a run read back
from ..sdk.artifact import Artifact  # noqa: F401

__path__: list[str] = []  # a package for the import system: .registries, .api, .artifacts

__all__ = ["Api", "ApiRun", "Artifact", "ArtifactCollection", "ArtifactType", "Collections", "Project",
           "Registries", "Registry", "Run"]
