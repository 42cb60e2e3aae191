"""How far each reviewer can be trusted, measured on gold items, and what their votes say.

A review *approves* when its verdict agrees with the AI's answer. On gold items (right answer
known) each reviewer's reviews in each mode give:

- accuracy: share of verdicts that are right;
- false approval: share of the AI's wrong answers the reviewer approved (what slips through);
- false alarm: share of the AI's right answers the reviewer rejected;
- approval gap: approval rate minus the AI's correctness rate on the same items. A reviewer who
  approves whatever looks confident approves more than the AI deserves (seed 000's optimisation
  towards approval): a positive gap. A careful reviewer's is near zero.

A vote's weight is its likelihood ratio under those rates: an approval is worth
``(1 - false alarm) / false approval`` for "the AI is right", a rejection the inverse ratio of
``false alarm / (1 - false approval)``. A reviewer who approves everything has both ratios
near 1: their reviews move nothing, however many they make. Rates are Beta(1, 1) posterior
means, and leave out the item being judged, so no review is weighed by its own correctness;
a reviewer with no gold reviews yet weighs nothing.

A pool's ``raters`` factor scale is the 95% upper bound (Jeffreys) of its false-approval rate:
the share of the AI's errors that would pass the pool, which every finding the pool let stand
shares.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from neurath.evidence._reading import StoredReview

MODES = ("approval", "commit_first")
SCALE_FLOOR = 0.02
"""The smallest pool scale: no finite sample shows a pool never errs."""


class ReviewerStats(BaseModel):
    """One reviewer's record on gold items, in one mode (``all``: both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reviewer: str
    pool: str
    mode: str
    n_gold: int
    accuracy: float | None
    false_approval: float | None
    """Share of the AI's wrong answers approved (None: none seen)."""
    false_alarm: float | None
    approval_rate: float | None
    ai_correct_rate: float | None
    approval_gap: float | None
    """Approval rate minus the AI's correctness rate: > 0 approves more than is right."""
    n_reviews: int
    """All reviews in this mode, gold or not."""


@dataclass
class Counts:
    """Gold reviews by (AI right?, approved?)."""

    approved_wrong: int = 0
    rejected_wrong: int = 0
    approved_right: int = 0
    rejected_right: int = 0

    def add(self, ai_right: bool, approved: bool, sign: int = 1) -> None:
        if ai_right and approved:
            self.approved_right += sign
        elif ai_right:
            self.rejected_right += sign
        elif approved:
            self.approved_wrong += sign
        else:
            self.rejected_wrong += sign

    @property
    def n(self) -> int:
        return self.approved_wrong + self.rejected_wrong + self.approved_right + self.rejected_right

    def rates(self) -> tuple[float, float]:
        """(false approval, false alarm), Beta(1, 1) posterior means."""
        wrong = self.approved_wrong + self.rejected_wrong
        right = self.approved_right + self.rejected_right
        return (self.approved_wrong + 1) / (wrong + 2), (self.rejected_right + 1) / (right + 2)


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def approves(r: StoredReview) -> bool:
    return r.verdict == r.ai_verdict


@dataclass(frozen=True)
class Calibration:
    """Reviewers' gold counts, for weighing votes and scaling pools."""

    counts: Mapping[tuple[str, str], Counts]
    """(reviewer, mode) -> counts over gold items."""
    pools: Mapping[str, str]
    """reviewer -> pool (their latest review's)."""
    truth: Mapping[str, bool]
    """item id -> right answer, for gold items."""
    gold_reviews: Mapping[str, Sequence[StoredReview]] = field(default_factory=dict)
    """item id -> the reviews of that gold item (to leave items out of a record)."""


def calibrate(reviews: Sequence[StoredReview], truth: Mapping[str, bool]) -> Calibration:
    """Count every reviewer's gold reviews."""
    counts: dict[tuple[str, str], Counts] = defaultdict(Counts)
    pools: dict[str, str] = {}
    by_item: dict[str, list[StoredReview]] = defaultdict(list)
    for r in reviews:
        pools[r.reviewer] = r.pool
        if r.item_id in truth:
            counts[r.reviewer, r.mode].add(r.ai_verdict == truth[r.item_id], approves(r))
            by_item[r.item_id].append(r)
    return Calibration(dict(counts), pools, dict(truth), dict(by_item))


