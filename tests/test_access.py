"""Access: private homes, shared groups, registry members and roles, the audit log."""

from __future__ import annotations

import os
import re
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import localreg as wandb
from localreg import access, audit, ingest, registries, versions
from localreg.cli import cli
from localreg.errors import Conflict, InvalidInput, NotFound, PermissionDenied
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


# -- every write path checks the role (issue 12, item 4) ---------------------------------------------

SOURCE = "team/demo/m:v0"
LINK = "acme/wandb-registry-secret/prod-models:v0"


def _sdk_edit(what):
    """An edit of the linked version through the SDK, then ``save()``."""
    def edit():
        art = wandb.Api().artifact(LINK)
        if what == "metadata":
            art.metadata = {"owned": True}
        elif what == "description":
            art.description = "changed by a viewer"
        elif what == "tags":
            art.tags = ["pwned"]
        elif what == "aliases":
            art.aliases = [*art.aliases, "prod"]
        art.save()
    return edit


@pytest.mark.parametrize("what", ["metadata", "description", "tags", "aliases"])
def test_a_viewer_cannot_edit_a_link_through_save(world, store, monkeypatch, what):
    as_user(monkeypatch, "bob")
    before = snapshot(store)
    with pytest.raises(PermissionDenied) as e:
        _sdk_edit(what)()
    assert str(e.value).startswith("user 'bob' is a viewer of registry 'secret' in organization 'acme'; ")
    assert str(e.value).endswith(f"on {LINK} needs the member role")
    after = snapshot(store)
    del before["events"], after["events"]
    assert after == before
    assert audit.events(store, action="denied", user="bob", limit=1)[0].target == LINK


def test_a_viewer_saving_nothing_new_writes_nothing_and_is_not_refused(world, store, monkeypatch):
    as_user(monkeypatch, "bob")
    before = snapshot(store)
    art = wandb.Api().artifact(LINK)
    art.save()
    assert snapshot(store) == before


def test_a_ttl_belongs_to_the_source_not_to_a_link(world, store, monkeypatch):
    import datetime as dt

    as_user(monkeypatch, "alice")  # even the admin: as W&B, a link has no ttl of its own
    before = snapshot(store)
    art = wandb.Api().artifact(LINK)
    with pytest.raises(InvalidInput, match="^Cannot set TTL for link artifact"):  # W&B's setter refuses at once
        art.ttl = dt.timedelta(seconds=1)
    with pytest.raises(InvalidInput, match=f"cannot set a ttl on link {LINK}: unlink it first, "
                                           f"or set the ttl of its source {SOURCE}"):
        versions.update(store, versions.resolve(store, LINK), ttl_seconds=1)  # and the domain verb, below the SDK
    assert snapshot(store) == before


def test_a_short_ttl_on_the_source_cannot_take_a_restricted_link_away(world, store, monkeypatch):
    _reg, v, _link = world
    before = snapshot(store)
    as_user(monkeypatch, "bob")
    with pytest.raises(PermissionDenied, match=r"'bob' is a viewer of registry 'secret'.*needs the member role"):
        versions.update(store, v, ttl_seconds=0.001)
    as_user(monkeypatch, "mallory")
    with pytest.raises(PermissionDenied) as e:
        versions.update(store, v, ttl_seconds=0.001)
    assert str(e.value) == (f"user 'mallory' cannot change the ttl of {SOURCE}: it is linked into a restricted "
                            "registry they are not a member of (unlink there needs the member role)")
    after = snapshot(store)
    del before["events"], after["events"]
    assert after == before
    # what the project may still do: edit its own source, clear a ttl; a member may expire it
    versions.update(store, v, description="notes", ttl_seconds=None)
    as_user(monkeypatch, "carol")
    assert versions.update(store, v, ttl_seconds=3600).ttl_expires_at is not None


