"""Access: private homes, shared groups, registry members and roles, the audit log."""

from __future__ import annotations

import os
import stat

import pytest

import localreg as wandb
from localreg import access, audit, ingest, registries, versions
from localreg.cli import cli
from localreg.errors import InvalidInput, NotFound, PermissionDenied
from localreg.store import Store

from tests.conftest import snapshot


def as_user(monkeypatch, name):
    monkeypatch.setenv("LOCALREG_USER", name)


@pytest.fixture
def world(store, make_files, monkeypatch):
    """alice owns a restricted registry 'secret' with bob as viewer and carol as member."""
    as_user(monkeypatch, "alice")
    reg = registries.create_registry(store, "secret", visibility="restricted", artifact_types=["model"])
    access.add_members(store, reg, ["bob"], "viewer")
    access.add_members(store, reg, ["carol"], "member")
    v, _ = ingest.log_path(store, make_files({"w.bin": "weights"}), name="m", type="model")
    link = registries.link(store, v, "wandb-registry-secret/prod-models", ["staging"])
    return reg, v, link


def test_new_home_is_private(home):
    Store(home)
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "localreg.db").st_mode) == 0o600


def test_logged_blobs_are_private(home, make_files):
    s = Store(home)
    ingest.log_path(s, make_files({"a.txt": "a", "b.bin": os.urandom(2 << 20)}), name="d", type="dataset")
    for dirpath, dirs, files in os.walk(home / "blobs"):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700, dirpath
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode) == 0o600


def test_shared_store_belongs_to_its_group(home, make_files, runner):
    result = runner.invoke(cli, ["--home", str(home), "init", "--shared", "root"])
    assert result.exit_code == 0, result.output
    s = Store(home)
    assert s.shared_group == "root"
    ingest.log_path(s, make_files({"a.txt": "a"}), name="d", type="dataset")
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o2770
    assert stat.S_IMODE(os.stat(home / "localreg.db").st_mode) == 0o660
    packs = home / "blobs" / "packs"
    assert stat.S_IMODE(os.stat(packs).st_mode) == 0o2770
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o660 for p in packs.iterdir())


