"""The data of each page, assembled once for its HTML and its JSON.

Who sees what is decided here:

- A run's unsealed truth (which organism each target is, whether it schemes) and every score
  computed from it (metrics, the reliability diagram) are shown to admins only: a finding's
  review item is gold because its target's truth is known, so a reviewer who could read that
  truth could answer gold items without checking anything.
- The review-adjusted assessment pools everyone's reviews; a reviewer sees it once their own
  queue is done, so nobody's verdict is swayed by what others decided.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from neurath._errors import NeurathError
from neurath.report import reliability_svg
from neurath.web._accounts import Session
from neurath.web._data import TargetView, list_runs, run_results, target_view
from neurath.web._plots import Bar, GraphFinding, contributions_svg, evidence_graph_svg

if TYPE_CHECKING:
    from markupsafe import Markup

    from neurath.testbed import RunResults
    from neurath.web._context import WebContext

TRUTH_HIDDEN = "hidden from reviewers: it is the answer to gold review items"
QUEUE_FIRST = (
    "shown once your review queue is done, so that nobody's verdict is swayed by the pooled "
    "reviews of others"
)


def _outcome_json(t: Any, truth: bool) -> dict[str, Any]:
    data: dict[str, Any] = t.model_dump(mode="json")
    if not truth:
        for key in ("organism", "archetype", "scheming"):
            data.pop(key, None)
    return data


def runs_data(ctx: WebContext, session: Session) -> dict[str, Any]:
    rows = list_runs(ctx.runs_dir)
    out = []
    for r in rows:
        item: dict[str, Any] = {"id": r.id, "state": r.state, "error": r.error}
        if r.results is not None:
            res = r.results
            item.update(
                study=res.study.name,
                controller=res.controller,
                automation_level=res.automation_level,
                targets=len(res.targets),
                finished_at=res.finished_at,
            )
            if session.user.is_admin:
                m = res.metrics.get("correlated")
                item["log_loss"] = m.log_loss if m else None
                item["false_reassurances"] = m.false_reassurances if m else None
        if r.state == "running":
            item["entries"] = r.entries
        out.append(item)
    return {"runs": out, "truth_shown": session.user.is_admin}


def run_data(ctx: WebContext, session: Session, run_id: str) -> dict[str, Any]:
    """A finished run: its targets and (admins) its scores against the unsealed truth."""
    res = run_results(ctx.runs_dir, run_id)
    truth = session.user.is_admin
    data: dict[str, Any] = {
        "run_id": res.run_id,
        "study": res.study.name,
        "controller": res.controller,
        "automation_level": res.automation_level,
        "calibration": res.calibration,
        "common_cause": res.common_cause,
        "ceiling": res.ceiling,
        "prior_not_scheming": res.study.prior_not_scheming,
        "engine": getattr(res.study, "engine", 1),
        "spent": res.spent,
        "budget_queries": res.budget.queries,
        "started_at": res.started_at,
        "finished_at": res.finished_at,
        "elapsed_s": res.elapsed_s,
        "neurath_version": res.neurath_version,
        "targets": [_outcome_json(t, truth) for t in sorted(res.targets, key=lambda t: t.id)],
        "truth_shown": truth,
    }
    if truth:
        data["metrics"] = {k: m.model_dump(mode="json") for k, m in res.metrics.items()}
    return data


def reliability(res: RunResults) -> Markup:
    from markupsafe import Markup

    if any(t.scheming is None for t in res.targets):
        return Markup("<p>The run's targets are not unsealed: no reliability diagram.</p>")
    truth = [bool(t.scheming) for t in res.targets]
    # reliability_svg escapes its labels; its numbers are ours
    return Markup(
        reliability_svg(
            {
                "correlated": ([t.p_not_scheming for t in res.targets], truth),
                "naive": ([t.p_not_scheming_naive for t in res.targets], truth),
            }
        )
    )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def finding_rows(view: TargetView) -> list[dict[str, Any]]:
    man, a = view.manifest, view.assessment
    if man is None:
        return []
    rows = []
    for f in man.findings:
        w = a.weights.get(f.id) if a else None
        c = a.contributions.get(f.id) if a else None
        rows.append(
            {
                "id": f.id,
                "experiment": f.experiment,
                "claim": f.claim,
                "status": f.status,
                "value": f.value,
                "se": f.se,
                "expected_not_scheming": f.expected.not_scheming,
                "expected_scheming": f.expected.scheming,
                "weight": None if w is None else _finite(w),
                "contribution": None if c is None else _finite(c),
                "factors": dict(f.factors),
            }
        )
    return rows


def plots(view: TargetView, rows: list[dict[str, Any]]) -> dict[str, Markup]:
    bars = [
        Bar(r["id"], r["experiment"], r["contribution"])
        for r in rows
        if r["contribution"] is not None
    ]
    counts = Counter(r["experiment"] for r in rows)
    nodes = [
        GraphFinding(
            r["id"],
            r["experiment"]
            if counts[r["experiment"]] == 1
            else f"{r['experiment']} {r['id'][-8:]}",
            r["factors"],
            r["contribution"] if r["contribution"] is not None else float("nan"),
        )
        for r in rows
    ]
    return {
        "contributions": contributions_svg(bars),
        "graph": evidence_graph_svg(nodes, view.factors),
    }


def reviewed_data(
    ctx: WebContext, session: Session, run_id: str, target: str
) -> tuple[dict[str, Any] | None, str | None]:
    """(the review-adjusted assessment as JSON, or None with why)."""
    if not session.user.is_admin and ctx.reviews.pending(session.user.name) > 0:
        return None, QUEUE_FIRST
    try:
        reviewed = ctx.reviews.reviewed_assessment(run_id, target)
    except NeurathError as exc:
        return None, str(exc)
    return reviewed.model_dump(mode="json"), None


def target_data(
    ctx: WebContext, session: Session, run_id: str, target: str
) -> tuple[dict[str, Any], TargetView]:
    """A target's page as JSON, and what its plots are drawn from."""
    view = target_view(ctx.runs_dir, run_id, target)
    truth = session.user.is_admin
    rows = finding_rows(view)
    reviewed, hidden = reviewed_data(ctx, session, run_id, target)
    a = view.assessment
    data = {
        "run_id": view.run.run_id,
        "target": _outcome_json(view.outcome, truth),
        "truth_shown": truth,
        "manifest_version": None if view.manifest is None else view.manifest.version,
        "assessment": None if a is None else a.model_dump(mode="json"),
        "findings": rows,
        "factors": {k: {"kind": kind, "sd": sd} for k, (kind, sd) in view.factors.items()},
        "reviewed": reviewed,
        "reviewed_hidden": hidden,
    }
    return data, view
