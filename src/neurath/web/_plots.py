"""Plots drawn in Python as inline SVG: a target's contributions chart and evidence graph.

Every piece of text in them (finding ids, experiments, factor ids: all from files) goes
through :func:`html.escape`; colours and sizes are ours. The results are the only strings
the dashboard marks safe for its templates, which is why they are made here and nowhere else.
SVG presentation attributes (``fill``, ``stroke``) are not inline styles, so the pages' CSP
(``style-src 'self'``) lets them through.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

KIND_COLOURS = {
    "assumption": "#8e44ad",
    "method": "#1f6fd1",
    "weights": "#d1571f",
    "data": "#2a9d4b",
    "raters": "#b8860b",
    "controller": "#c0392b",
    "other": "#667085",
}
KIND_ORDER = list(KIND_COLOURS)
POSITIVE, NEGATIVE, NEUTRAL = "#2a9d4b", "#c0392b", "#98a2b3"


def _e(text: object, limit: int = 48) -> str:
    s = str(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s)


def _num(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.3f}"


@dataclass(frozen=True)
class Bar:
    id: str
    label: str
    value: float


def contributions_svg(bars: Sequence[Bar], width: int = 760) -> Markup:
    """Horizontal bars of each finding's contribution in log-odds (full minus leave-one-out),
    signed: right, towards not scheming; left, towards scheming."""
    rows = sorted((b for b in bars if math.isfinite(b.value)), key=lambda b: (-abs(b.value), b.id))
    row_h, top, label_w, value_w = 24, 30, 290, 70
    height = top + row_h * max(len(rows), 1) + 34
    plot_w = width - label_w - value_w
    mid = label_w + plot_w / 2
    scale = max((abs(b.value) for b in rows), default=0.0) or 1.0
    half = plot_w / 2 - 6
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="contributions chart" class="plot">',
        f'<text x="{mid - 8:.1f}" y="18" font-size="11" text-anchor="end" fill="{NEGATIVE}">'
        "&#8592; towards scheming</text>",
        f'<text x="{mid + 8:.1f}" y="18" font-size="11" fill="{POSITIVE}">'
        "towards not scheming &#8594;</text>",
    ]
    if not rows:
        out.append(
            f'<text x="{mid:.1f}" y="{top + 16}" text-anchor="middle" font-size="12">'
            "no contributions recorded</text>"
        )
    for i, b in enumerate(rows):
        y = top + i * row_h
        length = half * abs(b.value) / scale
        x = mid if b.value >= 0 else mid - length
        colour = POSITIVE if b.value >= 0 else NEGATIVE
        out.append(
            f'<text x="{label_w - 8}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{_e(b.label, 40)}<title>{_e(b.id, 200)}</title></text>"
        )
        out.append(
            f'<rect x="{x:.1f}" y="{y + 4}" width="{max(length, 1.0):.1f}" height="{row_h - 8}" '
            f'fill="{colour}" fill-opacity="0.8"><title>{_e(b.id, 200)}: '
            f"{_num(b.value)} log-odds</title></rect>"
        )
        out.append(
            f'<text x="{width - 4}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{_num(b.value)}</text>"
        )
    bottom = top + row_h * max(len(rows), 1)
    out.append(
        f'<line x1="{mid:.1f}" y1="{top - 2}" x2="{mid:.1f}" y2="{bottom + 2}" stroke="#333"/>'
    )
    for frac in (-1.0, 1.0):
        tx = mid + frac * half
        out.append(
            f'<line x1="{tx:.1f}" y1="{bottom}" x2="{tx:.1f}" y2="{bottom + 5}" stroke="#333"/>'
            f'<text x="{tx:.1f}" y="{bottom + 17}" font-size="10" text-anchor="middle">'
            f"{frac * scale:+.3g}</text>"
        )
    out.append(
        f'<text x="{mid:.1f}" y="{bottom + 30}" font-size="11" text-anchor="middle">'
        "change in log-odds of not scheming if the finding were left out</text></svg>"
    )
    return Markup("".join(out))


@dataclass(frozen=True)
class GraphFinding:
    id: str
    label: str
    loadings: Mapping[str, float]
    contribution: float


def _layout(
    findings: Sequence[GraphFinding], factors: Mapping[str, tuple[str, float]]
) -> tuple[list[GraphFinding], list[str]]:
    """Deterministic order: factors by kind then id; findings by the mean position of the
    factors they load on (fewer crossings), then id."""
    used = {k for f in findings for k in f.loadings}

    def rank(k: str) -> tuple[int, str]:
        kind = factors.get(k, ("other", 0.0))[0]
        return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), k)

    names = sorted(set(factors) | used, key=rank)
    pos = {k: i / max(len(names) - 1, 1) for i, k in enumerate(names)}

    def centre(f: GraphFinding) -> float:
        ks = [k for k in f.loadings if k in pos]
        return sum(pos[k] for k in ks) / len(ks) if ks else 2.0

    return sorted(findings, key=lambda f: (centre(f), f.id)), names


def _column(n: int, rows: int, top: float, row_h: float) -> list[float]:
    """Centre ``n`` nodes in a column ``rows`` tall."""
    offset = top + (rows - n) * row_h / 2
    return [offset + (i + 0.5) * row_h for i in range(n)]


def evidence_graph_svg(
    findings: Sequence[GraphFinding],
    factors: Mapping[str, tuple[str, float]],
    width: int = 960,
) -> Markup:
    """Findings (left) joined to the factors they load on (right), one edge per loading
    (width ~ |loading|, dashed when negative); factor nodes sized by their sd and coloured by
    kind; finding nodes coloured by the sign of their contribution."""
    ordered, names = _layout(findings, factors)
    row_h, top = 30.0, 30.0
    rows = max(len(ordered), len(names), 1)
    height = int(top + rows * row_h + 50)
    lx, rx = 250.0, width - 250.0
    fy = dict(zip((f.id for f in ordered), _column(len(ordered), rows, top, row_h), strict=True))
    ky = dict(zip(names, _column(len(names), rows, top, row_h), strict=True))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="evidence graph" class="plot">',
        f'<text x="{lx}" y="16" font-size="12" text-anchor="middle" font-weight="bold">'
        "findings</text>",
        f'<text x="{rx}" y="16" font-size="12" text-anchor="middle" font-weight="bold">'
        "shared factors</text>",
    ]
    out += _edges(ordered, factors, fy, ky, lx, rx)
    for f in ordered:
        y, c = fy[f.id], f.contribution
        colour = NEUTRAL if not math.isfinite(c) or c == 0 else (POSITIVE if c > 0 else NEGATIVE)
        out.append(
            f'<circle cx="{lx}" cy="{y:.1f}" r="6" fill="{colour}"><title>{_e(f.id, 200)}: '
            f"contribution {_num(c)}</title></circle>"
            f'<text x="{lx - 12}" y="{y + 4:.1f}" font-size="12" text-anchor="end">'
            f"{_e(f.label, 36)}</text>"
        )
    max_sd = max((sd for _, sd in factors.values()), default=0.0) or 1.0
    for k in names:
        y = ky[k]
        kind, sd = factors.get(k, ("other", 0.0))
        r = 3.0 + 11.0 * math.sqrt(max(sd, 0.0) / max_sd)
        colour = KIND_COLOURS.get(kind, NEUTRAL)
        out.append(
            f'<circle cx="{rx}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" fill-opacity="0.75" '
            f'stroke="{colour}"><title>{_e(k, 200)} ({_e(kind)}), sd {sd:.3g}</title></circle>'
            f'<text x="{rx + 18}" y="{y + 4:.1f}" font-size="12">{_e(k, 36)}</text>'
        )
    out.append(_legend(height - 26))
    out.append("</svg>")
    return Markup("".join(out))


def _edges(
    ordered: Sequence[GraphFinding],
    factors: Mapping[str, tuple[str, float]],
    fy: Mapping[str, float],
    ky: Mapping[str, float],
    lx: float,
    rx: float,
) -> list[str]:
    """One curve per loading, coloured by the factor's kind, as wide as the loading."""
    max_load = max((abs(v) for f in ordered for v in f.loadings.values()), default=0.0) or 1.0
    mid = (lx + rx) / 2
    out = []
    for f in ordered:
        for k, load in sorted(f.loadings.items()):
            y1, y2 = fy[f.id], ky[k]
            colour = KIND_COLOURS.get(factors.get(k, ("other", 0.0))[0], NEUTRAL)
            dash = ' stroke-dasharray="5 3"' if load < 0 else ""
            out.append(
                f'<path d="M{lx + 7:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} '
                f'{rx - 7:.1f},{y2:.1f}" fill="none" stroke="{colour}" stroke-opacity="0.55" '
                f'stroke-width="{0.6 + 3.0 * abs(load) / max_load:.2f}"{dash}>'
                f"<title>{_e(f.id, 200)} loads {load:.3g} on {_e(k, 200)}</title></path>"
            )
    return out


def _legend(y: float) -> str:
    parts, x = [], 10.0
    for kind, colour in KIND_COLOURS.items():
        parts.append(
            f'<circle cx="{x + 5}" cy="{y - 4}" r="5" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{y}" font-size="11">{kind}</text>'
        )
        x += 14 + 7 * len(kind) + 16
    parts.append(
        f'<text x="10" y="{y + 18}" font-size="11">node size: the factor\'s sd; edge width: '
        "|loading| (dashed: negative); finding colour: sign of its contribution</text>"
    )
    return "".join(parts)
