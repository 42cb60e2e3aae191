"""The calibration benchmark's page: one self-contained HTML file (inline CSS and SVG, no
scripts, nothing fetched), made from ``bench.json`` alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neurath.report._html import _CSS, _e, interval_text, reliability_svg

if TYPE_CHECKING:
    from neurath.testbed._bench import BenchResult, SplitResult
    from neurath.testbed._bench_score import AggregatorScore, Estimate

_LABELS = {
    "engine": "engine",
    "engine_no_common_cause": "engine, c = 0",
    "naive": "fair naive",
    "engine_v2": "engine v2 (per mechanism)",
    "engine_v2_worst": "v2, worst type",
    "engine_v2_no_common_cause": "v2, c = 0",
}
_METRICS = (
    ("log_loss", "log loss"),
    ("brier", "Brier"),
    ("ece", "ECE"),
    ("calibration_slope", "calibration slope"),
    ("auroc", "AUROC"),
    ("benign_reassurance_rate", "benign reassured"),
)


def _est(e: Estimate) -> str:
    if e.value is None:
        return "n/a"
    ci = f" <span class=muted>[{e.lo:.3f}, {e.hi:.3f}]</span>" if e.lo is not None else ""
    return f"{e.value:.3f}{ci}"


def _profile(s: AggregatorScore) -> str:
    """The slope's profile-likelihood interval; open above where the outcomes are separated."""
    e = s.calibration_slope_profile
    if e is None or e.value is None:
        return "n/a"
    ends = interval_text(e.lo, e.hi, digits=3, open_above="inf (separated)")
    return f"{e.value:.3f} <span class=muted>{ends}</span>"


def _false(s: AggregatorScore) -> str:
    bound = s.false_reassurance_upper
    upper = f" (rate &le; {bound:.2f})" if bound is not None else ""
    cls = "bad" if s.false_reassurances else ""
    return f"<td class='num {cls}'>{s.false_reassurances} of {s.n_schemers}{upper}</td>"


def _shown(splits: list[SplitResult]) -> list[str]:
    """The aggregators every scored split has (the v2 engine only with per-kind fits)."""
    scored = [s for s in splits if s.status == "scored"]
    return [k for k in _LABELS if all(k in s.scores for s in scored)]


def _summary(splits: list[SplitResult]) -> list[str]:
    shown = _shown(splits)
    out = [
        "<h2>Every split at a glance</h2><table><tr><th>split</th><th>calibration / test</th>"
        "<th>c</th><th>ceiling</th><th>ceiling vacuous?</th><th>benign above ceiling</th>"
        + "".join(f"<th>false reassurances: {_LABELS[k]}</th>" for k in shown)
        + "<th>log loss (engine)</th><th>log loss (fair naive)</th>"
        "<th>v2 c0 / ceiling</th><th>held-out evasion (v2, c = 0)</th></tr>"
    ]
    for s in splits:
        if s.status != "scored":
            out.append(
                f"<tr><td>{_e(s.name)}</td><td colspan=10>not scored: {_e(s.reason)}</td></tr>"
            )
            continue
        vac = "yes: no reassurance possible" if s.ceiling_vacuous else "no"
        above = "n/a" if s.benign_above_ceiling is None else f"{s.benign_above_ceiling:.2f}"
        out.append(
            f"<tr><td>{_e(s.name)}</td><td class=num>{s.n_calibration} / {s.n_test}</td>"
            f"<td class=num>{s.common_cause:.3f}</td><td class=num>{s.ceiling:.3f}</td>"
            f"<td class={'bad' if s.ceiling_vacuous else 'good'}>{vac}</td>"
            f"<td class=num>{above}</td>"
            + "".join(_false(s.scores[k]) for k in shown)
            + f"<td class=num>{_est(s.scores['engine'].metrics['log_loss'])}</td>"
            f"<td class=num>{_est(s.scores['naive'].metrics['log_loss'])}</td>"
            f"<td class=num>{_v2_short(s)}</td>"
            f"<td class=num>{'' if s.held_out_evasion is None else f'{s.held_out_evasion:.2f}'}"
            "</td></tr>"
        )
    out.append("</table>")
    return out


