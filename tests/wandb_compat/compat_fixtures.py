"""Fixtures of the W&B conformance tests (imported by each module: no conftest.py here, so that
``from conftest import ...`` in tests/ keeps meaning tests/conftest.py).

tests/conftest.py already gives every test its own store (``$LOCALREG_HOME``)
and working folder; here are a run and an Api, through ``import localreg as wandb``.
"""

from __future__ import annotations

import pytest

import localreg as wandb


@pytest.fixture
def run():
    with wandb.init(entity="team", project="demo") as r:
        yield r


@pytest.fixture
def api():
    return wandb.Api()
