"""What every route shares: the app's folders and services, the logged-in session, and the
one way a page is rendered (Jinja2 with autoescape on, strict about undefined names)."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from neurath.report._html import slope_text
from neurath.web._accounts import AccountStore, Session

if TYPE_CHECKING:
    from neurath.review import ReviewService

PACKAGE = Path(__file__).parent
SESSION_COOKIE = "neurath_session"
LOGIN_COOKIE = "neurath_login_csrf"


@dataclass
class WebContext:
    runs_dir: Path
    ledger: str
    accounts: AccountStore
    reviews: ReviewService
    env: Environment
    secure_cookies: bool


def fmt(x: Any, digits: int = 3) -> str:
    """A number for a table: fixed digits, ``n/a`` for None, NaN and infinities."""
    if x is None or isinstance(x, bool):
        return "n/a" if x is None else str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f"{v:.{digits}f}" if math.isfinite(v) else "n/a"


def signed(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return f"{v:+.{digits}f}" if math.isfinite(v) else "n/a"


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PACKAGE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["f"] = fmt
    env.filters["signed"] = signed
    env.filters["seg"] = lambda s: quote(str(s), safe="")  # one path segment of a URL
    # a run's slope cell as the CLI table and the report write it, from results.json's metrics
    env.filters["slope"] = lambda metrics: slope_text(SimpleNamespace(**metrics))
    return env


def web(request: Request) -> WebContext:
    ctx = request.app.state.neurath
    assert isinstance(ctx, WebContext)
    return ctx


def current(request: Request) -> Session:
    """The request's session (the guard has already refused requests without one)."""
    session = request.scope.get("state", {}).get("session")
    if not isinstance(session, Session):  # a route the guard let through as public
        raise HTTPException(401, "not logged in")
    return session


def admin(request: Request) -> Session:
    """The session of an admin; a reviewer gets 403."""
    session = current(request)
    if not session.user.is_admin:
        raise HTTPException(403, "admins only")
    return session


def nonce() -> str:
    """A one-time submission id for a review form (a resubmitted form records once)."""
    return secrets.token_hex(16)


def render(request: Request, template: str, code: int = 200, **values: Any) -> HTMLResponse:
    """A page: ``template`` with ``values``, the session (for the menu and its logout form's
    CSRF token) and the request path."""
    session = request.scope.get("state", {}).get("session")
    page = (
        web(request)
        .env.get_template(template)
        .render(
            session=session if isinstance(session, Session) else None,
            path=request.url.path,
            **values,
        )
    )
    return HTMLResponse(page, status_code=code)
