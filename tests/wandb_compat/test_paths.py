"""Paths: str, pathlib.Path and any os.PathLike everywhere W&B takes a path; W&B's download roots."""

from __future__ import annotations

import os
import pathlib

import pytest

import localreg as wandb
from compat_fixtures import api, run  # noqa: F401  (pytest fixtures)


class Where(os.PathLike):
    """A PathLike that is not a pathlib.Path (what some libraries pass)."""

    def __init__(self, path):
        self.path = str(path)

    def __fspath__(self):
        return self.path


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"weights")
    (root / "sub" / "cfg.json").write_text("{}")
    return root


@pytest.mark.parametrize("kind", [str, pathlib.Path, Where])
def test_add_file_add_dir_log_artifact_accept_pathlike(run, src, kind):
    """Artifact.add_file / add_dir, Run.log_artifact(path): str, pathlib.Path and os.PathLike."""
    a = wandb.Artifact("p", "model")
    a.add_file(kind(src / "model.bin"), name=kind("renamed.bin"))
    a.add_dir(kind(src / "sub"), name="cfg")
    logged = run.log_artifact(a)
    assert sorted(f.path for f in logged.files()) == ["cfg/cfg.json", "renamed.bin"]
    from_path = run.log_artifact(kind(src), name="whole", type="dataset")
    assert sorted(f.path for f in from_path.files()) == ["model.bin", "sub/cfg.json"]


def test_relative_paths(run, src, monkeypatch):
    """Artifact.add_file / download(root=): relative paths resolve against the working folder."""
    monkeypatch.chdir(src)
    a = wandb.Artifact("rel", "model")
    a.add_file("model.bin")
    logged = run.log_artifact(a)
    root = logged.download(root=pathlib.Path("out"))
    assert root == "out" and (src / "out" / "model.bin").read_bytes() == b"weights"


def test_default_root_is_absolute(run, src):
    """Artifact.download() / ArtifactManifestEntry.download(): default root ./artifacts/<name>:<version>, absolute."""
    a = wandb.Artifact("m", "model")
    a.add_file(src / "model.bin")
    logged = run.log_artifact(a)
    expect = os.path.abspath(os.path.join("artifacts", "m:v0"))
    assert logged.download() == expect and os.path.isabs(expect)
    assert logged.get_entry("model.bin").download() == os.path.join(expect, "model.bin")


def test_wandb_artifact_dir(run, src, tmp_path, monkeypatch):
    """$WANDB_ARTIFACT_DIR (wandb.env.get_artifact_dir): the default download root, made absolute."""
    monkeypatch.setenv("WANDB_ARTIFACT_DIR", "elsewhere")
    a = wandb.Artifact("m", "model")
    a.add_file(src / "model.bin")
    logged = run.log_artifact(a)
    assert logged.download() == os.path.abspath(os.path.join("elsewhere", "m:v0"))


@pytest.mark.parametrize("kind", [str, pathlib.Path, Where])
def test_download_and_file_root_pathlike(run, src, tmp_path, kind):
    """Artifact.download(root=) / file(root=) / get_entry().download(root=) / verify(root=): PathLike roots."""
    a = wandb.Artifact("one", "model")
    a.add_file(src / "model.bin")
    logged = run.log_artifact(a)
    root = tmp_path / "dl"
    assert logged.download(root=kind(root)) == str(root)
    logged.verify(root=kind(root))
    assert logged.file(root=kind(tmp_path / "f")) == str(tmp_path / "f" / "model.bin")
    assert logged.get_entry(pathlib.PurePosixPath("model.bin")).download(kind(tmp_path / "e")) == str(
        tmp_path / "e" / "model.bin")


def test_file_default_is_relative_like_wandb(run, src):
    """Artifact.file(): W&B builds the default path from the relative ./artifacts/<name>:<version>."""
    a = wandb.Artifact("one", "model")
    a.add_file(src / "model.bin")
    logged = run.log_artifact(a)
    assert logged.file() == os.path.join(".", "artifacts", "one:v0", "model.bin")


def test_bad_paths_write_nothing(run, tmp_path):
    """Run.log_artifact(path) of a missing path / Artifact.add_file(bytes): one ValueError, nothing logged."""
    with pytest.raises(ValueError, match="path must be a file, directory or external reference"):
        run.log_artifact(tmp_path / "missing", name="nothing", type="dataset")
    with pytest.raises(ValueError):
        wandb.Artifact("b", "model").add_file(b"/etc/hostname")
    assert not wandb.Api().artifact_exists("team/demo/nothing:v0")
