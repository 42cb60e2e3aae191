"""The HTML pages over runs and ledgers: the run list, a run, a target, a ledger, a run in
progress (its events come from :mod:`neurath.web._live`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from neurath.web._accounts import Session
from neurath.web._context import current, render, web
from neurath.web._data import NotFound, ledger_rows, run_folder, run_results
from neurath.web._views import (
    TRUTH_HIDDEN,
    plots,
    reliability,
    run_data,
    runs_data,
    target_data,
)

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    session = current(request)
    data = runs_data(web(request), session)
    return render(request, "runs.html", runs=data["runs"], truth_hidden=TRUTH_HIDDEN)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> Response:
    ctx, session = web(request), current(request)
    folder = run_folder(ctx.runs_dir, run_id)
    if not folder.finished and folder.audit_file.is_file():
        return RedirectResponse(f"/runs/{folder.id}/live", status_code=303)
    data = run_data(ctx, session, run_id)
    diagram = reliability(run_results(ctx.runs_dir, run_id)) if data["truth_shown"] else None
    return render(request, "run.html", run=data, diagram=diagram, truth_hidden=TRUTH_HIDDEN)


@router.get("/runs/{run_id}/targets/{target}", response_class=HTMLResponse)
def target_page(request: Request, run_id: str, target: str) -> Response:
    ctx, session = web(request), current(request)
    data, view = target_data(ctx, session, run_id, target)
    return render(
        request,
        "target.html",
        t=data,
        plots=plots(view, data["findings"]),
        truth_hidden=TRUTH_HIDDEN,
        reviews=_reviews_by_finding(data),
    )


def _reviews_by_finding(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """finding id -> the review outcomes of its items (from the reviewed assessment)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for o in (data["reviewed"] or {}).get("items", []):
        if o.get("finding_id"):
            out.setdefault(o["finding_id"], []).append(o)
    return out


def _ledger_page(
    request: Request, url: str, title: str, session: Session, *, create: bool
) -> Response:
    ctx = web(request)
    rows = ledger_rows(url, create=create)
    reviews = None
    if session.user.is_admin and url == ctx.ledger:
        reviews = sorted(ctx.reviews.all_reviews(), key=lambda r: -r.id)
    return render(request, "ledger.html", title=title, rows=rows, reviews=reviews)


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(request: Request) -> Response:
    ctx, session = web(request), current(request)
    return _ledger_page(request, ctx.ledger, "The evidence ledger", session, create=True)


@router.get("/runs/{run_id}/ledger", response_class=HTMLResponse)
def run_ledger_page(request: Request, run_id: str) -> Response:
    ctx, session = web(request), current(request)
    folder = run_folder(ctx.runs_dir, run_id)
    if not folder.ledger_file.is_file():
        return render(request, "error.html", 404, status=404, message="this run has no ledger")
    title = f"Ledger of run {folder.id}"
    return _ledger_page(request, str(folder.ledger_file), title, session, create=False)


@router.get("/runs/{run_id}/live", response_class=HTMLResponse)
def live_page(request: Request, run_id: str) -> Response:
    ctx = web(request)
    current(request)
    folder = run_folder(ctx.runs_dir, run_id)
    if not folder.audit_file.is_file():
        raise NotFound(f"run {run_id!r} has no audit log")
    return render(request, "live.html", run_id=folder.id, finished=folder.finished)
