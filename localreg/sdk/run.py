"""``init`` and ``Run``: the W&B run life cycle over ``localreg.runs``."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from .. import names, registries, runs, versions
from ..errors import ArtifactStateError, InvalidInput, LocalregError, NotFound, RunStateError
from ..hashing import clean_metadata
from ..store import Store, open_store
from .artifact import Artifact, StrPath
from .runview import RunView

_active: "Run | None" = None
_lock = threading.Lock()


def current() -> "Run | None":
    return _active


def _reset() -> None:
    global _active
    _active = None


class Config(MutableMapping):
    """``run.config``: a dict with attribute access, saved with the run."""

    def __init__(self, run: "Run", data: dict) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_data", dict(data))

    def _save(self) -> None:
        runs.update_run(self._run._store, self._run._info.pk, config=self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._save()

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._save()

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def update(self, other: Any = (), allow_val_change: bool = False, **kw: Any) -> None:  # type: ignore[override]
        self._data.update(dict(other, **kw))
        self._save()

    def as_dict(self) -> dict:
        return dict(self._data)

    def __repr__(self) -> str:
        return repr(self._data)


class Settings(dict):
    """Accepts W&B settings (``wandb.Settings(...)``); localreg reads ``home`` from it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def __getattr__(self, key: str) -> Any:
        return self.get(key)


def _without_empty(aliases: Any) -> Any:
    """W&B's client takes ``""`` among aliases (spaCy's logger passes one): it names nothing, so drop it.

    W&B's validator refuses only ``/`` and ``:`` and sends the rest on; an
    empty alias can never be resolved (``name:`` is not a reference), so
    localreg stores none for it instead of refusing the whole call.
    """
    if aliases == "":
        return None
    if isinstance(aliases, (list, tuple, set, frozenset)):
        return [a for a in aliases if a != ""]
    return aliases


