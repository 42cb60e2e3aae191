"""The goal-structure diagram of a safety case, drawn as SVG in pure Python (no Graphviz).

GSN shapes: a claim (goal) is a rectangle, an argument (strategy) a parallelogram, evidence
(a solution) an ellipse, context a rounded rectangle; an undeveloped or open claim carries the
GSN diamond. A defeater is a red-bordered note under the deepest claim in its ``against``, on a
red dashed line; every claim it bears on names it. Status is shown by colour and in words.
Evidence used by several claims is drawn once, under the first; the others get a dashed
reference to it. Layout: :mod:`._render_layout`.
"""

from __future__ import annotations

import html
import math

from neurath.safetycase._model import Claim, Defeater, Evidence, SafetyCase
from neurath.safetycase._render_layout import (
    BUS,
    FONT,
    LINE,
    MAX_LINES,
    SIZE,
    Lines,
    Node,
    layout,
    split,
    text_width,
    value_text,
    walk,
    wrap,
)

RED = "#b3261e"
STATUS_FILL = {"supported": "#e3f5e6", "undermined": "#fbe3e3", "open": "#fff4d6"}
STATUS_STROKE = {"supported": "#2a7d3b", "undermined": RED, "open": "#8a5a00"}
STATUS_WORD = {"supported": "\u2714 SUPPORTED", "undermined": "\u2718 UNDERMINED", "open": "? OPEN"}
_FILL = {
    "strategy": ("#f3f4f8", "#4a5060"),
    "evidence": ("#eaf1fb", "#3b5b92"),
    "evidence-ref": ("#ffffff", "#3b5b92"),
    "context": ("#f6f6f4", "#666a73"),
    "addressed": ("#f1f8f2", RED),
    "partly": ("#fff8e6", RED),
    "open": ("#fff0f0", RED),
}


_WIDTH = {"claim": 210, "strategy": 230, "defeater": 190, "context": 190}
_INDENT = {"strategy": 48}  # the text of a parallelogram keeps clear of its slanted sides
_LINES = {"defeater": 5, "context": 7}


def box(
    kind: str, ref: str, head: str, body: str, title: str, tail: Lines = (), status: str = ""
) -> Node:
    """A node with a bold head, a wrapped body and ``tail`` lines, sized by its kind."""
    width = _WIDTH[kind]
    inner = width - _INDENT.get(kind, 16)
    lines = [(line, "head") for line in wrap(head, inner, 2, bold=True)]
    lines += [(x, "body") for x in wrap(body, inner, _LINES.get(kind, MAX_LINES))] + list(tail)
    return Node(kind, ref, lines, width, len(lines) * LINE + 12, title, status)


def claim_node(c: Claim, defeaters: list[str]) -> Node:
    tail = [(STATUS_WORD[c.status], "status")]
    challenged = f"challenged by {', '.join(defeaters)}" if defeaters else ""
    tail += [(x, "note") for x in wrap(challenged, 194, 2) if x]
    head, title = f"{c.id} \u00b7 {c.tag}", f"{c.id} ({c.status}, {c.tag}): {c.text}\n{c.why}"
    return box("claim", c.id, head, c.text, title, tail, c.status)


def strategy_node(c: Claim) -> Node:
    title = f"Argument for {c.id}: {c.argument}"
    return box("strategy", c.id, f"Strategy for {c.id}", c.argument, title)


def evidence_node(e: Evidence) -> Node:
    value = f"= {value_text(e.value)}"
    body = wrap(e.text, 118, 4) + wrap(value, 118, 1)
    lines = [(wrap(e.id, 110, 1, bold=True)[0], "head")] + [(x, "body") for x in body]
    h = max(len(lines) * LINE * math.sqrt(2) + 8, 56)  # the text box inscribed in the ellipse
    return Node("evidence", e.id, lines, 170, h, f"{e.id}: {e.text} {value}")


def evidence_ref(e: Evidence, where: str) -> Node:
    lines = [(wrap(e.id, 120, 1, bold=True)[0], "head")]
    lines += [(wrap(f"(drawn under {where})", 130, 1)[0], "body")]
    return Node("evidence-ref", e.id, lines, 150, 46, f"{e.id}: {e.text}")