def test_a_member_edits_a_link_and_the_edit_is_its_sources(world, store, monkeypatch):
    as_user(monkeypatch, "carol")
    art = wandb.Api().artifact(LINK)
    art.metadata = {"acc": 0.9}
    art.tags = ["reviewed"]
    art.save()
    src = versions.resolve(store, SOURCE)
    assert src.metadata == {"acc": 0.9} and src.tags == ("reviewed",)


@pytest.mark.parametrize("verb", [
    "update", "update_description", "ttl_source", "set_tags", "add_aliases", "remove_aliases", "unlink", "delete",
    "link", "collection_save", "collection_delete", "registry_save", "registry_delete", "add_members",
    "remove_members", "seed_collection",
])
def test_a_viewer_is_refused_every_write_verb(world, store, monkeypatch, make_files, verb):
    reg, v, link = world
    as_user(monkeypatch, "bob")
    before = snapshot(store)
    with pytest.raises(PermissionDenied, match="user 'bob' is a viewer of registry 'secret'"):
        _write(verb, store, reg, v, link)
    after = snapshot(store)
    del before["events"], after["events"]
    assert after == before


def _write(verb, store, reg, v, link, value="x"):
    from localreg import seed

    if verb == "update":
        versions.update(store, link, metadata={value: 1})
    elif verb == "update_description":
        versions.update(store, link, description=value)
    elif verb == "ttl_source":
        versions.update(store, v, ttl_seconds=0.001)
    elif verb == "set_tags":
        versions.set_tags(store, link, [value])
    elif verb == "add_aliases":
        versions.add_aliases(store, link, [value])
    elif verb == "remove_aliases":
        versions.remove_aliases(store, link, ["staging"])
    elif verb == "unlink":
        versions.unlink(store, link)
    elif verb == "delete":
        versions.delete(store, link)
    elif verb == "link":
        registries.link(store, v, f"wandb-registry-secret/{value}")
    elif verb == "collection_save":
        coll = wandb.Api().artifact_collection("model", "acme/wandb-registry-secret/prod-models")
        coll.description = value
        coll.save()
    elif verb == "collection_delete":
        wandb.Api().artifact_collection("model", "acme/wandb-registry-secret/prod-models").delete()
    elif verb == "registry_save":
        r = wandb.Api().registry("secret", organization="acme")
        r.description = value
        r.save()
    elif verb == "registry_delete":
        wandb.Api().registry("secret", organization="acme").delete()
    elif verb == "add_members":
        access.add_members(store, reg, [value], "admin")
    elif verb == "remove_members":
        access.remove_members(store, reg, ["alice"])
    elif verb == "seed_collection":
        with pytest.raises(seed.SeedError, match="user '") as e:
            seed.load(store, {"registries": [{"name": "secret", "collections": [{"name": value, "type": "model"}]}]})
        raise PermissionDenied(str(e.value))
    else:  # pragma: no cover
        raise AssertionError(verb)


WRITE_VERBS = ["update", "update_description", "ttl_source", "set_tags", "add_aliases", "remove_aliases", "unlink",
               "delete", "link", "collection_save", "collection_delete", "registry_save", "registry_delete",
               "add_members", "remove_members", "seed_collection"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.sampled_from(["bob", "mallory", "eve"]), verb=st.sampled_from(WRITE_VERBS),
       value=st.text(alphabet="abcxyz019-_", min_size=1, max_size=12).filter(lambda x: x[0].isalnum()))
def test_no_write_verb_by_a_viewer_or_a_non_member_writes(world, store, monkeypatch, user, verb, value):
    """Property: whatever a viewer (bob) or a non-member (mallory, eve) tries, it is refused and writes nothing."""
    reg, v, link = world
    monkeypatch.setenv("LOCALREG_USER", user)
    before = snapshot(store)
    with pytest.raises(PermissionDenied, match=f"user '{user}' "):
        _write(verb, store, reg, v, link, value)
    after = snapshot(store)
    del before["events"], after["events"]
    assert after == before


