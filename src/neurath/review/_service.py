"""The review queue over a runs folder and a ledger: what the dashboard calls.

Items come from the finished runs under ``runs_dir`` (reloaded when a run finishes or changes)
and from the gold triggers; reviews go to the ledger (table ``reviews``, append-only, chained).
Each reviewer gets every item once, in an order of their own (gold mixed in), and each item in
one of two modes, chosen by a hash of reviewer and item so that each reviewer sees about half
of the items in each: *approval* (the AI's answer shown first) and *commit-first* (the reviewer
answers before it is shown). Safe to call from many threads: each keeps its own ledger
connection, and the ledger serialises writers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from neurath._errors import LedgerError, ReviewError
from neurath.evidence._reading import StoredReview
from neurath.review._adjust import ReviewedAssessment, reviewed_assessment
from neurath.review._calibration import (
    ReviewerStats,
    ai_error_prior,
    calibrate,
    pool_scales,
    reviewer_stats,
)
from neurath.review._gold import gold_triggers
from neurath.review._items import ItemView, ReviewItem, ReviewMode, Truth, view
from neurath.review._runs import RunItems, run_items

DEFAULT_KEY = b"neurath-review-items"
MAX_REASON = 4000


class SubmitResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: int
    duplicate: bool
    """The same submission was recorded before (a retried request): nothing was added."""
    ai_verdict: bool
    ai_confidence: float


def load_gold(path: Path, key: bytes) -> list[Truth]:
    """Gold items from a JSON Lines file: ``{"item": {...ReviewItem}, "truth": bool}`` a line."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReviewError(f"{path}: cannot read gold items: {exc.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            item = ReviewItem.model_validate(data["item"])
            truth = data["truth"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ReviewError(f"{path}:{n}: not a gold item: {exc}") from None
        if not isinstance(truth, bool):
            raise ReviewError(f"{path}:{n}: truth must be true or false")
        out.append(Truth(item, truth))
    return out


class ReviewService:
    """Review items, reviews and what they change (module docstring).

    Args:
        runs_dir: The runs folder (finished runs become items).
        ledger: Where reviews are recorded (a path or a PostgreSQL URL).
        gold: More gold items (JSON Lines, :func:`load_gold`).
        key: Keys item ids; a deployment's own key keeps ids unguessable.
        gold_triggers: How many scenario-language gold triggers to mix in.
        more_items: Further items of a finished run, from its folder and the key (the
            dashboard adds its safety case's open claims); reviews of them change no
            assessment.
    """

    def __init__(
        self,
        runs_dir: str | Path,
        ledger: str | Path,
        *,
        gold: Path | None = None,
        key: bytes = DEFAULT_KEY,
        n_gold_triggers: int = 12,
        more_items: Callable[[Path, bytes], list[Truth]] | None = None,
    ) -> None:
        from neurath.evidence import Ledger

        self.runs_dir = Path(runs_dir)
        self.ledger_url = ledger
        self.key = key
        self._more = more_items
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._writing = threading.Lock()
        """Writers of this process queue here, in order, rather than in SQLite's busy handler
        (which sleeps and retries: a burst of reviews then waits seconds at the tail)."""
        self._runs: dict[str, tuple[float, RunItems]] = {}
        self.problems: dict[str, str] = {}
        """Run folders that could not be read, and why."""
        self._fixed = gold_triggers(key, n_gold_triggers)
        if gold is not None:
            self._fixed += load_gold(gold, key)
        Ledger(ledger).close()  # create and migrate once, before any thread reads

    # -- storage ---------------------------------------------------------------------------
    def _ledger(self) -> Any:
        from neurath.evidence import Ledger

        led = getattr(self._local, "ledger", None)
        if led is None:
            led = Ledger(self.ledger_url, migrate=False)
            self._local.ledger = led
        return led

    def _scan(self) -> dict[str, RunItems]:
        """The finished runs, loading one that is new or whose results changed. One thread
        loads at a time, outside the lock that guards what is loaded; while it does, other
        requests are served what was loaded before (they wait only when nothing was)."""
        found: dict[str, float] = {}
        if self.runs_dir.is_dir():
            for p in sorted(self.runs_dir.iterdir()):
                results = p / "results.json"
                if p.is_dir() and results.is_file():
                    found[p.name] = results.stat().st_mtime
        with self._lock:
            for name in list(self._runs):
                if name not in found:
                    del self._runs[name]
            stale = [
                (name, stamp)
                for name, stamp in found.items()
                if not (name in self._runs and self._runs[name][0] == stamp)
                and not self.problems.get(name, "").startswith(f"{stamp}:")
            ]
            snapshot = {name: r for name, (_, r) in self._runs.items()}
        if stale and self._loading.acquire(blocking=not snapshot):
            try:
                for name, stamp in stale:
                    self._load(name, stamp)
            finally:
                self._loading.release()
            with self._lock:
                snapshot = {name: r for name, (_, r) in self._runs.items()}
        return snapshot

    def _load(self, name: str, stamp: float) -> None:
        try:
            loaded = run_items(self.runs_dir / name, self.key)
            if self._more is not None:
                loaded.items.extend(self._more(self.runs_dir / name, self.key))
        except Exception as exc:
            with self._lock:
                self.problems[name] = f"{stamp}: {' '.join(str(exc).split()) or type(exc).__name__}"
            return
        with self._lock:
            self._runs[name] = (stamp, loaded)
            self.problems.pop(name, None)

    def _truths(self) -> list[Truth]:
        runs = self._scan()
        return [t for r in runs.values() for t in r.items] + self._fixed

    def items(self) -> dict[str, ReviewItem]:
        return {t.item.id: t.item for t in self._truths()}

    def gold_truth(self) -> dict[str, bool]:
        """item id -> right answer of every gold item (never served to reviewers)."""
        return {t.item.id: t.truth for t in self._truths() if t.truth is not None}

    # -- a reviewer's queue ------------------------------------------------------------------
    def mode(self, reviewer: str, item_id: str) -> ReviewMode:
        digest = hashlib.sha256(f"{reviewer}\0{item_id}\0mode".encode()).digest()
        return "approval" if digest[0] % 2 == 0 else "commit_first"

    def _order(self, reviewer: str, ids: Sequence[str]) -> list[str]:
        return sorted(ids, key=lambda i: hashlib.sha256(f"{reviewer}\0{i}".encode()).digest())

    def own_reviews(self, reviewer: str) -> list[StoredReview]:
        return list(self._ledger().reviews(reviewer=reviewer))

    def _unreviewed(self, reviewer: str) -> list[str]:
        done = {r.item_id for r in self.own_reviews(reviewer)}
        return [i for i in self._order(reviewer, list(self.items())) if i not in done]

    def pending(self, reviewer: str) -> int:
        return len(self._unreviewed(reviewer))

    def next_item(self, reviewer: str) -> ItemView | None:
        left = self._unreviewed(reviewer)
        return self.view(reviewer, left[0]) if left else None

    def view(self, reviewer: str, item_id: str) -> ItemView:
        item = self.items().get(item_id)
        if item is None:
            raise ReviewError(f"no review item {item_id!r}")
        return view(item, self.mode(reviewer, item_id))

    def submit(
        self, reviewer: str, pool: str, item_id: str, verdict: bool, reason: str, submission: str
    ) -> SubmitResult:
        """Record a review (see :meth:`neurath.evidence.Ledger.record_review`).

        Raises:
            ReviewError: An unknown item, a verdict that is not true or false, no reason or
                submission, or the reviewer already reviewed the item.
        """
        if not isinstance(verdict, bool):
            raise ReviewError("a verdict is true or false")
        reason = reason.strip()
        if not reason:
            raise ReviewError("give a reason for the verdict")
        if len(reason) > MAX_REASON:
            raise ReviewError(f"a reason is at most {MAX_REASON} characters")
        if not submission.strip() or len(submission) > 200:
            raise ReviewError("a review needs its form's submission id")
        item = self.items().get(item_id)
        if item is None:
            raise ReviewError(f"no review item {item_id!r}")
        mode = self.mode(reviewer, item_id)
        try:
            with self._writing:
                record, duplicate = self._ledger().record_review(
                    item_id=item_id,
                    reviewer=reviewer,
                    pool=pool,
                    mode=mode,
                    verdict=verdict,
                    ai_verdict=item.ai_verdict,
                    reason=reason,
                    item=view(item, mode).model_dump_json(),
                    submission=submission,
                )
        except LedgerError as exc:
            raise ReviewError(str(exc)) from None
        return SubmitResult(
            record_id=record,
            duplicate=duplicate,
            ai_verdict=item.ai_verdict,
            ai_confidence=round(item.ai_confidence, 3),
        )

    # -- what reviews say ------------------------------------------------------------------
    def all_reviews(self) -> list[StoredReview]:
        return list(self._ledger().reviews())

    def calibration(self) -> list[ReviewerStats]:
        """Every reviewer's record on gold items, per mode and over both."""
        return reviewer_stats(self.all_reviews(), self.gold_truth())

    def pool_scales(self) -> dict[str, float]:
        return pool_scales(self.all_reviews(), self.gold_truth())

    def mode_gaps(self) -> dict[str, dict[str, float | None]]:
        """reviewer -> accuracy and approval-rate differences, commit-first minus approval."""
        rows = {(s.reviewer, s.mode): s for s in self.calibration()}
        out: dict[str, dict[str, float | None]] = {}
        for reviewer in sorted({r for r, _ in rows}):
            a, c = rows.get((reviewer, "approval")), rows.get((reviewer, "commit_first"))

            def diff(name: str, a: Any = a, c: Any = c) -> float | None:
                x = getattr(c, name, None) if c else None
                y = getattr(a, name, None) if a else None
                return None if x is None or y is None else x - y

            out[reviewer] = {
                "accuracy": diff("accuracy"),
                "approval_rate": diff("approval_rate"),
                "approval_gap": diff("approval_gap"),
            }
        return out

    def reviewed_assessment(self, run_id: str, target: str) -> ReviewedAssessment:
        """The target's assessment as its run made it, and after the reviews so far.

        Raises:
            ReviewError: No such finished run, or no such assessed target in it.
        """
        runs = self._scan()
        run = runs.get(run_id)
        if run is None:
            raise ReviewError(f"no finished run {run_id!r} under {self.runs_dir}")
        ev = run.targets.get(target)
        if ev is None:
            raise ReviewError(f"run {run_id!r} assessed no target {target!r}")
        truths = self._truths()
        truth = {t.item.id: t.truth for t in truths if t.truth is not None}
        reviews = self.all_reviews()
        by_item: dict[str, list[StoredReview]] = defaultdict(list)
        for r in reviews:
            by_item[r.item_id].append(r)
        gold_by_kind: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for t in truths:
            if t.truth is not None:
                gold_by_kind[t.item.kind].append((t.item.id, t.item.ai_verdict == t.truth))

        mine = [t.item for t in run.items if t.item.target == target]
        group = {i.id for i in mine}

        def prior(item: ReviewItem) -> float:
            return ai_error_prior(item.kind, gold_by_kind[item.kind], leave_out=group)

        return reviewed_assessment(
            run_id,
            target,
            ev,
            mine,
            by_item,
            calibrate(reviews, truth),
            prior,
            pool_scales(reviews, truth),
        )

    def targets(self, run_id: str) -> list[str]:
        run = self._scan().get(run_id)
        return sorted(run.targets) if run else []
