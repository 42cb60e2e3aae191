"""Logging in and out: the login form (with its double-submit CSRF cookie), the JSON login
for scripts, and logout."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from neurath.web._accounts import SESSION_SECONDS, Session
from neurath.web._context import LOGIN_COOKIE, SESSION_COOKIE, current, render, web

router = APIRouter()


class LoginIn(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


def _set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/",
        secure=web(request).secure_cookies,
        httponly=True,
        samesite="strict",
    )


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html", status, login_csrf=token, error=error)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/login",
        secure=web(request).secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if isinstance(request.state.session, Session):
        return RedirectResponse("/", status_code=303)
    return _login_page(request)


@router.post("/login")
def login(request: Request, name: str = Form(""), password: str = Form("")) -> Response:
    """The form's CSRF token was checked against its cookie before this runs."""
    ctx = web(request)
    user = ctx.accounts.check_password(name, password)
    if user is None:
        return _login_page(request, "Wrong name or password.", 401)
    ctx.accounts.end_session(request.state.session_token)  # no session outlives a new login
    token, _ = ctx.accounts.start_session(user)
    response = RedirectResponse("/", status_code=303)
    _set_session(request, response, token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    web(request).accounts.end_session(request.state.session_token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/api/login")
def api_login(request: Request, body: LoginIn) -> Response:
    """JSON {name, password}: sets the session cookie; returns the session's CSRF token."""
    ctx = web(request)
    user = ctx.accounts.check_password(body.name, body.password)
    if user is None:
        return JSONResponse({"detail": "wrong name or password"}, status_code=401)
    ctx.accounts.end_session(request.state.session_token)
    token, session = ctx.accounts.start_session(user)
    response = JSONResponse(_me(session))
    _set_session(request, response, token)
    return response


@router.post("/api/logout")
def api_logout(request: Request) -> Response:
    web(request).accounts.end_session(request.state.session_token)
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _me(session: Session) -> dict[str, Any]:
    u = session.user
    return {
        "name": u.name,
        "role": u.role,
        "pool": u.pool,
        "csrf": session.csrf,
        "expires_at": session.expires_at,
    }


@router.get("/api/me")
def me(request: Request) -> dict[str, Any]:
    """Who is logged in, and the session's CSRF token."""
    return _me(current(request))
