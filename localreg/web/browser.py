"""Artifact browser pages: projects, their artifacts by type, source versions, "Link to registry"."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .. import catalog, names, registries, versions
from ..errors import InvalidInput, LocalregError, NotFound
from ..registries import Collection
from ..versions import Version
from .http import form_of, limit_of, redirect, registry_ref, split_list, store_of
from .overview import download, edit_aliases_of, overview, unlink_of
from .render import flash, message_of, render, status_of, url_version

SIDEBAR_VERSIONS = 10
SIDEBAR_PREVIEWS = 40  # past this many collections, only the open one lists its versions


def projects_page(request: Request) -> Response:
    store = store_of(request)
    return render(request, "projects.html", {"nav": "artifacts", "projects": catalog.projects(store)})


def _project(request: Request) -> tuple[str, str]:
    store = store_of(request)
    entity = names.check_name(request.path_params["entity"], "entity name")
    project = names.check_name(request.path_params["project"], "project name")
    store.project_id(entity, project)  # NotFound names the project
    return entity, project


def sidebar(request: Request, entity: str, project: str, current: Collection | None = None) -> list[dict[str, Any]]:
    """Types -> collections -> newest versions of ``entity/project``, for the left sidebar."""
    store = store_of(request)
    collections = catalog.project_collections(store, entity, project)
    preview_all = len(collections) <= SIDEBAR_PREVIEWS
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in collections:
        is_open = current is not None and c.id == current.id
        preview = None
        if preview_all or is_open:
            preview = catalog.collection_versions_page(store, c.id, limit=SIDEBAR_VERSIONS).items
        # with nothing chosen yet, every listed collection shows its versions
        groups.setdefault(c.type, []).append({"coll": c, "open": is_open or (current is None and preview_all),
                                              "versions": preview})
    return [{"type": t, "collections": cs, "open": current is None or current.type == t}
            for t, cs in sorted(groups.items())]


def project_page(request: Request) -> Response:
    entity, project = _project(request)
    store = store_of(request)
    return render(request, "project.html", {
        "nav": "artifacts",
        "entity": entity,
        "project": project,
        "sidebar": sidebar(request, entity, project),
        "collections": catalog.project_collections(store, entity, project),
    })


def _collection(request: Request) -> Collection:
    store = store_of(request)
    entity, project = _project(request)
    ref = names.Ref(name=names.check_name(request.path_params["name"]), project=project, scope=entity)
    cid, ctype, where = versions.collection_id(store, ref)
    wanted = request.path_params["type"]
    if ctype != wanted:
        raise NotFound(f"artifact {ref.name!r} of type {wanted!r} not found in {where} (it has type {ctype!r})",
                       str(ref))
    return registries.get_collection(store, cid)


def artifact_page(request: Request) -> Response:
    store = store_of(request)
    coll = _collection(request)
    cursor = request.query_params.get("cursor") or None
    page = catalog.collection_versions_page(store, coll.id, limit=limit_of(request), cursor=cursor)
    return render(request, "artifact.html", {
        "nav": "artifacts",
        "entity": coll.entity,
        "project": coll.project,
        "coll": coll,
        "sidebar": sidebar(request, coll.entity or "", coll.project or "", coll),
        "versions": page.items,
        "cursor": cursor,
        "next_cursor": page.cursor,
    })


def source_version(request: Request) -> Version:
    """The version this page's URL names (``vN`` or an alias): a source version, or a link of a project's
    link collection."""
    store = store_of(request)
    coll = _collection(request)
    wanted = request.path_params["version"]
    return versions.resolve(store, f"{coll.path}:{wanted}")


def version_page(request: Request) -> Response:
    return _version_page(request)


def _version_page(request: Request, *, error: str | None = None, link_error: str | None = None,
                  form: dict[str, str] | None = None, status: int = 200) -> Response:
    v = source_version(request)
    if request.path_params["version"] != v.version:
        return redirect(url_version(v))
    store = store_of(request)
    coll = registries.get_collection(store, v.collection_id)
    return render(request, "version.html", {
        "nav": "artifacts",
        "error": error,
        "link_error": link_error,
        "form": form or {},
        "entity": v.entity,
        "project": v.project,
        "sidebar": sidebar(request, v.entity or "", v.project or "", coll),
        **overview(request, v),
    }, status)


async def link_to_registry(request: Request) -> Response:
    form = await form_of(request)
    return await run_in_threadpool(_link_to_registry, request, form)


def _link_to_registry(request: Request, form: dict[str, str]) -> Response:
    store = store_of(request)
    try:
        v = source_version(request)
        org, _, reg = form.get("registry", "").partition("/")
        if not org or not reg:
            raise InvalidInput("choose a registry to link to")
        collection = form.get("collection", "")
        if collection == "__new__":
            collection = form.get("new_collection", "").strip()
            if not collection:
                raise InvalidInput("type a name for the new collection")
        elif not collection:
            raise InvalidInput("choose a collection, or create a new one")
        names.check_name(collection, "collection name")
        link = registries.link(store, v, registry_ref(org, names.registry_name(reg), collection),
                               split_list(form.get("aliases")))
    except LocalregError as e:
        return _version_page(request, link_error=message_of(e), form=form, status=status_of(e))
    return flash(redirect(url_version(v) + "#linked-to"),
                 f"Linked {link.source_qualified_name} as {link.qualified_name} "
                 f"(aliases: {', '.join(link.aliases)}).")


async def unlink(request: Request) -> Response:
    """Unlink a version of a project's link collection (W&B's portfolio); its source stays."""
    await form_of(request)
    return await run_in_threadpool(unlink_of, request, source_version, _version_page)


async def edit_aliases(request: Request) -> Response:
    form = await form_of(request)
    return await run_in_threadpool(edit_aliases_of, request, form, source_version, _version_page)


def version_download(request: Request) -> Response:
    return download(request, source_version(request), request.path_params["path"])

