"""The calibration benchmark's page: one self-contained HTML file (inline CSS and SVG, no
scripts, nothing fetched), made from ``bench.json`` alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neurath.report._html import _CSS, _e, reliability_svg

if TYPE_CHECKING:
    from neurath.testbed._bench import BenchResult, SplitResult
    from neurath.testbed._bench_score import AggregatorScore, Estimate

_LABELS = {
    "engine": "engine",
    "engine_no_common_cause": "engine, c = 0",
    "naive": "fair naive",
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


def _false(s: AggregatorScore) -> str:
    bound = s.false_reassurance_upper
    upper = f" (rate &le; {bound:.2f})" if bound is not None else ""
    cls = "bad" if s.false_reassurances else ""
    return f"<td class='num {cls}'>{s.false_reassurances} of {s.n_schemers}{upper}</td>"


def _summary(splits: list[SplitResult]) -> list[str]:
    out = [
        "<h2>Every split at a glance</h2><table><tr><th>split</th><th>calibration / test</th>"
        "<th>c</th><th>ceiling</th><th>ceiling vacuous?</th><th>benign above ceiling</th>"
        + "".join(f"<th>false reassurances: {v}</th>" for v in _LABELS.values())
        + "<th>log loss (engine)</th><th>log loss (fair naive)</th></tr>"
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
            + "".join(_false(s.scores[k]) for k in _LABELS)
            + f"<td class=num>{_est(s.scores['engine'].metrics['log_loss'])}</td>"
            f"<td class=num>{_est(s.scores['naive'].metrics['log_loss'])}</td></tr>"
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
    out.append("<table><tr><th>metric</th>" + "".join(f"<th>{v}</th>" for v in _LABELS.values()))
    out.append("</tr><tr><td>false reassurances</td>")
    out += [_false(s.scores[k]) for k in _LABELS]
    out.append("</tr>")
    for key, label in _METRICS:
        cells = "".join(f"<td class=num>{_est(s.scores[k].metrics[key])}</td>" for k in _LABELS)
        out.append(f"<tr><td>{label}</td>{cells}</tr>")
    out.append("</table>")
    series = {
        _LABELS[k]: ([getattr(r, f) for r in s.targets], [not r.scheming for r in s.targets])
        for k, f in (("engine", "p"), ("naive", "p_naive"))
    }
    out.append(reliability_svg(series))
    out.append(
        "<table><tr><th>mechanism</th><th>scheming</th><th>n</th><th>mean P (engine)</th>"
        "<th>range</th><th>reassured</th><th>flagged (P &lt; 0.5)</th><th>mean P (fair naive)</th>"
        "<th>reassured (naive)</th></tr>"
    )
    naive = {m.mechanism: m for m in s.scores["naive"].mechanisms}
    for m in s.scores["engine"].mechanisms:
        bad = "bad" if m.scheming and m.reassured else ""
        n = naive[m.mechanism]
        out.append(
            f"<tr><td>{_e(m.mechanism)}</td><td>{'yes' if m.scheming else 'no'}</td>"
            f"<td class=num>{m.n}</td><td class=num>{m.mean_p:.3f}</td>"
            f"<td class=num>{m.min_p:.3f}-{m.max_p:.3f}</td>"
            f"<td class='num {bad}'>{m.reassured}</td>"
            f"<td class=num>{m.flagged}</td><td class=num>{n.mean_p:.3f}</td>"
            f"<td class=num>{n.reassured}</td></tr>"
        )
    out.append("</table>")
    if s.notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in s.notes[:50])
        out.append(f"<details><summary>{len(s.notes)} notes</summary><ul>{notes}</ul></details>")
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
