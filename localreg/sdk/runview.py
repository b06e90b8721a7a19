"""What an active ``Run`` and a run read back (``ApiRun``) have in common."""

from __future__ import annotations

from .. import runs, versions
from ..store import Store
from .artifact import Artifact


class RunView:
    """Read access to one run of a store: its names and the artifacts it logged and used."""

    def __init__(self, store: Store, info: runs.RunInfo) -> None:
        self._store = store
        self._info = info

    id = property(lambda self: self._info.id)
    entity = property(lambda self: self._info.entity)
    project = property(lambda self: self._info.project)
    name = property(lambda self: self._info.name)
    job_type = property(lambda self: self._info.job_type)

    def _artifacts(self, direction: str) -> list[Artifact]:
        return [Artifact._from_version(self._store, versions.get(self._store, vid))
                for vid in runs.run_versions(self._store, self._info.pk, direction)]

    def logged_artifacts(self) -> list[Artifact]:
        return self._artifacts("output")

    def used_artifacts(self) -> list[Artifact]:
        return self._artifacts("input")
