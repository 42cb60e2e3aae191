"""The review queue as pages: the next item, submitting a verdict, one's own reviews, and (for
admins) every reviewer's calibration.

A reviewer sees an item as :meth:`ReviewService.next_item` gives it: in commit-first mode
without the AI's answer, which the result page reveals once the verdict is recorded. Nothing
here ever reads an item's truth or another reviewer's verdicts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from neurath._errors import NeurathError
from neurath.web._accounts import Session
from neurath.web._context import admin, current, nonce, render, web

router = APIRouter()

MAX_REASON = 4000
"""The longest reason the review service takes."""


@router.get("/review", response_class=HTMLResponse)
def review_next(request: Request) -> Response:
    ctx, session = web(request), current(request)
    item = ctx.reviews.next_item(session.user.name)
    pending = ctx.reviews.pending(session.user.name)
    return render(
        request, "review.html", item=item, pending=pending, submission=nonce(), error=None
    )


def _verdict(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value)


@router.post("/review/{item_id}", response_class=HTMLResponse)
def review_submit(
    request: Request,
    item_id: str,
    verdict: str = Form(""),
    reason: str = Form(""),
    submission: str = Form(""),
) -> Response:
    """Record a verdict (the CSRF token was checked before this runs) and show the result:
    the AI's answer revealed, and the way to the next item."""
    ctx, session = web(request), current(request)
    name = session.user.name
    choice = _verdict(verdict)
    problem = None
    if choice is None:
        problem = "Choose a verdict."
    elif not reason.strip() or len(reason) > MAX_REASON:
        problem = f"Give your reason (1 to {MAX_REASON} characters)."
    elif not submission or len(submission) > 64:
        problem = "The form is missing its submission id: reload the page."
    if problem is None:
        try:
            result = ctx.reviews.submit(
                name, session.user.pool, item_id, bool(choice), reason.strip(), submission
            )
        except NeurathError as exc:
            problem = str(exc)
    if problem is not None:
        try:
            item = ctx.reviews.view(name, item_id)
        except NeurathError:
            item = None
        return render(
            request,
            "review.html",
            400,
            item=item,
            pending=ctx.reviews.pending(name),
            submission=nonce(),
            error=problem,
        )
    item = ctx.reviews.view(name, item_id)
    return render(
        request,
        "review_result.html",
        item=item,
        result=result,
        verdict=choice,
        pending=ctx.reviews.pending(name),
    )


def own_reviews(session: Session, request: Request) -> list[dict[str, Any]]:
    """The session's own reviews, newest first, each with the item as it was shown."""
    out = []
    for r in sorted(web(request).reviews.own_reviews(session.user.name), key=lambda r: -r.id):
        row = r._asdict()
        shown = _shown(r.item)
        row["item"] = shown
        row.update(
            kind=shown.get("kind"), subject=shown.get("subject"), answers=shown.get("answers")
        )
        out.append(row)
    return out


def _shown(text: str) -> dict[str, Any]:
    """The item as the review recorded it was shown (JSON), or nothing if it will not parse."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    answers = data.get("answers")
    if not (isinstance(answers, list) and len(answers) == 2):
        data["answers"] = None
    return data


@router.get("/review/mine", response_class=HTMLResponse)
def review_mine(request: Request) -> Response:
    session = current(request)
    return render(request, "review_mine.html", reviews=own_reviews(session, request))


@router.get("/reviewers", response_class=HTMLResponse)
def reviewers(request: Request, session: Annotated[Session, Depends(admin)]) -> Response:
    ctx = web(request)
    return render(
        request,
        "reviewers.html",
        stats=ctx.reviews.calibration(),
        gaps=ctx.reviews.mode_gaps(),
        scales=ctx.reviews.pool_scales(),
        users=ctx.accounts.users(),
    )
