"""Registry App pages: registries, their collections, linked versions, and linking into them.

Handlers that only read are plain functions (Starlette runs them in a
worker thread, where the store has its own connection). Handlers of a
POST read the form, then do their work in a worker thread; a library
error re-renders the page the form came from with the message, and the
library wrote nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .. import catalog, names, registries, versions
from ..errors import InvalidInput, LocalregError, NotFound
from .http import (
    collection_filter, form_of, limit_of, redirect, registry_ref, source_ref, split_list, store_of,
)
from .overview import download, edit_aliases_of, overview, unlink_of
from .render import flash, message_of, render, status_of, url_collection, url_registry, url_version


def _org(request: Request) -> str:
    store = store_of(request)
    org = request.path_params.get("org") or store.default("org")
    if org not in catalog.orgs(store):
        raise NotFound(f"organization {org!r} not found in store {store.home}", org)
    return org


# -- home: the registries of an org -------------------------------------------------


def home(request: Request) -> Response:
    return _home(request, _org(request))


def _home(request: Request, org: str, *, error: str | None = None, form: dict[str, str] | None = None,
          status: int = 200) -> Response:
    store = store_of(request)
    return render(request, "home.html", {
        "nav": "registry",
        "org": org,
        "orgs": catalog.orgs(store),
        "registries": registries.list_registries(store, org),
        "create_error": error,
        "form": form or {},
    }, status)


async def create_registry(request: Request) -> Response:
    form = await form_of(request)
    return await run_in_threadpool(_create_registry, request, form)


def _create_registry(request: Request, form: dict[str, str]) -> Response:
    org = _org(request)
    store = store_of(request)
    try:
        types = None if form.get("types_mode", "all") == "all" else split_list(form.get("artifact_types"))
        if types == []:
            raise InvalidInput("list at least one artifact type, or allow all types")
        reg = registries.create_registry(
            store, form.get("name", "").strip(), org=org, visibility=form.get("visibility", "organization"),
            description=form.get("description") or None, artifact_types=types,
        )
    except LocalregError as e:
        return _home(request, org, error=message_of(e), form=form, status=status_of(e))
    return flash(redirect(url_registry(org, reg.name)), f"Created registry {reg.full_name}.")


# -- a registry: its collections -------------------------------------------------------


def registry_page(request: Request) -> Response:
    store = store_of(request)
    org = _org(request)
    reg = registries.get_registry(store, request.path_params["registry"], org)
    name = request.query_params.get("name", "").strip()
    tag = request.query_params.get("tag", "").strip()
    cursor = request.query_params.get("cursor") or None
    filt = collection_filter(name=name, tag=tag)
    items, next_cursor = catalog.registry_collections_page(
        store, reg, filter=filt, order="+name", limit=limit_of(request), cursor=cursor)
    return render(request, "registry.html", {
        "nav": "registry",
        "org": org,
        "reg": reg,
        "collections": items,
        "total": catalog.count_registry_collections(store, reg, filter=filt),
        "name_filter": name,
        "tag_filter": tag,
        "cursor": cursor,
        "next_cursor": next_cursor,
    })


# -- a collection: its linked versions, and "Link new version" -----------------------------


def collection_page(request: Request) -> Response:
    return _collection_page(request)


def _collection_page(request: Request, *, panel_error: str | None = None, form: dict[str, str] | None = None,
                     status: int = 200) -> Response:
    store = store_of(request)
    org = _org(request)
    p = request.path_params
    reg = registries.get_registry(store, p["registry"], org)
    cid, _type, _where = versions.collection_id(store, names.parse_ref(registry_ref(org, reg.name, p["collection"])))
    coll = registries.get_collection(store, cid)
    cursor = request.query_params.get("cursor") or None
    page = catalog.collection_versions_page(store, cid, limit=limit_of(request), cursor=cursor)
    return render(request, "collection.html", {
        "nav": "registry",
        "org": org,
        "reg": reg,
        "coll": coll,
        "links": page.items,
        "cursor": cursor,
        "next_cursor": page.cursor,
        "panel_error": panel_error,
        "form": form or {},
        "default_team": store.default("entity"),
    }, status)


async def link_new_version(request: Request) -> Response:
    form = await form_of(request)
    return await run_in_threadpool(_link_new_version, request, form)


def _link_new_version(request: Request, form: dict[str, str]) -> Response:
    store = store_of(request)
    org = _org(request)
    p = request.path_params
    try:
        reg = registries.get_registry(store, p["registry"], org)
        ref = source_ref(form.get("entity", ""), form.get("project", ""), form.get("artifact", ""),
                         form.get("version", ""))
        source = versions.resolve(store, ref)
        if source.is_link:  # only source versions are offered, but a hand-made form may say otherwise
            raise InvalidInput(f"{source.qualified_name} is a linked version; link its source instead")
        link = registries.link(store, source, registry_ref(org, reg.name, p["collection"]),
                               split_list(form.get("aliases")))
    except LocalregError as e:
        return _collection_page(request, panel_error=message_of(e), form=form, status=status_of(e))
    return flash(redirect(url_collection(org, link.registry or "", link.collection) + f"#v{link.index}"),
                 f"Linked {link.source_qualified_name} as {link.qualified_name} "
                 f"(aliases: {', '.join(link.aliases)}).")


# -- a linked version ---------------------------------------------------------------------


def _link(request: Request) -> Any:
    store = store_of(request)
    org = _org(request)
    p = request.path_params
    reg = registries.get_registry(store, p["registry"], org)
    return versions.resolve(store, registry_ref(org, reg.name, p["collection"], p["version"]))


def link_page(request: Request) -> Response:
    return _link_page(request)


def _link_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    v = _link(request)
    if request.path_params["version"] != v.version:
        return redirect(url_version(v))  # an alias in the URL: go to the version it names
    return render(request, "version.html", {"nav": "registry", "error": error, **overview(request, v)}, status)


async def edit_aliases(request: Request) -> Response:
    form = await form_of(request)
    return await run_in_threadpool(edit_aliases_of, request, form, _link, _link_page)


async def unlink(request: Request) -> Response:
    await form_of(request)
    return await run_in_threadpool(unlink_of, request, _link, _link_page)


def link_download(request: Request) -> Response:
    return download(request, _link(request), request.path_params["path"])
