"""A safety case as Markdown: the goal structure as an indented outline, then the claims, the
evidence with its provenance, the defeaters, the sensitivity table, the automation level and the
open obligations. Text from the case is escaped so that it cannot open HTML, links, code spans
or table cells.
"""

from __future__ import annotations

import re

from neurath.safetycase._model import SafetyCase
from neurath.safetycase._render import (
    DEFEATER_WORD,
    SENSITIVITY_HEAD,
    automation_line,
    defeater_counts,
    sensitivity_cells,
    source_text,
    status_counts,
)
from neurath.safetycase._render_layout import value_text
from neurath.safetycase._render_svg import STATUS_WORD

_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(text: object) -> str:
    """``text`` on one line, Markdown's special characters backslash-escaped, and ``<`` and
    ``&`` as entities (every renderer reads those, where some ignore a backslash before ``<``;
    without ``<`` no HTML tag can open)."""
    text = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;")
    return _SPECIAL.sub(r"\\\1", text)


def code(text: object) -> str:
    """``text`` as an inline code span (where escapes do not work: backticks are dropped)."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *(_row(r) for r in rows), ""]


def _outline(case: SafetyCase) -> list[str]:
    """The goal structure, each claim once under its first parent; evidence by id."""
    claims = {c.id: c for c in case.claims}
    subclaims = {s for c in case.claims for s in c.subclaims}
    seen: set[str] = set()
    out: list[str] = []

    def visit(cid: str, depth: int) -> None:
        if cid in seen or cid not in claims:
            return
        seen.add(cid)
        c = claims[cid]
        pad = "  " * depth
        out.append(f"{pad}- **{md(c.id)}** [{STATUS_WORD[c.status]}, {c.tag}] {md(c.text)}")
        if c.argument:
            out.append(f"{pad}  - *strategy:* {md(c.argument)}")
        for s in c.subclaims:
            visit(s, depth + 1 + bool(c.argument))
        if c.evidence:
            ids = ", ".join(md(e) for e in c.evidence)
            out.append(f"{pad}  {'  ' * bool(c.argument)}- *evidence:* {ids}")

    for c in case.claims:
        if c.id not in subclaims:
            visit(c.id, 0)
    for c in case.claims:
        visit(c.id, 0)
    return [*out, ""]


def _claims(case: SafetyCase) -> list[str]:
    out: list[str] = []
    evidence = {e.id: e for e in case.evidence}
    for c in case.claims:
        out += [f"### {md(c.id)}: {STATUS_WORD[c.status]} ({c.tag})", "", f"**{md(c.text)}**", ""]
        out += [f"Why: {md(c.why)}", ""]
        out += [f"Argument: {md(c.argument)}", ""] if c.argument else []
        out += [f"Sub-claims: {', '.join(md(s) for s in c.subclaims)}", ""] if c.subclaims else []
        out += [f"Mechanism: {md(c.mechanism)}", ""] if c.mechanism else []
        for e in c.evidence:
            item = evidence.get(e)
            shown = f"{md(item.text)} = **{md(value_text(item.value))}**" if item else "missing"
            out.append(f"- {md(e)}: {shown}")
        out += [""] if c.evidence else []
    return out


def to_markdown(case: SafetyCase) -> str:
    """The case as a Markdown document (see the module docstring)."""
    top = case.claims[0] if case.claims else None
    out = [
        f"# {md(case.title)}",
        "",
        f"Case version {case.version}, built {md(case.created_at)} by neurath "
        f"{md(case.neurath_version)} from:",
        "",
        *(f"- {code(r)} (audit head {code(h)})" for r, h in case.audit_heads.items()),
        "",
        "## Summary",
        "",
        f"- Top claim {md(top.id)}: **{STATUS_WORD[top.status]}**: {md(top.text)}"
        if top
        else "- No claims.",
        f"- Claims: {status_counts(case)}; defeaters: {defeater_counts(case)}; "
        f"open obligations: {len(case.obligations)}.",
        f"- {md(automation_line(case))}",
        "",
        "## Goal structure",
        "",
        *_outline(case),
        "## Claims",
        "",
    ]
    out += _claims(case)
    out += ["## Evidence and where each figure was read", ""]
    out += _table(
        ["id", "measurement", "value", "derived", "sources"],
        [
            [
                *(md(x) for x in (e.id, e.text, value_text(e.value), e.derived)),
                "; ".join(md(source_text(s)) for s in e.sources),
            ]
            for e in case.evidence
        ],
    )
    out += ["## Defeaters", ""]
    out += _table(
        ["id", "worry", "seed", "status", "why", "evidence", "against", "obligation"],
        [
            [
                *(md(x) for x in (d.id, d.worry, d.seed, DEFEATER_WORD[d.status], d.why)),
                *(md(x) for x in (", ".join(d.evidence), ", ".join(d.against), d.obligation)),
            ]
            for d in case.defeaters
        ],
    )
    out += ["## What the OSA would be if this worry were true", ""]
    rows = [[md(x) for x in sensitivity_cells(r)] for r in case.sensitivity]
    out += _table(SENSITIVITY_HEAD, rows) if rows else ["No defeater could be recomputed.", ""]
    out += _automation(case)
    out += ["## Open obligations", "", *(f"- {md(o)}" for o in case.obligations), ""]
    out += ["## Context", "", *(f"- {md(c)}" for c in case.context), ""]
    return "\n".join(out)


def _automation(case: SafetyCase) -> list[str]:
    a = case.automation
    out = [f"## Automation level {a.level}", "", md(a.why), ""]
    out += [f"**Collapse.** {md(a.collapse)}", ""] if a.collapse else []
    out += [f"Inherited from level 1: {', '.join(md(c) for c in a.inherited)}", ""] * bool(
        a.inherited
    )
    m = a.comparison
    if m is not None:
        verdict = "yes" if m.less_automation_possible else "no"
        out += [
            f"Is less automation possible? **{verdict}**: against baseline {code(m.baseline_run)}"
            f" (level {m.baseline_level}) on {m.shared_targets} shared targets, mean log loss "
            f"{value_text(m.log_loss)} vs {value_text(m.baseline_log_loss)}, difference "
            f"{value_text(m.difference)} [95% {value_text(m.interval[0])}, "
            f"{value_text(m.interval[1])}], sign-flip p {value_text(m.p_value)}, better beyond "
            "noise: "
            f"{value_text(m.better_beyond_noise)}.",
            "",
            *(f"- {md(source_text(s))}" for s in m.sources),
            "",
        ]
    return out
