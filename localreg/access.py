"""Who may do what in a registry: members with roles, checked against the acting user.

Roles, weakest first: ``viewer`` (read), ``member`` (also link, unlink and
move aliases), ``admin`` (also edit or delete the registry and change its
members). The acting user is ``$LOCALREG_USER``, else the OS user.

A user's role in a registry is their member row if they have one. Without
one: in a registry of ``organization`` visibility every user is a member,
and an admin too while the registry has no admin at all (so a personal
store works with no setup, and the core registries stay open until
someone claims them); a ``restricted`` registry is invisible to
non-members. Creating a registry makes its creator its admin.

Every write checks the role in the function that writes the row
(:func:`require`, :func:`require_collection`, :func:`require_links`),
so no caller can forget it. Every read hides what a non-member may not
see: listings, links of a source version, lineage and the audit log
filter with :func:`visible` or :func:`hidden_targets`; naming a
restricted registry directly is refused with :class:`PermissionDenied`.

Refusals raise :class:`~localreg.errors.PermissionDenied`; the store logs
each one in the audit log after rolling the refused change back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput, NotFound, PermissionDenied
from .store import current_user, now

if TYPE_CHECKING:
    from .registries import Registry
    from .store import Store

ROLES = ("viewer", "member", "admin")
NEEDS = {"read": "viewer", "link": "member", "unlink": "member", "alias": "member", "curate": "member",
         "edit": "admin", "delete": "admin", "members": "admin"}


@dataclass(frozen=True)
class Member:
    user: str
    role: str
    added_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_role(role: object) -> str:
    if role not in ROLES:
        raise InvalidInput(f"invalid role {role!r}: use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def role_of(store: "Store", registry_id: int, visibility: str, user: str | None = None) -> str | None:
    """The role ``user`` (default: the acting user) has in a registry, or None."""
    user = user or current_user()
    db = store.db
    row = db.execute("SELECT role FROM registry_members WHERE registry_id = ? AND user = ?", [registry_id, user]).fetchone()
    if row:
        return row[0]
    if visibility == "organization":
        has_admin = db.execute(
            "SELECT 1 FROM registry_members WHERE registry_id = ? AND role = 'admin' LIMIT 1", [registry_id]
        ).fetchone()
        return "member" if has_admin else "admin"
    return None


def allowed(role: str | None, action: str) -> bool:
    return role is not None and ROLES.index(role) >= ROLES.index(NEEDS[action])


def require(store: "Store", registry_id: int, action: str, what: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless the acting user may do ``action`` in the registry."""
    row = store.db.execute(
        "SELECT r.visibility, r.name, o.name FROM registries r JOIN orgs o ON o.id = r.org_id WHERE r.id = ?",
        [registry_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"registry id {registry_id} not found", registry_id)
    visibility, name, org = row
    user = current_user()
    role = role_of(store, registry_id, visibility, user)
    if not allowed(role, action):
        target = what or f"{org}/wandb-registry-{name}"
        if role is None:
            denied = PermissionDenied(
                f"user {user!r} is not a member of restricted registry {name!r} in organization {org!r}: cannot {action} {target}",
                user=user, action=action, target=target,
            )
        else:
            denied = PermissionDenied(
                f"user {user!r} is a {role} of registry {name!r} in organization {org!r}; "
                f"{action} on {target} needs the {NEEDS[action]} role",
                user=user, action=action, target=target,
            )
        # inside a transaction the store logs it after the rollback
        store.log_denial(denied)
        raise denied


def require_collection(store: "Store", collection_id: int, action: str, what: str | None = None) -> None:
    """As :func:`require`, for a collection: nothing to check for a project's (source) collection."""
    row = store.db.execute("SELECT registry_id FROM collections WHERE id = ?", [collection_id]).fetchone()
    if row and row[0] is not None:
        require(store, row[0], action, what)


def readable(store: "Store", registry_id: int, visibility: str) -> bool:
    return allowed(role_of(store, registry_id, visibility), "read")


_HIDDEN = (
    "SELECT hr.id FROM registries hr WHERE hr.visibility = 'restricted' AND NOT EXISTS "
    "(SELECT 1 FROM registry_members hm WHERE hm.registry_id = hr.id AND hm.user = ?)"
)


def visible(column: str, user: str | None = None) -> tuple[str, list[Any]]:
    """A SQL condition and its parameters: true when the registry id in ``column`` may be read.

    ``column`` holds a registry id, or NULL for a project's row (always
    visible). A restricted registry is readable by its members only (any
    role), as :func:`role_of` says.
    """
    return f"({column} IS NULL OR {column} NOT IN ({_HIDDEN}))", [user or current_user()]


def hidden_targets(store: "Store", user: str | None = None) -> list[str]:
    """``org/wandb-registry-R`` of every registry the user may not read (audit targets start so)."""
    rows = store.db.execute(
        f"SELECT o.name, r.name FROM registries r JOIN orgs o ON o.id = r.org_id WHERE r.id IN ({_HIDDEN})",
        [user or current_user()],
    ).fetchall()
    return [f"{org}/wandb-registry-{name}" for org, name in rows]


def require_links(store: "Store", registry_ids: "set[int] | list[int]", action: str, what: str,
                  doing: str | None = None) -> None:
    """For a change of source version ``what`` that reaches its links (deleting it, a ttl that expires it).

    The acting user needs ``action`` in every registry holding a link. A
    registry the user may not see is not named in the refusal, which says
    the user cannot ``doing`` (default: "change ``what``").
    """
    user = current_user()
    for rid in sorted(set(registry_ids)):
        row = store.db.execute("SELECT visibility FROM registries WHERE id = ?", [rid]).fetchone()
        if row is None:
            continue
        role = role_of(store, rid, row[0], user)
        if allowed(role, action):
            continue
        if role is None:
            denied = PermissionDenied(
                f"user {user!r} cannot {doing or f'change {what}'}: it is linked into a restricted registry "
                f"they are not a member of ({action} there needs the {NEEDS[action]} role)",
                user=user, action=action, target=what,
            )
            store.log_denial(denied)
            raise denied
        # a viewer sees the registry: named, and as the target (so the audit log hides it from non-members)
        require(store, rid, action)


def members(store: "Store", registry: "Registry") -> list[Member]:
    require(store, registry.id, "read")
    return [
        Member(*r)
        for r in store.db.execute(
            "SELECT user, role, added_at FROM registry_members WHERE registry_id = ? ORDER BY user", [registry.id]
        )
    ]


def _users(users: Any) -> list[str]:
    if isinstance(users, str):
        users = [users]
    out = []
    for u in users:
        name = getattr(u, "username", None) or getattr(u, "name", None) or u
        if not isinstance(name, str) or not name or len(name) > 128 or any(c in name for c in "\x00\n\r\t"):
            raise InvalidInput(f"invalid user {u!r}: expected a user name")
        out.append(name)
    return out


def add_members(store: "Store", registry: "Registry", users: Any, role: str = "member") -> list[Member]:
    """Add users with ``role`` (an existing member's role is changed). Needs admin."""
    check_role(role)
    names = _users(users)
    with store.transaction() as db:
        require(store, registry.id, "members")
        ts = now()
        for u in names:
            db.execute(
                "INSERT INTO registry_members (registry_id, user, role, added_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (registry_id, user) DO UPDATE SET role = excluded.role",
                [registry.id, u, role, ts],
            )
        store.event("member-add", f"{registry.org}/{registry.full_name}", users=names, role=role)
        return members(store, registry)


def update_member(store: "Store", registry: "Registry", user: Any, role: str) -> list[Member]:
    """Change a member's role. Needs admin; the last admin cannot step down."""
    check_role(role)
    [name] = _users([user])
    with store.transaction() as db:
        require(store, registry.id, "members")
        cur = db.execute(
            "UPDATE registry_members SET role = ? WHERE registry_id = ? AND user = ?", [role, registry.id, name]
        )
        if cur.rowcount == 0:
            raise NotFound(f"user {name!r} is not a member of registry {registry.name!r}", name)
        _keep_an_admin(store, registry)
        store.event("member-update", f"{registry.org}/{registry.full_name}", user=name, role=role)
        return members(store, registry)


def remove_members(store: "Store", registry: "Registry", users: Any) -> list[Member]:
    """Remove members. Needs admin; the last admin cannot be removed."""
    names = _users(users)
    with store.transaction() as db:
        require(store, registry.id, "members")
        for u in names:
            cur = db.execute("DELETE FROM registry_members WHERE registry_id = ? AND user = ?", [registry.id, u])
            if cur.rowcount == 0:
                raise NotFound(f"user {u!r} is not a member of registry {registry.name!r}", u)
        _keep_an_admin(store, registry)
        store.event("member-remove", f"{registry.org}/{registry.full_name}", users=names)
        return members(store, registry)


def _keep_an_admin(store: "Store", registry: "Registry") -> None:
    if registry.visibility != "restricted":
        return
    if not store.db.execute(
        "SELECT 1 FROM registry_members WHERE registry_id = ? AND role = 'admin' LIMIT 1", [registry.id]
    ).fetchone():
        raise InvalidInput(f"restricted registry {registry.name!r} must keep at least one admin")
