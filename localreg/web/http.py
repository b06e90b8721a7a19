"""Small request helpers shared by the pages and the JSON API."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse

from .. import names
from ..errors import InvalidInput
from ..store import Store

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def store_of(request: Request) -> Store:
    """The app's store; its SQLite connection is per thread, so each request sees the latest commit."""
    return request.app.state.store


async def form_of(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (the CSRF field left out)."""
    form = await request.form()
    out = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    await form.close()
    return out


def redirect(url: str) -> RedirectResponse:
    """303: after a POST, the browser GETs the page it is sent to."""
    return RedirectResponse(url, status_code=303)


def split_list(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: aliases and types are typed comma-separated."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def limit_of(request: Request, default: int = PAGE_SIZE) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise InvalidInput(f"invalid limit {raw!r}: expected a number from 1 to {MAX_PAGE_SIZE}") from None
    if not 1 <= n <= MAX_PAGE_SIZE:
        raise InvalidInput(f"invalid limit {n}: expected a number from 1 to {MAX_PAGE_SIZE}")
    return n


def collection_filter(name: str | None = None, tag: str | None = None, type: str | None = None) -> dict[str, Any] | None:
    """A MongoDB-style filter: name contains ``name`` (any case), has ``tag``, is of ``type``."""
    parts: list[dict[str, Any]] = []
    if name:
        parts.append({"name": {"$regex": "(?i)" + re.escape(name)}})
    if tag:
        parts.append({"tag": tag})
    if type:
        parts.append({"type": type})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def source_ref(entity: str, project: str, artifact: str, version: str) -> str:
    """``entity/project/artifact:version`` from four choices, each checked on its own."""
    missing = [what for what, value in (("a team", entity), ("a project", project), ("an artifact", artifact),
                                        ("a version", version)) if not value]
    if missing:
        listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        raise InvalidInput(f"choose {listed} to link")
    names.check_name(entity, "team name")
    names.check_name(project, "project name")
    names.check_name(artifact, "artifact name")
    if not names.is_version(version):
        names.check_alias(version)
    return f"{entity}/{project}/{artifact}:{version}"


def registry_ref(org: str, registry: str, collection: str, version: str | None = None) -> str:
    ref = f"{org}/{names.REGISTRY_PREFIX}{registry}/{collection}"
    return f"{ref}:{version}" if version else ref
