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
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from neurath._errors import NeurathError
from neurath.web._accounts import Session
from neurath.web._context import admin, render, web
from neurath.web._data import run_folder

router = APIRouter()
_cache: dict[tuple[str, float], Any] = {}
_lock = threading.Lock()


def _case(request: Request, run_id: str) -> Any:
    from neurath.safetycase import build_case

    folder = run_folder(web(request).runs_dir, run_id)
    if not folder.finished:
        raise NeurathError(f"run {run_id} has not finished: it has no safety case yet")
    key = (str(folder.path), folder.results_file.stat().st_mtime)
    with _lock:
        if key not in _cache:
            _cache[key] = build_case([folder.path])
        return _cache[key]


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