def test_shared_store_needs_a_real_group(home, runner):
    result = runner.invoke(cli, ["--home", str(home), "init", "--shared", "no-such-group-xyz"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: unknown group 'no-such-group-xyz': a shared store needs an existing group"
    assert not home.exists()


def test_personal_store_needs_no_setup(store, make_files):
    v, _ = ingest.log_path(store, make_files({"a": "a"}), name="m", type="model")
    link = registries.link(store, v, "wandb-registry-model/m", ["prod"])
    versions.add_aliases(store, link, ["best"])
    versions.unlink(store, link)
    assert access.role_of(store, registries.get_registry(store, "model").id, "organization") == "admin"


def test_creator_is_admin(world, store):
    reg, _v, _link = world
    assert [(m.user, m.role) for m in access.members(store, reg)] == [("alice", "admin"), ("bob", "viewer"), ("carol", "member")]


def test_viewer_reads_but_cannot_change(world, store, monkeypatch, make_files):
    reg, v, link = world
    as_user(monkeypatch, "bob")
    assert versions.resolve(store, "wandb-registry-secret/prod-models:staging").id == link.id
    before = snapshot(store)
    with pytest.raises(PermissionDenied, match="'bob' is a viewer of registry 'secret'.*needs the member role"):
        registries.link(store, v, "wandb-registry-secret/prod-models", ["x"])
    with pytest.raises(PermissionDenied):
        versions.add_aliases(store, link, ["prod"])
    with pytest.raises(PermissionDenied):
        versions.remove_aliases(store, link, ["staging"])
    with pytest.raises(PermissionDenied):
        versions.unlink(store, link)
    with pytest.raises(PermissionDenied):
        registries.delete_registry(store, reg)
    after = snapshot(store)
    del before["events"], after["events"]
    assert before == after
    denied = audit.events(store, action="denied", user="bob")
    assert len(denied) == 5
    assert {e.detail["refused"] for e in denied} == {"link", "alias", "unlink", "delete"}


def test_member_links_and_moves_aliases_but_does_not_administer(world, store, monkeypatch, make_files):
    reg, v, link = world
    as_user(monkeypatch, "carol")
    v2, _ = ingest.log_path(store, make_files({"w.bin": "weights v2"}), name="m", type="model")
    new = registries.link(store, v2, "wandb-registry-secret/prod-models", ["staging"])
    assert new.aliases == ("latest", "staging") and new.created_by == "carol"
    versions.unlink(store, new)
    with pytest.raises(PermissionDenied, match="needs the admin role"):
        access.add_members(store, reg, ["dave"], "admin")
    with pytest.raises(PermissionDenied):
        registries.update_registry(store, reg, description="mine now")
    with pytest.raises(PermissionDenied):
        registries.delete_registry(store, reg)


def test_non_members_do_not_see_a_restricted_registry(world, store, monkeypatch):
    as_user(monkeypatch, "mallory")
    assert "secret" not in [r.name for r in registries.list_registries(store)]
    with pytest.raises(PermissionDenied, match="'mallory' is not a member of restricted registry 'secret'"):
        registries.get_registry(store, "secret")
    with pytest.raises(PermissionDenied):
        versions.resolve(store, "wandb-registry-secret/prod-models:latest")
    assert audit.events(store, user="mallory", action="denied")


def test_admin_manages_members(world, store, monkeypatch):
    reg, _v, _link = world
    access.update_member(store, reg, "bob", "admin")
    access.remove_members(store, reg, ["carol"])
    assert [(m.user, m.role) for m in access.members(store, reg)] == [("alice", "admin"), ("bob", "admin")]
    with pytest.raises(NotFound):
        access.remove_members(store, reg, ["nobody"])
    with pytest.raises(InvalidInput, match="invalid role"):
        access.add_members(store, reg, ["x"], "owner")
    access.remove_members(store, reg, ["bob"])
    with pytest.raises(InvalidInput, match="must keep at least one admin"):
        access.remove_members(store, reg, ["alice"])
    with pytest.raises(InvalidInput, match="must keep at least one admin"):
        access.update_member(store, reg, "alice", "viewer")
    as_user(monkeypatch, "alice")
    registries.delete_registry(store, reg)


def test_naming_an_admin_closes_an_open_registry(store, monkeypatch):
    reg = registries.get_registry(store, "model")
    access.add_members(store, reg, ["alice"], "admin")
    as_user(monkeypatch, "bob")
    assert access.role_of(store, reg.id, reg.visibility) == "member"
    with pytest.raises(PermissionDenied):
        access.add_members(store, reg, ["bob"], "admin")


def test_sdk_members(world, monkeypatch):
    as_user(monkeypatch, "alice")
    api = wandb.Api()
    reg = api.registry("secret", organization="acme")
    assert [m.user for m in reg.members()] == ["alice", "bob", "carol"]
    reg.add_members("dave", role="viewer")
    reg.update_member("dave", "member")
    reg.remove_members("carol")
    assert [(m.user, m.role) for m in reg.members()] == [("alice", "admin"), ("bob", "viewer"), ("dave", "member")]


def test_cli_members_and_log_events(world, home, runner, monkeypatch):
    as_user(monkeypatch, "alice")
    r = runner.invoke(cli, ["--home", str(home), "registry", "add-member", "secret", "erin", "--role", "viewer"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--home", str(home), "--json", "registry", "members", "secret"])
    assert '"erin"' in r.output
    as_user(monkeypatch, "erin")
    r = runner.invoke(cli, ["--home", str(home), "unlink", "acme/wandb-registry-secret/prod-models:v0"])
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].startswith("Error: user 'erin' is a viewer of registry 'secret'")
    r = runner.invoke(cli, ["--home", str(home), "log-events", "--action", "denied"])
    assert r.exit_code == 0 and "erin" in r.output and "denied" in r.output
    r = runner.invoke(cli, ["--home", str(home), "--json", "log-events", "-n", "3"])
    assert r.exit_code == 0 and r.output.lstrip().startswith("[")