def defeater_node(d: Defeater) -> Node:
    evidence = f"evidence: {', '.join(d.evidence)}" if d.evidence else ""
    tail = [(x, "body") for x in wrap(evidence, 174, 2) if x]
    against = f"against {', '.join(d.against)} \u00b7 " if d.against else ""
    tail += [(x, "note") for x in wrap(f"{against}seed {d.seed}", 174, 2)]
    head = f"{d.id} \u00b7 {d.status.upper()}"
    title = f"Defeater {d.id} ({d.status}): {d.worry}\n{d.why}"
    return box("defeater", d.id, head, d.worry, title, tail, d.status)


def context_node(ref: str, head: str, text: str) -> Node:
    return box("context", ref, head, text, f"{head}: {text}")


class Tree:
    """The case as a forest of :class:`Node`: each claim once, each evidence item once."""

    def __init__(self, case: SafetyCase) -> None:
        self.case = case
        self.claims = {c.id: c for c in case.claims}
        self.evidence = {e.id: e for e in case.evidence}
        self.claimed = {e for c in case.claims for e in c.evidence}
        self.placed: dict[str, str] = {}
        """evidence id -> the claim or defeater it is drawn under."""
        self.seen: set[str] = set()
        subclaims = {s for c in case.claims for s in c.subclaims}
        self.roots = [c.id for c in case.claims if c.id not in subclaims] or [
            c.id for c in case.claims[:1]
        ]
        self.depth: dict[str, int] = {}
        queue = [(r, 0) for r in self.roots]
        while queue:
            cid, level = queue.pop(0)
            if cid in self.claims and cid not in self.depth:
                self.depth[cid] = level
                queue += [(s, level + 1) for s in self.claims[cid].subclaims]
        self.primary: dict[str, list[Defeater]] = {}
        self.against: dict[str, list[str]] = {}
        for d in case.defeaters:
            known = [c for c in d.against if c in self.depth] or self.roots[:1]
            deepest = max(known, key=lambda c: (self.depth.get(c, 0), -known.index(c)))
            self.primary.setdefault(deepest, []).append(d)
            for cid in d.against:
                self.against.setdefault(cid, []).append(d.id)

    def forest(self) -> list[Node]:
        roots = [self.claim(cid) for cid in self.roots]
        roots += [self.claim(c.id) for c in self.case.claims if c.id not in self.seen]
        orphans = [evidence_node(e) for e in self.case.evidence if e.id not in self.placed]
        return [r for r in roots if r is not None] + orphans

    def claim(self, cid: str) -> Node | None:
        if cid in self.seen or cid not in self.claims:
            return None
        self.seen.add(cid)
        c = self.claims[cid]
        node = claim_node(c, self.against.get(cid, []))
        support = [n for s in c.subclaims if (n := self.claim(s)) is not None]
        support += [self.solution(e, cid) for e in c.evidence if e in self.evidence]
        node.diamond = not support or c.status == "open"
        node.children = support
        if c.argument:
            strategy = strategy_node(c)
            strategy.children, strategy.diamond = support, not support
            node.children = [strategy]
        for d in self.primary.get(cid, []):
            note = defeater_node(d)
            mine = [e for e in d.evidence if e in self.evidence and e not in self.claimed]
            note.children = [self.solution(e, d.id) for e in mine]
            node.children.append(note)
        return node

    def solution(self, evidence_id: str, owner: str) -> Node:
        e = self.evidence[evidence_id]
        if evidence_id in self.placed:
            return evidence_ref(e, self.placed[evidence_id])
        self.placed[evidence_id] = owner
        return evidence_node(e)


def esc(x: object) -> str:
    return html.escape(str(x))


_EDGE_STYLE = {
    "support": 'stroke="#3a3f4b" marker-end="url(#gsn-arrow)"',
    "context": 'stroke="#3a3f4b" marker-end="url(#gsn-hollow)"',
    "challenge": f'stroke="{RED}" stroke-dasharray="6 4" stroke-width="1.6"',
    "addresses": 'stroke="#7a8191" stroke-dasharray="3 3" marker-end="url(#gsn-arrow)"',
}


