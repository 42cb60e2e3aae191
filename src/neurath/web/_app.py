"""The dashboard's application factory: :func:`create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from neurath._errors import NeurathError
from neurath.web._accounts import AccountStore
from neurath.web._context import PACKAGE, WebContext, make_env, render
from neurath.web._data import NotFound
from neurath.web._guard import Guard


def create_app(
    *,
    runs_dir: Path,
    ledger: str | Path,
    accounts: Path,
    gold: Path | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """The dashboard over the runs folder ``runs_dir``, with reviews kept in ``ledger`` and
    users in the SQLite file ``accounts`` (made with ``neurath users add``); ``gold``: the
    review service's gold items file. ``secure_cookies``: mark cookies Secure (behind HTTPS).

    Raises:
        NeurathError: The runs folder or the accounts file is missing.
    """
    from neurath.review import ReviewService
    from neurath.web import _api, _case, _live, _login, _pages, _review

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise NeurathError(f"runs folder {runs_dir} does not exist")
    store = AccountStore(accounts)
    app = FastAPI(
        title="neurath",
        docs_url=None,  # no pages beyond ours: the API is documented in neurath.web._api
        redoc_url=None,
        openapi_url=None,
    )
    app.state.neurath = WebContext(
        runs_dir=runs_dir,
        ledger=str(ledger),
        accounts=store,
        reviews=ReviewService(
            runs_dir, ledger, gold=gold, key=store.item_key(), more_items=_case.case_items
        ),
        env=make_env(),
        secure_cookies=secure_cookies,
    )
    for module in (_login, _pages, _live, _review, _api, _case):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static")
    _errors(app)
    app.add_middleware(Guard, accounts=store)
    return app


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    return render(request, "error.html", status, status=status, message=message)


def _errors(app: FastAPI) -> None:
    """Errors as pages (or JSON under /api): a message, never a traceback."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(NeurathError)
    async def neurath_error(request: Request, exc: NeurathError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        )
        return _error(request, 422, f"invalid request: {where}")
