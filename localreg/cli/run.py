"""``localreg run SCRIPT [ARGS]...``: run a Python script with ``import wandb`` giving localreg.

For code that cannot be edited to say ``import localreg as wandb`` (a
library that imports wandb itself): the script runs as ``python SCRIPT
ARGS`` would, as ``__main__`` with ``sys.argv = [SCRIPT, *ARGS]``, after
:func:`localreg.as_wandb`. ``-m MODULE`` runs a module instead, as
``python -m`` does. ``--home`` sets the store the script's runs write to.
Child processes of the script get the same through ``PYTHONPATH`` (see
:mod:`localreg.compat.shim`).
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback

import click

from . import State, cli, pass_state


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-m", "module", is_flag=True, help="TARGET is a module to run, as with 'python -m'.")
@click.argument("target")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_state
def run(state: State, module: bool, target: str, args: tuple[str, ...]) -> None:
    """Run TARGET (a script, or a module with -m) with 'import wandb' giving localreg.

    Example:

    \b
        localreg run train.py --epochs 3
        localreg --home ./store run -m my_pipeline.train
    """
    if not module and not os.path.isfile(target):
        raise click.ClickException(f"no such script: {target}")
    from ..compat import SHIM_DIR, as_wandb

    if state.home is not None:
        os.environ["LOCALREG_HOME"] = os.path.abspath(state.home)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SHIM_DIR, os.environ.get("PYTHONPATH")) if p)
    as_wandb()
    sys.argv = [target, *args]
    if not module:
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit:
        raise
    except BaseException:
        # the script's own failure: its traceback and exit code 1, as 'python SCRIPT' gives
        traceback.print_exc()
        sys.exit(1)
