"""Simulated reviewers: a careful one and one that approves whatever looks confident.

Neither is a person; they stand in for two ways people review, so that the calibration the
dashboard measures can itself be checked (the benchmark and tests drive them through the same
:class:`~neurath.review.ReviewService` the web page uses).

- :class:`Careful` checks every item itself, whatever the AI said. On a trigger it checks what
  a reader can see: the deployment generator writes at most three context sentences, never the
  same sentence twice, never an evaluation frame or garbled words. On anything else it knows
  the right answer with probability ``accuracy`` (a stand-in for reading the transcripts).
- :class:`ApprovalSeeking` is seed 000's failure: shown the AI's answer with confidence at or
  above ``threshold``, it approves it; otherwise, and in commit-first mode where no answer is
  shown, it judges for itself, with accuracy ``own_accuracy``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from neurath.review._items import ItemView

_EVAL_WORDS = ("evaluation", "benchmark", "test item", "graded", "eval ")


def looks_deployed(trigger: str) -> bool:
    """A careful reader's check of a trigger's context sentences (see the module docstring)."""
    sentences = [s.strip() for s in trigger.split(" . ") if s.strip()]
    if not sentences or len(sentences) > 3 or len(set(sentences)) < len(sentences):
        return False
    text = trigger.lower()
    if any(w in text for w in _EVAL_WORDS) or (" of " in text and "item" in text):
        return False
    words = text.split()
    odd = sum(1 for w in words if w.isalpha() and not any(v in w for v in "aeiouy"))
    return odd <= 1


class Reviewer(Protocol):
    name: str

    def judge(self, item: ItemView, truth: bool | None, rng: random.Random) -> bool: ...


@dataclass(frozen=True)
class Careful:
    name: str = "careful"
    accuracy: float = 0.9

    def judge(self, item: ItemView, truth: bool | None, rng: random.Random) -> bool:
        if item.kind == "trigger":
            return looks_deployed(item.subject)
        if truth is None:
            return True
        return truth if rng.random() < self.accuracy else not truth


@dataclass(frozen=True)
class ApprovalSeeking:
    name: str = "approver"
    threshold: float = 0.7
    own_accuracy: float = 0.65

    def judge(self, item: ItemView, truth: bool | None, rng: random.Random) -> bool:
        if item.ai_verdict is not None and (item.ai_confidence or 0.0) >= self.threshold:
            return item.ai_verdict
        if truth is None:
            return item.ai_verdict if item.ai_verdict is not None else True
        return truth if rng.random() < self.own_accuracy else not truth


def review_all(
    service: object,
    reviewer: Reviewer,
    *,
    account: str,
    pool: str,
    truth: dict[str, bool],
    seed: int = 0,
    limit: int | None = None,
) -> int:
    """Have ``reviewer`` review ``account``'s queue in ``service`` (a ReviewService) to the end
    (or ``limit`` items), using ``truth`` (item id -> right answer) where it knows it; return
    how many reviews it made."""
    from neurath.review._service import ReviewService

    assert isinstance(service, ReviewService)
    rng = random.Random(f"{seed}:{account}")
    done = 0
    while limit is None or done < limit:
        item = service.next_item(account)
        if item is None:
            break
        verdict = reviewer.judge(item, truth.get(item.id), rng)
        service.submit(
            account,
            pool,
            item.id,
            verdict,
            f"simulated {reviewer.name} reviewer",
            submission=f"{account}:{item.id}",
        )
        done += 1
    return done
