"""``wandb.sdk.artifacts._validators`` and ``._gqlutils``: the helpers W&B code imports from them.

Names and paths follow localreg's one ref grammar (:mod:`localreg.names`);
the GraphQL helpers answer for localreg, which has no server schema to ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import names

REGISTRY_PREFIX = names.REGISTRY_PREFIX


def remove_registry_prefix(project: str) -> str:
    """``wandb-registry-model`` -> ``model``; other names as they are."""
    return project[len(REGISTRY_PREFIX):] if project.startswith(REGISTRY_PREFIX) else project


def is_artifact_registry_project(project: str) -> bool:
    return project.startswith(REGISTRY_PREFIX)


@dataclass(frozen=True)
class FullArtifactPath:
    """``entity/project/name`` (W&B calls the entity ``prefix``)."""

    prefix: str
    project: str
    name: str

    @classmethod
    def from_str(cls, path: str) -> "FullArtifactPath":
        ref = names.parse_ref(path)
        if ref.scope is None or ref.project is None:
            raise ValueError(f"Invalid artifact path: {path!r} is not ENTITY/PROJECT/NAME[:VERSION]")
        name = ref.name if ref.alias is None else f"{ref.name}:{ref.alias}"
        return cls(ref.scope, ref.project, name)

    def to_str(self) -> str:
        return f"{self.prefix}/{self.project}/{self.name}"


# -- _gqlutils: what W&B asks its server's schema --------------------------------------------------

_FIELDS = {
    "Artifact": {"id", "name", "description", "metadata", "aliases", "tags", "ttlDurationSeconds",
                 "historyStep", "state", "size", "digest", "createdAt", "updatedAt", "fileCount"},
    "Project": {"id", "name", "entityName", "createdAt", "updatedAt", "description", "allowAllArtifactTypesInRegistry"},
}


def allowed_fields(client: Any, typename: str) -> set[str]:
    """The fields localreg supports on a W&B type (W&B asks its server; there is none here)."""
    return set(_FIELDS.get(typename, ()))


def server_supports(client: Any, feature: Any) -> bool:
    """Every feature localreg has is always there."""
    return True


def is_project_read_only(*args: Any, **kwargs: Any) -> bool:
    """No project of a localreg store is read-only by server policy (registry roles apply instead)."""
    return False
