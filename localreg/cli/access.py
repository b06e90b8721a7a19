"""Commands for who may do what: registry members and the audit log."""

from __future__ import annotations

import click

from .. import access, audit, registries
from . import _print_json, cli, pass_state, registry_group, State


def _members(state: State, reg: registries.Registry, members: list[access.Member]) -> None:
    if state.as_json:
        _print_json({"registry": f"{reg.org}/{reg.full_name}", "members": [m.to_dict() for m in members]})
        return
    if not members:
        open_to = "every user (as admin until an admin is named)" if reg.visibility == "organization" else "nobody"
        click.echo(f"{reg.full_name}: no members listed; open to {open_to}")
    for m in members:
        click.echo(f"{m.user:<24} {m.role:<8} since {m.added_at}")


@registry_group.command(name="members")
@click.argument("name")
@click.option("--org", help="Organization (default: the store's).")
@pass_state
def registry_members(state: State, name: str, org: str | None) -> None:
    """List a registry's members and their roles.

    Roles: viewer (read), member (also link, unlink, move aliases),
    admin (also edit or delete the registry and change its members).

    Example:

    \b
        localreg registry members model
    """
    store = state.store()
    reg = registries.get_registry(store, name, org)
    _members(state, reg, access.members(store, reg))


@registry_group.command(name="add-member")
@click.argument("name")
@click.argument("users", nargs=-1, required=True)
@click.option("--role", type=click.Choice(access.ROLES), default="member", show_default=True,
              help="Role of the users: viewer, member or admin.")
@click.option("--org", help="Organization (default: the store's).")
@pass_state
def registry_add_member(state: State, name: str, users: tuple[str, ...], role: str, org: str | None) -> None:
    """Add users to a registry with a role (or change their role). Needs admin.

    Example:

    \b
        localreg registry add-member fine-tuned alice bob --role viewer
    """
    store = state.store()
    reg = registries.get_registry(store, name, org)
    _members(state, reg, access.add_members(store, reg, list(users), role))


@registry_group.command(name="remove-member")
@click.argument("name")
@click.argument("users", nargs=-1, required=True)
@click.option("--org", help="Organization (default: the store's).")
@pass_state
def registry_remove_member(state: State, name: str, users: tuple[str, ...], org: str | None) -> None:
    """Remove users from a registry. Needs admin; the last admin stays.

    Example:

    \b
        localreg registry remove-member fine-tuned bob
    """
    store = state.store()
    reg = registries.get_registry(store, name, org)
    _members(state, reg, access.remove_members(store, reg, list(users)))


@cli.command(name="log-events")
@click.option("--limit", "-n", type=click.IntRange(1), default=50, show_default=True, help="How many events.")
@click.option("--user", "-u", help="Only this user's events.")
@click.option("--action", "-a", help="Only this action (log, link, unlink, alias-add, denied, ...).")
@click.option("--since", help="Only events at or after this time (ISO 8601, UTC).")
@pass_state
def log_events(state: State, limit: int, user: str | None, action: str | None, since: str | None) -> None:
    """Show the audit log: every change (who, when, what), refusals included.

    Example:

    \b
        localreg log-events --action denied --limit 20
    """
    found = audit.events(state.store(), limit=limit, user=user, action=action, since=since)
    if state.as_json:
        _print_json([e.to_dict() for e in found])
        return
    for e in found:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items()) if v not in (None, [], {}))
        click.echo(f"{e.at}  {e.user:<12} {e.action:<16} {e.target}" + (f"  ({detail})" if detail else ""))