@pytest.mark.parametrize("args", [
    ["alias", "add", LINK, "prod"],
    ["alias", "rm", LINK, "staging"],
    ["unlink", LINK],
    ["delete", LINK],
    ["link", SOURCE, "acme/wandb-registry-secret/other"],
])
def test_cli_refuses_a_viewer_in_one_line(world, store, home, runner, monkeypatch, args):
    as_user(monkeypatch, "bob")
    before = snapshot(store)
    r = runner.invoke(cli, ["--home", str(home), *args])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    lines = r.output.strip().splitlines()
    assert [x for x in lines if x.startswith("Error:")] == [lines[-1]]
    assert lines[-1].startswith("Error: user 'bob' is a viewer of registry 'secret' in organization 'acme'; ")
    after = snapshot(store)
    del before["events"], after["events"]
    assert after == before


# -- a restricted registry is invisible to non-members on every read path (issue 12, item 5) ---------

SECRET_WORDS = ("secret", "prod-models", "staging")


def _used_by_a_run(store, monkeypatch):
    """alice's run uses the link, so lineage and "used by" reach the restricted registry."""
    as_user(monkeypatch, "alice")
    run = wandb.init(entity="team", project="demo", id="reader")
    run.use_artifact(LINK)
    run.finish()


def _web(store):
    pytest.importorskip("starlette")
    pytest.importorskip("jinja2")
    from starlette.testclient import TestClient

    from localreg.web import create_app

    return TestClient(create_app(store=store, host="127.0.0.1", port=8080), base_url="http://127.0.0.1:8080")


def _read(path, store, home, runner):
    """What one read path shows the acting user, as text."""
    import json as _json

    from localreg import catalog, seed

    if path == "links_of":
        return repr(versions.links_of(store, versions.resolve(store, SOURCE)))
    if path == "sdk_linked_artifacts":
        return repr([a.qualified_name for a in wandb.Api().artifact(SOURCE).linked_artifacts])
    if path == "sdk_used_by":
        return repr(wandb.Api().artifact(SOURCE).used_by())
    if path == "sdk_run_used_artifacts":
        return repr([a.qualified_name for a in wandb.Api().run("team/demo/reader").used_artifacts()])
    if path == "sdk_registries":
        regs = wandb.Api().registries(organization="acme")
        return repr([r.name for r in regs] + [c.name for c in regs.collections()]
                    + [a.qualified_name for a in regs.versions()])
    if path == "list_collections":
        items, _ = registries.list_collections(store, limit=100)
        return repr([c.path for c in items]) + str(registries.count_collections(store))
    if path == "list_versions":
        page = versions.list_versions(store, limit=100)
        return repr([v.qualified_name for v in page.items]) + str(versions.count_versions(store))
    if path == "stats":
        s = catalog.stats(store)
        return f"registries={s.registries} registry_collections={s.registry_collections} links={s.links}"
    if path == "audit":
        return repr([(e.target, e.detail) for e in audit.events(store, limit=1000) if e.user != "mallory"])
    if path == "seed_dump":
        return _json.dumps(seed.dump(store))
    if path in ("cli_show", "cli_show_json", "cli_log_events", "cli_stats"):
        args = {"cli_show": ["show", SOURCE], "cli_show_json": ["--json", "show", SOURCE],
                "cli_log_events": ["log-events", "-n", "1000", "--user", "alice"], "cli_stats": ["--json", "info"]}[path]
        r = runner.invoke(cli, ["--home", str(home), *args])
        assert r.exit_code == 0, r.output
        return r.output
    if path in ("web_version_page", "api_version"):
        with _web(store) as client:
            url = ("/team/demo/artifacts/model/m/v0" if path == "web_version_page"
                   else f"/api/version?ref={SOURCE}")
            r = client.get(url)
            assert r.status_code == 200, r.text
            return re.sub(r"\b[0-9a-f]{64}\b", "", r.text)  # less the CSRF tokens of each request
    raise AssertionError(path)  # pragma: no cover