def _edge(a: Node, b: Node, path: str) -> str:
    kind = {"defeater": "challenge", "context": "context"}.get(b.kind, "support")
    kind = "addresses" if a.kind == "defeater" else kind
    return (
        f'<path class="edge {kind}" data-from="{esc(a.ref)}" data-to="{esc(b.ref)}" '
        f'd="{path}" fill="none" {_EDGE_STYLE[kind]}/>'
    )


def edges(n: Node) -> list[str]:
    """Links as elbows to a row of children, along a bus to a column; context sideways."""
    structural, columns = split(n)
    out = []
    for c in structural:
        ym = (n.bottom + c.y) / 2
        out.append(_edge(n, c, f"M{n.cx:.1f},{n.bottom:.1f} V{ym:.1f} H{c.cx:.1f} V{c.y:.1f}"))
        out += edges(c)
    for leaf in (leaf for col in columns for leaf in col):
        ym, bus, cy = (n.bottom + columns[0][0].y) / 2, leaf.x - BUS / 2, leaf.y + leaf.h / 2
        path = f"M{n.cx:.1f},{n.bottom:.1f} V{ym:.1f} H{bus:.1f} V{cy:.1f} H{leaf.x:.1f}"
        out.append(_edge(n, leaf, path))
    for s in n.side:
        x0, x1 = (n.x + n.w, s.x) if s.x > n.x else (n.x, s.x + s.w)
        out.append(_edge(n, s, f"M{x0:.1f},{n.y + 20:.1f} H{x1:.1f}"))
    return out


