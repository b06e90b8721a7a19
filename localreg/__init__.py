"""localreg: W&B Artifacts and the W&B Registry, local.

``import localreg as wandb`` runs W&B artifact and registry code offline;
``localreg.Store`` and the verb modules are the plain API underneath.

Names are loaded on first use, so ``import localreg`` costs almost
nothing until the first call (W&B code imports it at the top of every
script; command-line tools and test collection import it too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Api": "localreg.sdk.api",
    "ArtifactCollection": "localreg.sdk.api",
    "Registry": "localreg.sdk.api",
    "Artifact": "localreg.sdk.artifact",
    "ArtifactTTL": "localreg.sdk.artifact",
    "Run": "localreg.sdk.run",
    "Settings": "localreg.sdk.run",
    "finish": "localreg.sdk.run",
    "join": "localreg.sdk.run",
    "init": "localreg.sdk.run",
    "link_artifact": "localreg.sdk.run",
    "log": "localreg.sdk.run",
    "log_artifact": "localreg.sdk.run",
    "login": "localreg.sdk.run",
    "use_artifact": "localreg.sdk.run",
    "Table": "localreg.sdk.table",
    "termlog": "localreg.compat.term",
    "termwarn": "localreg.compat.term",
    "termerror": "localreg.compat.term",
    "as_wandb": "localreg.compat",
    "LocalregError": "localreg.errors",
    "NotFound": "localreg.errors",
    # W&B's exception classes at W&B's top-level names (wandb.Error, wandb.CommError, wandb.UsageError)
    "Error": "localreg.errors",
    "CommError": "localreg.errors",
    "UsageError": "localreg.errors",
    "export_bundle": "localreg.bundle",
    "import_bundle": "localreg.bundle",
    "Store": "localreg.store",
    "open_store": "localreg.store",
}

# W&B's submodules, as attributes too: ``import localreg as wandb; wandb.errors.CommError``
_SUBMODULES = {
    "errors": "localreg.errors",
    "sdk": "localreg.sdk",
    "data_types": "localreg.compat.data_types",
    "apis": "localreg.compat.apis",
    "util": "localreg.compat.util",
    "wandb_run": "localreg.sdk.run",
    "env": "localreg.compat.env",
    "_strutils": "localreg.compat.strutils",
}

__all__ = sorted([*_EXPORTS, "__version__", "run"])

if TYPE_CHECKING:
    from .bundle import export_bundle, import_bundle
    from .compat import as_wandb
    from .compat.term import termerror, termlog, termwarn
    from .errors import CommError, Error, LocalregError, NotFound, UsageError
    from .sdk.api import Api, ArtifactCollection, Registry
    from .sdk.artifact import Artifact, ArtifactTTL
    from .sdk.run import Run, Settings, finish, init, join, link_artifact, log, log_artifact, login, use_artifact
    from .sdk.table import Table
    from .store import Store, open_store


def __getattr__(name: str) -> Any:
    # ``wandb.run`` is the active run, which changes as runs start and finish
    if name == "run":
        from .sdk.run import current

        return current()
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'localreg' has no attribute {name!r}")

    # not cached in this module: if the submodule is ever reloaded (pytester
    # does that between in-process runs) every lookup must see its new classes
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
