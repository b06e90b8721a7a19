"""Found as ``wandb`` when :data:`localreg.compat.SHIM_DIR` is on the path: it makes ``wandb`` localreg.

:func:`localreg.as_wandb` replaces this module in ``sys.modules`` with
``localreg``, and the import system returns what ``sys.modules`` holds
once the module has run: ``import wandb`` gives localreg.
"""

import localreg

localreg.as_wandb()
