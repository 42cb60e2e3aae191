"""The gate every request passes: security headers, authentication and CSRF.

It is ASGI middleware in front of every route, so a route added later is guarded without
anyone remembering to: only the login page, the JSON login and static files are public.

- Unauthenticated: a page answers ``303`` to ``/login`` with no content; ``/api/...`` ``401``.
- State-changing methods (anything but GET, HEAD, OPTIONS) must carry the session's CSRF token,
  in the ``X-CSRF-Token`` header or a form's ``csrf`` field, compared in constant time; the
  login form carries the token of a double-submit cookie set with the form. A request whose
  ``Origin`` (or ``Sec-Fetch-Site``) says it came from another site is refused outright.
- ``POST /api/login`` takes ``application/json`` only: no cross-site form can send that, and a
  cross-site script cannot without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from neurath.web._accounts import AccountStore, same_token
from neurath.web._context import LOGIN_COOKIE, SESSION_COOKIE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Served SVG images (the safety case's diagram): inline styles, nothing else at all."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/login", "/api/login"})
STATIC = "/static/"
MAX_FORM = 1 << 20
FORM = "application/x-www-form-urlencoded"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(STATIC)


def _with_headers(send: Send, static: bool) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for key, value in SECURITY_HEADERS.items():
                headers[key] = value
            if headers.get("content-type", "").startswith("image/svg+xml"):
                # A drawing shown as an image styles its shapes inline and runs nothing.
                headers["Content-Security-Policy"] = SVG_CSP
            if not static:  # pages and data are per user: never kept by a cache
                headers["Cache-Control"] = "no-store"
        await send(message)

    return wrapped


def unauthenticated(path: str) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"detail": "not logged in"}, status_code=401)
    return Response(status_code=303, headers={"Location": "/login"})


def forbidden(path: str, why: str) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"detail": why}, status_code=403)
    return PlainTextResponse(why, status_code=403)


def _cross_site(request: Request) -> bool:
    """Whether the browser says the request was made by another site's page (a defence on
    top of the CSRF token, which is checked whatever this says)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # not a browser's cross-site request, or one that hides where it came from (our own
        # pages' forms send "null" under Referrer-Policy: no-referrer): the token decides
        return False
    host = request.headers.get("host", "")
    return origin not in (f"http://{host}", f"https://{host}")


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body (``False`` if it is over :data:`MAX_FORM`)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then the client's own
    messages (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


class Guard:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, accounts: AccountStore) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        send = _with_headers(send, static=path.startswith(STATIC))
        request = Request(scope)
        token = request.cookies.get(SESSION_COOKIE)
        session = await anyio.to_thread.run_sync(self.accounts.session, token) if token else None
        state = scope.setdefault("state", {})
        state["session"], state["session_token"] = session, token
        if session is None and not is_public(path):
            await unauthenticated(path)(scope, receive, send)
            return
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        refusal, receive = await self._check_post(request, receive, session)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check_post(
        self, request: Request, receive: Receive, session: Any
    ) -> tuple[Response | None, Receive]:
        path = request.url.path
        if _cross_site(request):
            return forbidden(path, "cross-site request refused"), receive
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if path == "/api/login":
            if content_type != "application/json":
                return forbidden(path, "login takes application/json"), receive
            return None, receive
        expected = request.cookies.get(LOGIN_COOKIE) if path == "/login" else session.csrf
        given = request.headers.get("x-csrf-token")
        if given is None and content_type == FORM:
            body, whole = await _read_body(receive)
            if not whole:
                return PlainTextResponse("form too large", status_code=413), receive
            receive = _replay(body, receive)
            try:
                fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
            except ValueError:
                fields = {}
            values = fields.get("csrf", [])
            given = values[0] if len(values) == 1 else None
        if not same_token(given, expected):
            return forbidden(path, "CSRF token missing or wrong"), receive
        return None, receive
