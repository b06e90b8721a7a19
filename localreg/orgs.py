"""Orgs and the entities in them, and which org a call means when it names none.

As in W&B, an entity (a team, or a user's personal entity) belongs to an
org; a user may belong to several (``entities.org_id`` is the first, the
rows of ``entity_orgs`` the others). An org has its ``model`` and
``dataset`` registries from the moment it exists (:meth:`Store.ensure_org`).

When a registry path or a registry call names no org, W&B takes the
``organization`` setting (``$WANDB_ORGANIZATION``), else the one org of the
entity concerned, and refuses when that entity is in several orgs; the
messages start with W&B's words (:data:`MULTIPLE_FOR_LINK`,
:data:`MULTIPLE_FOR_SETTINGS`). An entity the store does not know yet
would join the store's default org, so that org is the answer for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from . import names
from .errors import InvalidInput, NotFound
from .store import now

if TYPE_CHECKING:
    from .store import Store

__all__ = ["orgs_of", "add_entity", "resolve", "list_orgs", "MultipleOrganizations", "UnknownOrganization"]

# W&B's wording (wandb/apis/public/utils.py fetch_org_from_settings_or_entity;
# wandb/sdk/artifacts/_gqlutils.py resolve_org_entity_name): its tests match these
MULTIPLE_FOR_SETTINGS = "Multiple organizations found for entity."
MULTIPLE_FOR_LINK = "Personal entity {entity!r} belongs to multiple organizations"


class MultipleOrganizations(InvalidInput):
    """The entity is in several orgs and nothing chose one (W&B raises ``ValueError``)."""

    def __init__(self, message: str, entity: str, orgs: list[str]) -> None:
        super().__init__(message)
        self.entity = entity
        self.orgs = orgs


class UnknownOrganization(NotFound, InvalidInput):
    """An org named in a registry call is not in the store: a ``LookupError``, and the ``ValueError`` W&B raises."""

    def __init__(self, message: str, org: str) -> None:
        NotFound.__init__(self, message, org)


UNKNOWN = "Organization entity for {org!r} not found."  # W&B 0.31's words (its test_registry.py matches them)


def list_orgs(store: "Store") -> list[str]:
    return [r[0] for r in store.db.execute("SELECT name FROM orgs ORDER BY name")]


def orgs_of(store: "Store", entity: str) -> list[str]:
    """The orgs ``entity`` belongs to, sorted by name; ``[]`` for an entity the store does not know."""
    return [r[0] for r in store.db.execute(
        "SELECT o.name FROM orgs o WHERE o.id IN ("
        " SELECT org_id FROM entities WHERE name = ?"
        " UNION SELECT eo.org_id FROM entity_orgs eo JOIN entities e ON e.id = eo.entity_id WHERE e.name = ?"
        ") ORDER BY o.name", [entity, entity],
    )]


def add_entity(store: "Store", org: str, entity: str) -> list[str]:
    """Put ``entity`` in ``org`` (both made if missing; an org gets its core registries); its orgs after.

    An entity the store does not know has ``org`` as its first org; one it
    knows joins ``org`` as well (a user in several orgs). Idempotent.
    """
    org = names.check_name(org, "org name")
    entity = names.check_name(entity, "entity name")
    with store.transaction() as db:
        org_id = store.ensure_org(org)
        row = db.execute("SELECT id, org_id FROM entities WHERE name = ?", [entity]).fetchone()
        if row is None:
            db.execute("INSERT INTO entities (org_id, name, created_at) VALUES (?, ?, ?)", [org_id, entity, now()])
            store.event("entity-create", entity, org=org)
        elif row[1] != org_id and not db.execute(
            "SELECT 1 FROM entity_orgs WHERE entity_id = ? AND org_id = ?", [row[0], org_id]
        ).fetchone():
            db.execute("INSERT INTO entity_orgs (entity_id, org_id, added_at) VALUES (?, ?, ?)", [row[0], org_id, now()])
            store.event("entity-join", entity, org=org)
        return orgs_of(store, entity)


def configured(store: "Store") -> str | None:
    """The org the settings name (``$LOCALREG_ORG``, ``$WANDB_ORGANIZATION``), if any."""
    for var in ("LOCALREG_ORG", "WANDB_ORGANIZATION"):
        value = os.environ.get(var)
        if value:
            return value
    return None


def resolve(store: "Store", *, entity: str | None = None, explicit: str | None = None,
            purpose: Literal["link", "settings"] = "settings") -> str:
    """The org a call means: ``explicit``, else the settings' org, else the one org of ``entity``.

    ``entity`` defaults to the store's default entity (W&B: the settings'
    entity). Raises :class:`MultipleOrganizations` (a ``ValueError``) for an
    entity in several orgs, worded as W&B words it for ``purpose``: a link
    target or registry path (``"link"``), or an ``Api`` registry call
    (``"settings"``).
    """
    if explicit:
        return explicit
    chosen = configured(store)
    if chosen:
        return chosen
    ent = entity or store.default("entity")
    found = orgs_of(store, ent)
    if len(found) == 1:
        return found[0]
    if not found:
        return store.default("org")
    listed = ", ".join(found)
    if purpose == "link":
        msg = (f"{MULTIPLE_FOR_LINK.format(entity=ent)} and cannot be used without specifying the organization "
               f"name. Please specify the organization in the Registry path or use a team entity in the entity "
               f"settings. (entity {ent!r} is in: {listed}; or set $WANDB_ORGANIZATION)")
    else:
        msg = (f"{MULTIPLE_FOR_SETTINGS} Please specify an organization in the settings. (entity {ent!r} is in: "
               f"{listed}; pass organization=..., or set $WANDB_ORGANIZATION)")
    raise MultipleOrganizations(msg, ent, found)
