"""The audit log: every change to a store (who, when, what), refusals included.

Rows are appended by the verbs, inside the transaction of the change they
describe (so a change and its record commit together), and by
:meth:`Store.log_denial` for refused actions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import access
from . import db as dbmod
from .store import current_user

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class Event:
    id: int
    at: str
    user: str
    action: str
    target: str
    detail: dict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def events(store: "Store", *, limit: int = 100, user: str | None = None, action: str | None = None,
           since: str | None = None, target: str | None = None) -> list[Event]:
    """The newest ``limit`` events, newest first, filtered by user, action, time or target prefix.

    Events about a restricted registry the acting user may not read (its
    collections, links, aliases and members) are left out, but for the
    user's own (their refused attempts, say).
    """
    where: list[str] = ["1"]
    params: list[Any] = []
    me = current_user()
    hidden = access.hidden_targets(store, me)
    # a refused attempt's target may lack the org: "wandb-registry-R/..."
    for prefix in [*hidden, *{h.split("/", 1)[1] for h in hidden}]:
        # the registry itself, or anything under it ("/collection", ":version")
        where.append("(user = ? OR NOT (substr(target, 1, ?) = ? AND substr(target, ?, 1) IN ('', '/', ':')))")
        params.extend([me, len(prefix), prefix, len(prefix) + 1])
    if user:
        where.append("user = ?")
        params.append(user)
    if action:
        where.append("action = ?")
        params.append(action)
    if since:
        where.append("at >= ?")
        params.append(since)
    if target:
        where.append("substr(target, 1, ?) = ?")
        params.extend([len(target), target])
    rows = store.db.execute(
        f"SELECT id, at, user, action, target, detail FROM events WHERE {' AND '.join(where)} "
        "ORDER BY id DESC LIMIT ?",
        [*params, int(limit)],
    ).fetchall()
    return [Event(r[0], r[1], r[2], r[3], r[4], dbmod.json_cell(r[5], {}, store.db_path)) for r in rows]
