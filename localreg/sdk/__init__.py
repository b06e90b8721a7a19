"""The W&B-shaped facade: ``import localreg as wandb``."""

from .api import Api, ApiRun, ArtifactCollection, Paginator, Registry
from .artifact import Artifact, ManifestEntry
from .run import Run, Settings, finish, init, link_artifact, log, log_artifact, login, use_artifact
from .table import Table

__all__ = [
    "Api", "ApiRun", "Artifact", "ArtifactCollection", "ManifestEntry", "Paginator", "Registry",
    "Run", "Settings", "Table", "finish", "init", "link_artifact", "log", "log_artifact", "login",
    "use_artifact",
]
