"""Human reviews in the ledger (table ``reviews``, migration 0005): checked, then appended
and chained like every record. A review is never replaced: it is one record of what was said.
"""

from __future__ import annotations

from typing import Any

from neurath._errors import LedgerError
from neurath.evidence._chain import insert
from neurath.evidence._sqlite import now

REVIEW_MODES = ("approval", "commit_first")
"""``approval``: the AI's answer shown before the verdict; ``commit_first``: after."""


def check_review(
    *,
    item_id: str,
    reviewer: str,
    pool: str,
    mode: str,
    verdict: bool,
    ai_verdict: bool,
    reason: str,
    item: str,
    submission: str,
) -> dict[str, object]:
    """The row of one review (see :func:`insert_review`).

    Raises:
        LedgerError: An empty item id, reviewer, pool, reason or submission, or an unknown
            mode.
    """
    for name, value in (
        ("item id", item_id),
        ("reviewer", reviewer),
        ("pool", pool),
        ("reason", reason),
        ("submission", submission),
    ):
        if not value.strip():
            raise LedgerError(f"a review needs a {name}")
    if mode not in REVIEW_MODES:
        raise LedgerError(f"unknown review mode {mode!r}; choose {', '.join(REVIEW_MODES)}")
    return {
        "item_id": item_id,
        "reviewer": reviewer,
        "pool": pool,
        "mode": mode,
        "verdict": int(bool(verdict)),
        "ai_verdict": int(bool(ai_verdict)),
        "reason": reason,
        "item": item,
        "submission": submission,
    }


def insert_review(conn: Any, row: dict[str, object]) -> tuple[int, bool]:
    """Append a checked review in the caller's write transaction; return its id and whether
    its ``submission`` (the reviewer's one-time form nonce) was already recorded, in which case
    nothing is added: a retried request records once.

    Raises:
        LedgerError: The submission was used for another review, or the reviewer already
            judged the item.
    """
    same = conn.execute(
        "SELECT id, item_id, reviewer FROM reviews WHERE submission = ?", (row["submission"],)
    ).fetchone()
    if same is not None:
        if (same[1], same[2]) != (row["item_id"], row["reviewer"]):
            raise LedgerError(f"submission {row['submission']!r} was used for another review")
        return int(same[0]), True
    done = conn.execute(
        "SELECT id FROM reviews WHERE item_id = ? AND reviewer = ?",
        (row["item_id"], row["reviewer"]),
    ).fetchone()
    if done is not None:
        raise LedgerError(
            f"{row['reviewer']} already reviewed item {row['item_id']} (review {done[0]})"
        )
    return insert(conn, "reviews", {**row, "created_at": now()}), False