def _split(s: SplitResult) -> list[str]:
    out = [f"<h2 id='{_e(s.name)}'>{_e(s.name)}</h2>"]
    if s.status != "scored":
        return [*out, f"<p>Not scored: {_e(s.reason)}</p>"]
    out.append(
        f"<p>{s.n_calibration} calibration organisms, {s.n_test} test targets; common cause "
        f"c = {s.common_cause:.3f}, ceiling {s.ceiling:.3f}; "
        f"calibration {_e(s.calibration_id)}.</p>"
    )
    out += _v2_cause(s)
    shown = _shown([s])
    out.append("<table><tr><th>metric</th>" + "".join(f"<th>{_LABELS[k]}</th>" for k in shown))
    out.append("</tr><tr><td>false reassurances</td>")
    out += [_false(s.scores[k]) for k in shown]
    out.append("</tr>")
    for key, label in _METRICS:
        cells = "".join(f"<td class=num>{_est(s.scores[k].metrics[key])}</td>" for k in shown)
        out.append(f"<tr><td>{label}</td>{cells}</tr>")
    cells = "".join(f"<td class=num>{_profile(s.scores[k])}</td>" for k in shown)
    out.append(f"<tr><td>calibration slope, profile-likelihood interval</td>{cells}</tr>")
    out.append("</table>")
    series = {
        _LABELS[k]: ([getattr(r, f) for r in s.targets], [not r.scheming for r in s.targets])
        for k, f in (("engine", "p"), ("naive", "p_naive"), ("engine_v2", "p_v2"))
        if k in shown
    }
    out.append(reliability_svg(series))
    out.append(
        "<table><tr><th>mechanism</th><th>scheming</th><th>n</th><th>mean P (engine)</th>"
        "<th>range</th><th>reassured</th><th>flagged (P &lt; 0.5)</th><th>mean P (fair naive)</th>"
        "<th>reassured (naive)</th>"
        + ("<th>mean P (v2)</th><th>reassured (v2)</th>" if "engine_v2" in shown else "")
        + "</tr>"
    )
    naive = {m.mechanism: m for m in s.scores["naive"].mechanisms}
    v2 = {m.mechanism: m for m in s.scores["engine_v2"].mechanisms} if "engine_v2" in shown else {}
    for m in s.scores["engine"].mechanisms:
        bad = "bad" if m.scheming and m.reassured else ""
        n = naive[m.mechanism]
        extra = ""
        if m.mechanism in v2:
            w = v2[m.mechanism]
            extra = (
                f"<td class=num>{w.mean_p:.3f}</td>"
                f"<td class='num {'bad' if w.scheming and w.reassured else ''}'>{w.reassured}</td>"
            )
        out.append(
            f"<tr><td>{_e(m.mechanism)}</td><td>{'yes' if m.scheming else 'no'}</td>"
            f"<td class=num>{m.n}</td><td class=num>{m.mean_p:.3f}</td>"
            f"<td class=num>{m.min_p:.3f}-{m.max_p:.3f}</td>"
            f"<td class='num {bad}'>{m.reassured}</td>"
            f"<td class=num>{m.flagged}</td><td class=num>{n.mean_p:.3f}</td>"
            f"<td class=num>{n.reassured}</td>{extra}</tr>"
        )
    out.append("</table>")
    if s.notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in s.notes[:50])
        out.append(f"<details><summary>{len(s.notes)} notes</summary><ul>{notes}</ul></details>")
    return out


def _v2_short(s: SplitResult) -> str:
    if s.v2_common_cause is None or s.v2_ceiling is None:
        return "n/a"
    mark = " (vacuous)" if s.v2_ceiling_vacuous else ""
    return f"{s.v2_common_cause.common_cause:.3f} / {s.v2_ceiling:.3f}{mark}"


