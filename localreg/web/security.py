"""Who may talk to the web app: the Host check and the cross-site request guard.

Every request must carry a ``Host`` header naming the address the server
is bound to (``127.0.0.1:8080``, and its loopback aliases when bound to
loopback): a page on another site that rebinds its DNS name to 127.0.0.1
is refused with 400, so it can neither read nor write.

Every state-changing request (anything but GET/HEAD/OPTIONS) must prove it
comes from a page of this app, or it is refused with 403 before any
handler runs:

* a per-session random value lives in an HttpOnly, SameSite=Strict cookie;
  the request carries ``HMAC(server secret, cookie)`` as the form field
  ``csrf_token`` or the header ``X-CSRF-Token`` (a value another site can
  neither read nor compute, even if it managed to plant the cookie from a
  sibling port of localhost);
* a browser's ``Origin`` must name this server, and ``Sec-Fetch-Site``
  must not say ``cross-site`` or ``same-site``.

The check lives in one ASGI middleware, so no handler can forget it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Iterable
from html import escape
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "localreg_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_BODY = 1 << 20  # forms and JSON of this app are small; nothing is uploaded
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _machine_names() -> set[str]:
    """This machine's names and addresses: what other machines call it when the server listens on all."""
    out: set[str] = set()
    try:
        name = socket.gethostname()
        out.update({name.lower(), socket.getfqdn().lower()})
        out.update(socket.gethostbyname_ex(name)[2])
    except OSError:
        pass
    return out


def allowed_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values accepted for a server bound to ``host:port``.

    Loopback and wildcard addresses also accept the loopback names; a
    wildcard address accepts this machine's names and addresses as well.
    """
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address, as it appears in a Host header
    bases = {host}
    ip = _ip(host)
    if host == "localhost" or (ip is not None and (ip.is_loopback or ip.is_unspecified)):
        bases.update(LOOPBACK_NAMES)
    if ip is not None and ip.is_unspecified:
        bases.update(_machine_names())
    out = {f"{b}:{port}" for b in bases}
    if port == 80:
        out.update(bases)
    return out


def token_for(secret: bytes, session: str) -> str:
    """The CSRF token that goes with a session cookie."""
    return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()


class Guard:
    """ASGI middleware: Host check on every request, CSRF check on every unsafe one.

    Puts ``csrf_token`` into ``request.state`` for templates, and sets the
    session cookie on the response when the request had none.
    """

    def __init__(self, app: ASGIApp, hosts: Iterable[str], secret: bytes | None = None) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.secret = secret or secrets.token_bytes(32)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        is_api = scope.get("path", "").startswith("/api/")
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            await _refuse(send, 400, f"Host {host or '(none)'!r} is not served here. "
                          f"Open {_first(self.hosts)} instead.", is_api)
            return
        session = _cookie(headers.get("cookie", ""), CSRF_COOKIE)
        new_session = None
        if not session:
            session = new_session = secrets.token_urlsafe(32)
        expected = token_for(self.secret, session)
        state = scope.setdefault("state", {})
        state["csrf_token"] = expected

        if scope["method"] not in SAFE_METHODS:
            problem = self._cross_site(headers)
            body = b""
            if problem is None:
                body, too_big = await _read_body(receive)
                if too_big:
                    await _refuse(send, 413, "The request is too large.", is_api)
                    return
                if new_session is not None:
                    problem = "the request came without the session cookie of this app; reload the page and try again"
                else:
                    given = headers.get(CSRF_HEADER) or _form_token(headers, body)
                    if not given or not hmac.compare_digest(given, expected):
                        problem = ("the request's security token is missing or out of date "
                                   "(was the server restarted?); reload the page and try again")
            if problem is not None:
                await _refuse(send, 403, f"Refused: {problem}.", is_api)
                return
            receive = _replay(body, receive)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_session is not None:
                h = MutableHeaders(scope=message)
                h.append("set-cookie", f"{CSRF_COOKIE}={new_session}; Path=/; HttpOnly; SameSite=Strict")
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cross_site(self, headers: Headers) -> str | None:
        site = headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            return f"the request came from another site ({site})"
        origin = headers.get("origin")
        if origin is not None:
            netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
            if netloc not in self.hosts:
                return f"the request came from another origin ({origin})"
        return None


def _first(hosts: set[str]) -> str:
    preferred = sorted(hosts, key=lambda h: (not h.startswith("127.0.0.1"), h))
    return f"http://{preferred[0]}/" if preferred else "the address the server printed"


def _cookie(header: str, name: str) -> str | None:
    try:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
    except Exception:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _form_token(headers: Headers, body: bytes) -> str | None:
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
    return values[0] if values else None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, original: Receive) -> Receive:
    """A ``receive`` that hands out the body read already, then waits on the real one."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _refuse(send: Send, status: int, message: str, as_json: bool) -> None:
    if as_json:
        body = json.dumps({"error": {"type": "Refused", "message": message}}).encode()
        ctype = b"application/json"
    else:
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>localreg: refused</title>"
            '<link rel=stylesheet href="/-/static/app.css">'
            f'<main class=narrow><div class="alert error" role=alert>{escape(message)}</div>'
            '<p><a href="/">Back to localreg</a></p></main></html>'
        ).encode()
        ctype = b"text/html; charset=utf-8"
    headers: list[Any] = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