READ_PATHS = ["links_of", "sdk_linked_artifacts", "sdk_used_by", "sdk_run_used_artifacts", "sdk_registries",
              "list_collections", "list_versions", "stats", "audit", "seed_dump", "cli_show", "cli_show_json",
              "cli_log_events", "cli_stats", "web_version_page", "api_version"]


@pytest.mark.parametrize("path", READ_PATHS)
def test_a_non_member_sees_nothing_of_a_restricted_registry(world, store, home, runner, monkeypatch, path):
    _used_by_a_run(store, monkeypatch)
    shown_to_alice = _read(path, store, home, runner)
    as_user(monkeypatch, "mallory")
    shown = _read(path, store, home, runner)
    assert not [w for w in SECRET_WORDS if w in shown], shown
    if path not in ("stats", "cli_stats", "sdk_used_by", "sdk_run_used_artifacts"):
        # the path does reach the registry: a member sees it
        assert "prod-models" in shown_to_alice, shown_to_alice
    as_user(monkeypatch, "bob")  # a viewer is a member: sees it all
    assert _read(path, store, home, runner) == shown_to_alice or path in ("audit", "cli_log_events")


def test_counts_leave_a_hidden_registry_out(world, store, monkeypatch):
    from localreg import catalog

    as_user(monkeypatch, "mallory")
    hidden = catalog.stats(store)
    as_user(monkeypatch, "bob")
    seen = catalog.stats(store)
    assert (seen.registries - hidden.registries, seen.registry_collections - hidden.registry_collections,
            seen.links - hidden.links) == (1, 1, 1)


def test_a_non_member_still_sees_their_own_refusals(world, store, monkeypatch):
    as_user(monkeypatch, "mallory")
    with pytest.raises(PermissionDenied):
        versions.resolve(store, "wandb-registry-secret/prod-models:latest")
    [mine] = audit.events(store, action="denied")
    assert mine.user == "mallory" and mine.target == "wandb-registry-secret/prod-models:latest"


def test_deleting_a_source_linked_where_the_user_cannot_see_names_no_registry(world, store, monkeypatch):
    _reg, v, _link = world
    as_user(monkeypatch, "mallory")
    before = snapshot(store)
    with pytest.raises(Conflict) as e:
        versions.delete(store, v)
    assert str(e.value) == (f"{SOURCE} is linked to 1 link in registries you are not a member of; "
                            "unlink it first or pass unlink_links=True")
    assert snapshot(store) == before


def test_deleting_a_source_with_its_links_where_the_user_cannot_see_names_no_registry(world, store, monkeypatch):
    _reg, v, _link = world
    before = snapshot(store)
    as_user(monkeypatch, "mallory")
    with pytest.raises(PermissionDenied) as e:
        versions.delete(store, v, unlink_links=True)
    assert str(e.value) == (f"user 'mallory' cannot delete {SOURCE}: it is linked into a restricted registry "
                            "they are not a member of (unlink there needs the member role)")
    as_user(monkeypatch, "bob")  # a viewer sees the registry: told which, and why
    with pytest.raises(PermissionDenied) as e:
        versions.delete(store, v, unlink_links=True)
    assert str(e.value) == ("user 'bob' is a viewer of registry 'secret' in organization 'acme'; "
                            "unlink on acme/wandb-registry-secret needs the member role")
    as_user(monkeypatch, "mallory")  # whose audit log shows neither refusal's registry
    assert not [e for e in audit.events(store) if "secret" in repr(e)]
    after = snapshot(store)
    del before["events"], after["events"]
    assert after == before
    as_user(monkeypatch, "carol")
    versions.delete(store, v, unlink_links=True)


def test_exists_answers_false_for_a_registry_the_user_may_not_read(world, monkeypatch):
    as_user(monkeypatch, "mallory")
    api = wandb.Api()
    assert api.artifact_exists(LINK) is False
    assert api.artifact_collection_exists("acme/wandb-registry-secret/prod-models") is False
    as_user(monkeypatch, "bob")
    assert api.artifact_exists(LINK) is True
    assert api.artifact_collection_exists("acme/wandb-registry-secret/prod-models") is True
