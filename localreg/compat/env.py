"""``wandb.env``: the names of W&B's environment variables, and the readers W&B code calls.

Only what W&B code outside the SDK reads; each answers as localreg does
(the artifact folder is the one downloads use by default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..sdk.artifact import artifact_dir

ARTIFACT_DIR = "WANDB_ARTIFACT_DIR"
ENTITY = "WANDB_ENTITY"
PROJECT = "WANDB_PROJECT"
ORGANIZATION = "WANDB_ORGANIZATION"
RUN_ID = "WANDB_RUN_ID"
MODE = "WANDB_MODE"
DIR = "WANDB_DIR"
API_KEY = "WANDB_API_KEY"
SILENT = "WANDB_SILENT"


def get_artifact_dir(env: Mapping[str, str] | None = None) -> str:
    """Where artifacts are downloaded by default: ``$WANDB_ARTIFACT_DIR``, else ``./artifacts``, absolute."""
    if env is None:
        return artifact_dir()
    return os.path.abspath(os.fspath(env.get(ARTIFACT_DIR) or os.path.join(".", "artifacts")))


def _get(name: str, default: str | None, env: Mapping[str, str] | None) -> str | None:
    return (os.environ if env is None else env).get(name, default)


def get_entity(default: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    return _get(ENTITY, default, env)


def get_project(default: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    return _get(PROJECT, default, env)


def get_run(default: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    return _get(RUN_ID, default, env)
