"""The pytest plugin, tested the way its users meet it: throwaway projects run by ``pytester``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules a run imported when it ends, while
# localreg's lazily loaded names stay cached: import the modules here first, so
# every run shares one copy of each class (and of the active run)
import localreg.pytest_plugin  # noqa: F401
import localreg.sdk  # noqa: F401
import localreg.seed  # noqa: F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
BASIC_SEED = (ROOT / "fixtures" / "seeds" / "basic.toml").read_text(encoding="utf-8")

# A stand-in for the real wandb package: it would need a server, so using it fails the test.
FAKE_WANDB = '''
"""Not localreg: calling this means the code under test reached the real wandb."""
def init(*args, **kwargs):
    raise RuntimeError("the real wandb was called")
class Api:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("the real wandb was called")
'''


@pytest.fixture
def project(pytester):
    """A throwaway project that turns every warning into an error, as localreg's own suite does."""
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    return pytester


def test_each_fixture_in_a_throwaway_project(project):
    project.makefile(".toml", seed=BASIC_SEED)
    project.makepyfile(
        """
        import os

        import fsspec
        import pytest

        import localreg
        from localreg.seed import SeedError

        BEFORE = dict(os.environ)
        ROOTS = []

        def test_home_and_env(localreg_home, tmp_path):
            assert localreg_home.parent == tmp_path
            assert (localreg_home / "localreg.db").exists()
            assert os.environ["LOCALREG_HOME"] == str(localreg_home)
            assert os.environ["WANDB_ORGANIZATION"] == "test-org"
            assert os.environ["WANDB_ENTITY"] == "test-team"
            assert os.environ["WANDB_PROJECT"] == "test-project"
            assert "LOCALREG_PROJECT" not in os.environ

        def test_env_is_restored():
            for var in ("LOCALREG_HOME", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_ORGANIZATION", "LOCALREG_PROJECT"):
                assert os.environ.get(var) == BEFORE.get(var), var

        def test_store_and_api(localreg_store, localreg_api, localreg_home):
            assert localreg_store.home == localreg_home
            assert localreg_store is localreg.open_store()
            assert localreg_store.blob_url.startswith("memory://")
            assert localreg_api.store is localreg_store
            assert localreg_store.default("project") == "test-project"
            ROOTS.append(localreg_store.blobs.root)
            assert [r.name for r in localreg_api.registries()] == ["dataset", "model"]

        def test_make_artifact(make_artifact, localreg_api):
            model = make_artifact("clf", "model", files={"w.bin": b"\\x00\\x01", "cfg.json": '{"a": 1}'},
                                  metadata={"acc": 0.9}, aliases=["best"], tags=["small"])
            assert model.qualified_name == "test-team/test-project/clf:v0"
            assert sorted(model.aliases) == ["best", "latest"] and model.tags == ["small"]
            linked = make_artifact("clf", "model", files={"w.bin": b"\\x02"}, link_to="wandb-registry-model/clf",
                                   link_aliases=["production"])
            assert linked.is_link and linked.source_artifact.version == "v1"
            got = localreg_api.artifact("wandb-registry-model/clf:production")
            assert got.source_qualified_name == "test-team/test-project/clf:v1"
            ROOTS.append(localreg_api.store.blobs.root)

        def test_every_test_has_a_fresh_store_and_no_leftover_blobs(make_artifact, localreg_api):
            memory = fsspec.filesystem("memory")
            assert len(ROOTS) == 2
            for root in ROOTS:
                assert not [k for k in memory.store if k.startswith(root + "/")]
                assert not [d for d in memory.pseudo_dirs if d.startswith(root + "/")]
            assert not localreg_api.artifact_exists("clf:v0")
            assert make_artifact("clf", "model", files={"w.bin": b"x"}).version == "v0"
            assert localreg_api.artifact("clf:v0").files()[0].download is not None

        def test_seed(localreg_seed, localreg_api):
            result = localreg_seed("seed.toml")
            assert result.links == ("acme/wandb-registry-model/mnist:v0", "acme/wandb-registry-dataset/mnist:v0")
            prod = localreg_api.artifact("acme/wandb-registry-model/mnist:production")
            assert prod.metadata["accuracy"] == 0.95
            with pytest.raises(SeedError, match=r"artifacts\\[0\\]: missing key 'type'"):
                localreg_seed({"artifacts": [{"name": "x"}]})

        @pytest.mark.localreg(blobs="disk", org="my-org", project="p")
        def test_disk_marker(localreg_store, localreg_home):
            assert localreg_store.blob_url == str(localreg_home / "blobs")
            assert (localreg_store.default("org"), localreg_store.default("project")) == ("my-org", "p")

        @pytest.mark.localreg(entity="someone")
        def test_memory_marker(localreg_store, localreg_api):
            assert localreg_store.default("entity") == "someone"
            assert localreg_store.default("org") == "test-org"
            assert localreg_api.default_entity == "someone"

        @pytest.mark.parametrize("localreg_home", ["memory", "disk"], indirect=True)
        def test_indirect(localreg_store, localreg_home):
            assert localreg_store.blob_url.startswith("memory://") or localreg_store.blob_url.startswith(str(localreg_home))

        def test_a_run_left_active_does_not_leak(localreg_home):
            localreg.init(project="leaky")
            assert localreg.run is not None

        def test_next_test_starts_without_a_run(localreg_home):
            assert localreg.run is None
        """
    )
    result = project.runpytest("-v")
    result.assert_outcomes(passed=12)


