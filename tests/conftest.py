"""Shared fixtures: every test gets its own store; nothing touches a real home."""

from __future__ import annotations

import os

import fsspec
import pytest
from click.testing import CliRunner

from localreg.store import Store, _STORES


@pytest.fixture(autouse=True)
def env_setup(tmp_path, monkeypatch):
    """Point LOCALREG_HOME at a tmp dir and clear every scope variable."""
    monkeypatch.setenv("LOCALREG_HOME", str(tmp_path / "home"))
    for var in ("LOCALREG_ORG", "LOCALREG_ENTITY", "LOCALREG_PROJECT", "LOCALREG_USER",
                "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_ORGANIZATION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LOCALREG_USER", "tester")
    monkeypatch.chdir(tmp_path)
    yield
    _STORES.clear()
    try:
        import localreg.sdk.run as sdk_run
        sdk_run._reset()
    except ImportError:
        pass


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def _server_or_skip(start):
    """Start a test server; skip when its program is missing, unless CI requires it ($LOCALREG_REQUIRE_S3)."""
    from servers import ServerUnavailable

    try:
        return start()
    except ServerUnavailable as e:
        if os.environ.get("LOCALREG_REQUIRE_S3"):
            raise
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 for this test session (one per xdist worker), stopped at the end."""
    from servers import start_moto

    server = _server_or_skip(start_moto)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweedfs():
    """SeaweedFS (``weed mini``) on free loopback ports for this test session, stopped at the end."""
    from servers import start_seaweedfs

    server = _server_or_skip(start_seaweedfs)
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The standard AWS variables pointing at the session's S3 server."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server


@pytest.fixture(params=["file", "memory", "s3"])
def blob_backend(request, tmp_path):
    """The blob URL for a store: a folder, fsspec's memory filesystem, or a fresh bucket on a moto S3 server."""
    if request.param == "s3":
        server = request.getfixturevalue("s3_env")
        yield f"s3://{server.new_bucket()}/blobs"
    elif request.param == "memory":
        url = f"memory://localreg-test-{os.getpid()}-{id(tmp_path)}"
        yield url
        fsspec.filesystem("memory").store.clear()
        fsspec.filesystem("memory").pseudo_dirs[:] = [""]
    else:
        yield str(tmp_path / "blobs")


@pytest.fixture
def store(home, blob_backend):
    s = Store(home, blob_url=blob_backend, org="acme", entity="team", project="demo")
    yield s
    s.close()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def make_files(tmp_path):
    """Write ``{relative path: bytes or str}`` under a fresh folder and return it."""
    counter = [0]

    def make(files: dict) -> str:
        counter[0] += 1
        root = tmp_path / f"src{counter[0]}"
        for rel, data in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, str):
                data = data.encode()
            p.write_bytes(data)
        return str(root)

    return make


def snapshot(store: Store) -> dict:
    """Every row of every table (but the audit log): compare before/after to prove nothing was written."""
    out = {}
    for table in store.db.table_names():
        if table == "stat_cache":
            continue
        out[table] = sorted(map(tuple, store.db.execute(f"SELECT * FROM [{table}]").fetchall()), key=repr)
    return out
