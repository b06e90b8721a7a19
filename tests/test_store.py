"""store: opening, creating, defaults, scopes, transactions."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from localreg import db as dbmod
from localreg.errors import IncompatibleStore, InvalidInput, InvalidName, NotFound, StoreError
from localreg.store import CORE_REGISTRIES, DEFAULT_ORG, DEFAULT_PROJECT, Store, open_store

from conftest import snapshot


def test_new_store_layout(store, home, blob_backend):
    assert (home / "localreg.db").is_file()
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "localreg.db").st_mode) == 0o600
    assert store.blob_url == blob_backend
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    info = store.info()
    assert info["default_org"] == "acme" and info["default_entity"] == "team" and info["default_project"] == "demo"
    assert info["schema"] == str(dbmod.SCHEMA_VERSION)
    assert dbmod.applied_names(store.db) == dbmod.KNOWN_MIGRATIONS


def test_reopening_keeps_what_creation_recorded(store, home, blob_backend):
    again = Store(home, blob_url="/somewhere/else", org="other", entity="x", project="y")
    try:
        assert again.blob_url == blob_backend
        assert again.default("org") == "acme" and again.default("project") == "demo"
    finally:
        again.close()


def test_defaults_without_arguments(tmp_path):
    s = Store(tmp_path / "h")
    try:
        assert s.blob_url == str(tmp_path / "h" / "blobs")
        assert s.default("org") == DEFAULT_ORG
        assert s.default("project") == DEFAULT_PROJECT
        assert s.default("entity") == "tester"  # from $LOCALREG_USER
    finally:
        s.close()


def test_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALREG_HOME", str(tmp_path / "envhome"))
    s = Store()
    try:
        assert s.home == tmp_path / "envhome"
        assert (tmp_path / "envhome" / "localreg.db").exists()
    finally:
        s.close()


def test_open_store_is_cached(tmp_path):
    a = open_store(tmp_path / "h")
    assert open_store(str(tmp_path / "h")) is a
    a.close()


def test_missing_store_without_create(tmp_path):
    with pytest.raises(NotFound, match="no localreg store") as exc:
        Store(tmp_path / "absent", create=False)
    assert isinstance(exc.value, LookupError)
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    "kwargs, bad",
    [({"org": "bad org"}, "bad org"), ({"entity": "a/b"}, "a/b"), ({"project": ""}, "project name")],
)
def test_bad_creation_arguments_create_nothing(tmp_path, kwargs, bad):
    with pytest.raises(InvalidName, match=bad):
        Store(tmp_path / "h", **kwargs)
    assert not (tmp_path / "h").exists()


def test_bad_blob_url_creates_nothing(tmp_path):
    with pytest.raises(InvalidInput, match="nosuchproto"):
        Store(tmp_path / "h", blob_url="nosuchproto://bucket")
    assert not (tmp_path / "h").exists()


def test_not_a_database(tmp_path):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "localreg.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="localreg.db") as exc:
        Store(tmp_path / "h")
    assert isinstance(exc.value, OSError)


def test_store_written_by_a_newer_localreg(store, home):
    store.db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        [dbmod.SCHEMA_SET, "m999_future", "2099-01-01"],
    )
    store.close()
    with pytest.raises(IncompatibleStore, match="upgrade localreg"):
        Store(home)


def test_scope_defaults_precedence(store, monkeypatch):
    assert store.default("project") == "demo"
    monkeypatch.setenv("WANDB_PROJECT", "from-wandb")
    assert store.default("project") == "from-wandb"
    monkeypatch.setenv("LOCALREG_PROJECT", "from-localreg")
    assert store.default("project") == "from-localreg"
    assert store.default("project", "explicit") == "explicit"
    monkeypatch.setenv("WANDB_ENTITY", "wb-entity")
    monkeypatch.setenv("WANDB_ORGANIZATION", "wb-org")
    assert store.default("entity") == "wb-entity" and store.default("org") == "wb-org"


def test_every_org_gets_the_core_registries(store):
    for org in ("acme", "second"):
        org_id = store.ensure_org(org)
        assert store.ensure_org(org) == org_id
        rows = store.db.execute(
            "SELECT name, visibility, artifact_types FROM registries WHERE org_id = ? ORDER BY name", [org_id]
        ).fetchall()
        assert rows == [
            ("dataset", "organization", '["dataset"]'),
            ("model", "organization", '["model"]'),
        ]
    assert set(CORE_REGISTRIES) == {"model", "dataset"}
    assert store.org_id("second") == store.ensure_org("second")
    with pytest.raises(NotFound, match="'nope'"):
        store.org_id("nope")


def test_projects(store):
    pid = store.ensure_project("alice", "proj")
    assert store.ensure_project("alice", "proj") == pid
    assert store.project_id("alice", "proj") == pid
    assert store.ensure_project("alice", "other") != pid
    # a new entity joins the default org
    row = store.db.execute(
        "SELECT o.name FROM entities e JOIN orgs o ON o.id = e.org_id WHERE e.name = 'alice'"
    ).fetchone()
    assert row == ("acme",)
    with pytest.raises(NotFound, match="alice/missing"):
        store.project_id("alice", "missing")
    with pytest.raises(InvalidName, match="bad name"):
        store.ensure_project("alice", "bad name")


def test_transaction_rolls_back_on_error(store):
    before = snapshot(store)
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db.execute("INSERT INTO orgs (name, created_at) VALUES ('temp', 'now')")
            store.ensure_project("bob", "p")
            raise RuntimeError("boom")
    assert snapshot(store) == before
    assert not store.db.conn.in_transaction


def test_nested_transaction_is_a_savepoint(store):
    with store.transaction() as db:
        db.execute("INSERT INTO orgs (name, created_at) VALUES ('kept', 'now')")
        with pytest.raises(RuntimeError):
            with store.transaction() as inner:
                inner.execute("INSERT INTO orgs (name, created_at) VALUES ('dropped', 'now')")
                raise RuntimeError("inner")
    names = {r[0] for r in store.db.execute("SELECT name FROM orgs")}
    assert "kept" in names and "dropped" not in names


def test_events_are_recorded_in_the_callers_transaction(store):
    with store.transaction():
        store.event("test-action", "some/target", detail=1)
    row = store.db.execute("SELECT user, action, target, detail FROM events WHERE action = 'test-action'").fetchone()
    assert row == ("tester", "test-action", "some/target", '{"detail": 1}')


def test_each_thread_has_its_own_connection(store):
    import threading

    seen = []
    t = threading.Thread(target=lambda: seen.append(store.db))
    t.start()
    t.join()
    assert seen[0] is not store.db
    seen[0].conn.close()


def test_read_snapshot_sees_one_state(store):
    with store.snapshot() as db:
        n = db.execute("SELECT count(*) FROM orgs").fetchone()[0]
        assert n == 1
    assert not store.db.conn.in_transaction


def test_regexp_function(store):
    assert store.db.execute("SELECT regexp('^a.c$', 'abc')").fetchone()[0] == 1
    assert store.db.execute("SELECT regexp('x', NULL)").fetchone()[0] == 0
    with pytest.raises(sqlite3.OperationalError):
        store.db.execute("SELECT regexp('(', 'abc')").fetchone()
