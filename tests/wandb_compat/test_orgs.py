"""Orgs and entities: which org a registry path or a registry call means, through ``import localreg as wandb``.

W&B reference (SDK 0.31): ``resolve_org_entity_name`` (wandb/sdk/artifacts/_gqlutils.py),
``fetch_org_from_settings_or_entity`` (wandb/apis/public/utils.py), ``Api.registry`` /
``create_registry`` / ``registries`` (wandb/apis/public/api.py) and W&B's
tests/system_tests/test_artifacts/test_registry.py.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import localreg as wandb
from localreg import orgs, seed
from localreg.cli import cli
from localreg.errors import InvalidName
from localreg.orgs import MultipleOrganizations
from tests.conftest import snapshot


def draft(name="clf", type="model", content="weights"):
    art = wandb.Artifact(name, type)
    with art.new_file("model.bin") as f:
        f.write(content)
    return art


def state(store) -> tuple:
    return (snapshot(store), sorted(d for d, _s, _m in store.blobs.list_loose()),
            sorted(n for n, _s, _m in store.blobs.list_packs()))


def test_core_registries_are_there_as_soon_as_the_org_is(store, monkeypatch):
    """public.Api.registry: an org's `model` and `dataset` registries exist with the org, on a fresh store."""
    api = wandb.Api()
    assert api.registry("model", organization="acme").organization == "acme"
    assert api.registry("wandb-registry-dataset").full_name == "wandb-registry-dataset"
    # the org the settings name is there as soon as it is asked for (W&B code naming your real org)
    monkeypatch.setenv("WANDB_ORGANIZATION", "my-real-org")
    reg = wandb.Api().registry("model")
    assert (reg.organization, reg.allow_all_artifact_types, list(reg.artifact_types)) == ("my-real-org", False, ["model"])
    assert sorted(r.name for r in wandb.Api().registries()) == ["dataset", "model"]
    assert [c.name for c in reg.collections()] == []


def test_infer_organization_from_create_and_load(store):
    """test_registry.py::test_infer_organization_from_create_load: a user in one org needs not name it."""
    api = wandb.Api()
    reg = api.create_registry(name="test", visibility="organization")
    assert reg.organization == "acme"
    assert api.registry("test").organization == "acme"


def test_an_org_named_that_does_not_exist(store):
    """test_registry.py::test_input_invalid_organizations: create_registry/registry in an unknown org: ValueError."""
    before = state(store)
    with pytest.raises(ValueError, match="^Organization entity for 'acme_wrong' not found.") as info:
        wandb.Api().create_registry(name="test", visibility="organization", organization="acme_wrong")
    assert isinstance(info.value, LookupError)  # and localreg's NotFound
    with pytest.raises(ValueError, match="^Organization entity for 'acme_wrong' not found."):
        wandb.Api().registry("model", "acme_wrong")
    assert state(store) == before


def test_user_in_multiple_orgs_must_name_one(store):
    """test_registry.py::test_user_in_multiple_orgs: no org and several: ValueError "Multiple organizations found"."""
    assert orgs.add_entity(store, "acme", "team") == ["acme"]
    assert orgs.add_entity(store, "beta", "team") == ["acme", "beta"]
    api = wandb.Api()
    before = state(store)
    with pytest.raises(ValueError, match="^Multiple organizations found for entity.") as info:
        api.create_registry(name="test", visibility="organization")
    assert isinstance(info.value, MultipleOrganizations) and info.value.orgs == ["acme", "beta"]
    with pytest.raises(ValueError, match="^Multiple organizations found for entity."):
        api.registry("model")
    with pytest.raises(ValueError, match="^Multiple organizations found for entity."):
        api.registries()
    assert state(store) == before
    one = api.create_registry(name="test", visibility="organization", organization="acme")
    two = api.create_registry(name="test", visibility="organization", organization="beta")
    assert (one.organization, two.organization) == ("acme", "beta")
    assert wandb.Api(overrides={"organization": "beta"}).registry("test").organization == "beta"


