"""Fixtures of the W&B conformance tests: they run through ``import localreg as wandb``.

tests/conftest.py already gives every test its own store (``$LOCALREG_HOME``)
and working folder; here is a run, and the real wandb's interpreter for the
checks W&B can run offline.
"""

from __future__ import annotations

import os
import sys

import pytest

import localreg as wandb

sys.path.insert(0, os.path.dirname(__file__))  # offline_checks, shared with the real wandb's interpreter


@pytest.fixture
def run():
    with wandb.init(entity="team", project="demo") as r:
        yield r


@pytest.fixture
def api():
    return wandb.Api()