def _pts(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def shape(n: Node) -> str:
    """The node's outline, by its GSN kind, and its diamond."""
    x, y, w, h = n.x, n.y, n.w, n.h
    fill, stroke = (
        (STATUS_FILL[n.status], STATUS_STROKE[n.status])
        if n.kind == "claim"
        else _FILL[n.status if n.kind == "defeater" else n.kind]
    )
    paint = f'fill="{fill}" stroke="{stroke}" stroke-width="{2 if n.kind == "defeater" else 1.4}"'
    if n.kind == "strategy":
        corners = _pts([(x + 14, y), (x + w, y), (x + w - 14, y + h), (x, y + h)])
        out = f'<polygon points="{corners}" {paint}/>'
    elif n.kind in ("evidence", "evidence-ref"):
        dash = ' stroke-dasharray="4 3"' * (n.kind == "evidence-ref")
        out = (
            f'<ellipse cx="{n.cx:.1f}" cy="{y + h / 2:.1f}" rx="{w / 2:.1f}" '
            f'ry="{h / 2:.1f}" {paint}{dash}/>'
        )
    elif n.kind == "defeater":  # a note with a folded corner
        x1, f = x + w, x + w - 14
        out = (
            f'<path d="M{x:.1f},{y:.1f} H{f:.1f} L{x1:.1f},{y + 14:.1f} V{y + h:.1f} H{x:.1f} '
            f'Z M{f:.1f},{y:.1f} V{y + 14:.1f} H{x1:.1f}" {paint}/>'
        )
    else:
        rx = 14 if n.kind == "context" else 2
        out = f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" {paint}/>'
    if n.diamond:
        c, b = n.cx, y + h
        diamond = _pts([(c, b), (c + 8, b + 6), (c, b + 12), (c - 8, b + 6)])
        out += f'<polygon class="undeveloped" points="{diamond}" fill="#fff" stroke="{stroke}"/>'
    return out


def draw(n: Node) -> str:
    """The node as an SVG group: outline, text lines, and a tooltip with its full text."""
    oval = n.kind in ("evidence", "evidence-ref")
    y = n.y + (n.h - len(n.lines) * LINE) / 2 if oval else n.y + 6
    styles = {
        "head": 'font-weight="bold"',
        "body": 'fill="#1d2330"',
        "note": f'fill="{RED}" font-style="italic"',
        "status": f'font-weight="bold" fill="{STATUS_STROKE.get(n.status, "#333")}"',
    }
    texts = "".join(
        f'<text x="{n.cx:.1f}" y="{y + LINE * (i + 1) - 3.5:.1f}" {styles[kind]}>{esc(line)}</text>'
        for i, (line, kind) in enumerate(n.lines)
    )
    status = f' data-status="{esc(n.status)}"' if n.status else ""
    return (
        f'<g class="node {n.kind}" data-id="{esc(n.ref)}" data-kind="{n.kind}"{status}>'
        f"<title>{esc(n.title)}</title>{shape(n)}{texts}</g>"
    )


# -- the whole diagram ---------------------------------------------------------------------------


def _legend(width: float, top: float) -> tuple[str, float]:
    """A key to the shapes and colours, in words; its SVG and height."""
    samples = [
        ('<rect x="0" y="0" width="26" height="16" rx="2" fill="#fff" stroke="#333"/>', "claim"),
        ('<polygon points="6,0 26,0 20,16 0,16" fill="#f3f4f8" stroke="#4a5060"/>', "argument"),
        ('<ellipse cx="13" cy="8" rx="13" ry="8" fill="#eaf1fb" stroke="#3b5b92"/>', "evidence"),
        (
            '<ellipse cx="13" cy="8" rx="13" ry="8" fill="#fff" stroke="#3b5b92" '
            'stroke-dasharray="4 3"/>',
            "evidence drawn under another claim",
        ),
        (
            '<rect x="0" y="0" width="26" height="16" rx="7" fill="#f6f6f4" stroke="#666"/>',
            "context",
        ),
        (
            '<path d="M0,0 H18 L26,8 V16 H0 Z" fill="#fff0f0" stroke="#b3261e" stroke-width="2"/>',
            "defeater (red dashes: bears on)",
        ),
        (
            '<polygon points="13,0 21,8 13,16 5,8" fill="#fff" stroke="#333"/>',
            "undeveloped or open claim",
        ),
    ]
    samples += [
        (
            f'<rect x="0" y="0" width="26" height="16" fill="{STATUS_FILL[s]}" '
            f'stroke="{STATUS_STROKE[s]}"/>',
            STATUS_WORD[s].split(" ", 1)[1].lower(),
        )
        for s in ("supported", "undermined", "open")
    ]
    out, x, y = [], 20.0, top
    for sample, label in samples:
        w = 26 + 8 + text_width(label) + 24
        if x + w > max(width, 640) and x > 20:
            x, y = 20.0, y + 26
        out.append(
            f'<g transform="translate({x:.0f},{y:.0f})">{sample}'
            f'<text x="34" y="12.5" text-anchor="start">{esc(label)}</text></g>'
        )
        x += w
    return f'<g class="legend">{"".join(out)}</g>', y + 26 - top


def diagram_svg(case: SafetyCase) -> str:
    """The case's goal structure as a standalone SVG document: the claims from the top one
    down, the context and automation level beside it, and a key to shapes and colours."""
    forest = Tree(case).forest()
    if forest and forest[0].kind == "claim":
        a = case.automation
        forest[0].side = [
            context_node(f"C{i}", f"C{i} \u00b7 context", text)
            for i, text in enumerate(case.context, 1)
        ]
        forest[0].side.append(
            context_node("automation", f"Automation level {a.level}", a.collapse or a.why)
        )
    width, height = layout(forest)
    legend, legend_h = _legend(width, height)
    nodes: list[Node] = walk(forest)
    # Dashed challenges first: where one runs along a bus, the solid links stay on top.
    links = sorted(
        (e for root in forest for e in edges(root)), key=lambda e: 'class="edge challenge"' not in e
    )
    width = max(width, 660)
    height += legend_h + 10
    arrow = 'viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" orient="auto"'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gsn" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="Goal structure of the safety case">'
        f"<title>{esc(case.title)}: goal structure</title>"
        f'<defs><marker id="gsn-arrow" {arrow}><path d="M0,0 L10,5 L0,10 z" fill="#3a3f4b"/>'
        f'</marker><marker id="gsn-hollow" {arrow}><path d="M0,0 L10,5 L0,10 z" fill="#fff" '
        f'stroke="#3a3f4b"/></marker></defs>'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<g font-family="{FONT}" font-size="{SIZE}" text-anchor="middle">'
        + "".join(links)
        + "".join(draw(n) for n in nodes)
        + legend
        + "</g></svg>"
    )
