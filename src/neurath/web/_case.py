"""The safety case of a finished run, in the dashboard (admins only: a case names each
target's unsealed organism and mechanism, which would answer reviewers' gold items).

``/runs/{id}/safetycase`` shows the case's claims, defeaters, sensitivity table and automation
level with its goal-structure diagram, which ``/runs/{id}/safetycase.svg`` serves as an image
(the diagram styles its shapes inline, so it is not inlined into a page under the dashboard's
Content-Security-Policy). Cases are built on first request and kept until the run's results
change.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from neurath._errors import NeurathError
from neurath.review._items import QUESTIONS, ReviewItem, Truth, item_id
from neurath.web._accounts import Session
from neurath.web._context import admin, render, web
from neurath.web._data import run_folder

router = APIRouter()
_cache: dict[tuple[str, float], Any] = {}
_lock = threading.Lock()


def _built(path: Path) -> Any:
    """The case of the finished run at ``path``, built once per version of its results."""
    from neurath.safetycase import build_case

    key = (str(path), (path / "results.json").stat().st_mtime)
    with _lock:
        if key not in _cache:
            _cache[key] = build_case([path])
        return _cache[key]


def _case(request: Request, run_id: str) -> Any:
    folder = run_folder(web(request).runs_dir, run_id)
    if not folder.finished:
        raise NeurathError(f"run {run_id} has not finished: it has no safety case yet")
    return _built(folder.path)


def case_items(path: Path, key: bytes) -> list[Truth]:
    """Review items of a run's safety case: every claim it leaves open for a human (seed
    001's level 3: people check what the automated case cannot). The case's own answer is
    "not established"; nobody knows the right one. Per-mechanism claims, which name unsealed
    organisms, are never open, and are left out whatever their status."""
    try:
        case = _built(path)
    except Exception:  # a run the case cannot be built from has no argument items
        return []
    out = []
    for c in case.claims:
        if c.status != "open" or c.mechanism is not None:
            continue
        item = ReviewItem(
            id=item_id(key, "argument", path.name, c.id, c.text),
            kind="argument",
            question=QUESTIONS["argument"],
            subject=f"{c.text} ({c.tag})",
            context=f"The safety case leaves this open: {c.why}",
            ai_verdict=False,
            ai_confidence=0.5,
            run_id=path.name,
        )
        out.append(Truth(item, None))
    return out


@router.get("/runs/{run_id}/safetycase", response_class=HTMLResponse)
def case_page(
    request: Request, run_id: str, session: Annotated[Session, Depends(admin)]
) -> Response:
    try:
        case = _case(request, run_id)
    except NeurathError as exc:
        return render(request, "error.html", 404, status=404, message=str(exc))
    counts = {
        s: sum(c.status == s for c in case.claims) for s in ("supported", "undermined", "open")
    }
    return render(request, "safetycase.html", case=case, run_id=run_id, counts=counts)


@router.get("/runs/{run_id}/safetycase.svg")
def case_diagram(
    request: Request, run_id: str, session: Annotated[Session, Depends(admin)]
) -> Response:
    from neurath.safetycase import diagram_svg

    try:
        case = _case(request, run_id)
    except NeurathError as exc:
        return Response(str(exc), status_code=404, media_type="text/plain")
    return Response(diagram_svg(case), media_type="image/svg+xml")