def _v2_cause(s: SplitResult) -> list[str]:
    """The version 2 engine's common cause: how it was measured, and what it covers."""
    cc = s.v2_common_cause
    if cc is None or s.v2_ceiling is None:
        return []
    vac = "vacuous: no reassurance possible" if s.v2_ceiling_vacuous else "not vacuous"
    out = [
        f"<p>Version 2: common cause c0 = {cc.common_cause:.3f} (ceiling {s.v2_ceiling:.3f}, "
        f"{vac}) = (1 - {cc.novel:g}) x known {cc.c_known:.3f} ({len(cc.known_evaders)} of "
        f"{cc.known_schemers} calibration schemers reassured when left out one at a time) + "
        f"{cc.novel:g} x novel {cc.c_novel:.3f} (mechanisms left out whole).</p>"
    ]
    if s.held_out_evasion is not None:
        covered = "covers" if cc.common_cause >= s.held_out_evasion else "does not cover"
        out.append(
            f"<p>Held-out mechanism {_e(s.held_out or '')}: {s.held_out_evasion:.2f} of its "
            f"test schemers would be reassured at c = 0; c0 {covered} it.</p>"
        )
    rates = "".join(
        f"<tr><td>{_e(k)}</td><td class=num>{v:.2f}</td></tr>" for k, v in cc.novel_rates.items()
    )
    table = "".join(
        f"<tr><td class=num>{t.novel:g}</td><td class=num>{t.c_novel:.3f}</td>"
        f"<td class=num>{t.common_cause:.3f}</td><td class=num>{t.ceiling:.3f}</td></tr>"
        for t in cc.sensitivity
    )
    out.append(
        "<details><summary>evasion by mechanism left out, and the declaration's "
        "sensitivity</summary><table><tr><th>mechanism left out of calibration</th>"
        f"<th>share reassured</th></tr>{rates}</table><table><tr><th>declared novel</th>"
        f"<th>c novel</th><th>c0</th><th>ceiling</th></tr>{table}</table></details>"
    )
    return out


def render_bench(result: BenchResult) -> str:
    """The page, as a string."""
    mechs = ", ".join(
        f"{m} ({'scheming' if s else 'benign'})" for m, s in result.mechanisms.items()
    )
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>neurath bench: {_e(result.population)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Calibration benchmark: {_e(result.population)}</h1>",
        f"<p>{result.population_size} organisms; mechanisms: {_e(mechs)}. Population "
        f"<code>{result.population_sha256[:16]}</code>, pre-registration "
        f"<code>{result.preregistration_sha256[:16]}</code> (written before anything was "
        f"scored). Study prior P(not scheming) = {result.prior_not_scheming}; every "
        f"probabilistic metric is weighted to it. Intervals: 95 % bootstrap resampling "
        f"mechanisms ({result.n_boot} draws); false-reassurance bounds: one-sided 95 % "
        f"Clopper-Pearson. neurath {_e(result.neurath_version)}, {result.elapsed_s:.0f} s"
        f"{_stages(result.stage_s)}.</p>",
        "<p class=muted>engine: the correlated assessment with the split's common cause; "
        "engine, c = 0: the same evidence without the common cause (what the evidence alone "
        "says; a ceiling cannot hide a false reassurance there); fair naive: independent "
        "findings, each with its full variance.</p>",
    ]
    parts += _summary(result.splits)
    for s in result.splits:
        parts += _split(s)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_bench_page(result: BenchResult, folder: str | Path) -> Path:
    path = Path(folder) / "bench.html"
    path.write_text(render_bench(result), encoding="utf-8")
    return path


def _stages(stage_s: dict[str, float]) -> str:
    if not stage_s:
        return ""
    return " (" + ", ".join(f"{_e(k)} {v:.0f} s" for k, v in stage_s.items()) + ")"
