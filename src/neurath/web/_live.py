"""A run in progress, live: server-sent events that tail its audit log.

``GET /runs/{id}/events`` streams one ``entry`` event per audit entry (its seq, action, actor,
target, experiment and cost; never the rest of its data) as the run appends them, and a final
``done`` event once ``results.json`` appears. The page's ``EventSource`` does the listening: no
polling loop runs in the browser. The log is read as an untrusted file: a line is sent only
once it is complete (a write in progress, or a torn tail, is not an entry yet), a line that does
not parse is skipped, and an ``EventSource`` that reconnects resumes after ``Last-Event-ID``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from neurath.web._context import current, web
from neurath.web._data import NotFound, audit_entry_summary, parse_audit_line, run_folder

router = APIRouter()

POLL_SECONDS = 0.2
"""How often the server looks at the log for new lines."""
KEEPALIVE_SECONDS = 15.0
MAX_LINE = 16 * 2**20
"""A longer line is no entry (the audit log's own limit): it is skipped."""
READ_CHUNK = 4 * 2**20


class AuditTail:
    """Complete new lines of a growing file, from where the last call left off."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.skipping = False

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                size = fh.seek(0, 2)
                if size < self.offset:  # cut short (a torn tail repaired): what was cut never
                    self.offset, self.partial = size, b""  # made a complete line here
                fh.seek(self.offset)
                data = fh.read(READ_CHUNK)
        except OSError:
            return []
        self.offset += len(data)
        *lines, rest = (self.partial + data).split(b"\n")
        out = []
        for line in lines:
            if self.skipping:  # the end of an over-long line
                self.skipping = False
                continue
            entry = parse_audit_line(line)
            if entry is not None:
                out.append(entry)
        self.partial = rest
        if len(self.partial) > MAX_LINE:
            self.partial, self.skipping = b"", True
        return out


def _event(kind: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, ensure_ascii=True)}\n\n"


async def stream_events(
    request: Request, audit: Path, results: Path, after: int = 0
) -> AsyncIterator[str]:
    """The events of one run's log, from entry ``after`` + 1 on, ending with ``done``."""
    tail = AuditTail(audit)
    quiet = 0.0
    yield "retry: 2000\n\n"
    while True:
        finished = results.exists()  # looked at first: entries before it are all written
        sent = 0
        for entry in tail.read():
            summary = audit_entry_summary(entry)
            seq = summary["seq"]
            if seq is not None and seq <= after:
                continue
            sent += 1
            yield _event("entry", summary, seq)
        if finished and not sent:
            yield _event("done", {"results": True})
            return
        if sent:
            quiet = 0.0
        elif quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await anyio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS


def _last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else 0


@router.get("/runs/{run_id}/events")
def events(request: Request, run_id: str) -> StreamingResponse:
    current(request)
    folder = run_folder(web(request).runs_dir, run_id)
    if not folder.audit_file.is_file() and not folder.finished:
        raise NotFound(f"run {run_id!r} has no audit log")
    return StreamingResponse(
        stream_events(request, folder.audit_file, folder.results_file, _last_event_id(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
