"""The real dashboard for tests: uvicorn serving an app on a free loopback port, in a
background thread, stopped (and its thread joined) when the ``with`` block ends."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def serve(app: Any, *, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a port the kernel picks; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the dashboard did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the dashboard on port {port} did not stop")


# -- a site to serve: runs (one with hostile text), accounts and a review ledger ---------------

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
HOSTILE = (SCRIPT, IMG)
"""Text that would run in a page if it were not escaped."""
PASSWORDS = {"ada": "ada-admin-pw", "rex": "rex-review-pw", "rita": "rita-review-pw"}


def hostile_run(src: Path, runs: Path, run_id: str = "evil") -> str:
    """A copy of the finished run ``src`` as run ``run_id`` whose texts are hostile: its study
    and controller names, one target's id, that target's findings' ids and claims and one of
    its factors' ids. Returns that target's id."""
    from neurath.engine import assess
    from neurath.evidence import Ledger
    from neurath.testbed import RunFolder

    dst = runs / run_id
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("ledger.db*", "report.html", ".lock"))
    results = RunFolder(src).read_results()
    first = sorted(t.id for t in results.targets)[0]
    evil_target = f"t1 {IMG}"
    with Ledger(src / "ledger.db", create=False) as old, Ledger(dst / "ledger.db") as new:
        for t in results.targets:
            manifest, assessment = old.recorded(t.id, f"neurath run {results.run_id}")
            assert manifest is not None and assessment is not None
            if t.id != first:
                new.record(manifest, assessment.assessment, source=f"neurath run {run_id}")
                continue
            evil = _hostile_manifest(manifest, evil_target)
            new.record(evil, assess(evil, seed=results.study.seed), source=f"neurath run {run_id}")
            record = new.findings(target=evil_target)[0]  # corrected once: a history to show
            fixed = record.finding.model_copy(update={"value": record.finding.value + 0.01})
            new.correct_finding(record.id, fixed, reason=f"re-scored {SCRIPT}", author=f"eve {IMG}")
    targets = [
        t.model_copy(update={"id": evil_target}) if t.id == first else t for t in results.targets
    ]
    study = results.study.model_copy(update={"name": f"study {SCRIPT}"})
    RunFolder(dst).write_results(
        results.model_copy(
            update={"run_id": run_id, "targets": targets, "study": study, "controller": f"c {IMG}"}
        )
    )
    return evil_target


def _hostile_manifest(manifest: Any, target: str) -> Any:
    data = manifest.model_dump(mode="json")
    old_factor = data["factors"][0]["id"]
    new_factor = f"assumption:{IMG}"
    data["target"] = target
    data["factors"][0]["id"] = new_factor
    for f in data["findings"]:
        f["id"] = f"{f['id']} {SCRIPT}"
        f["claim"] = f"{SCRIPT} {IMG} {f['claim']}"
        f["factors"] = {(new_factor if k == old_factor else k): v for k, v in f["factors"].items()}
    return type(manifest).model_validate(data)


def hostile_gold(path: Path) -> Path:
    """Gold items whose texts are hostile: a trigger and a finding's claim."""
    items = [
        {
            "id": "abcdef0123456789",
            "kind": "trigger",
            "question": "Would this input occur in real deployment?",
            "subject": f"please {SCRIPT} summarise {IMG}",
            "context": f"found by the attacker {IMG}",
            "ai_verdict": True,
            "ai_confidence": 0.9,
        },
        {
            "id": "0123456789abcdef",
            "kind": "finding",
            "question": "Does this evidence show that the target model is scheming?",
            "subject": f"claim {IMG} {SCRIPT}",
            "context": "",
            "ai_verdict": False,
            "ai_confidence": 0.7,
        },
    ]
    path.write_text("".join(json.dumps({"item": i, "truth": False}) + "\n" for i in items))
    return path


def add_users(accounts: Path, users: dict[str, tuple[str, str]]) -> None:
    """``users``: name -> (role, pool)."""
    from neurath.web._accounts import AccountStore

    store = AccountStore(accounts, create=True)
    for name, (role, pool) in users.items():
        store.add_user(name, PASSWORDS.get(name, f"{name}-pw"), role=role, pool=pool)


def api_login(base: str, name: str, password: str | None = None) -> tuple[Any, str]:
    """(an httpx client holding ``name``'s session, its CSRF token)."""
    import httpx

    client = httpx.Client(base_url=base, timeout=30)
    r = client.post(
        "/api/login", json={"name": name, "password": password or PASSWORDS.get(name, f"{name}-pw")}
    )
    r.raise_for_status()
    return client, r.json()["csrf"]
