"""``import wandb`` gives localreg: the module paths W&B code imports, as localreg's own modules.

Third-party libraries do ``import wandb`` (and ``from wandb.errors import
CommError``, ``from wandb.sdk.artifacts.artifact import Artifact``...)
themselves, so ``import localreg as wandb`` in the user's code is not
enough. :func:`as_wandb` (and the ``wandb_offline`` pytest fixture, and
``localreg run script.py``) put :class:`WandbFinder` first on
``sys.meta_path``. It answers every ``wandb`` / ``wandb.*`` import from
:data:`ALIASES`: the module it returns IS the localreg module of the
table (never a second copy of it), so ``except wandb.errors.NotFound``
catches what localreg raises. A ``wandb.*`` path not in the table fails
with a clear ``ModuleNotFoundError`` instead of loading a copy of a
localreg file under a ``wandb`` name.

The W&B paths localreg has no module for live in this package: thin
stand-ins for what an integration imports but that has no local meaning
(``wandb.sdk.launch``, trace trees, the internal GraphQL ``Api``) raise
:class:`LocalOnly` naming what localreg cannot do when they are called.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

# W&B module path -> the localreg module it is. Parents before children.
ALIASES: dict[str, str] = {
    "wandb": "localreg",
    "wandb.errors": "localreg.errors",
    "wandb.sdk": "localreg.sdk",
    "wandb.sdk.artifacts": "localreg.compat.artifacts",
    "wandb.sdk.artifacts.artifact": "localreg.sdk.artifact",
    "wandb.sdk.artifacts.exceptions": "localreg.errors",
    "wandb.sdk.wandb_run": "localreg.sdk.run",
    "wandb.wandb_run": "localreg.sdk.run",
    "wandb.apis": "localreg.compat.apis",
    "wandb.apis.public": "localreg.compat.public",
    "wandb.apis.public.api": "localreg.sdk.api",
    "wandb.apis.public.artifacts": "localreg.sdk.api",
    "wandb.data_types": "localreg.compat.data_types",
    "wandb.sdk.data_types": "localreg.compat.data_types",
    "wandb.sdk.data_types.trace_tree": "localreg.compat.trace_tree",
    "wandb.sdk.internal": "localreg.compat.internal",
    "wandb.sdk.internal.internal_api": "localreg.compat.internal",
    "wandb.sdk.launch": "localreg.compat.launch",
    "wandb.sdk.lib": "localreg.compat.lib",
    "wandb.sdk.lib.telemetry": "localreg.compat.lib",
    "wandb.sdk.lib.paths": "localreg.compat.lib",
    "wandb.sdk.lib.runid": "localreg.compat.lib",
    "wandb.util": "localreg.compat.util",
    "wandb.env": "localreg.compat.env",
    "wandb._strutils": "localreg.compat.strutils",
    "wandb.sdk.artifacts._validators": "localreg.compat.validators",
    "wandb.sdk.artifacts._gqlutils": "localreg.compat.validators",
    "wandb.sdk.lib.hashutil": "localreg.compat.lib",
    "wandb.apis.public.registries": "localreg.compat.registries",
    "wandb.apis.public.registries.registry": "localreg.compat.registries",
    "wandb.apis.public.registries.registries_search": "localreg.compat.registries",
    "wandb.apis.public.registries._utils": "localreg.compat.registries",
}

DOCS = "docs/integrations.md"
# put first on PYTHONPATH, it makes ``import wandb`` give localreg in any process (see localreg.compat.shim)
SHIM_DIR = str(Path(__file__).resolve().parent / "shim")


class LocalOnly(NotImplementedError):
    """A W&B feature that needs the W&B service (launch, traces, the GraphQL API)."""


def unsupported(what: str, why: str) -> LocalOnly:
    return LocalOnly(f"{what} is not available in localreg: {why} (localreg stands in for wandb offline; "
                     f"see {DOCS})")


class _AliasLoader(importlib.abc.Loader):
    """Hands importlib the localreg module itself; never executes a file a second time."""

    def __init__(self, fullname: str, target: str) -> None:
        self.fullname = fullname
        self.target = target
        self._spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # importlib set ``__spec__`` to the alias spec: give the module its own back,
        # so reload() and pickling keep seeing it under its localreg name
        module.__spec__ = self._spec
        # ``from wandb.sdk import launch`` looks ``launch`` up on the module, then imports
        # ``<module.__name__>.launch``, a localreg name that does not exist: give the module
        # its W&B children as attributes (the top, localreg itself, has them lazily)
        # (refreshed: a test runner that drops the modules a run imported, as pytester does,
        # leaves these attributes naming the dropped copies; never replaces a non-module)
        if self.target != "localreg":
            for alias, target in ALIASES.items():
                parent, _, child = alias.rpartition(".")
                if parent == self.fullname and isinstance(module.__dict__.get(child, sys), ModuleType):
                    setattr(module, child, importlib.import_module(target))


class WandbFinder(importlib.abc.MetaPathFinder):
    """Answers ``wandb`` and ``wandb.*`` imports from :data:`ALIASES`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "wandb" and not fullname.startswith("wandb."):
            return None
        real = ALIASES.get(fullname)
        if real is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: localreg stands in for wandb and has no such module "
                f"(the wandb paths it provides are listed in {DOCS})",
                name=fullname,
            )
        is_package = any(name.startswith(fullname + ".") for name in ALIASES)
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, real), is_package=is_package)


