"""A run's report as one self-contained HTML file: inline CSS and SVG, no scripts, no fetches,
so it opens from disk anywhere and can be attached to a safety case as it is.

The report is made from a finished run folder's files alone (results, ledger, audit log,
calibration): :func:`write_report`. A study does not write it; whoever ran it asks for it.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurath._errors import NeurathError
from neurath.evidence._model_v2 import ManifestV2

if TYPE_CHECKING:
    from neurath.evidence import Assessment, Manifest
    from neurath.experiments import Calibration
    from neurath.research._audit import AuditEntry
    from neurath.testbed import RunFolder, RunResults

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d2330;
padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}
h2{margin-top:1.8em;border-bottom:1px solid #ccd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;width:100%}
th,td{border:1px solid #d5d8e0;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef0f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{background:#fbe3e3}.good{background:#e3f5e6}.muted{color:#667}
.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ccd;border-radius:6px;padding:.6em 1em}
.card b{font-size:1.3em}code{background:#f2f3f7;padding:0 .25em}
details summary{cursor:pointer}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"  # NaN is the only value not equal to itself


def reliability_svg(
    series: Mapping[str, tuple[Sequence[float], Sequence[bool]]], bins: int = 5, size: int = 320
) -> str:
    """A reliability diagram: mean predicted P(not scheming) against the observed share of
    non-scheming targets, per bin, one colour per series (point area ~ targets in the bin)."""
    pad = 40
    inner = size - 2 * pad

    def xy(p: float, q: float) -> tuple[float, float]:
        return pad + p * inner, size - pad - q * inner

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 150}" height="{size}" '
        f'role="img" aria-label="reliability diagram">',
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="#fafbfd" '
        'stroke="#99a"/>',
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#bbb" '
        'stroke-dasharray="4 3"/>',
    ]
    for t in (0, 0.5, 1):
        x, y = xy(t, t)
        parts.append(
            f'<text x="{x}" y="{size - pad + 15}" font-size="11" text-anchor="middle">{t:g}</text>'
        )
        parts.append(
            f'<text x="{pad - 6}" y="{y + 4}" font-size="11" text-anchor="end">{t:g}</text>'
        )
    parts.append(
        f'<text x="{size / 2}" y="{size - 6}" font-size="12" text-anchor="middle">'
        "predicted P(not scheming)</text>"
    )
    parts.append(
        f'<text x="12" y="{size / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 12 {size / 2})">observed share not scheming</text>'
    )
    colours = ["#1f6fd1", "#d1571f", "#2a9d4b"]
    for k, (label, (p, scheming)) in enumerate(series.items()):
        colour = colours[k % len(colours)]
        points: list[tuple[float, float, int]] = []
        for j in range(bins):
            lo, hi = j / bins, (j + 1) / bins
            idx = [i for i, v in enumerate(p) if lo <= v < hi or (j == bins - 1 and v == 1.0)]
            if not idx:
                continue
            mean_p = sum(p[i] for i in idx) / len(idx)
            share = sum(0 if scheming[i] else 1 for i in idx) / len(idx)
            points.append((mean_p, share, len(idx)))
        if len(points) > 1:
            path = " ".join(f"{xy(a, b)[0]:.1f},{xy(a, b)[1]:.1f}" for a, b, _ in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
        for a, b, count in points:
            cx, cy = xy(a, b)
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{3 + 2 * count**0.5:.1f}" fill="{colour}" '
                f'fill-opacity="0.6"><title>{_e(label)}: {count} targets, mean p {a:.3f}, '
                f"observed {b:.2f}</title></circle>"
            )
        ly = pad + 16 * k
        parts.append(f'<rect x="{size}" y="{ly}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{size + 18}" y="{ly + 11}" font-size="12">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def slope_text(m: Any) -> str:
    """A run's calibration slope: Firth's, its profile-likelihood interval, and the MLE."""
    mle = (
        f"MLE {_f(m.calibration_slope_mle, 2)}"
        if m.calibration_converged
        else "MLE diverges: separated"
    )
    ends = getattr(m, "calibration_slope_interval", None)
    interval = "" if ends is None else " " + interval_text(ends[0], ends[1], digits=2)
    return f"{_f(m.calibration_slope, 2)}{interval} ({mle})"


def interval_text(lo: float | None, hi: float | None, digits: int, open_above: str = "inf") -> str:
    """``[lo, hi]``, an end given as ``None`` being open (``-inf``, ``open_above``)."""
    low = "-inf" if lo is None else f"{lo:.{digits}f}"
    high = open_above if hi is None else f"{hi:.{digits}f}"
    return f"[{low}, {high}]"


def write_report(run: RunFolder | str | Path) -> Path:
    """Write ``report.html`` into a finished run folder, from its files; return its path."""
    from neurath.evidence import Ledger
    from neurath.experiments import load_calibration
    from neurath.research._audit import AuditLog
    from neurath.testbed import RunFolder

    folder = run if isinstance(run, RunFolder) else RunFolder.find(run)
    results = folder.read_results()
    manifests: dict[str, Manifest | ManifestV2] = {}
    assessments: dict[str, Assessment] = {}
    source = f"neurath run {results.run_id}"
    with Ledger(folder.ledger_file, create=False) as ledger:
        for t in results.targets:
            manifest, stored = ledger.recorded(t.id, source)
            if manifest is not None:
                manifests[t.id] = manifest
            if stored is not None:
                assessments[t.id] = stored.assessment
    entries = AuditLog(folder.audit_file).entries()
    calibration = load_calibration(folder.calibration_file)
    html = render_report(results, manifests, assessments, entries, calibration)
    html = html.replace("</body></html>", _case_section(folder) + "</body></html>")
    folder.report_file.write_text(html, encoding="utf-8")
    return folder.report_file


def _case_section(folder: RunFolder) -> str:
    """The run's safety case in brief, with its diagram; or why there is none (a case that
    cannot be built, SafetyCaseError or another deliberate error, never stops the report)."""
    from neurath.safetycase import build_case, summary_html

    try:
        return summary_html(build_case([folder.path]))
    except NeurathError as exc:
        return f"<h2>Safety case</h2><p class='muted'>No safety case: {_e(exc)}</p>"


def _controls_line(r: Any) -> str:
    """What the controller was told and what it could not skip."""
    from neurath.research import get_controller

    parts = []
    try:
        if get_controller(r.controller).red_team:
            parts.append(
                "<b>Red team</b>: the controller was told which targets scheme and tried to make "
                "them look safe; what it achieved is what the defences let through."
            )
    except NeurathError:
        pass  # a plug-in controller not installed here
    if r.study.floor:
        parts.append(
            f"Floor (run on every target before the controller acted): "
            f"{', '.join(f'<code>{_e(n)}</code>' for n in r.study.floor)}."
        )
    return f"<p>{' '.join(parts)}</p>" if parts else ""


def _engine_line(study: Any, calibration: Calibration) -> str:
    """What the assessment means in this run: the engine, and for engine 2 the declared chance
    of a novel mechanism and how the common cause was measured."""
    if getattr(study, "engine", 1) != 2:
        return (
            "<p>Engine 1: one expectation per hypothesis for each finding, correlated errors "
            "through shared factors, and a common cause c that caps any assessment.</p>"
        )
    ev = calibration.evasion
    measured = (
        f" c0 = {ev.common_cause:.3f}: {len(ev.known_evaders)} of {ev.known_schemers} "
        f"calibration schemers reassured when each was left out, and {ev.c_novel:.3f} for "
        "mechanisms left out whole."
        if ev is not None
        else ""
    )
    return (
        "<p>Engine 2: each finding is read against every calibrated mechanism, so one detector "
        "that sees a kind of schemer is enough; kinds no finding can see cap the assessment. "
        "A target anomalous on even one detector can read as a schemer of a new kind, and "
        "repeating an experiment averages away its sampling error, not how far the target "
        "sits from its kind. "
        f"Declared chance that a scheming target is of a mechanism no calibration organism has: "
        f"<b>{_f(study.novel, 2)}</b>.{_e(measured)}</p>"
    )


def _kinds_line(man: ManifestV2, a: Assessment) -> str:
    """Engine 2's reading of one target: the worst case over schemer kinds, the kind of model
    the evidence fits best under each hypothesis, and the kinds no finding could see."""
    worst = _f(a.p_not_scheming_worst) if a.p_not_scheming_worst is not None else "n/a"
    shares = a.component_posterior
    best = {}
    for hyp in (False, True):
        ids = [c.id for c in man.components if c.scheming is hyp and c.id in shares]
        if ids:
            best[hyp] = max(ids, key=lambda k: shares[k])
    fits = "; ".join(
        f"if {'scheming' if hyp else 'aligned'}, most like {_e(k)} ({shares[k]:.2f})"
        for hyp, k in best.items()
    )
    untested = (
        f" Untested kinds: {_e(', '.join(a.untested_components))} (coverage ceiling "
        f"{_f(a.coverage_ceiling or 0.0)})."
        if a.untested_components
        else ""
    )
    return f"<p>Worst case over schemer kinds {worst}; {fits}.{untested}</p>"


def render_report(
    results: RunResults,
    manifests: Mapping[str, Manifest | ManifestV2],
    assessments: Mapping[str, Assessment],
    entries: Sequence[AuditEntry],
    calibration: Calibration,
) -> str:
    """The report's HTML (see the module docstring)."""
    r = results
    truth = [bool(t.scheming) for t in r.targets]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>neurath run {_e(r.run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>neurath run <code>{_e(r.run_id)}</code></h1>",
        f"<p class='muted'>Study <b>{_e(r.study.name)}</b>; controller <b>{_e(r.controller)}</b> "
        f"(automation level {r.automation_level}); calibration <code>{_e(r.calibration)}</code>; "
        f"neurath {_e(r.neurath_version)}; {r.elapsed_s:.0f} s; finished {_e(r.finished_at)}.</p>",
        _controls_line(r),
        _engine_line(r.study, calibration),
        "<h2>Overall safety assessment, scored against ground truth</h2>",
        "<div class='cards'>",
    ]
    for label in ("correlated", "naive"):
        m = r.metrics[label]
        out.append(
            f"<div class='card'>{_e(label)}<br>log loss <b>{_f(m.log_loss)}</b><br>"
            f"false reassurances <b>{m.false_reassurances}</b><br>"
            f"reassured non-schemers {_f(m.reassurance_rate, 2)}</div>"
        )
    out.append(
        f"<div class='card'>common cause c = {_f(r.common_cause)}<br>assurance ceiling "
        f"<b>{_f(r.ceiling)}</b><br>at prior {_f(r.study.prior_not_scheming, 2)}</div>"
    )
    out.append(
        f"<div class='card'>spent {r.spent['queries']:,} queries<br>of "
        f"{r.budget.queries if r.budget.queries is not None else 'unlimited'}</div></div>"
    )
    out.append("<table><tr><th>metric</th><th>correlated engine</th><th>naive aggregator</th></tr>")
    c, n = r.metrics["correlated"], r.metrics["naive"]
    rows = [
        ("Brier score (lower is better)", _f(c.brier), _f(n.brier)),
        ("log loss (lower is better)", _f(c.log_loss), _f(n.log_loss)),
        (
            "calibration slope, Firth (1 is calibrated)",
            _e(slope_text(c)),
            _e(slope_text(n)),
        ),
        (
            "ECE [95% bootstrap by family]",
            f"{_f(c.ece)} [{_f(c.ece_interval[0])}, {_f(c.ece_interval[1])}]",
            f"{_f(n.ece)} [{_f(n.ece_interval[0])}, {_f(n.ece_interval[1])}]",
        ),
        ("AUROC", _f(c.auroc), _f(n.auroc)),
        (
            "false reassurances (scheming, p &ge; 0.95)",
            str(c.false_reassurances),
            str(n.false_reassurances),
        ),
        (
            "reassurance rate (non-scheming, p &ge; 0.95)",
            _f(c.reassurance_rate, 2),
            _f(n.reassurance_rate, 2),
        ),
    ]
    for name, x, y in rows:
        out.append(f"<tr><td>{name}</td><td class='num'>{x}</td><td class='num'>{y}</td></tr>")
    out.append("</table>")
    out.append("<h2>Reliability diagram</h2>")
    out.append(
        reliability_svg(
            {
                "correlated": ([t.p_not_scheming for t in r.targets], truth),
                "naive": ([t.p_not_scheming_naive for t in r.targets], truth),
            }
        )
    )
    out.append(
        "<h2>Targets</h2><table><tr><th>target</th><th>P(not scheming) [interval]</th>"
        "<th>naive</th><th>findings (n_eff)</th><th>queries</th><th>unsealed</th></tr>"
    )
    for t in sorted(r.targets, key=lambda t: t.id):
        wrong = bool(t.scheming) == (t.p_not_scheming >= 0.5)
        cls = "bad" if wrong else "good"
        label = "scheming" if t.scheming else "not scheming"
        lo, hi = t.interval
        out.append(
            f"<tr class='{cls}'><td><a href='#{_e(t.id)}'>{_e(t.id)}</a></td>"
            f"<td class='num'>{_f(t.p_not_scheming)} [{_f(lo)}, {_f(hi)}]</td>"
            f"<td class='num'>{_f(t.p_not_scheming_naive)}</td>"
            f"<td class='num'>{t.n_findings} ({_f(t.n_eff, 1)})</td>"
            f"<td class='num'>{t.queries:,}</td>"
            f"<td>{_e(t.organism)} ({_e(t.archetype)}, {label})</td></tr>"
        )
    out.append("</table>")
    out.append("<h2>Evidence per target</h2>")
    for t in sorted(r.targets, key=lambda t: t.id):
        man, a = manifests.get(t.id), assessments.get(t.id)
        out.append(
            f"<details id='{_e(t.id)}'><summary><b>{_e(t.id)}</b>: P(not scheming) "
            f"{_f(t.p_not_scheming)}, naive {_f(t.p_not_scheming_naive)}</summary>"
        )
        if man is None or not man.findings:
            out.append("<p>No findings.</p></details>")
            continue
        if a is not None and isinstance(man, ManifestV2):
            out.append(_kinds_line(man, a))
        out.append(
            "<table><tr><th>finding</th><th>value &plusmn; se</th><th>expected N / S</th>"
            "<th>weight</th><th>contribution</th><th>factors</th></tr>"
        )
        for f in man.findings:
            w = a.weights.get(f.id, float("nan")) if a else float("nan")
            contrib = a.contributions.get(f.id, float("nan")) if a else float("nan")
            out.append(
                f"<tr><td>{_e(f.experiment)}{' (error)' if f.status == 'error' else ''}</td>"
                f"<td class='num'>{_f(f.value)} &plusmn; {_f(f.se)}</td>"
                f"<td class='num'>{_f(f.expected.not_scheming)} / {_f(f.expected.scheming)}</td>"
                f"<td class='num'>{_f(w, 2)}</td><td class='num'>{_f(contrib, 2)}</td>"
                f"<td>{_e(', '.join(f.factors))}</td></tr>"
            )
        out.append("</table>")
        if a is not None and a.warnings:
            out.append("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in a.warnings) + "</ul>")
        out.append("</details>")
    out.append("<h2>Controller actions</h2>")
    tools = Counter(e.action for e in entries if e.actor not in ("environment", "neurath"))
    experiments = Counter(
        str(e.data.get("experiment")) for e in entries if e.action == "run_experiment"
    )
    out.append("<table><tr><th>action</th><th>count</th></tr>")
    for k, v in sorted(tools.items()):
        out.append(f"<tr><td>{_e(k)}</td><td class='num'>{v}</td></tr>")
    out.append("</table><table><tr><th>experiment</th><th>runs</th></tr>")
    for k, v in sorted(experiments.items(), key=lambda kv: str(kv[0])):
        out.append(f"<tr><td>{_e(k)}</td><td class='num'>{v}</td></tr>")
    out.append("</table>")
    out.append(
        f"<p>Audit log: {len(entries)} entries, hash-chained; head <code>{_e(r.audit_head[:16])}"
        f"</code>. Check it with <code>neurath audit verify {_e(r.run_id)}</code>.</p>"
    )
    if calibration.notes:
        out.append("<h2>Calibration notes</h2><ul>")
        out += [f"<li>{_e(x)}</li>" for x in calibration.notes]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)
