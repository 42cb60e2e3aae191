"""The dashboard in a real browser: headless Chromium (Debian's, never a downloaded one) driven
by Playwright against uvicorn on loopback.

A reviewer logs in through the form, opens a run and a target, reviews items until the queue
is done, and sees the target's review-adjusted assessment appear and differ from the run's.
Screenshots of the pages are kept in a temporary folder (and copied to ``$NEURATH_SCREENSHOTS``
when set). Any console error (a CSP violation is one), failed request, or request to a host
other than loopback fails the test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ._web_server import PASSWORDS, add_users, serve

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class Watch:
    """What a page did that it must not: console errors, failed or outside requests."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("request", self._request)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def _failed(self, request: Any) -> None:
        # An event stream the page closes itself, or a load cut short because the test moved
        # on to the next page (a favicon still loading), is not a failure of the page.
        if request.resource_type == "eventsource" or request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _request(self, request: Any) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("data:", "about:")) or host in LOOPBACK:
            return
        self.problems.append(f"request to another host: {request.url}")


def _shoot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _answer(page: Any, truth: dict[str, bool], fakes: set[str]) -> bool:
    """The verdict for the item shown: the right one where the test knows it (gold); "fake
    honeypot" for the attacker's triggers in ``fakes``; else the AI's own answer when shown,
    else ``True``."""
    item = page.locator("#item").get_attribute("data-item")
    if item in truth:
        return truth[item]
    if item in fakes:
        return False
    ai = page.locator("#ai-verdict b")
    if ai.count():
        answers = page.locator("fieldset label").all_inner_texts()
        return ai.inner_text().strip() == answers[0].strip()
    return True


def truth_ids(service: Any) -> list[str]:
    return list(service.gold_truth())


def _login(page: Any, base: str, name: str, password: str) -> None:
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("form#login button[type=submit]")
    page.wait_for_url(base + "/")


def test_review_in_a_browser_changes_the_targets_assessment(
    browser: Any, tiny_run: Any, tmp_path: Path
) -> None:
    from neurath.review import ReviewService
    from neurath.web import create_app
    from neurath.web._accounts import AccountStore

    _, runs_src, results = tiny_run
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(runs_src / "ref", runs / "ref", ignore=shutil.ignore_patterns(".lock"))
    add_users(tmp_path / "accounts.db", {"bea": ("reviewer", "browser"), "ada": ("admin", "leads")})
    ledger = tmp_path / "reviews.db"
    app = create_app(runs_dir=runs, ledger=ledger, accounts=tmp_path / "accounts.db")
    # What the test knows and the server never says: gold truth, and where items come from
    # (item ids are keyed with the deployment's own key, kept in the accounts file).
    key = AccountStore(tmp_path / "accounts.db").item_key()
    service = ReviewService(runs, ledger, key=key)
    assert all(
        i not in ReviewService(runs, tmp_path / "other.db").items() for i in truth_ids(service)
    )
    truth = service.gold_truth()
    fakes = {i.id for i in service.items().values() if i.kind == "trigger" and i.target}
    assert fakes, "the tiny run's attacker found no trigger to judge"
    # The reviewer will judge this target's triggers fake honeypots: its adversarial finding
    # loses them, and its assessment changes.
    target = sorted(service.items()[i].target or "" for i in fakes)[0]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with serve(app) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch = Watch(page)
        page.goto(base + "/runs/ref")
        assert page.url == base + "/login"  # not logged in: sent to the form
        _shoot(page, shots, "login")
        _login(page, base, "bea", "bea-pw")
        page.click("a[href='/runs/ref']")
        page.wait_for_url(base + "/runs/ref")
        assert page.locator("table.targets tr").count() == len(results.targets) + 1
        assert page.locator("svg[aria-label='reliability diagram']").count() == 0
        _shoot(page, shots, "run-as-reviewer")
        page.click(f"a[href='/runs/ref/targets/{quote(target, safe='')}']")
        before = page.locator("#p-run b").inner_text()
        assert page.locator("#reviewed-hidden").is_visible()
        assert page.locator("figure.plot svg").count() == 2
        _shoot(page, shots, "target-before-review")

        page.click("nav a[href='/review']")
        reviewed = 0
        while page.locator("#review-form").count():
            if reviewed == 0:
                _shoot(page, shots, "review")
            verdict = "true" if _answer(page, truth, fakes) else "false"
            page.check(f"input[name=verdict][value={verdict}]")
            page.fill("textarea[name=reason]", f"checked by the browser test ({reviewed})")
            page.click("#review-form button[type=submit]")
            assert page.locator("#ai-revealed").is_visible()
            if reviewed == 0:
                _shoot(page, shots, "review-result")
            page.click("#next")
            reviewed += 1
        assert page.locator("#queue-done").is_visible()
        assert reviewed >= 10

        page.goto(f"{base}/runs/ref/targets/{quote(target, safe='')}")
        assert page.locator("#reviewed").is_visible()
        after = page.locator("#p-after").inner_text()
        assert "judged fake honeypots stop counting" in page.locator("#changes").inner_text()
        assert after != before, (before, after)
        _shoot(page, shots, "target")

        page.goto(base + "/runs/ref/live")
        page.locator("#live-done").wait_for(state="visible", timeout=15000)
        assert int(page.locator("#live-count").inner_text()) == results.audit_entries
        _shoot(page, shots, "live")
        context.close()

        admin = browser.new_context(viewport={"width": 1280, "height": 900})
        page = admin.new_page()
        watch_admin = Watch(page)
        page.goto(base + "/login")
        _login(page, base, "ada", PASSWORDS["ada"])
        page.goto(base + "/runs/ref")
        assert page.locator("svg[aria-label='reliability diagram']").count() == 1
        _shoot(page, shots, "run")
        page.goto(base + "/reviewers")
        assert "bea" in page.locator("table.calibration").inner_text()
        _shoot(page, shots, "reviewers")
        page.goto(base + "/runs/ref")
        page.click("a[href='/runs/ref/safetycase']")
        page.wait_for_url(base + "/runs/ref/safetycase")
        diagram = page.locator("img.case-diagram")
        diagram.wait_for(state="visible")
        page.wait_for_function("document.querySelector('img.case-diagram').complete")
        assert diagram.evaluate("img => img.naturalWidth") > 600  # the drawing loaded
        assert page.locator("table.claims tr").count() >= 10
        _shoot(page, shots, "safetycase")
        admin.close()
    assert not watch.problems + watch_admin.problems, watch.problems + watch_admin.problems
    keep = os.environ.get("NEURATH_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, Path(keep) / shot.name)