class Run(RunView):
    """An active run: logs, uses and links artifacts, and records lineage."""

    def __init__(self, store: Store, info: runs.RunInfo) -> None:
        super().__init__(store, info)
        self.config = Config(self, info.config)
        self.summary: dict[str, Any] = {}
        self._step = 0
        self._finished = False

    path = property(lambda self: self._info.path)
    dir = property(lambda self: os.getcwd())

    @property
    def name(self) -> str | None:
        return self._info.name

    @name.setter
    def name(self, value: str) -> None:
        """Rename the run (W&B's display name), as integrations do after ``init``."""
        runs.update_run(self._store, self._info.pk, name=value)
        self._info = dataclasses.replace(self._info, name=value)

    @property
    def url(self) -> str:
        """Where the run is: ``localreg://entity/project/runs/<id>`` (W&B gives its web app's URL)."""
        return f"localreg://{self._info.entity}/{self._info.project}/runs/{self._info.id}"

    @property
    def settings(self) -> "Settings":
        """The run's settings as W&B names them (``run_url``, ``run_id``, ``mode``...)."""
        return Settings(run_url=self.url, run_id=self.id, run_name=self.name, entity=self.entity,
                        project=self.project, mode="offline", home=str(self._store.home))

    def _label(self, code: str | None = None, repo: str | None = None, code_version: str | None = None,
               **kwargs: Any) -> None:
        """W&B records which integration made the run; localreg keeps no such telemetry."""

    @property
    def project_name(self) -> str:
        return self._info.project

    def _check_open(self, what: str) -> None:
        if self._finished:
            raise RunStateError(f"run {self._info.path} is finished; cannot {what}")

    def log(self, data: dict, step: int | None = None, commit: bool | None = None) -> None:
        """Record metrics; the last value of each key is kept as the run's summary."""
        self._check_open("log")
        if not isinstance(data, dict):
            raise InvalidInput("run.log takes a dict")
        self.summary.update(clean_metadata(data, "logged metrics", max_keys=None))
        self._step = step if step is not None else self._step + 1

    def log_artifact(self, artifact_or_path: Artifact | StrPath, name: str | None = None,
                     type: str | None = None, aliases: list[str] | None = None,
                     tags: list[str] | None = None) -> Artifact:
        """Commit a draft (or a path) as the next version; the run is recorded as its producer."""
        self._check_open("log an artifact")
        artifact = self._as_artifact(artifact_or_path, name, type)
        if artifact._v is not None:
            raise ArtifactStateError(f"{artifact.qualified_name} is already logged")
        aliases = names.check_aliases(_without_empty(aliases))
        return artifact._commit(self, aliases=aliases, tags=names.check_tags(tags))

    def _as_artifact(self, artifact_or_path: Artifact | StrPath, name: str | None, type: str | None) -> Artifact:
        """An Artifact as given, or a new one holding a file, folder or reference URL (str or os.PathLike)."""
        if isinstance(artifact_or_path, Artifact):
            return artifact_or_path
        if not isinstance(artifact_or_path, (str, os.PathLike)):
            raise InvalidInput("You must pass an instance of wandb.Artifact or a valid file path to log_artifact, "
                               f"not {artifact_or_path.__class__.__name__}")
        path = os.fspath(artifact_or_path)
        if not isinstance(path, str):
            raise InvalidInput("log_artifact takes a str or os.PathLike path, not bytes")
        base = os.path.basename(os.path.normpath(path)) or "artifact"
        if os.path.isfile(path):
            add = "file"
        elif os.path.isdir(path):
            add = "dir"
        elif "://" in path:
            add = "reference"
        else:
            raise InvalidInput(f"path must be a file, directory or external reference like s3://bucket/path: {path!r}")
        # checked before the draft is made, so a bad path writes nothing
        artifact = Artifact(name or f"run-{self.id}-{base}", type or "unspecified")
        if add == "file":
            artifact.add_file(path)
        elif add == "dir":
            artifact.add_dir(path)
        else:
            artifact.add_reference(path)
        return artifact

    def log_model(self, path: StrPath, name: str | None = None, aliases: list[str] | None = None) -> None:
        """Log the file or folder at ``path`` as a ``model`` artifact of this run (W&B's ``Run.log_model``).

        ``name`` defaults to ``run-<run id>-<basename of path>``. Returns
        None, as W&B does; the version is the newest of that name.
        """
        self._check_open("log a model")
        self.log_artifact(self._as_artifact(path, name, "model"), aliases=aliases)

    def use_model(self, name: str) -> str:
        """Download a model artifact (used by this run) and return its local path (W&B's ``Run.use_model``).

        A folder holding a single file gives that file's path. W&B refuses an
        artifact whose type does not contain ``model`` with ``AssertionError``;
        so does localreg (and records no use).
        """
        self._check_open("use a model")
        v = versions.resolve(self._store, name, entity=self.entity, project=self.project)
        if "model" not in v.type.lower():
            raise AssertionError(
                "You can only use this method for 'model' artifacts. For an artifact to be a 'model' artifact, "
                f"its type property must contain the substring 'model' ({v.qualified_name} has type {v.type!r})."
            )
        path = self.use_artifact(Artifact._from_version(self._store, v)).download()
        found = os.listdir(path)
        return os.path.join(path, found[0]) if len(found) == 1 else path

    def link_model(self, path: StrPath, registered_model_name: str, name: str | None = None,
                   aliases: list[str] | None = None) -> Artifact:
        """Log ``path`` as a model and link it to ``registered_model_name`` (W&B's ``Run.link_model``).

        As in W&B, the target is the project link collection
        ``<entity>/model-registry/<registered_model_name>``; an existing artifact
        ``name`` must be a model type (``AssertionError`` otherwise).
        """
        self._check_open("link a model")
        if not isinstance(registered_model_name, str) or len(registered_model_name.split("/")) != 1:
            raise AssertionError("Please provide only the name of the registered model. "
                                 "Do not append the entity or project name.")
        model_type = "model"
        if name is not None:
            try:
                existing = versions.resolve(self._store, f"{name}:latest", entity=self.entity, project=self.project)
            except (NotFound, InvalidInput):
                existing = None
            if existing is not None:
                if "model" not in existing.type.lower():
                    raise AssertionError(
                        "You can only use this method for 'model' artifacts. For an artifact to be a 'model' "
                        f"artifact, its type property must contain the substring 'model' ({existing.qualified_name} "
                        f"has type {existing.type!r})."
                    )
                model_type = existing.type
        artifact = self.log_artifact(self._as_artifact(path, name, model_type))
        return self.link_artifact(artifact, f"{self.entity}/model-registry/{registered_model_name}", aliases)

    def use_artifact(self, artifact_or_name: Artifact | str, type: str | None = None,
                     aliases: list[str] | None = None, use_as: str | None = None) -> Artifact:
        """Resolve ``name:alias`` (or a registry path) and record that this run used it."""
        self._check_open("use an artifact")
        if isinstance(artifact_or_name, Artifact):
            artifact = artifact_or_name
            if artifact._v is None:
                artifact._commit(None, entity=self.entity, project=self.project)
            v = artifact._v
        else:
            v = versions.resolve(self._store, artifact_or_name, entity=self.entity, project=self.project, type=type)
            artifact = Artifact._from_version(self._store, v)
        runs.record_use(self._store, self._info.pk, v)  # type: ignore[arg-type]
        return artifact

    def link_artifact(self, artifact: Artifact, target_path: str, aliases: list[str] | None = None) -> Artifact:
        """Link a version (logging a draft first) into ``[ORG/]wandb-registry-R/COLLECTION``, or into a
        link collection of a project: ``COLLECTION`` or ``PROJECT/COLLECTION`` (this run's entity and
        project fill what the path leaves out, as in W&B) or ``ENTITY/PROJECT/COLLECTION``."""
        self._check_open("link an artifact")
        if not isinstance(artifact, Artifact):
            raise InvalidInput(f"link_artifact takes a wandb.Artifact, not {type(artifact).__name__}")
        if artifact._v is None:
            names.parse_link_target(target_path)
            names.check_aliases(aliases)
            self.log_artifact(artifact)
        linked = registries.link(self._store, artifact._v, target_path, aliases,  # type: ignore[arg-type]
                                 entity=self.entity, project=self.project)
        return Artifact._from_version(self._store, linked)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Mark the run finished (or failed with a non-zero exit code); idempotent."""
        global _active
        if not self._finished:
            runs.update_run(self._store, self._info.pk, state="failed" if exit_code else "finished",
                            summary=self.summary)
            self._finished = True
        with _lock:
            if _active is self:
                _active = None

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(exit_code=1 if exc_type is not None else 0)

    def __repr__(self) -> str:
        return f"<Run {self._info.path}>"


def init(entity: str | None = None, project: str | None = None, id: str | None = None,
         name: str | None = None, job_type: str | None = None, config: Any = None,
         settings: Any = None, mode: str | None = None, dir: str | None = None,
         reinit: Any = None, resume: Any = None, home: str | None = None, **kwargs: Any) -> Run:
    """Start a run (W&B's arguments are accepted; a given ``id`` resumes that run).

    ``resume`` as W&B: ``"must"`` fails unless run ``id`` exists, ``"never"``
    fails if it does, ``"allow"``/``"auto"``/``True`` resume it if it
    exists. The store is ``home`` (or ``settings["home"]``), else ``$LOCALREG_HOME``,
    else the user data folder. An active run is finished first.
    """
    global _active
    if home is None and isinstance(settings, dict):
        home = settings.get("home")
    store = open_store(home)
    if config is not None and not isinstance(config, dict):
        config = dict(vars(config)) if hasattr(config, "__dict__") else dict(config)
    info = runs.start_run(store, entity=entity, project=project, run_id=id, name=name,
                          job_type=job_type, config=config, resume=resume)
    run = Run(store, info)
    with _lock:
        previous = _active
    if previous is not None:
        try:
            previous.finish()
        except (LocalregError, sqlite3.Error):
            # the previous run's store is gone (a test's tmp dir, say): it
            # cannot be marked finished, which must not stop a new run
            pass
    with _lock:
        _active = run
    return run


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    if _active is not None:
        _active.finish(exit_code)


join = finish  # W&B's old name for finish, still called by integrations (spaCy's logger)


def _need_run(what: str) -> Run:
    if _active is None:
        raise RunStateError(f"You must call wandb.init() before wandb.{what}() (localreg.init())")
    return _active


def log(data: dict, step: int | None = None, commit: bool | None = None) -> None:
    _need_run("log").log(data, step, commit)


def log_artifact(artifact_or_path: Any, name: str | None = None, type: str | None = None,
                 aliases: list[str] | None = None, tags: list[str] | None = None) -> Artifact:
    return _need_run("log_artifact").log_artifact(artifact_or_path, name, type, aliases, tags)


def use_artifact(artifact_or_name: Any, type: str | None = None, aliases: list[str] | None = None) -> Artifact:
    return _need_run("use_artifact").use_artifact(artifact_or_name, type, aliases)


def link_artifact(artifact: Artifact, target_path: str, aliases: list[str] | None = None) -> Artifact:
    return _need_run("link_artifact").link_artifact(artifact, target_path, aliases)


def login(*args: Any, **kwargs: Any) -> bool:
    """W&B code logs in first; a local store needs no credentials, so this always succeeds."""
    return True