_finder = WandbFinder()
_lock = threading.RLock()


def _is_wandb(name: str) -> bool:
    return name == "wandb" or name.startswith("wandb.")


def _install_finder() -> None:
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def _remove_finder() -> None:
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def _rebind_importers(real: object, localreg: ModuleType) -> list[tuple[ModuleType, object]]:
    """Point the ``wandb`` global of modules that imported a real wandb at localreg."""
    changed = []
    for module in list(sys.modules.values()):
        # the module's __dict__, not getattr: a module __getattr__ could warn or compute
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict) and namespace.get("wandb") is real:
            changed.append((module, real))
            namespace["wandb"] = localreg
    return changed


def as_wandb() -> ModuleType:
    """Make ``import wandb`` (and every ``wandb.*`` path of :data:`ALIASES`) give localreg, from now on.

    Call it at the top of a script, before importing the libraries that
    ``import wandb``. A real wandb already imported is replaced in
    ``sys.modules`` and in the ``wandb`` global of modules that imported
    it; names taken from it with ``from wandb import X`` stay real.
    Returns the ``localreg`` module. Calling it again does nothing more.
    """
    import localreg

    with _lock:
        real = sys.modules.get("wandb")
        for name in [m for m in sys.modules if _is_wandb(m)]:
            target = ALIASES.get(name)
            if target is None or sys.modules.get(target) is not sys.modules[name]:
                del sys.modules[name]  # a real wandb module, or one localreg does not provide
        _install_finder()
        sys.modules["wandb"] = localreg
        if real is not None and real is not localreg:
            _rebind_importers(real, localreg)
    return localreg


@contextmanager
def wandb_aliased() -> Iterator[ModuleType]:
    """:func:`as_wandb` for the length of a ``with`` block, then ``sys.modules`` as it was.

    On exit every ``wandb``/``wandb.*`` entry of ``sys.modules`` is what
    it was before (an entry added inside is removed, one replaced is put
    back), the finder is gone unless it was installed before, and the
    modules whose ``wandb`` global was re-pointed get their real wandb back.
    """
    import localreg

    with _lock:
        saved = {name: module for name, module in sys.modules.items() if _is_wandb(name)}
        finder_was_installed = _finder in sys.meta_path
        real = saved.get("wandb")
        for name in saved:
            del sys.modules[name]
        _install_finder()
        sys.modules["wandb"] = localreg
        rebound = _rebind_importers(real, localreg) if real is not None and real is not localreg else []
    try:
        yield localreg
    finally:
        with _lock:
            for name in [m for m in sys.modules if _is_wandb(m)]:
                del sys.modules[name]
            sys.modules.update(saved)
            if not finder_was_installed:
                _remove_finder()
            for module, original in rebound:
                if module.__dict__.get("wandb") is localreg:
                    module.__dict__["wandb"] = original
