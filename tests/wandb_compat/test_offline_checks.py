"""W&B behaviour that needs no server, checked on localreg AND on the real wandb 0.31.

The checks live in offline_checks.py (one function each, docstring naming the
W&B function). Here each runs against ``localreg``; with
``LOCALREG_REAL_WANDB_PYTHON`` naming an interpreter that has ``wandb==0.31.*``
(``.ci/wandb-venv`` builds one), all of them also run there, in ONE subprocess
(wandb imports slowly), and each must hold there too: an assertion that fails
on W&B itself is wrong about W&B.
"""

from __future__ import annotations

import json
import os
import subprocess
import types

import pytest

import localreg as wandb
import localreg.errors
from offline_checks import CHECKS

REAL = os.environ.get("LOCALREG_REAL_WANDB_PYTHON")
HERE = os.path.dirname(__file__)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_on_localreg(name, tmp_path):
    """Each W&B offline behaviour of offline_checks.py holds for localreg."""
    CHECKS[name](types.SimpleNamespace(wandb=wandb, exceptions=localreg.errors), str(tmp_path))


@pytest.fixture(scope="module")
def real_results(tmp_path_factory):
    if not REAL:
        pytest.skip("LOCALREG_REAL_WANDB_PYTHON is not set: build the real wandb 0.31 with .ci/wandb-venv "
                    "and set it to the interpreter that script prints")
    base = tmp_path_factory.mktemp("real-wandb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "LOCALREG_"))}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(base), HOME=str(base),
               PYTHONPATH="")
    proc = subprocess.run([REAL, os.path.join(HERE, "offline_checks.py"), str(base)], cwd=str(base), env=env,
                          capture_output=True, text=True, timeout=600)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULTS ")), None)
    assert line is not None, f"the real wandb run printed no results (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    out = json.loads(line[len("RESULTS "):])
    assert out["version"].startswith("0.31."), f"{REAL} has wandb {out['version']}, not 0.31"
    return out["results"]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_on_real_wandb(name, real_results):
    """Each W&B offline behaviour of offline_checks.py holds for the real wandb 0.31 too."""
    assert real_results.get(name) == "ok", real_results.get(name, "not run")
