"""The web app: routes, the security middleware, and how errors are shown.

:func:`create_app` builds a Starlette app over one :class:`~localreg.store.Store`.
Every page and API handler reads and writes through the library; the
store's SQLite connection is per thread (WAL), so a request sees whatever
the CLI or the Python API committed before it, while the app runs.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import LocalregError
from ..store import Store
from . import api, browser, registry
from .render import HERE, message_of, render, status_of
from .security import Guard, allowed_hosts

POST = ["POST"]


def routes() -> list[Any]:
    link = "/orgs/{org}/registry/{registry}/{collection}/{version}"
    source = "/{entity}/{project}/artifacts/{type}/{name}/{version}"
    return [
        Mount("/-/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        # JSON API
        Route("/api/session", api.session),
        Route("/api/orgs", api.orgs),
        Route("/api/orgs/{org}/registries", api.org_registries),
        Route("/api/orgs/{org}/registries", api.create_registry, methods=POST),
        Route("/api/orgs/{org}/registries/{registry}", api.registry),
        Route("/api/orgs/{org}/registries/{registry}/collections", api.registry_collections),
        Route("/api/orgs/{org}/registries/{registry}/collections/{collection}", api.registry_collection),
        Route("/api/orgs/{org}/registries/{registry}/collections/{collection}/versions", api.collection_versions),
        Route("/api/teams", api.teams),
        Route("/api/teams/{entity}/projects", api.team_projects),
        Route("/api/teams/{entity}/projects/{project}/artifacts", api.project_artifacts),
        Route("/api/teams/{entity}/projects/{project}/artifacts/{name}/versions", api.artifact_versions),
        Route("/api/version", api.version),
        Route("/api/links", api.link, methods=POST),
        Route("/api/aliases", api.aliases, methods=POST),
        Route("/api/unlink", api.unlink, methods=POST),
        # Registry App
        Route("/", registry.home),
        Route("/orgs/{org}", registry.home),
        Route("/orgs/{org}/registries", registry.create_registry, methods=POST),
        Route("/orgs/{org}/registry/{registry}", registry.registry_page),
        Route("/orgs/{org}/registry/{registry}/{collection}", registry.collection_page),
        Route("/orgs/{org}/registry/{registry}/{collection}/link", registry.link_new_version, methods=POST),
        Route(link, registry.link_page),
        Route(link + "/aliases", registry.edit_aliases, methods=POST),
        Route(link + "/unlink", registry.unlink, methods=POST),
        Route(link + "/files/{path:path}", registry.link_download),
        # artifact browser
        Route("/artifacts", browser.projects_page),
        Route("/{entity}/{project}/artifacts", browser.project_page),
        Route("/{entity}/{project}/artifacts/{type}/{name}", browser.artifact_page),
        Route(source, browser.version_page),
        Route(source + "/link", browser.link_to_registry, methods=POST),
        Route(source + "/aliases", browser.edit_aliases, methods=POST),
        Route(source + "/unlink", browser.unlink, methods=POST),
        Route(source + "/files/{path:path}", browser.version_download),
    ]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LocalregError)
    status, message = status_of(exc), message_of(exc)
    if _wants_json(request):
        return JSONResponse({"error": {"type": type(exc).__name__, "message": message}}, status_code=status)
    return render(request, "error.html", {"message": message, "status": status}, status)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "There is no page here.", 405: "This address does not take that method."}.get(
        exc.status_code, str(exc.detail))
    if _wants_json(request):
        return JSONResponse({"error": {"type": "HTTPError", "message": message}}, status_code=exc.status_code,
                            headers=exc.headers)
    return render(request, "error.html", {"message": message, "status": exc.status_code}, exc.status_code)


def create_app(
    home: str | os.PathLike | None = None,
    *,
    store: Store | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    secret: bytes | None = None,
) -> Starlette:
    """The web app over ``store`` (or the store at ``home``, which must exist).

    ``host`` and ``port`` are the address the server is bound to: requests
    naming any other host are refused. ``secret`` keys the CSRF tokens
    (random per app when None).
    """
    if store is None:
        store = Store(home, create=False)
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(Guard, hosts=allowed_hosts(host, port), secret=secret)],
        exception_handlers={LocalregError: _library_error, HTTPException: _http_error},
    )
    app.state.store = store
    return app
