"""Exceptions: W&B's classes at W&B's paths, raised where W&B raises them; localreg's classes derive from them."""

from __future__ import annotations

import pytest

import localreg as wandb
from compat_fixtures import api, run  # noqa: F401  (pytest fixtures)
import localreg.errors as errors
from localreg.errors import LocalregError, NotFound


def _log(run, name="ds", type="dataset", text="x", **kw):
    a = wandb.Artifact(name, type)
    with a.new_file("f.txt") as f:
        f.write(text)
    return run.log_artifact(a, **kw)


def test_classes_at_wandb_paths():
    """wandb.Error, wandb.CommError, wandb.errors.UsageError, wandb.sdk.artifacts.exceptions.*: importable from localreg."""
    assert wandb.Error is errors.Error and wandb.CommError is errors.CommError and wandb.UsageError is errors.UsageError
    assert wandb.errors.CommError is errors.CommError
    for name in ("ArtifactStatusError", "ArtifactNotLoggedError", "ArtifactFinalizedError"):
        assert issubclass(getattr(errors, name), AttributeError)


def test_missing_artifact_from_api_is_comm_error(run, api):
    """Api.artifact (normalize_exceptions): a missing artifact is wandb.errors.CommError, and localreg's NotFound."""
    _log(run)
    for form in (errors.CommError, NotFound, LookupError):
        with pytest.raises(form):
            api.artifact("team/demo/ds:v7")


def test_use_artifact_missing_is_value_error(run):
    """Run.use_artifact (Api._artifact, no normalization): a missing name is ValueError."""
    with pytest.raises(ValueError):
        run.use_artifact("nothing-here:latest")


def test_registry_missing_is_value_error(api):
    """Api.registry -> Registry.load: 'Failed to load registry ...' as ValueError."""
    with pytest.raises(ValueError, match="^Failed to load registry 'ghost'"):
        api.registry("ghost", organization=api.store.default("org"))


def test_editing_logged_files_is_finalized_error(run, tmp_path):
    """Artifact.add_file/new_file/remove/add/__setitem__ on a logged artifact: ArtifactFinalizedError (an AttributeError)."""
    logged = _log(run)
    (tmp_path / "g.txt").write_text("g")
    with pytest.raises(errors.ArtifactFinalizedError) as exc:
        with logged.new_file("g.txt"):
            pass
    assert isinstance(exc.value, LocalregError) and isinstance(exc.value, AttributeError)
    with pytest.raises(errors.ArtifactFinalizedError):
        logged.add_file(tmp_path / "g.txt")
    with pytest.raises(errors.ArtifactFinalizedError):
        logged.remove("f.txt")
    with pytest.raises(errors.ArtifactFinalizedError):
        logged["s"] = wandb.Table(columns=["a"], data=[])
    assert [f.path for f in logged.files()] == ["f.txt"]


def test_delete_with_aliases_is_comm_error(run):
    """Artifact.delete without delete_aliases on an aliased version: CommError (W&B's server refuses)."""
    logged = _log(run, aliases=["best"])
    with pytest.raises(errors.CommError):
        logged.delete()
    logged.delete(delete_aliases=True)


def test_invalid_tag_wording(run):
    """Run.log_artifact(tags=...) / validate_tags: ValueError starting 'Invalid tag'; nothing is logged."""
    for bad in ("", " ", "trailing ", "!bad:tag"):
        a = wandb.Artifact("tagged", "dataset")
        with a.new_file("f.txt") as f:
            f.write(bad)
        with pytest.raises(ValueError, match="^Invalid tag"):
            run.log_artifact(a, tags=[bad])
    assert not wandb.Api().artifact_exists("team/demo/tagged:v0")


def test_registry_wording(api):
    """Api.create_registry / Registry.save: W&B's wording (please use a different name, Invalid visibility, ...)."""
    org = api.store.default("org")
    api.create_registry("dup", visibility="organization", organization=org)
    with pytest.raises(ValueError, match="please use a different name"):
        api.create_registry("dup", visibility="organization", organization=org)
    with pytest.raises(ValueError, match="^Invalid visibility"):
        api.create_registry("x", visibility="invalid", organization=org)
    with pytest.raises(ValueError, match="^Invalid project/registry name"):
        api.create_registry("::::????", visibility="organization", organization=org)
    with pytest.raises(ValueError, match="^Artifact types must not contain any of the"):
        api.create_registry("typed", visibility="organization", organization=org, artifact_types=["::///"])
    reg = api.registry("dup", org)
    reg.name = "p" * 200
    with pytest.raises(ValueError, match="must be 113 characters or less"):
        reg.save()
    reg = api.registry("dup", org)
    reg.artifact_types.append("model")
    with pytest.raises(ValueError, match="^Cannot update artifact types when `allows_all_artifact_types` is True"):
        reg.save()
    assert [r.name for r in api.registries(org, filter={"name": "typed"})] == []  # nothing was written


def test_delete_registry_twice(api):
    """Registry.delete then load/delete: 'Failed to load registry' / 'Failed to delete registry' (ValueError)."""
    org = api.store.default("org")
    reg = api.create_registry("gone", visibility="organization", organization=org)
    reg.delete()
    with pytest.raises(ValueError, match="^Failed to load registry"):
        reg.load()
    with pytest.raises(ValueError, match="^Failed to delete registry"):
        reg.delete()


def test_unlink_source_is_value_error(run):
    """Artifact.unlink on a source version: ValueError ('use Artifact.delete instead' in W&B)."""
    logged = _log(run)
    with pytest.raises(ValueError, match="delete"):
        logged.unlink()


def test_finished_run_is_usage_error(run):
    """Run methods after finish (@_raise_if_finished): wandb.errors.UsageError."""
    run.finish()
    with pytest.raises(errors.UsageError):
        _log(run)


def test_module_level_needs_init():
    """wandb.log_artifact before wandb.init (preinit): wandb.Error."""
    with pytest.raises(wandb.Error):
        wandb.log_artifact(wandb.Artifact("a", "dataset"))
