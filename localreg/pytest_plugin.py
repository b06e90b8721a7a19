"""pytest fixtures: a fresh localreg store per test, seed files, and a stand-in for ``wandb``.

Registered through the ``pytest11`` entry point, so it is active wherever
localreg is installed; ``-p no:localreg`` turns it off. Fixtures:

* ``localreg_home``: the home of a fresh store in the test's tmp dir. For
  the test, ``LOCALREG_HOME`` points at it, ``WANDB_ORGANIZATION``,
  ``WANDB_ENTITY`` and ``WANDB_PROJECT`` hold the store's defaults and
  ``LOCALREG_ORG``/``_ENTITY``/``_PROJECT`` are unset (so a test may still
  set ``WANDB_PROJECT`` itself); all are restored afterwards.
* ``localreg_store`` (:class:`localreg.Store`) and ``localreg_api``
  (:class:`localreg.Api`) on that store.
* ``make_artifact(name, type, files={path: bytes or str}, ...)``: log a
  version (and link it with ``link_to=``) in one call.
* ``localreg_seed(path)``: load a seed file into the store.
* ``wandb_offline``: ``import wandb`` gives localreg for the test.

Isolation and speed: each test gets its own store, and its blobs go to a
``memory://`` root that is emptied when the test ends (one root per
process: tests of a process run one after another, and each pytest-xdist
worker is a process of its own). Creating a store takes a dozen fsyncs, so
the first test of a process creates a template store and every test gets a
copy of its database file; with blobs in memory nothing is durable anyway,
so the test's connection commits without fsync. The store cache of :func:`localreg.open_store`
and the active run of the W&B-shaped API are reset before and after each
test. Nothing is shared between tests. Ask for disk blobs with
``@pytest.mark.localreg(blobs="disk")``, or parametrize
``localreg_home`` indirectly with ``"memory"``/``"disk"``; the same marker
takes ``org=``, ``entity=`` and ``project=`` for the store's defaults.

localreg itself is imported only when a fixture is used, so having the
plugin installed costs a pytest run nothing.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import ModuleType

    from .sdk.api import Api
    from .sdk.artifact import Artifact
    from .seed import SeedResult
    from .store import Store

DEFAULTS = {"org": "test-org", "entity": "test-team", "project": "test-project"}
BLOBS = ("memory", "disk")
_OPTIONS = {"blobs", "org", "entity", "project"}
_WANDB_ENV = {"org": "WANDB_ORGANIZATION", "entity": "WANDB_ENTITY", "project": "WANDB_PROJECT"}
_CLEARED_ENV = ("LOCALREG_ORG", "LOCALREG_ENTITY", "LOCALREG_PROJECT", "LOCALREG_READONLY")
_TEMPLATES: dict[tuple, Path] = {}
_token = secrets.token_hex(4)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "localreg(blobs='memory', org=..., entity=..., project=...): how the localreg fixtures build "
        "the test's store; blobs='disk' keeps blobs in the test's tmp dir instead of memory://",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, str]:
    """The store options of a test: defaults < markers (closest wins) < indirect parameter."""
    opts = {"blobs": "memory", **DEFAULTS}
    for marker in reversed(list(request.node.iter_markers("localreg"))):
        unknown = set(marker.kwargs) - _OPTIONS
        if marker.args or unknown:
            raise pytest.UsageError(
                f"@pytest.mark.localreg takes keyword arguments {', '.join(sorted(_OPTIONS))}; "
                f"got {', '.join(map(repr, marker.args)) or ', '.join(sorted(unknown))}"
            )
        opts.update(marker.kwargs)
    param = getattr(request, "param", None)
    if param is not None:
        opts["blobs"] = param
    if opts["blobs"] not in BLOBS:
        raise pytest.UsageError(f"localreg blobs must be 'memory' or 'disk', not {opts['blobs']!r}")
    return opts


def _reset_sdk() -> None:
    # the W&B-shaped API keeps the active run module-global; a run left by one
    # test must not decide which store the next one writes to
    from .sdk import run as sdk_run

    sdk_run._reset()


def _forget(store: "Store") -> None:
    """Drop ``store`` from :func:`localreg.open_store`'s cache and close it."""
    from .store import _STORES, _STORES_LOCK

    with _STORES_LOCK:
        for key in [k for k, s in _STORES.items() if s is store]:
            del _STORES[key]
    store.close()


def _remove_memory_root(store: "Store") -> None:
    # fsspec's MemoryFileSystem is one process-wide dict: remove this test's root only
    fs, root = store.blobs.fs, store.blobs.root
    try:
        if fs.exists(root):
            fs.rm(root, recursive=True)
    except FileNotFoundError:
        pass
    fs.pseudo_dirs[:] = [d for d in fs.pseudo_dirs if d != root and not d.startswith(root + "/")]


def _memory_url() -> str:
    return f"memory://localreg-{_token}-{os.getpid()}"


def _template(opts: dict[str, str], factory: pytest.TempPathFactory) -> Path:
    """The database file of an empty store with these defaults and blobs at :func:`_memory_url`."""
    from .paths import DB_NAME
    from .store import Store

    key = (os.getpid(), opts["org"], opts["entity"], opts["project"])
    path = _TEMPLATES.get(key)
    if path is None or not path.exists():
        home = factory.mktemp("localreg-template")
        store = Store(home / "store", blob_url=_memory_url(), org=opts["org"], entity=opts["entity"],
                      project=opts["project"])
        store.close()  # the last connection checkpoints the WAL: the .db file is the whole store
        path = _TEMPLATES[key] = home / "store" / DB_NAME
    return path