def test_link_without_org_goes_to_the_org_of_the_source_entity(store):
    """artifact.Artifact.link: a registry path without org takes the org of the source artifact's entity."""
    orgs.add_entity(store, "beta", "team2")
    with wandb.init(entity="team2", project="demo") as run:
        linked = run.link_artifact(draft(), "wandb-registry-model/classifier")
    assert linked.qualified_name == "beta/wandb-registry-model/classifier:v0"
    assert linked.entity == "beta" and linked.source_entity == "team2"
    assert wandb.Api().artifact("beta/wandb-registry-model/classifier:latest").is_link
    # reading without an org: the org of the reading entity
    assert wandb.Api(overrides={"entity": "team2"}).artifact("wandb-registry-model/classifier:v0").is_link


def test_personal_entity_in_several_orgs_gets_wandbs_error(store, monkeypatch):
    """resolve_org_entity_name: "Personal entity ... belongs to multiple organizations"; nothing is written."""
    orgs.add_entity(store, "acme", "team")
    orgs.add_entity(store, "beta", "team")
    with wandb.init(entity="team", project="demo") as run:
        art = run.log_artifact(draft())
        before = state(store)
        with pytest.raises(ValueError, match="^Personal entity 'team' belongs to multiple organizations") as info:
            run.link_artifact(art, "wandb-registry-model/classifier")
        assert "acme, beta" in str(info.value)
        with pytest.raises(ValueError, match="^Personal entity 'team' belongs to multiple organizations"):
            wandb.Api().artifact("wandb-registry-model/classifier:v0")
        assert state(store) == before
        # ways to choose: the org in the path, or the organization setting
        assert run.link_artifact(art, "beta/wandb-registry-model/classifier").entity == "beta"
        monkeypatch.setenv("WANDB_ORGANIZATION", "acme")
        assert run.link_artifact(art, "wandb-registry-model/classifier").entity == "acme"
    assert wandb.Api().artifact("wandb-registry-model/classifier:v0").qualified_name == \
        "acme/wandb-registry-model/classifier:v0"


def test_an_org_named_in_a_link_target_is_made_on_first_use(store):
    """localreg's documented choice (README): W&B code naming your real org links offline unchanged."""
    with wandb.init(entity="team", project="demo") as run:
        linked = run.link_artifact(draft(), "real-org/wandb-registry-model/classifier")
    assert linked.qualified_name == "real-org/wandb-registry-model/classifier:v0"
    assert sorted(r.name for r in wandb.Api().registries(organization="real-org")) == ["dataset", "model"]


def test_bad_org_and_entity_names_write_nothing(store):
    """Names follow W&B's rules: a bad org or entity name is one ValueError; nothing is written."""
    before = state(store)
    for org, entity in (("bad org", "team"), ("acme", "bad/entity"), ("", "team")):
        with pytest.raises(InvalidName):
            orgs.add_entity(store, org, entity)
    with pytest.raises(ValueError):
        wandb.Api().create_registry("x", organization="bad org")
    assert state(store) == before


def test_seed_lists_an_entity_in_two_orgs_and_dump_keeps_it(store, tmp_path):
    """Seed files: an entity listed under two orgs belongs to both; `localreg dump` writes it under both."""
    doc = {"orgs": [{"name": "acme", "entities": ["team"]}, {"name": "beta", "entities": ["team", "solo"]}]}
    seed.load(store, doc)
    assert orgs.orgs_of(store, "team") == ["acme", "beta"] and orgs.orgs_of(store, "solo") == ["beta"]
    dumped = seed.dump(store)
    assert {"name": "beta", "entities": ["solo", "team"]} in dumped["orgs"]
    assert {"name": "acme", "entities": ["team"]} in dumped["orgs"]
    seed.load(store, dumped)  # idempotent
    assert orgs.orgs_of(store, "team") == ["acme", "beta"]


def test_cli_org_add_and_ls(store, home):
    """CLI: `localreg org add ORG ENTITY` puts a user in another org; `org ls` lists orgs with entities."""
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(home), "org", "add", "acme", "team"])
    assert out.exit_code == 0 and out.output == "team is in acme\n"
    out = runner.invoke(cli, ["--home", str(home), "org", "add", "beta", "team"])
    assert out.exit_code == 0 and out.output == "team is in acme, beta\n"
    out = runner.invoke(cli, ["--home", str(home), "org", "ls"])
    assert out.output.splitlines() == ["acme  entities: team", "beta  entities: team"]
    out = runner.invoke(cli, ["--home", str(home), "org", "add", "bad org", "team"])
    assert out.exit_code == 1 and out.output.startswith("Error: invalid org name 'bad org'")

