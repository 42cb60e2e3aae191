"""The geometry of the goal-structure diagram: text measured and wrapped, and a tidy tree laid
out top-down, in pure Python.

A node is centred over its children; children without children of their own (evidence,
defeaters) are stacked in columns on a bus line instead of spread in a row, so a case with
dozens of solutions stays a few screens wide. Ranks are as tall as their tallest node. Text is
measured with the advance widths of DejaVu Sans (rounded up), the widest of the fonts the
diagram names, so that it fits whichever of them the viewer has. Deterministic throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
SIZE, LINE, MAX_LINES = 12, 15, 6  # font size, line height (px), lines of a node's body
# Space between sibling subtrees, ranks, stacked leaves; a leaf column's indent; the margin.
GAP, VGAP, LGAP, BUS, MARGIN = 22, 44, 10, 18, 20
COLUMN = 8
"""The most leaves stacked in one column."""

# Advance widths in em, those of DejaVu Sans (the widest font in FONT) rounded up, so that
# wrapped text fits whichever of the fonts the viewer has.
_NARROW = dict.fromkeys("il.,:;'|!", 0.32) | dict.fromkeys("jfrtI()[] ", 0.40)
_WIDE = dict.fromkeys("mwMW", 1.0) | dict.fromkeys("ABCDGHKNOQRUVXY&%\u2714\u2718", 0.78)


Lines: TypeAlias = Sequence[tuple[str, str]]
"""A node's lines of text: (text, style), style one of head, body, status and note."""


def value_text(v: object) -> str:
    """A figure as the case shows it: floats to 4 significant digits, None as n/a."""
    if v is None or isinstance(v, bool):
        return {None: "n/a", True: "yes", False: "no"}[v]
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def text_width(text: str, bold: bool = False) -> float:
    """Estimated width in px of ``text`` set in FONT at SIZE."""
    em = sum(_NARROW.get(ch, _WIDE.get(ch, 0.64)) for ch in text)
    return em * SIZE * (1.08 if bold else 1.0)


def wrap(text: str, width: float, max_lines: int = MAX_LINES, bold: bool = False) -> list[str]:
    """``text`` broken greedily into lines that fit ``width`` px; a word too long for a line is
    cut; past ``max_lines`` the last line ends in an ellipsis."""
    lines: list[str] = []
    current = ""
    for word in " ".join(text.split()).split(" "):
        while text_width(word, bold) > width:  # too long for a line: cut, after a _-/. if any
            cut = max(1, int(len(word) * width / text_width(word, bold)) - 1)
            cut = max(word.rfind(p, 0, cut) + 1 for p in "_-/.") or cut
            lines += [current, word[:cut]] if current else [word[:cut]]
            current, word = "", word[cut:]
        candidate = f"{current} {word}".strip()
        if current and text_width(candidate, bold) > width:
            lines.append(current)
            candidate = word
        current = candidate
    lines += [current] if current else []
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width(last + " \u2026", bold) > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + " \u2026"]
    return lines or [""]


@dataclass
class Node:
    """One shape: ``kind`` is claim, strategy, evidence, evidence-ref, defeater or context;
    ``ref`` the case id it stands for; ``lines`` (text, style: head, body, status or note)."""

    kind: str
    ref: str
    lines: list[tuple[str, str]]
    w: float
    h: float
    title: str
    status: str = ""
    diamond: bool = False
    children: list[Node] = field(default_factory=list)
    side: list[Node] = field(default_factory=list)
    """Context drawn beside the node (the top claim's)."""
    x: float = 0.0
    y: float = 0.0
    sw: float = 0.0
    """The subtree's width."""

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h + (12 if self.diamond else 0)


def split(n: Node) -> tuple[list[Node], list[list[Node]]]:
    """(children with children of their own, laid in a row; the rest, stacked in columns of at
    most COLUMN, as even as they can be)."""
    leaves = [c for c in n.children if not c.children]
    k = -(-len(leaves) // -(-len(leaves) // COLUMN)) if leaves else 1
    return [c for c in n.children if c.children], [
        leaves[i : i + k] for i in range(0, len(leaves), k)
    ]


def _slots(n: Node) -> list[float]:
    structural, columns = split(n)
    return [c.sw for c in structural] + [BUS + max(c.w for c in col) for col in columns]


def _measure(n: Node, depth: int, rank_h: dict[int, float]) -> None:
    rank_h[depth] = max(rank_h.get(depth, 0.0), n.bottom - n.y)
    for c in split(n)[0]:
        _measure(c, depth + 1, rank_h)
    slots = _slots(n)
    side = max(sum(s.w + GAP for s in n.side[0::2]), sum(s.w + GAP for s in n.side[1::2]), 0)
    n.sw = max(n.w + 2 * side, sum(slots) + GAP * (len(slots) - 1))


def _place(n: Node, left: float, depth: int, top: list[float]) -> None:
    n.x, n.y = left + (n.sw - n.w) / 2, top[depth]
    structural, columns = split(n)
    slots = _slots(n)
    x = left + (n.sw - sum(slots) - GAP * (len(slots) - 1)) / 2
    for c in structural:
        _place(c, x, depth + 1, top)
        x += c.sw + GAP
    for col, width in zip(columns, slots[len(structural) :], strict=True):
        y = top[depth + 1]
        for leaf in col:
            leaf.x, leaf.y = x + BUS, y
            y = leaf.bottom + LGAP
        x += width + GAP
    right, left_end = n.x + n.w + GAP, n.x - GAP
    for i, s in enumerate(n.side):  # alternately right and left of the node
        s.y = n.y
        if i % 2 == 0:
            s.x, right = right, right + s.w + GAP
        else:
            s.x, left_end = left_end - s.w, left_end - s.w - GAP


def walk(forest: list[Node]) -> list[Node]:
    out: list[Node] = []
    for n in forest:
        out += [n, *n.side, *walk(n.children)]
    return out


def layout(forest: list[Node]) -> tuple[float, float]:
    """Place every node of ``forest``; return the drawing's (width, height)."""
    rank_h: dict[int, float] = {}
    for root in forest:
        _measure(root, 0, rank_h)
    top = [float(MARGIN)]
    for d in range(max(rank_h, default=0) + 1):
        top.append(top[-1] + rank_h.get(d, 0.0) + VGAP)
    x = float(MARGIN)
    for root in forest:
        _place(root, x, 0, top)
        x += root.sw + 2 * GAP
    nodes = walk(forest)
    right = max((n.x + n.w for n in nodes), default=0.0) + MARGIN
    return right, max((n.bottom for n in nodes), default=0.0) + MARGIN
