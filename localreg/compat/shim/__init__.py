"""A folder to put on ``PYTHONPATH`` (:data:`localreg.compat.SHIM_DIR`): its ``wandb`` package is localreg.

Child processes do not inherit :func:`localreg.as_wandb`, but they inherit
``PYTHONPATH``: ``localreg run`` puts this folder first on it, so a
subprocess (a Dagster step, a multiprocessing worker) that does ``import
wandb`` finds :mod:`localreg.compat.shim.wandb`, which calls
:func:`localreg.as_wandb` and so is replaced by localreg itself.
"""
