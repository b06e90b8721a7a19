"""The ``wandb.*`` module paths that W&B code imports are localreg's own modules.

Failure class: a second copy of a localreg module under a ``wandb`` name
(its exceptions then miss localreg's), a W&B path that does not import, a
fixture that leaves ``sys.modules`` changed, and the surface integrations
call at module level or on the run (``wandb.join``, ``run.name = ...``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import localreg
from localreg.compat import ALIASES, LocalOnly

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_each_wandb_path_is_the_localreg_module(wandb_offline, alias):
    """Python `import wandb.X` (every path of localreg.compat.ALIASES): the very module localreg uses, not a copy."""
    module = importlib.import_module(alias)
    assert module is importlib.import_module(ALIASES[alias])
    assert sys.modules[alias] is module
    # the module keeps its own name and spec: reload() and pickle see localreg's module
    assert module.__name__ == ALIASES[alias] and module.__spec__.name == ALIASES[alias]


def test_a_wandb_error_catches_what_localreg_raises(wandb_offline):
    """W&B `except wandb.errors.X` around `wandb.Api().artifact(missing)`: catches localreg's own exception class."""
    import wandb.errors
    import wandb.sdk.artifacts.exceptions  # W&B's path for ArtifactFinalizedError and ArtifactNotLoggedError

    assert wandb.errors is localreg.errors is sys.modules["localreg.errors"] is wandb.sdk.artifacts.exceptions
    with pytest.raises(wandb.errors.NotFound) as caught:
        wandb.Api().artifact("test-team/test-project/missing:v0")
    assert type(caught.value) is localreg.errors.NotFound
    assert localreg.errors.__spec__.name == "localreg.errors"


def test_the_classes_integrations_import_are_localregs(wandb_offline):
    """W&B paths `wandb.sdk.artifacts.artifact.Artifact`, `wandb.wandb_run.Run`, `wandb.apis.public.Api`, `wandb.data_types.WBValue`."""
    from wandb.apis.public import Api
    from wandb.data_types import WBValue
    from wandb.sdk import launch, lib
    from wandb.sdk.artifacts.artifact import Artifact
    from wandb.sdk.data_types import trace_tree
    from wandb.sdk.internal.internal_api import Api as InternalApi
    from wandb.sdk.lib import RunDisabled, telemetry
    from wandb.sdk.wandb_run import Run as SdkRun
    from wandb.wandb_run import Run

    assert Artifact is localreg.Artifact and Run is SdkRun is localreg.Run and Api is localreg.Api
    assert isinstance(localreg.Table(columns=["a"]), WBValue)
    assert launch is importlib.import_module("wandb.sdk.launch") is sys.modules["localreg.compat.launch"]
    assert lib is telemetry
    assert not isinstance(localreg.init(project="p"), RunDisabled)
    with telemetry.context(run=localreg.run) as tel:
        tel.feature.dagster_wandb = True  # integrations mark features; nothing is kept
    assert trace_tree.Span(name="s").name == "s"
    assert InternalApi(default_settings={"base_url": "x"}, load_settings=False).default_settings == {"base_url": "x"}


def test_no_localreg_file_is_loaded_twice(wandb_offline):
    """Python import system over every W&B path: each localreg file is in sys.modules once, under its localreg name."""
    for alias in ALIASES:
        importlib.import_module(alias)
    by_file: dict[str, set[int]] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(str(Path(localreg.__file__).parent)):
            by_file.setdefault(path, set()).add(id(module))
    assert {path for path, ids in by_file.items() if len(ids) > 1} == set()


def test_the_alias_table_never_shadows_a_localreg_attribute():
    """Python import system setattr(parent, child) for `wandb.P.C`: the parent's C, if any, is C's module already."""
    for alias, target in ALIASES.items():
        parent, _, child = alias.rpartition(".")
        if not parent:
            continue
        parent_module = importlib.import_module(ALIASES[parent])
        existing = parent_module.__dict__.get(child)
        # absent, or the module of that W&B path (by name: pytester may have dropped an earlier copy)
        assert existing is None or getattr(existing, "__name__", None) == target, alias
        assert hasattr(parent_module, "__path__"), f"{ALIASES[parent]} must be a package for {alias}"


