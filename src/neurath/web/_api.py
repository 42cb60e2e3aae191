"""The same data as JSON, for scripts and the load test, under ``/api``.

Log in with ``POST /api/login`` (JSON ``{name, password}``): it sets the session cookie and
returns ``{csrf, ...}``; send that token as ``X-CSRF-Token`` on every POST.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, StrictBool

from neurath.web._accounts import Session
from neurath.web._context import admin, current, web
from neurath.web._data import ledger_rows, record_json, run_folder
from neurath.web._review import MAX_REASON, own_reviews
from neurath.web._views import run_data, runs_data, target_data

router = APIRouter(prefix="/api")


class ReviewIn(BaseModel):
    verdict: StrictBool
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    submission: str = Field(min_length=1, max_length=64)


@router.get("/runs")
def api_runs(request: Request) -> dict[str, Any]:
    return runs_data(web(request), current(request))


@router.get("/runs/{run_id}")
def api_run(request: Request, run_id: str) -> dict[str, Any]:
    return run_data(web(request), current(request), run_id)


@router.get("/runs/{run_id}/targets/{target}")
def api_target(request: Request, run_id: str, target: str) -> dict[str, Any]:
    data, _ = target_data(web(request), current(request), run_id, target)
    return data


@router.get("/runs/{run_id}/ledger")
def api_run_ledger(request: Request, run_id: str) -> dict[str, Any]:
    current(request)
    folder = run_folder(web(request).runs_dir, run_id)
    if not folder.ledger_file.is_file():
        raise HTTPException(404, "this run has no ledger")
    return _ledger_json(str(folder.ledger_file), create=False)


@router.get("/ledger")
def api_ledger(request: Request) -> dict[str, Any]:
    current(request)
    return _ledger_json(web(request).ledger, create=True)


def _ledger_json(url: str, *, create: bool) -> dict[str, Any]:
    rows = ledger_rows(url, create=create)
    return {
        "records": [
            {
                **record_json(r.record),
                "corrected_by": r.corrected_by,
                "history": [x.id for x in r.chain],
            }
            for r in rows
        ]
    }


@router.get("/review/next")
def api_review_next(request: Request) -> dict[str, Any]:
    """``{item: ItemView | null, pending}``: the reviewer's next item (the AI's answer is
    null in commit-first mode)."""
    ctx, session = web(request), current(request)
    item = ctx.reviews.next_item(session.user.name)
    return {
        "item": None if item is None else item.model_dump(mode="json"),
        "pending": ctx.reviews.pending(session.user.name),
    }


@router.post("/review/{item_id}")
def api_review_submit(request: Request, item_id: str, body: ReviewIn) -> dict[str, Any]:
    """Record a verdict; returns ``{record_id, duplicate, ai_verdict, ai_confidence}``."""
    ctx, session = web(request), current(request)
    if not body.reason.strip():
        raise HTTPException(422, "a reason is required")
    result = ctx.reviews.submit(
        session.user.name,
        session.user.pool,
        item_id,
        body.verdict,
        body.reason.strip(),
        body.submission,
    )
    return result.model_dump(mode="json")


@router.get("/review/mine")
def api_review_mine(request: Request) -> dict[str, Any]:
    return {"reviews": own_reviews(current(request), request)}


@router.get("/reviewers")
def api_reviewers(request: Request, session: Annotated[Session, Depends(admin)]) -> dict[str, Any]:
    ctx = web(request)
    return {
        "calibration": [s.model_dump(mode="json") for s in ctx.reviews.calibration()],
        "mode_gaps": ctx.reviews.mode_gaps(),
        "pool_scales": ctx.reviews.pool_scales(),
        "users": [
            {"name": u.name, "role": u.role, "pool": u.pool, "created_at": u.created_at}
            for u in ctx.accounts.users()
        ],
    }
