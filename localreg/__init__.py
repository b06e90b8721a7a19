"""localreg: W&B Artifacts and the W&B Registry, local.

``import localreg as wandb`` runs W&B artifact and registry code offline;
``localreg.Store`` and the verb modules are the plain API underneath.
"""

from .errors import LocalregError, NotFound
from .sdk import (
    Api, Artifact, ArtifactCollection, Registry, Run, Settings, Table,
    finish, init, link_artifact, log, log_artifact, login, use_artifact,
)
from .store import Store, __version__, open_store

__all__ = [
    "Api", "Artifact", "ArtifactCollection", "LocalregError", "NotFound", "Registry", "Run",
    "Settings", "Store", "Table", "__version__", "finish", "init", "link_artifact", "log",
    "log_artifact", "login", "open_store", "run", "use_artifact",
]


def __getattr__(name: str):
    # ``wandb.run`` is the active run, which changes as runs start and finish
    if name == "run":
        from .sdk.run import current

        return current()
    raise AttributeError(f"module 'localreg' has no attribute {name!r}")