def test_an_unknown_wandb_path_is_a_clear_error(wandb_offline):
    """Python `import wandb.sdk.verify` (a W&B module localreg lacks): ModuleNotFoundError naming it, no copy loaded."""
    import wandb.sdk  # noqa: F401  (the parent imports; only the missing child fails)

    before = set(sys.modules)
    with pytest.raises(ModuleNotFoundError, match=r"No module named 'wandb\.sdk\.verify': localreg stands in"):
        importlib.import_module("wandb.sdk.verify")
    with pytest.raises(ModuleNotFoundError, match="'wandb.api'"):
        importlib.import_module("wandb.api")  # localreg/sdk/api.py exists: it must not load as wandb.api
    assert set(sys.modules) - before == set()


def test_stand_ins_say_what_localreg_cannot_do(wandb_offline):
    """W&B `wandb.sdk.launch.launch_add`, `WBTraceTree`, internal `Api` members: import, then raise a clear error when used."""
    from wandb.sdk.data_types.trace_tree import WBTraceTree
    from wandb.sdk.internal.internal_api import Api
    from wandb.sdk.launch import launch, launch_add

    for call in (lambda: launch(uri="x"), lambda: launch_add(uri="x", queue_name="q")):
        with pytest.raises(LocalOnly, match="W&B Launch runs jobs through a W&B server"):
            call()
    with pytest.raises(LocalOnly, match="trace trees are shown by W&B's web app"):
        WBTraceTree(root_span=None)
    with pytest.raises(LocalOnly, match=r"internal_api\.Api\.upsert_run is not available in localreg"):
        Api().upsert_run(name="r")
    assert isinstance(LocalOnly("x"), NotImplementedError)


def test_import_localreg_as_wandb_has_wandbs_submodules():
    """W&B attributes `wandb.errors`, `wandb.data_types`, `wandb.util`, `wandb.join` on `import localreg as wandb`, no aliasing."""
    import localreg as wandb

    assert wandb.errors is sys.modules["localreg.errors"]
    assert wandb.data_types.WBValue is wandb.sdk.table.WBValue
    assert len(wandb.util.generate_id()) == 8
    assert wandb.join is wandb.finish and wandb.wandb_run.Run is wandb.Run


def test_the_fixture_leaves_sys_modules_as_it_found_it(pytester):
    """localreg's `wandb_offline` fixture: every wandb entry of sys.modules, and localreg's modules, are as before."""
    pytester.makepyfile(
        """
        import sys
        import localreg.errors

        SNAP = {}

        def _state():
            return ({k: id(v) for k, v in sys.modules.items() if k == "wandb" or k.startswith("wandb.")},
                    {k: id(v) for k, v in sys.modules.items() if k.startswith("localreg")},
                    id(localreg.errors), [f for f in sys.meta_path if type(f).__name__ == "WandbFinder"])

        def test_a_before():
            SNAP["before"] = _state()

        def test_b_imports_everything(wandb_offline):
            import wandb.errors, wandb.sdk.launch, wandb.sdk.artifacts.artifact, wandb.sdk.lib.telemetry
            from wandb.sdk.internal.internal_api import Api
            from wandb.data_types import WBValue
            assert wandb.errors is localreg.errors

        def test_c_after():
            wandb_after, localreg_after, errors_after, finders = _state()
            wandb_before, localreg_before, errors_before, finders_before = SNAP["before"]
            assert wandb_after == wandb_before == {}
            assert errors_after == errors_before
            assert finders == finders_before
            # modules localreg loaded lazily during the test stay; none was replaced
            assert {k: v for k, v in localreg_after.items() if k in localreg_before} == localreg_before
            assert all(m.__name__.startswith("localreg") for k, m in sys.modules.items() if k.startswith("localreg"))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_as_wandb_outside_pytest_makes_import_wandb_localreg(tmp_path):
    """localreg `as_wandb()` in a plain script: `import wandb` and its submodules are localreg's modules."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(
        """
        import localreg
        localreg.as_wandb()
        import wandb, wandb.errors
        from wandb.sdk.artifacts.artifact import Artifact
        run = wandb.init(project="p", id="r1", resume="allow")
        a = wandb.Artifact("m", "model")
        with a.new_file("w.bin", "wb") as f:
            f.write(b"w")
        wandb.log_artifact(a, aliases=["", "best"])
        wandb.join()
        try:
            wandb.Api().artifact("p/m:nope")
        except wandb.errors.NotFound as e:
            print("caught", type(e).__module__)
        print(wandb is localreg, Artifact is localreg.Artifact, wandb.Api().artifact("p/m:best").aliases)
        """
    ))
    env = _env()
    env["LOCALREG_HOME"] = str(tmp_path / "home")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["caught localreg.errors", "True True ['latest', 'best']"]


