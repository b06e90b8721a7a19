"""Templates, display filters and the URLs of every page.

URLs are built here and only here, each path part quoted, so a name with
characters that need escaping (types may hold spaces) reaches the right
route. Pages of registry links live under ``/orgs/<org>/registry/...``;
pages of source versions under ``/<entity>/<project>/artifacts/...``, as
in W&B.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from .. import names
from ..errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    LocalregError,
    NotFound,
    PermissionDenied,
    ReadOnlyStore,
    StoreBusy,
)

if TYPE_CHECKING:
    from ..versions import Version

HERE = Path(__file__).resolve().parent
FLASH_COOKIE = "localreg_flash"


def q(part: object) -> str:
    """One path segment, quoted (``/`` included)."""
    return quote(str(part), safe="")


def with_query(url: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(kept)}" if kept else url


def page_url(request: Request, **params: Any) -> str:
    """This page's path and query (relative), with ``params`` set (None: removed)."""
    url = request.url.remove_query_params([k for k, v in params.items() if v is None])
    url = url.include_query_params(**{k: v for k, v in params.items() if v is not None})
    return f"{url.path}?{url.query}" if url.query else url.path


# -- URLs ---------------------------------------------------------------------------


def url_home(org: str | None = None) -> str:
    return "/" if org is None else f"/orgs/{q(org)}"


def url_registry(org: str, registry: str) -> str:
    return f"/orgs/{q(org)}/registry/{q(registry)}"


def url_collection(org: str, registry: str, collection: str) -> str:
    return f"{url_registry(org, registry)}/{q(collection)}"


def url_projects() -> str:
    return "/artifacts"


def url_project(entity: str, project: str) -> str:
    return f"/{q(entity)}/{q(project)}/artifacts"


def url_artifact(entity: str, project: str, type: str, name: str) -> str:
    return f"{url_project(entity, project)}/{q(type)}/{q(name)}"


def url_version(v: "Version") -> str:
    """The page of a version: a registry link's page in the Registry App; a source's, or a link in a
    project's link collection, in the artifact browser."""
    if v.registry is not None:
        return f"{url_collection(v.org or '', v.registry or '', v.collection)}/v{v.index}"
    return f"{url_artifact(v.entity or '', v.project or '', v.type, v.collection)}/v{v.index}"


def url_source(v: "Version") -> str:
    """The artifact-browser page of ``v``'s source version (``v`` itself for a source)."""
    if not v.is_link:
        return url_version(v)
    return (f"{url_artifact(v.source_entity or '', v.source_project or '', v.type, v.source_collection or '')}"
            f"/v{v.source_index}")


def url_file(v: "Version", path: str) -> str:
    return f"{url_version(v)}/files/" + "/".join(q(p) for p in path.split("/"))


def url_collection_of(v: "Version") -> str:
    if v.registry is not None:
        return url_collection(v.org or "", v.registry or "", v.collection)
    return url_artifact(v.entity or "", v.project or "", v.type, v.collection)


# -- display filters ------------------------------------------------------------------


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def when(ts: str | None) -> str:
    """``2026-11-27T10:32:05.123456Z`` as ``2026-11-27 10:32 UTC``."""
    if not ts:
        return "-"
    try:
        t = _dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return ts
    return t.strftime("%Y-%m-%d %H:%M UTC")


def short_digest(digest: str | None) -> str:
    if not digest:
        return "-"
    return digest[: len("sha256:") + 12]


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def json_value(value: Any) -> str:
    """A metadata value: short JSON on one line, long JSON indented."""
    flat = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return flat if len(flat) <= 80 else pretty_json(value)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n:,} {word}s"


def types_label(types: tuple[str, ...] | None) -> str:
    if types is None:
        return "All types"
    return ", ".join(types) or "None"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(size=human_size, when=when, short=short_digest, pretty_json=pretty_json, json_value=json_value,
                       plural=plural, types_label=types_label)
    env.globals.update(
        url_home=url_home, url_registry=url_registry, url_collection=url_collection,
        url_projects=url_projects, url_project=url_project, url_artifact=url_artifact,
        url_version=url_version, url_source=url_source, url_file=url_file,
        url_collection_of=url_collection_of, with_query=with_query, page_url=page_url,
        REGISTRY_PREFIX=names.REGISTRY_PREFIX,
    )
    return env


templates = Jinja2Templates(env=_env())


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """Render a page with what every page shows: the CSRF token, the store, a flash message."""
    store = request.app.state.store
    raw = request.cookies.get(FLASH_COOKIE)
    ctx = {
        "csrf_token": request.state.csrf_token,
        "store_home": str(store.home),
        "default_org": store.default("org"),
        "flash": unquote(raw) if raw else None,
        "error": None,
        "nav": "",
        **context,
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if raw is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def flash(response: Response, message: str) -> Response:
    """Show ``message`` once, on the next page rendered (a cookie, so no URL can forge it)."""
    response.set_cookie(FLASH_COOKIE, quote(message), path="/", httponly=True, samesite="strict")
    return response


def status_of(e: LocalregError) -> int:
    """The HTTP status for a library error."""
    if isinstance(e, NotFound):
        return 404
    if isinstance(e, (AlreadyExists, Conflict)):
        return 409
    if isinstance(e, (PermissionDenied, ReadOnlyStore)):
        return 403
    if isinstance(e, StoreBusy):
        return 503
    if isinstance(e, InvalidInput):
        return 400
    if isinstance(e, OSError):
        return 500
    return 400


def message_of(e: BaseException) -> str:
    return " ".join(str(e).split())


__all__ = ["templates", "render", "flash", "status_of", "message_of", "Markup"]
