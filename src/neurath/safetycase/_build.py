"""Building a safety case from finished runs (see :mod:`neurath.safetycase._model`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from neurath._errors import NeurathError, SafetyCaseError
from neurath.safetycase._automation import automation
from neurath.safetycase._claims import Book, calibration_claim, combine, mechanism_claims
from neurath.safetycase._claims_scheme import (
    correlation_claim,
    honeypot_claim,
    integrity_claim,
    novel_claim,
    raters_claim,
    sabotage_claim,
)
from neurath.safetycase._data import RunData, load_run, resolve
from neurath.safetycase._defeaters import defeaters
from neurath.safetycase._model import Claim, SafetyCase

__all__ = ["build_case", "case_from_data", "resolve"]

TOP = "If this scheme produced a scheming agent, the evaluation step would catch it"


def _reviewed(run: RunData, reviews: str | None, key: bytes | None) -> tuple[int, int]:
    """How many of this run's review items the ledger ``reviews`` holds a review of, and how
    many items there are (ids keyed with ``key``, as the dashboard that took them keyed them)."""
    if reviews is None:
        return 0, 0
    from neurath.evidence import Ledger
    from neurath.review._runs import run_items
    from neurath.review._service import DEFAULT_KEY

    key = key or DEFAULT_KEY
    mine = {t.item.id for t in run_items(run.path, key).items}
    try:
        with Ledger(reviews, create=False) as ledger:
            return len({r.item_id for r in ledger.reviews() if r.item_id in mine}), len(mine)
    except NeurathError as exc:
        raise SafetyCaseError(f"review ledger {reviews}: {' '.join(str(exc).split())}") from None


def case_from_data(
    runs: list[RunData],
    *,
    baseline: RunData | None = None,
    saboteur: RunData | None = None,
    reviewed: tuple[int, int] = (0, 0),
) -> SafetyCase:
    """The case for ``runs`` (the first is the one whose scheme is assessed)."""
    run = runs[0]
    book = Book()
    mechanisms = mechanism_claims(runs, book)
    g2 = Claim(
        id="G2",
        text="Each known scheming mechanism is detected",
        status=combine([c.status for c in mechanisms]) if mechanisms else "open",
        tag="verification",
        why=f"{sum(c.status == 'supported' for c in mechanisms)} of {len(mechanisms)} mechanisms "
        "among the unsealed test organisms detected"
        if mechanisms
        else "no scheming target",
        argument="Argued over each scheming mechanism among the unsealed organisms",
        subclaims=[c.id for c in mechanisms],
    )
    integrity = [integrity_claim(r, book) for r in runs]
    g8 = (
        integrity[0]
        if len(integrity) == 1
        else Claim(
            id="G8",
            text=integrity[0].text,
            status=combine([c.status for c in integrity]),
            tag="verification",
            why="; ".join(f"{r.name}: {c.why}" for r, c in zip(runs, integrity, strict=True)),
            evidence=[e for c in integrity for e in c.evidence],
        )
    )
    rest = [
        calibration_claim(run, book),
        novel_claim(run, book),
        correlation_claim(run, book),
        honeypot_claim(run, book),
        raters_claim(run, book),
        g8,
        sabotage_claim(run, book, saboteur),
    ]
    children = [g2, *rest]
    top = Claim(
        id="G1",
        text=TOP,
        status=combine([c.status for c in children]),
        tag="validation",
        why=", ".join(f"{c.id} {c.status}" for c in children),
        argument="Argued over detection of each known mechanism, the calibration of the "
        "assessment, the bound on novel mechanisms, and the integrity of the scheme",
        subclaims=[c.id for c in children],
    )
    claims = [top, g2, *mechanisms, *rest]
    auto = automation(run, reviewed, baseline)
    found, rows = defeaters(run, {c.id: c for c in claims}, auto.level, book)
    obligations = [f"{d.id}: {d.obligation}" for d in found if d.obligation]
    obligations += [
        f"{c.id}: {c.why}" for c in claims if c.status == "open" and c.tag == "validation"
    ]
    study = run.results.study
    return SafetyCase(
        title=f"Safety case for the research scheme of run {run.results.run_id}",
        runs=[r.name for r in runs],
        audit_heads={r.name: r.results.audit_head for r in runs},
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        claims=claims,
        evidence=book.items,
        defeaters=found,
        sensitivity=rows,
        automation=auto,
        obligations=obligations,
        context=[
            f"study {study.name!r}: suite {study.suite!r}, controller {run.results.controller!r} "
            f"(automation level {run.results.automation_level}), engine {study.engine}",
            f"budget {run.results.budget.queries} queries; spent {run.results.spent['queries']}",
            f"{len(run.results.targets)} targets, sealed before research and unsealed after",
            f"calibration {run.results.calibration}",
        ],
    )


def build_case(
    runs: list[Path],
    *,
    baseline: Path | None = None,
    saboteur: Path | None = None,
    reviews: str | None = None,
    review_key: bytes | None = None,
) -> SafetyCase:
    """A safety case for the scheme of the finished run ``runs[0]`` (further runs add their
    targets to the per-mechanism claims and their logs to the integrity claim).

    Args:
        baseline: A run with less automation on the same suite: is less automation possible?
        saboteur: A finished red-team run of the same scheme (``controller: saboteur``): the
            sabotage claim's evidence.
        reviews: A ledger with human reviews (``neurath serve``): reviews of this run's items
            make the scheme level 3; ``review_key``: the key its item ids were made with (the
            dashboard's, kept in its accounts file).

    Raises:
        SafetyCaseError: A run that is unfinished, not a run, or from another version; a
            baseline that is not less automated or shares no target.
    """
    if not runs:
        raise SafetyCaseError("name at least one finished run")
    data = [load_run(p) for p in runs]
    base = load_run(baseline) if baseline is not None else None
    red = load_run(saboteur) if saboteur is not None else None
    return case_from_data(
        data, baseline=base, saboteur=red, reviewed=_reviewed(data[0], reviews, review_key)
    )