def test_the_docs_script_example_runs(tmp_path):
    """docs/integrations.md "In a script": the example runs as shown and prints the logged version."""
    page = (ROOT / "docs" / "integrations.md").read_text()
    section = page.split("## In a script", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.py").write_text(code)
    env = _env()
    env["LOCALREG_HOME"] = str(tmp_path / "home")
    out = subprocess.run([sys.executable, "example.py"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "v0\n"


def test_localreg_run_runs_a_script_with_wandb_as_localreg(tmp_path):
    """localreg CLI `localreg run script.py ARGS`: the script's (and its libraries') `import wandb` gives localreg."""
    (tmp_path / "lib_that_uses_wandb.py").write_text("import wandb\n\ndef which():\n    return wandb.__name__\n")
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(
        """
        import subprocess, sys
        import lib_that_uses_wandb
        print(lib_that_uses_wandb.which(), sys.argv[1:], __name__)
        # a child process (a Dagster step, a multiprocessing worker) gets localreg too
        child = "import wandb, wandb.errors, localreg; print(wandb.__name__, wandb.errors is localreg.errors)"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout.strip())
        sys.exit(3)
        """
    ))
    env = _env()
    env["LOCALREG_HOME"] = str(tmp_path / "home")
    out = subprocess.run([sys.executable, "-m", "localreg", "run", str(script), "--epochs", "2"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.stdout.splitlines() == ["localreg ['--epochs', '2'] __main__", "localreg True"]
    assert out.returncode == 3, out.stderr
    missing = subprocess.run([sys.executable, "-m", "localreg", "run", str(tmp_path / "nope.py")],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "nope.py" in missing.stderr


def test_the_shim_folder_on_pythonpath_makes_wandb_localreg(tmp_path):
    """localreg `SHIM_DIR` first on PYTHONPATH (for `dagster dev` and other launchers): any process's `import wandb` is localreg."""
    from localreg.compat import SHIM_DIR

    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([SHIM_DIR, env["PYTHONPATH"]])
    code = ("import sys, wandb, localreg; from wandb.sdk.lib import telemetry; "
            "print(wandb is localreg, sys.modules['wandb'] is localreg, 'localreg.compat.shim.wandb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.stdout == "True True False\n", out.stderr


# -- what integrations call on the module and on the run ---------------------------------


def test_join_is_finish_and_termlog_prints_to_stderr(wandb_offline, localreg_api, capsys, monkeypatch):
    """W&B `wandb.join()` (spaCy's logger ends with it) and `wandb.termlog`/`termwarn`/`termerror`."""
    import wandb

    run = wandb.init(project="p", id="joined")
    wandb.join()
    assert wandb.run is None
    assert localreg_api.run("test-team/p/joined").state == "finished"
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    wandb.termlog("hello")
    wandb.termwarn("careful")
    wandb.termerror("broken")
    assert capsys.readouterr().err == "localreg: hello\nlocalreg: WARNING careful\nlocalreg: ERROR broken\n"
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb.termlog("quiet")
    assert capsys.readouterr().err == ""
    assert run.id == "joined"


def test_run_name_url_settings_and_label(wandb_offline, localreg_api):
    """W&B `wandb.run.name = ...` (spaCy), `run.url`, `run.settings.run_url`, `run._label(...)` (transformers, Lightning)."""
    import wandb

    run = wandb.init(project="p", id="r7")
    wandb.run.name = "renamed"
    assert run.name == "renamed" and localreg_api.run("test-team/p/r7").name == "renamed"
    assert run.url == run.settings.run_url == "localreg://test-team/p/runs/r7"
    assert run.settings.run_id == "r7" and run.settings.mode == "offline"
    assert run._label(code="dagster_wandb", repo="x") is None
    with pytest.raises(ValueError, match="run name must be a string"):
        run.name = 3


@pytest.mark.parametrize("resume", ["allow", "auto", True, None])
def test_init_resume_allow_continues_the_run(wandb_offline, localreg_api, resume):
    """W&B `wandb.init(id=..., resume="allow")` (Dagster's IO manager): one run, resumed when it exists, made when not."""
    import wandb

    first = wandb.init(project="p", id="dagster-1", resume=resume, config={"a": 1})
    first.finish()
    again = wandb.init(project="p", id="dagster-1", resume=resume, config={"b": 2})
    assert again.id == "dagster-1" and dict(again.config) == {"a": 1, "b": 2}
    again.finish()
    assert [r.id for r in [localreg_api.run("test-team/p/dagster-1")]] == ["dagster-1"]


def test_init_resume_must_and_never(wandb_offline, localreg_api):
    """W&B `wandb.init(resume="must")` needs the run, `resume="never"` refuses it; a bad value is refused; nothing written."""
    import wandb

    with pytest.raises(LookupError, match=r"resume='must' but run \(r1\) doesn't exist"):
        wandb.init(project="p", id="r1", resume="must")
    with pytest.raises(LookupError):
        localreg_api.run("test-team/p/r1")
    wandb.init(project="p", id="r1", resume="never").finish()
    with pytest.raises(ValueError, match=r"resume='never' but run \(r1\) already exists"):
        wandb.init(project="p", id="r1", resume="never")
    assert wandb.init(project="p", id="r1", resume="must").id == "r1"
    with pytest.raises(ValueError, match="invalid resume 'sometimes'"):
        wandb.init(project="p", id="r2", resume="sometimes")
    with pytest.raises(ValueError, match="resume='must' needs the id"):
        wandb.init(project="p", resume="must")


def test_an_empty_alias_names_nothing(wandb_offline, localreg_api, tmp_path):
    """W&B `run.log_artifact(a, aliases=["", ...])` (spaCy's checkpoints): accepted, the empty alias is not stored."""
    import wandb

    run = wandb.init(project="p")
    (tmp_path / "f.txt").write_text("x")
    a = wandb.Artifact("ckpt", "checkpoint")
    a.add_file(str(tmp_path / "f.txt"))
    logged = run.log_artifact(a, aliases=["epoch 1 step 2", "latest", ""])
    assert sorted(logged.aliases) == ["epoch 1 step 2", "latest"]
    b = wandb.Artifact("other", "checkpoint")
    b.add_file(str(tmp_path / "f.txt"))
    assert run.log_artifact(b, aliases="").aliases == ["latest"]
    assert localreg_api.artifact("p/ckpt:epoch 1 step 2").version == "v0"
    with pytest.raises(ValueError, match="invalid alias 'a/b'"):
        run.log_artifact(wandb.Artifact("third", "checkpoint"), aliases=["", "a/b"])


def test_helpers_w_and_b_tests_import(wandb_offline, tmp_path, monkeypatch):
    """W&B paths `wandb.env`, `wandb._strutils`, `wandb.sdk.artifacts._validators`, `wandb.sdk.lib.hashutil`, `wandb.util`."""
    import hashlib

    from wandb import env
    from wandb._strutils import b64decode_ascii, nameof
    from wandb.sdk.artifacts._validators import REGISTRY_PREFIX, FullArtifactPath, remove_registry_prefix
    from wandb.sdk.lib.hashutil import md5_file_hex
    from wandb.util import random_string

    monkeypatch.setenv("WANDB_ARTIFACT_DIR", "dl")
    assert env.get_artifact_dir() == str(tmp_path / "dl")
    assert env.get_artifact_dir({}) == str(tmp_path / "artifacts")
    assert b64decode_ascii("UHJvamVjdDox") == "Project:1" and nameof(FullArtifactPath) == "FullArtifactPath"
    assert (REGISTRY_PREFIX, remove_registry_prefix("wandb-registry-model"), remove_registry_prefix("p")) == (
        "wandb-registry-", "model", "p")
    assert FullArtifactPath.from_str("e/p/n:v0") == FullArtifactPath("e", "p", "n:v0")
    with pytest.raises(ValueError):
        FullArtifactPath.from_str("n:v0")
    (tmp_path / "f").write_bytes(b"abc")
    assert md5_file_hex(tmp_path / "f") == hashlib.md5(b"abc").hexdigest()
    assert len(random_string(8)) == 8


def test_registry_paths_w_and_b_code_imports(wandb_offline, localreg_store):
    """W&B paths `wandb.apis.public.registries.registry.Registry`, `..._utils.fetch_org_entity_from_organization`."""
    import wandb
    from wandb.apis.public.registries._utils import fetch_org_entity_from_organization
    from wandb.apis.public.registries.registry import Registry

    reg = wandb.Api().registry("model", organization=localreg_store.default("org"))
    assert isinstance(reg, Registry) and Registry is localreg.Registry
    org = localreg_store.default("org")
    assert fetch_org_entity_from_organization(wandb.Api().client, org) == org
    with pytest.raises(ValueError, match="^Organization entity for 'nope' not found."):
        fetch_org_entity_from_organization(wandb.Api().client, "nope")
