"""``wandb.data_types`` (and ``wandb.sdk.data_types``): ``WBValue``, the base of W&B's logged objects.

localreg's only such object is :class:`~localreg.sdk.table.Table`, which
derives from :class:`WBValue`, so ``isinstance(obj, WBValue)`` checks in
integrations (Dagster's IO manager stores a ``WBValue`` with
``artifact.add``) see tables as W&B does.
"""

from __future__ import annotations

from ..sdk.table import Table, WBValue

__path__: list[str] = []  # a package for the import system: wandb.sdk.data_types.trace_tree

__all__ = ["Table", "WBValue"]
