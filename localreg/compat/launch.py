"""``wandb.sdk.launch``: a stand-in that imports; every function raises.

W&B Launch queues jobs on compute that a W&B server manages; localreg has
no server and no queue.
"""

from __future__ import annotations

from typing import Any, NoReturn

from . import unsupported

_WHY = "W&B Launch runs jobs through a W&B server's queues"


def launch(*args: Any, **kwargs: Any) -> NoReturn:
    raise unsupported("wandb.sdk.launch.launch", _WHY)


def launch_add(*args: Any, **kwargs: Any) -> NoReturn:
    raise unsupported("wandb.sdk.launch.launch_add", _WHY)


def create_and_run_agent(*args: Any, **kwargs: Any) -> NoReturn:
    raise unsupported("wandb.sdk.launch.create_and_run_agent", _WHY)


def load_wandb_config(*args: Any, **kwargs: Any) -> NoReturn:
    raise unsupported("wandb.sdk.launch.load_wandb_config", _WHY)


__all__ = ["create_and_run_agent", "launch", "launch_add", "load_wandb_config"]