TOOL = '''
import wandb


def publish(model_dir, accuracy):
    """Log a model folder; link it to the model registry when it is good enough."""
    run = wandb.init(project="mnist", job_type="publish", config={"accuracy": accuracy})
    model = wandb.Artifact("mnist-cnn", type="model", metadata={"accuracy": accuracy})
    model.add_dir(str(model_dir))
    run.log_artifact(model, aliases=["candidate"])
    if accuracy >= 0.9:
        run.link_artifact(model, "wandb-registry-model/mnist", aliases=["production"])
    run.finish()
    return model


def production_weights(root):
    api = wandb.Api()
    run = wandb.init(project="serving", job_type="deploy")
    artifact = run.use_artifact("wandb-registry-model/mnist:production")
    path = artifact.download(str(root))
    run.finish()
    return path
'''


def test_wandb_offline_runs_code_that_imports_wandb(project):
    project.makepyfile(mytool=TOOL)
    project.makepyfile(
        test_tool="""
        import sys
        from pathlib import Path

        def test_publish_and_link(wandb_offline, localreg_api, tmp_path):
            import mytool  # imports wandb: localreg, while wandb_offline is active
            (tmp_path / "model").mkdir()
            (tmp_path / "model" / "w.bin").write_bytes(b"weights")
            mytool.publish(tmp_path / "model", 0.95)
            prod = localreg_api.artifact("wandb-registry-model/mnist:production")
            assert prod.metadata == {"accuracy": 0.95}
            assert prod.source_qualified_name == "test-team/mnist/mnist-cnn:v0"
            assert prod.logged_by().job_type == "publish"
            out = mytool.production_weights(tmp_path / "out")
            assert (Path(out) / "w.bin").read_bytes() == b"weights"
            assert [r.job_type for r in prod.used_by()] == ["deploy"]
            assert sys.modules["wandb"] is wandb_offline

        def test_weak_model_is_not_linked(wandb_offline, localreg_api, tmp_path):
            import mytool
            (tmp_path / "model").mkdir()
            (tmp_path / "model" / "w.bin").write_bytes(b"weak")
            mytool.publish(tmp_path / "model", 0.5)
            assert localreg_api.artifact("mnist/mnist-cnn:candidate").version == "v0"
            assert not localreg_api.artifact_collection_exists("wandb-registry-model/mnist")

        def test_wandb_is_gone_afterwards():
            assert "wandb" not in sys.modules
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=3)
    assert "wandb" not in sys.modules


def test_wandb_offline_stands_in_for_an_installed_wandb(project):
    project.mkpydir("wandb").joinpath("__init__.py").write_text(FAKE_WANDB)
    project.makepyfile(mytool=TOOL)
    project.makepyfile(
        test_tool="""
        import sys

        import pytest
        import wandb as real_wandb
        import mytool  # bound to the "real" wandb at import time

        def test_real_wandb_would_be_called():
            with pytest.raises(RuntimeError, match="real wandb"):
                mytool.publish(".", 0.95)

        def test_offline(wandb_offline, localreg_api, tmp_path):
            assert mytool.wandb is wandb_offline
            (tmp_path / "m").mkdir()
            (tmp_path / "m" / "w.bin").write_bytes(b"w")
            mytool.publish(tmp_path / "m", 0.95)
            assert localreg_api.artifact("wandb-registry-model/mnist:production").version == "v0"

        def test_restored():
            assert mytool.wandb is real_wandb
            assert sys.modules["wandb"] is real_wandb
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_plugin_can_be_turned_off(project):
    project.makepyfile("def test_x(localreg_store):\n    pass\n")
    result = project.runpytest("-p", "no:localreg")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'localreg_store' not found*"])


def test_a_bad_marker_is_a_usage_error(project):
    project.makepyfile(
        """
        import pytest

        @pytest.mark.localreg(blobs="s3")
        def test_x(localreg_store):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*localreg blobs must be 'memory' or 'disk', not 's3'*"])


def test_runs_under_xdist(project):
    project.makepyfile(mytool=TOOL)
    project.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("i", range(8))
        def test_own_store(make_artifact, localreg_api, i):
            # every test logs v0 of the same name: a shared store would give v1, v2...
            a = make_artifact("shared-name", "model", files={"i.txt": str(i)}, link_to="wandb-registry-model/m")
            assert a.version == "v0" and a.source_artifact.version == "v0"
            assert len(localreg_api.artifacts("model", "shared-name")) == 1

        @pytest.mark.parametrize("i", range(4))
        def test_offline(wandb_offline, localreg_api, tmp_path, i):
            import mytool
            (tmp_path / "m").mkdir()
            (tmp_path / "m" / "w.bin").write_bytes(str(i).encode())
            mytool.publish(tmp_path / "m", 0.99)
            assert localreg_api.artifact("wandb-registry-model/mnist:latest").version == "v0"

        def test_workers():
            assert os.environ.get("PYTEST_XDIST_WORKER") in ("gw0", "gw1")
        """
    )
    result = project.runpytest_subprocess("-n", "2", "-p", "no:benchmark")
    result.assert_outcomes(passed=13)
    result.stdout.fnmatch_lines(["*2 workers*"])


# The worked example of docs/testing.md (a tool, its tests, their seed file) is run as written,
# as a throwaway project, by tests/test_docs.py.
