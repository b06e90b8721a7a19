"""The JSON API under ``/api/``: what the pages show and do, for scripts and for the pages' own script.

Every answer is JSON. Listings are pages: ``{"items": [...], "cursor":
"..." | null}``; pass ``?cursor=`` to get the next one, ``?limit=`` (1-500)
to size it. A library error comes back as ``{"error": {"type": ...,
"message": ...}}`` with a 4xx status. POSTs take a JSON object and need
the ``X-CSRF-Token`` header (``GET /api/session`` gives it, with the
cookie it belongs to).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import catalog, names, registries, runs, versions
from ..errors import InvalidInput, NotFound
from ..store import current_user
from ..versions import Version
from .http import collection_filter, limit_of, registry_ref, store_of
from .lineage import lineage
from .render import url_collection, url_project, url_registry, url_version


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _page(items: list[Any], cursor: str | None) -> JSONResponse:
    return _json({"items": items, "cursor": cursor})


def _version(v: Version) -> dict[str, Any]:
    return {**v.to_dict(), "url": url_version(v)}


MAX_DEPTH = 32  # the bodies of this API are an object of strings and lists of strings


def _nesting(raw: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped), without parsing it.

    0 when the text holds too few brackets to pass :data:`MAX_DEPTH`.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return 0  # cannot nest deeper than it has brackets: the common case, no scan
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    # Python's parser recurses once per level: a deep enough body would end in a RecursionError (a 500)
    if _nesting(raw) > MAX_DEPTH:
        raise InvalidInput(f"the request body nests arrays or objects deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise InvalidInput("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise InvalidInput(f"{key!r} must be a list of strings")
    return value


# -- reading ------------------------------------------------------------------------------


def session(request: Request) -> Response:
    store = store_of(request)
    return _json({
        "csrf_token": request.state.csrf_token,
        "user": current_user(),
        "org": store.default("org"),
        "entity": store.default("entity"),
        "home": str(store.home),
    })


def orgs(request: Request) -> Response:
    return _json({"items": catalog.orgs(store_of(request))})


def org_registries(request: Request) -> Response:
    store = store_of(request)
    org = request.path_params["org"]
    return _json({"items": [{**r.to_dict(), "url": url_registry(r.org, r.name)}
                            for r in registries.list_registries(store, org)]})


def registry(request: Request) -> Response:
    store = store_of(request)
    r = registries.get_registry(store, request.path_params["registry"], request.path_params["org"])
    return _json({**r.to_dict(), "url": url_registry(r.org, r.name)})


def registry_collections(request: Request) -> Response:
    store = store_of(request)
    qp = request.query_params
    reg = registries.get_registry(store, request.path_params["registry"], request.path_params["org"])
    items, cursor = catalog.registry_collections_page(
        store, reg, filter=collection_filter(qp.get("name"), qp.get("tag"), qp.get("type")), order="+name",
        limit=limit_of(request), cursor=qp.get("cursor") or None,
    )
    return _page([{**c.to_dict(), "url": url_collection(reg.org, reg.name, c.name)} for c in items], cursor)


def _registry_collection_id(request: Request) -> int:
    store = store_of(request)
    p = request.path_params
    reg = registries.get_registry(store, p["registry"], p["org"])
    ref = names.parse_ref(registry_ref(reg.org, reg.name, p["collection"]), allow_alias=False)
    return versions.collection_id(store, ref)[0]


def registry_collection(request: Request) -> Response:
    c = registries.get_collection(store_of(request), _registry_collection_id(request))
    return _json({**c.to_dict(), "url": url_collection(c.org or "", c.registry or "", c.name)})


def collection_versions(request: Request) -> Response:
    store = store_of(request)
    cid = _registry_collection_id(request)
    page = catalog.collection_versions_page(store, cid, limit=limit_of(request),
                                            cursor=request.query_params.get("cursor") or None)
    return _page([_version(v) for v in page.items], page.cursor)


def teams(request: Request) -> Response:
    return _json({"items": catalog.teams(store_of(request))})


def team_projects(request: Request) -> Response:
    items = catalog.projects(store_of(request), request.path_params["entity"])
    return _json({"items": [{**p.to_dict(), "url": url_project(p.entity, p.name)} for p in items]})


def project_artifacts(request: Request) -> Response:
    store = store_of(request)
    p = request.path_params
    wanted = request.query_params.get("type")
    items = [c for c in catalog.project_collections(store, p["entity"], p["project"])
             if not wanted or c.type == wanted]
    return _json({"items": [c.to_dict() for c in items]})


def artifact_versions(request: Request) -> Response:
    store = store_of(request)
    p = request.path_params
    ref = names.Ref(name=names.check_name(p["name"]), project=names.check_name(p["project"], "project name"),
                    scope=names.check_name(p["entity"], "entity name"))
    cid = versions.collection_id(store, ref)[0]
    page = catalog.collection_versions_page(store, cid, limit=limit_of(request),
                                            cursor=request.query_params.get("cursor") or None)
    return _page([_version(v) for v in page.items], page.cursor)


def version(request: Request) -> Response:
    """One version by ``?ref=``: what its page shows (files, links, lineage)."""
    store = store_of(request)
    ref = request.query_params.get("ref")
    if not ref:
        raise InvalidInput("pass the version as ?ref=ENTITY/PROJECT/NAME:vN or ORG/wandb-registry-R/NAME:vN")
    v = versions.resolve(store, ref)
    logged = runs.logged_by(store, v)
    return _json({
        **_version(v),
        "files": [e.to_dict() for e in versions.entries(store, v)],
        "links": [_version(link) for link in versions.links_of(store, v)],
        "logged_by": logged.to_dict() if logged else None,
        "used_by": [r.to_dict() for r in runs.used_by(store, v)],
        "lineage": lineage(store, v).to_dict(),
    })


# -- writing ----------------------------------------------------------------------------


async def create_registry(request: Request) -> Response:
    data = await _body(request)
    org = request.path_params["org"]

    def create() -> Response:
        store = store_of(request)
        if org not in catalog.orgs(store):
            raise NotFound(f"organization {org!r} not found in store {store.home}", org)
        types = data.get("artifact_types")
        reg = registries.create_registry(
            store, data.get("name", ""), org=org, visibility=data.get("visibility", "organization"),
            description=data.get("description"),
            artifact_types=None if types is None else _strings(data, "artifact_types"),
        )
        return _json({**reg.to_dict(), "url": url_registry(reg.org, reg.name)}, 201)

    return await run_in_threadpool(create)


async def link(request: Request) -> Response:
    """``{"source": REF, "target": "[ORG/]wandb-registry-R/COLLECTION", "aliases": [...]}``."""
    data = await _body(request)

    def do() -> Response:
        store = store_of(request)
        source = versions.resolve(store, data.get("source"))  # type: ignore[arg-type]
        if source.is_link:
            raise InvalidInput(f"{source.qualified_name} is a linked version; link its source instead")
        created = registries.link(store, source, data.get("target"), _strings(data, "aliases"))  # type: ignore[arg-type]
        return _json(_version(created), 201)

    return await run_in_threadpool(do)


async def aliases(request: Request) -> Response:
    """``{"ref": REF, "add": [...], "remove": [...]}``: removes first, then adds."""
    data = await _body(request)

    def do() -> Response:
        store = store_of(request)
        v = versions.resolve(store, data.get("ref"))  # type: ignore[arg-type]
        add, remove = _strings(data, "add"), _strings(data, "remove")
        if not add and not remove:
            raise InvalidInput("give aliases to 'add' or 'remove'")
        with store.transaction():
            if remove:
                v = versions.remove_aliases(store, v, remove)
            if add:
                v = versions.add_aliases(store, v, add)
        return _json(_version(v))

    return await run_in_threadpool(do)


async def unlink(request: Request) -> Response:
    """``{"ref": LINKED_REF}``: removes the link; its source stays."""
    data = await _body(request)

    def do() -> Response:
        store = store_of(request)
        v = versions.resolve(store, data.get("ref"))  # type: ignore[arg-type]
        versions.unlink(store, v)
        return _json({"unlinked": v.qualified_name, "source": v.source_qualified_name})

    return await run_in_threadpool(do)
