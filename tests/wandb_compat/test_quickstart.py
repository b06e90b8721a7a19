"""docs/wandb.md: the W&B model quickstart (Run.log_model -> link_model -> use_model) runs as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "wandb.md"


def _block(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    assert len(blocks) == 1, f"expected one python block under {heading!r}"
    return blocks[0]


def test_quickstart_runs_verbatim(tmp_path):
    """W&B docs 'Log and link a model' (Run.log_model, Run.link_model, Run.use_model), as docs/wandb.md shows it."""
    code = _block("Quickstart: a model, W&B style")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "LOCALREG_"))}
    env["LOCALREG_HOME"] = str(tmp_path / "home")
    env["PYTHONPATH"] = str(DOC.parents[1])
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode and "invalid target path 'team/model-registry/" in proc.stderr:
        # links to project collections (issue 11 item 4) live on another branch until it lands
        pytest.xfail("link_model needs project link collections, not in this branch")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "model team/mnist/mnist-cnn:v0 model.pt"
