"""A safety case presented: one self-contained HTML page, and the fragment the run report shows
(the diagram is drawn by :mod:`._render_svg`, the Markdown written by :mod:`._render_md`).
Nothing is fetched: styles are inline, there is no script, and every text from the case is
escaped (it holds target output and file paths).
"""

from __future__ import annotations

import html
from collections import Counter

from neurath.safetycase._model import Evidence, SafetyCase, SensitivityRow, Source
from neurath.safetycase._render_layout import value_text
from neurath.safetycase._render_svg import STATUS_FILL, STATUS_STROKE, STATUS_WORD, diagram_svg

DEFEATER_WORD = {"addressed": "ADDRESSED", "partly": "PARTLY ADDRESSED", "open": "OPEN"}
_DEFEATER_CLASS = {"addressed": "supported", "partly": "open", "open": "undermined"}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#1d2330;
padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h3{margin:.2em 0;font-size:1.05em}
h2{margin-top:1.8em;border-bottom:1px solid #ccd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;width:100%}
th,td{border:1px solid #d5d8e0;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef0f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#667}code{background:#f2f3f7;padding:0 .25em;word-break:break-all}
.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ccd;border-radius:6px;padding:.6em 1em}.card b{font-size:1.25em}
.badge{display:inline-block;font-size:.85em}
.tag{color:#445;font-style:italic}.claim{border-left:5px solid #ccd;padding:.3em .8em;
margin:.8em 0}.claim.s-supported{border-color:#2a7d3b}.claim.s-undermined{border-color:#b3261e}
.claim.s-open{border-color:#8a5a00}.diagram{overflow-x:auto;border:1px solid #e3e5eb;
padding:.4em;background:#fff}ul.sources{margin:.2em 0;padding-left:1.2em;font-size:.9em}
tr.worse{background:#fbe3e3}
"""
# The diagram fits the page; opening "full size" (no script: a sibling selector) shows it at
# its own size, scrolling sideways.
_ZOOM_CSS = (
    ".diagram{overflow-x:auto}.diagram svg{max-width:100%;height:auto}"
    ".zoom[open]+.diagram svg{max-width:none}"
)
_ZOOM = (
    "<details class='zoom'><summary>Full size (scroll sideways; hover a shape for its whole "
    "text)</summary></details>"
)


def _e(x: object) -> str:
    return html.escape(str(x))


def source_text(s: Source) -> str:
    """Where a figure was read, in one line (the run folder last)."""
    at = f"#{s.pointer}" if s.pointer else ""
    if s.kind == "ledger":
        where = f"{s.file} table {s.table} record {s.record}{at}"
    elif s.kind == "audit":
        head = f", hash {s.entry_hash}" if s.entry_hash else ""
        where = f"{s.file} entry {s.seq}{head}{at}"
    else:
        where = f"{s.file}{at}"
    return f"{s.kind}: {where} (run {s.run})"


def status_counts(case: SafetyCase) -> str:
    counts = Counter(c.status for c in case.claims)
    return ", ".join(f"{counts[s]} {s}" for s in ("supported", "undermined", "open"))


def defeater_counts(case: SafetyCase) -> str:
    counts = Counter(d.status for d in case.defeaters)
    return ", ".join(f"{counts[s]} {s}" for s in ("addressed", "partly", "open"))


def automation_line(case: SafetyCase) -> str:
    a = case.automation
    collapse = f" Collapse: {a.collapse}" if a.collapse else ""
    inherited = f" Inherited from level 1: {', '.join(a.inherited)}." if a.inherited else ""
    return f"Automation level {a.level}: {a.why}.{collapse}{inherited}"


def sensitivity_cells(r: SensitivityRow) -> list[str]:
    """A sensitivity row's cells, as text: before -> after where the row has both."""

    def ba(before: object, after: object) -> str:
        return f"{value_text(before)} \u2192 {value_text(after)}"

    return [
        r.defeater,
        r.change,
        str(r.targets),
        str(r.findings_changed),
        ba(r.reassured_before, r.reassured_after),
        ba(r.false_reassurances_before, r.false_reassurances_after),
        ba(r.max_schemer_before, r.max_schemer_after),
        value_text(r.mean_abs_change),
    ]


SENSITIVITY_HEAD = [
    "defeater",
    "as if it held",
    "targets",
    "findings changed",
    "reassured",
    "false reassurances",
    "highest P(not scheming) of a schemer",
    "mean |change|",
]


# -- the page ------------------------------------------------------------------------------


def _badge(status: str, word: str | None = None) -> str:
    """A status in words on its colour (inline, so the run report can show it too)."""
    look = _DEFEATER_CLASS.get(status, status) if word else status
    text = word or STATUS_WORD.get(status, status.upper())
    return (
        f"<span class='badge' style='background:{STATUS_FILL[look]};color:{STATUS_STROKE[look]};"
        f"border:1px solid {STATUS_STROKE[look]};border-radius:4px;padding:0 .4em;"
        f"font-weight:bold'>{_e(text)}</span>"
    )


def _link(ref: str) -> str:
    return f"<a href='#{_e(ref)}'>{_e(ref)}</a>"


def _claims_html(case: SafetyCase) -> list[str]:
    against: dict[str, list[str]] = {}
    for d in case.defeaters:
        for cid in d.against:
            against.setdefault(cid, []).append(d.id)
    known = {e.id: e for e in case.evidence}
    out = ["<h2>Claims</h2>"]
    for c in case.claims:
        out.append(
            f"<section class='claim s-{c.status}' id='{_e(c.id)}'><h3>{_e(c.id)} "
            f"{_badge(c.status)} <span class='tag'>{_e(c.tag)}</span>"
            f"{f' (mechanism {_e(c.mechanism)})' if c.mechanism else ''}</h3>"
            f"<p><b>{_e(c.text)}</b></p><p>Why: {_e(c.why)}</p>"
        )
        if c.argument:
            out.append(f"<p>Argument: {_e(c.argument)}</p>")
        if c.subclaims:
            out.append(f"<p>Sub-claims: {', '.join(_link(s) for s in c.subclaims)}</p>")
        if c.evidence:
            items = [
                f"<li>{_link(e)}: {_e(known[e].text)} = <b>{_e(value_text(known[e].value))}</b>"
                if e in known
                else f"<li>{_e(e)} (not in the case)"
                for e in c.evidence
            ]
            out.append(f"<p>Evidence:</p><ul>{''.join(items)}</ul>")
        if c.id in against:
            out.append(f"<p>Defeaters: {', '.join(_link(d) for d in against[c.id])}</p>")
        out.append("</section>")
    return out


def _evidence_row(e: Evidence) -> str:
    sources = "".join(f"<li><code>{_e(source_text(s))}</code></li>" for s in e.sources)
    derived = f"<br><span class='muted'>{_e(e.derived)}</span>" if e.derived else ""
    return (
        f"<tr id='{_e(e.id)}'><td>{_e(e.id)}</td><td>{_e(e.text)}{derived}</td>"
        f"<td class='num'>{_e(value_text(e.value))}</td>"
        f"<td><ul class='sources'>{sources}</ul></td></tr>"
    )


def _tables_html(case: SafetyCase) -> list[str]:
    out = [
        "<h2>Evidence and where each figure was read</h2>",
        "<table><tr><th>id</th><th>measurement</th><th>value</th><th>sources</th></tr>",
        *(_evidence_row(e) for e in case.evidence),
        "</table><h2>Defeaters</h2><table><tr><th>id</th><th>worry</th><th>seed</th>"
        "<th>status</th><th>why</th><th>evidence</th><th>against</th><th>obligation</th></tr>",
    ]
    for d in case.defeaters:
        out.append(
            f"<tr id='{_e(d.id)}'><td>{_e(d.id)}</td><td>{_e(d.worry)}</td><td>{_e(d.seed)}</td>"
            f"<td>{_badge(d.status, DEFEATER_WORD[d.status])}</td><td>{_e(d.why)}</td>"
            f"<td>{', '.join(_link(x) for x in d.evidence)}</td>"
            f"<td>{', '.join(_link(x) for x in d.against)}</td><td>{_e(d.obligation)}</td></tr>"
        )
    out.append("</table><h2>What the OSA would be if this worry were true</h2>")
    if not case.sensitivity:
        out.append("<p class='muted'>No defeater could be recomputed.</p>")
        return out
    out.append("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in SENSITIVITY_HEAD) + "</tr>")
    for r in case.sensitivity:
        worse = r.false_reassurances_after > r.false_reassurances_before
        cells = "".join(
            f"<td{' class=num' if i > 1 else ''}>{_e(x)}</td>"
            for i, x in enumerate(sensitivity_cells(r))
        )
        out.append(f"<tr{' class=worse' if worse else ''}>{cells}</tr>")
    out.append("</table>")
    return out


def _automation_html(case: SafetyCase) -> list[str]:
    a = case.automation
    out = [
        f"<h2>Automation level {a.level}</h2><p>{_e(a.why)}</p>",
        f"<p><b>Collapse.</b> {_e(a.collapse)}</p>" if a.collapse else "",
        f"<p>Inherited from level 1: {', '.join(_link(c) for c in a.inherited)}</p>"
        if a.inherited
        else "",
    ]
    m = a.comparison
    if m is not None:
        verdict = "yes" if m.less_automation_possible else "no"
        out.append(
            f"<h3>Is less automation possible? <b>{verdict}</b></h3><table>"
            f"<tr><th>baseline run</th><td><code>{_e(m.baseline_run)}</code> (level "
            f"{m.baseline_level})</td></tr><tr><th>shared targets</th><td>{m.shared_targets}"
            f"</td></tr><tr><th>log loss: this run / baseline</th><td>{value_text(m.log_loss)}"
            f" / {value_text(m.baseline_log_loss)}</td></tr><tr><th>difference (baseline minus "
            f"this run) [95%]</th><td>{value_text(m.difference)} [{value_text(m.interval[0])}, "
            f"{value_text(m.interval[1])}]</td></tr><tr><th>sign-flip p (one-sided)</th><td>"
            f"{value_text(m.p_value)}</td></tr><tr><th>better beyond noise</th><td>"
            f"{value_text(m.better_beyond_noise)}</td></tr></table><ul class='sources'>"
            + "".join(f"<li><code>{_e(source_text(s))}</code></li>" for s in m.sources)
            + "</ul>"
        )
    return out


def to_html(case: SafetyCase) -> str:
    """The case as one self-contained HTML page."""
    top = case.claims[0] if case.claims else None
    heads = "".join(
        f"<li><code>{_e(run)}</code>: audit head <code>{_e(h)}</code></li>"
        for run, h in case.audit_heads.items()
    )
    cards = [
        f"top claim {_e(top.id)}<br>{_badge(top.status)}" if top else "no claims",
        f"claims<br><b>{_e(status_counts(case))}</b>",
        f"defeaters<br><b>{_e(defeater_counts(case))}</b>",
        f"automation level<br><b>{case.automation.level}</b>",
        f"open obligations<br><b>{len(case.obligations)}</b>",
    ]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(case.title)}</title><style>{_CSS}{_ZOOM_CSS}</style></head><body>",
        f"<h1>{_e(case.title)}</h1>",
        f"<p class='muted'>Case version {case.version}, built {_e(case.created_at)} by neurath "
        f"{_e(case.neurath_version)} from {len(case.runs)} run(s):</p><ul>{heads}</ul>",
        f"<p>{_e(top.text) if top else ''}</p>",
        "<div class='cards'>" + "".join(f"<div class='card'>{c}</div>" for c in cards) + "</div>",
        f"<h2>Goal structure</h2>{_ZOOM}<div class='diagram'>{diagram_svg(case)}</div>",
        *_claims_html(case),
        *_tables_html(case),
        *_automation_html(case),
        "<h2>Open obligations</h2><p>What needs a human-written argument: no measurement here "
        "can settle it.</p><ul>",
        *(f"<li>{_e(o)}</li>" for o in case.obligations),
        "</ul><h2>Context</h2><ul>",
        *(f"<li>{_e(c)}</li>" for c in case.context),
        "</ul><p class='muted'>Every figure names the run file, ledger record or audit entry "
        "it was read from; <code>neurath.safetycase.resolve</code> reads it again.</p>",
        "</body></html>",
    ]
    return "\n".join(x for x in out if x)


def summary_html(case: SafetyCase) -> str:
    """The case in a few lines and its diagram: a section of the run report."""
    top = case.claims[0] if case.claims else None
    lines = [
        "<h2>Safety case</h2>",
        f"<p>Top claim {_e(top.id)} {_badge(top.status)}: {_e(top.text)}.</p>" if top else "",
        f"<p>Claims: {_e(status_counts(case))}. Defeaters: {_e(defeater_counts(case))}. "
        f"Open obligations: {len(case.obligations)}.</p>",
        f"<p>{_e(automation_line(case))}</p>",
        f"<style>{_ZOOM_CSS}</style>{_ZOOM}<div class='diagram'>{diagram_svg(case)}</div>",
        "<p class='muted'>The whole case (claims, evidence with provenance, defeaters, "
        "sensitivity): <code>neurath safetycase RUN</code>.</p>",
    ]
    return "\n".join(x for x in lines if x)