def ai_error_prior(
    kind: str, gold: Iterable[tuple[str, bool]], leave_out: Collection[str]
) -> float:
    """The AI's error rate on gold items of ``kind`` (Beta(1, 1) mean), without the items in
    ``leave_out``. ``gold`` yields (item id, AI right?) of that kind."""
    wrong = right = 0
    for item, ai_right in gold:
        if item in leave_out:
            continue
        if ai_right:
            right += 1
        else:
            wrong += 1
    return (wrong + 1) / (wrong + right + 2)


def log_bayes_factor(
    item: str,
    reviews: Sequence[StoredReview],
    cal: Calibration,
    leave_out: Collection[str] = (),
) -> float:
    """How much ``item``'s reviews say the AI's answer is wrong: the log of P(votes | wrong) /
    P(votes | right), each reviewer's rates measured on gold items other than ``item`` and
    ``leave_out`` (the other items about the same target, whose truth is this item's)."""
    skip = {item, *leave_out}
    total = 0.0
    for r in reviews:
        counts = Counts(**vars(cal.counts.get((r.reviewer, r.mode), Counts())))
        for other in skip:
            for g in cal.gold_reviews.get(other, ()):
                if (g.reviewer, g.mode) == (r.reviewer, r.mode):
                    counts.add(g.ai_verdict == cal.truth[other], approves(g), sign=-1)
        false_approval, false_alarm = counts.rates()
        if approves(r):
            total += math.log(false_approval / (1.0 - false_alarm))
        else:
            total += math.log((1.0 - false_approval) / false_alarm)
    return total


def posterior(prior: float, lbf: float) -> tuple[float, float]:
    """(P(AI wrong), Bayes factor) from the prior P(AI wrong) and the votes' log Bayes factor
    (clipped at e^50 either way)."""
    factor = math.exp(max(-50.0, min(50.0, lbf)))
    odds = prior / (1.0 - prior) * factor
    return odds / (1.0 + odds), factor


def p_ai_wrong(
    item: str,
    reviews: Sequence[StoredReview],
    cal: Calibration,
    prior: float,
    leave_out: Collection[str] = (),
) -> float:
    """P(the AI's answer on ``item`` is wrong | its reviews), from ``prior`` and
    :func:`log_bayes_factor`."""
    return posterior(prior, log_bayes_factor(item, reviews, cal, leave_out))[0]


def reviewer_stats(
    reviews: Sequence[StoredReview], truth: Mapping[str, bool]
) -> list[ReviewerStats]:
    """Per reviewer: one row per mode and one over both (``all``), sorted by reviewer."""
    by: dict[tuple[str, str], list[StoredReview]] = defaultdict(list)
    pools: dict[str, str] = {}
    for r in reviews:
        by[r.reviewer, r.mode].append(r)
        by[r.reviewer, "all"].append(r)
        pools[r.reviewer] = r.pool
    out = []
    for (reviewer, mode), rs in sorted(by.items()):
        gold = [r for r in rs if r.item_id in truth]
        right = [r for r in gold if r.ai_verdict == truth[r.item_id]]
        wrong = [r for r in gold if r.ai_verdict != truth[r.item_id]]
        approval = _share(sum(approves(r) for r in gold), len(gold))
        ai_ok = _share(len(right), len(gold))
        out.append(
            ReviewerStats(
                reviewer=reviewer,
                pool=pools[reviewer],
                mode=mode,
                n_gold=len(gold),
                accuracy=_share(sum(r.verdict == truth[r.item_id] for r in gold), len(gold)),
                false_approval=_share(sum(approves(r) for r in wrong), len(wrong)),
                false_alarm=_share(sum(not approves(r) for r in right), len(right)),
                approval_rate=approval,
                ai_correct_rate=ai_ok,
                approval_gap=None if approval is None or ai_ok is None else approval - ai_ok,
                n_reviews=len(rs),
            )
        )
    return out


def pool_scales(reviews: Sequence[StoredReview], truth: Mapping[str, bool]) -> dict[str, float]:
    """pool -> its ``raters`` factor scale: the 95% upper Jeffreys bound of its false-approval
    rate on gold items the AI got wrong (1 with none seen), at least :data:`SCALE_FLOOR`."""
    from scipy.stats import beta

    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in reviews:
        counts = seen[r.pool]
        if r.item_id in truth and r.ai_verdict != truth[r.item_id]:
            counts[0] += approves(r)
            counts[1] += 1
    out = {}
    for pool, (k, n) in sorted(seen.items()):
        upper = float(beta.ppf(0.95, k + 0.5, n - k + 0.5)) if n else 1.0
        out[pool] = min(1.0, max(SCALE_FLOOR, upper))
    return out