@pytest.fixture
def localreg_home(request: pytest.FixtureRequest, tmp_path: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The home folder of a fresh localreg store for this test (blobs in memory:// by default)."""
    from .paths import DB_NAME
    from .store import open_store

    opts = _options(request)
    home = tmp_path / "localreg"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOCALREG_HOME", str(home))
        for var in _CLEARED_ENV:
            mp.delenv(var, raising=False)
        for what, var in _WANDB_ENV.items():
            mp.setenv(var, opts[what])
        _reset_sdk()
        if opts["blobs"] == "memory":
            template = _template(opts, tmp_path_factory)
            home.mkdir(mode=0o700)
            shutil.copyfile(template, home / DB_NAME)
            os.chmod(home / DB_NAME, 0o600)
            store = open_store(home)
            # blobs in memory are gone when the process ends, so fsyncing the database
            # buys nothing: commits of this thread's connection skip it (WAL stays on)
            store.db.execute("PRAGMA synchronous = OFF")
        else:
            store = open_store(home, org=opts["org"], entity=opts["entity"], project=opts["project"])
        try:
            yield home
        finally:
            _reset_sdk()
            _forget(store)
            if opts["blobs"] == "memory":
                _remove_memory_root(store)


@pytest.fixture
def localreg_store(localreg_home: Path) -> "Store":
    """The :class:`localreg.Store` at ``localreg_home`` (the one ``open_store()`` returns)."""
    from .store import open_store

    return open_store(localreg_home)


@pytest.fixture
def localreg_api(localreg_home: Path) -> "Api":
    """``localreg.Api()`` on the test's store."""
    from .sdk.api import Api

    return Api(home=str(localreg_home))


@pytest.fixture
def make_artifact(localreg_store: "Store", localreg_api: "Api") -> Callable[..., "Artifact"]:
    """A factory: ``make_artifact(name, type, files={path: bytes or str}, ...)`` logs one version.

    Keyword arguments: ``metadata``, ``aliases``, ``tags``, ``description``,
    ``entity``, ``project`` (default: the store's), ``link_to`` (a registry
    path such as ``"wandb-registry-model/my-model"``) and ``link_aliases``.
    Returns the logged version as a W&B-shaped ``Artifact``, or the link
    when ``link_to`` is given (its ``source_artifact`` is the version).
    Files with the content of an existing version give that version (dedup).
    """
    from . import names, registries, versions
    from .objects import Entry, Objects

    def make(name: str, type: str, files: Mapping[str, bytes | str] | None = None, *,
             metadata: dict | None = None, aliases: list[str] | None = None, tags: list[str] | None = None,
             description: str | None = None, entity: str | None = None, project: str | None = None,
             link_to: str | None = None, link_aliases: list[str] | None = None) -> "Artifact":
        objects = Objects(localreg_store)
        entries = []
        for path, data in (files or {}).items():
            digest, size = objects.add_bytes(data.encode("utf-8") if isinstance(data, str) else bytes(data))
            entries.append(Entry(names.check_logical_path(path), digest, size))
        with localreg_store.transaction():
            v, _created = versions.log_version(
                localreg_store, name=name, type=type, entries=entries, entity=entity, project=project,
                description=description, metadata=metadata, aliases=aliases, tags=tags,
            )
            if link_to is not None:
                v = registries.link(localreg_store, v, link_to, link_aliases)
        return localreg_api.artifact(v.qualified_name)

    return make


@pytest.fixture
def localreg_seed(localreg_store: "Store", request: pytest.FixtureRequest) -> Callable[..., "SeedResult"]:
    """``localreg_seed(path)`` loads a seed file (TOML or JSON) into the test's store.

    A relative path is looked up next to the test file first, then under the
    rootdir. A dict is loaded as an already parsed seed. Returns
    :class:`localreg.seed.SeedResult`; raises :class:`localreg.seed.SeedError`.
    """
    from . import seed

    here = Path(str(request.path)).parent

    def load(source: str | os.PathLike | Mapping) -> "SeedResult":
        if isinstance(source, Mapping):
            return seed.load(localreg_store, source, base=here)
        path = Path(source)
        if not path.is_absolute():
            candidates = [here / path, Path(str(request.config.rootpath)) / path]
            path = next((p for p in candidates if p.exists()), candidates[0])
        return seed.load(localreg_store, path)

    return load


@pytest.fixture
def wandb_offline(localreg_home: Path) -> Iterator["ModuleType"]:
    """``import wandb`` gives ``localreg`` (on the test's store) until the test ends.

    Every ``wandb.*`` path W&B code imports (``wandb.errors``,
    ``wandb.sdk.artifacts.artifact``...) is the very localreg module that
    localreg itself uses (see :mod:`localreg.compat`), so ``except
    wandb.errors.NotFound`` catches what localreg raises. Modules that
    already did ``import wandb`` of a real wandb get localreg as their
    ``wandb`` global. When the test ends, the ``wandb`` entries of
    ``sys.modules`` are exactly what they were before, and those globals
    are restored. ``WANDB_MODE`` is ``offline`` as a safety net. Names taken
    with ``from wandb import X`` before the test keep the real ``X``.
    """
    from .compat import wandb_aliased

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        with wandb_aliased() as localreg:
            yield localreg
