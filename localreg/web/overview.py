"""What a version's page shows, for a source version and a link alike, and file downloads."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .. import catalog, registries, runs, versions
from ..errors import CorruptBlob, InvalidInput, LocalregError, NotFound
from ..objects import Objects
from ..versions import Version
from .http import redirect, split_list, store_of
from .lineage import lineage, to_svg
from .render import flash, message_of, status_of, url_collection_of, url_version

FILES_PER_PAGE = 100
log = logging.getLogger(__name__)


def overview(request: Request, v: Version) -> dict[str, Any]:
    """The template context of a version's overview: files (one page), lineage, links, link targets."""
    store = store_of(request)
    source = versions.get(store, v.data_id) if v.is_link else v
    files = versions.entries(store, v)
    try:
        page = max(int(request.query_params.get("files", "1")), 1)
    except ValueError:
        raise InvalidInput(f"invalid files page {request.query_params.get('files')!r}") from None
    pages = max((len(files) + FILES_PER_PAGE - 1) // FILES_PER_PAGE, 1)
    page = min(page, pages)
    graph = lineage(store, v)
    return {
        "v": v,
        "source": source,
        "files": files[(page - 1) * FILES_PER_PAGE: page * FILES_PER_PAGE],
        "file_total": len(files),
        "files_page": page,
        "files_pages": pages,
        "links": versions.links_of(store, source),
        "logged_by": runs.logged_by(store, source),
        "used_by": runs.used_by(store, source),
        "lineage_svg": to_svg(graph),
        "link_targets": link_targets(request, v.type),
    }


def link_targets(request: Request, type: str) -> list[dict[str, Any]]:
    """Every registry of every org, and whether it accepts ``type``: the choices of "Link to registry"."""
    store = store_of(request)
    out = []
    for org in catalog.orgs(store):
        for reg in registries.list_registries(store, org):
            allowed = reg.artifact_types is None or type in reg.artifact_types
            out.append({"org": org, "registry": reg, "allowed": allowed, "value": f"{org}/{reg.name}"})
    return out


def download(request: Request, v: Version, path: str) -> Response:
    """Stream one file of ``v``; no piece is sent before it was checked against its digest (see ``BlobReader.checked``)."""
    store = store_of(request)
    entry = versions.entry(store, v, path)
    if entry.ref is not None:
        raise NotFound(f"file {path!r} of {v.qualified_name} is a reference to {entry.ref}; "
                       "localreg does not hold its bytes", path)
    name = path.rsplit("/", 1)[-1]
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
    headers = {
        "content-disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "content-length": str(entry.size),
        "x-content-digest": entry.digest,
    }
    chunks = Objects(store).iter_bytes(entry.digest)
    # every piece is checked before it is yielded, and every blob the file
    # needs is opened first: a missing or corrupt blob raises here, while a
    # readable error page can still be sent
    first = next(chunks, b"")

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    return CheckedDownload(body(), media_type="application/octet-stream", headers=headers)


class CheckedDownload(StreamingResponse):
    """A streamed download that a damaged blob found mid-way ends unfinished.

    The status line has gone by then: the body stops short of its
    ``Content-Length`` and the server closes the connection, so no client
    takes it for the whole file (the pieces sent were all checked, the
    last one is never sent). The server log gets one line naming the blob.
    """

    async def stream_response(self, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except CorruptBlob as e:
            log.error("download stopped unfinished: %s", message_of(e))
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def edit_aliases_of(request: Request, form: dict[str, str], find: Callable[[Request], Version],
                    page: Callable[..., Response]) -> Response:
    """Add or remove aliases of the version ``find`` names; ``page`` re-renders it with an error."""
    store = store_of(request)
    try:
        v = find(request)
        wanted = split_list(form.get("alias"))
        if not wanted:
            raise InvalidInput("type an alias")
        if form.get("action") == "remove":
            v = versions.remove_aliases(store, v, wanted)
            message = f"Removed {', '.join(wanted)} from {v.qualified_name}."
        elif form.get("action") == "add":
            v = versions.add_aliases(store, v, wanted)
            message = f"{v.qualified_name} now has the aliases {', '.join(v.aliases)}."
        else:
            raise InvalidInput(f"unknown alias action {form.get('action')!r}: use add or remove")
    except LocalregError as e:
        return page(request, error=message_of(e), status=status_of(e))
    return flash(redirect(url_version(v)), message)


def unlink_of(request: Request, find: Callable[[Request], Version], page: Callable[..., Response]) -> Response:
    """Unlink the linked version ``find`` names (its source stays); ``page`` re-renders it with an error."""
    try:
        v = find(request)
        versions.unlink(store_of(request), v)
    except LocalregError as e:
        return page(request, error=message_of(e), status=status_of(e))
    return flash(redirect(url_collection_of(v)),
                 f"Unlinked {v.qualified_name}; its source {v.source_qualified_name} stays.")
