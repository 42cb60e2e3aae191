"""gsn2x's validation and checks, re-implemented (see :mod:`neurath.safetycase._gsn2x`).

Per element (gsn2x ``src/gsn/validation.rs``): V01 unknown type, V02 undeveloped without the
mark, V03 marked undeveloped with support, V04 a relation to a type it cannot have, V05 a
duplicate reference, V06 a reference to itself, V08 an id contradicting ``nodeType``, V09 an
assurance claim point on an unrelated element, V10 defeated but unchallenged, V12 a challenge
from an element that is not a counter goal or solution, V13 a defeated relation that does not
exist. Across the file (``src/gsn/check.rs``): C01 one top-level element, C02 and a goal, C03
references resolve (C11: a list written as a string), C04 no cycle of ``supportedBy``, C08
everything reachable from the top, C12 to C16 challenges that name what exists.
"""

from __future__ import annotations

from typing import Any, NamedTuple

_TYPES = ("Goal", "Strategy", "Solution", "Justification", "Context", "Assumption")
NODE_TYPES = (*_TYPES, "CounterGoal", "CounterSolution")
_PREFIXES = (
    ("CG", "CounterGoal"), ("G", "Goal"), ("CSn", "CounterSolution"), ("Sn", "Solution"),
    ("S", "Strategy"), ("C", "Context"), ("A", "Assumption"), ("J", "Justification"),
)  # fmt: skip
"""In gsn2x's order (src/gsn.rs, get_node_type_from_text): CG before G, CSn and Sn before S."""


def node_type(node_id: str, node: dict[str, Any] | None = None) -> str | None:
    """An element's type: its ``nodeType``, else its id's prefix (None: unknown)."""
    explicit = (node or {}).get("nodeType")
    if isinstance(explicit, str) and explicit in NODE_TYPES:
        return explicit
    return next((t for p, t in _PREFIXES if node_id.startswith(p)), None)


_CONTEXT = {"Justification", "Assumption", "Context"}
_SUPPORT = {"Goal", "CounterGoal", "Solution", "CounterSolution", "Strategy"}
_ARGUING = {"Goal", "Strategy"}
_COUNTER = {"CounterGoal", "CounterSolution"}


class Element(NamedTuple):
    type: str | None
    supported_by: list[str]
    in_context_of: list[str]
    challenges: tuple[str, ...]
    """() none; (x,) the element x; (x, y) the relation x -> y."""
    undeveloped: bool
    defeated: bool
    defeated_relation: list[str]
    acp: dict[str, list[str]]


def _refs(value: Any) -> list[str] | None:
    """A reference list as gsn2x reads one (one string or a list of them); None: neither."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _element(key: str, node: dict[str, Any], out: list[str]) -> Element:
    lists = {}
    for attr in ("supportedBy", "inContextOf", "defeatedRelation"):
        refs = _refs(node.get(attr))
        if refs is None:
            out.append(f"error: Element {key}: {attr} must be an id or a list of ids")
        lists[attr] = refs or []
    challenge = node.get("challenges")
    parts: tuple[str, ...] = ()
    if isinstance(challenge, str):
        left, arrow, right = challenge.partition("->")
        parts = (left.strip(), right.strip()) if arrow else (challenge,)
    acp = node.get("acp")
    acp = acp if isinstance(acp, dict) else {}
    return Element(
        node_type(key, node),
        lists["supportedBy"],
        lists["inContextOf"],
        parts,
        node.get("undeveloped") is True,
        node.get("defeated") is True,
        lists["defeatedRelation"],
        {str(k): _refs(v) or [] for k, v in acp.items()},
    )


def check_elements(
    doc: dict[Any, Any], attributes: set[str], layers: set[str], extended: bool = False
) -> tuple[dict[str, Element], list[str]]:
    """Each element read, its keys checked, and the per-element rules (V01 to V13)."""
    out: list[str] = []
    nodes: dict[str, Element] = {}
    for key, node in doc.items():
        if not isinstance(key, str):
            out.append(f"error: element id {key!r} is not a string")
        elif not isinstance(node, dict):
            out.append(f"error: Element {key} must be a mapping of attributes ({{}} for none)")
        else:
            if "name" in node:
                out.append(f"error: Element {key} has a key 'name': gsn2x reads it as a module")
            out += [
                f"error: Element {key} has unknown key {k!r} (gsn2x would take it for a layer)"
                for k in node
                if k not in attributes and k not in layers
            ]
            nodes[key] = _element(key, node, out)
            _check_type(key, node, nodes[key], out, extended)
    for key, n in nodes.items():
        _check_relations(key, n, nodes, out)
    return nodes, out


def _check_type(key: str, node: dict[str, Any], n: Element, out: list[str], extended: bool) -> None:
    if n.type is None:
        out.append(f"error: V01: Element {key} is of unknown type (no known id prefix)")
    by_id = node_type(key)
    if extended and "nodeType" in node and by_id not in (None, n.type) and n.type is not None:
        out.append(f"warning: V08: Element {key} has type {n.type}, but ID indicates {by_id}")


def _check_references(
    key: str, refs: list[str], what: str, valid: set[str], nodes: dict[str, Element]
) -> list[str]:
    out, seen = [], set()
    for ref in refs:
        if ref == key:
            out.append(f"error: V06: Element {key} references itself in {what}.")
        if ref in seen:
            out.append(f"warning: V05: Element {key} has duplicate entry {ref} in {what}.")
        seen.add(ref)
        target = nodes.get(ref)
        if not valid or (target is not None and target.type not in valid):
            out.append(f"error: V04: Element {key} has invalid type of reference {ref} in {what}.")
    return out


def _check_relations(key: str, n: Element, nodes: dict[str, Element], out: list[str]) -> None:
    arguing = n.type in _ARGUING
    if n.in_context_of:
        valid = _CONTEXT if arguing else set()
        out += _check_references(key, n.in_context_of, "context", valid, nodes)
    if n.supported_by:
        valid = _SUPPORT if arguing else _COUNTER if n.type == "CounterGoal" else set()
        out += _check_references(key, n.supported_by, "supported by element", valid, nodes)
        if n.undeveloped:
            out.append(f"error: V03: Undeveloped element {key} has supporting arguments.")
    elif arguing and not n.undeveloped:
        out.append(f"warning: V02: Element {key} is undeveloped (mark it undeveloped: true).")
    if n.challenges and n.type not in _COUNTER:
        out.append(f"error: V12: {key} is not a CounterGoal nor CounterSolution but challenges.")
    related = {key, *(r for r in n.supported_by + n.in_context_of if r in nodes)}
    for name, refs in n.acp.items():
        out += [
            f"error: V09: Element {key} has an assurance claim point {name} that references "
            f"{r}, but this is neither its own ID nor any of the connected elements."
            for r in refs
            if r not in related
        ]
    if n.defeated and not any(m.challenges == (key,) for m in nodes.values()):
        out.append(f"error: V10: Element {key} is marked as defeated, but nothing challenges it.")
    for rel in n.defeated_relation:
        if rel not in n.supported_by + n.in_context_of and n.challenges != (rel,):
            out.append(
                f"error: V13: Relation from {key} to {rel} is marked as defeated, but {key} has "
                f"no relation to {rel}."
            )


def _check_challenge(key: str, n: Element, nodes: dict[str, Element]) -> list[str]:
    if len(n.challenges) == 1:
        (target,) = n.challenges
        if target == key:
            return [f"error: C13: Element {key} challenges itself."]
        if target not in nodes:
            return [
                f"error: C14: Element {key} challenges element {target}, but it does not exist."
            ]
        return []
    if not n.challenges:
        return []
    left, right = n.challenges
    if left == right:
        return [f"error: C15: Element {key} challenges a relation with both ends at {left}."]
    missing = [x for x in (left, right) if x not in nodes]
    if missing:
        return [
            f"error: C12: Element {key} challenges a relation, but element {missing[0]} of the "
            "relation does not exist."
        ]

    def related(a: str, b: str) -> bool:
        m = nodes[a]
        return b in m.supported_by + m.in_context_of + list(m.challenges)

    if related(left, right) or related(right, left):
        return []
    return [f"error: C16: Element {key} challenges a relation, but {left} and {right} have none."]


def _cycle(nodes: dict[str, Element]) -> list[str] | None:
    """The first cycle of ``supportedBy`` links, in sorted order of ids (as gsn2x's map)."""
    state: dict[str, int] = {}
    for start in sorted(nodes):
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            key, i = stack.pop()
            if i == 0:
                if state.get(key) == 2:
                    continue
                state[key] = 1
                path.append(key)
            kids = [k for k in nodes[key].supported_by if k in nodes]
            if i < len(kids):
                stack.append((key, i + 1))
                if state.get(kids[i]) == 1:
                    return [*path[path.index(kids[i]) :], kids[i]]
                if state.get(kids[i]) is None:
                    stack.append((kids[i], 0))
            else:
                state[key] = 2
                path.pop()
    return None


def check_graph(nodes: dict[str, Element]) -> list[str]:
    """The rules across elements (C01 to C16)."""
    out: list[str] = []
    for key, n in nodes.items():
        for what, refs in (("in context of", n.in_context_of), ("supported by", n.supported_by)):
            for ref in (r for r in refs if r not in nodes):
                out.append(f'error: C03: Element {key} has unresolved "{what}" element: {ref}')
                if "," in ref:
                    out.append(f"warning: C11: {ref} in {key} may be a list: write [{ref}]")
        out += _check_challenge(key, n, nodes)
    referenced = {r for n in nodes.values() for r in n.supported_by + n.in_context_of}
    roots = sorted(k for k, n in nodes.items() if k not in referenced and not n.challenges)
    if len(roots) > 1:
        out.append(
            f"warning: C01: There is more than one unreferenced element: {', '.join(roots)}."
        )
    elif len(roots) == 1 and nodes[roots[0]].type != "Goal":
        out.append(f"error: C02: The root element should be a goal, but {roots[0]} was found.")
    elif not roots and nodes:
        out.append("error: C01: There are no unreferenced elements found.")
    cycle = _cycle(nodes)
    if cycle:
        out.append(
            f"error: C04: Cycle detected at element {cycle[0]}. Cycle is {' -> '.join(cycle)}."
        )
    seen, todo = set(roots), list(roots)
    while todo:
        n = nodes[todo.pop()]
        nxt = [r for r in n.supported_by + n.in_context_of if r in nodes]
        nxt += [k for k, m in nodes.items() if m.challenges and m.challenges[0] in seen]
        todo += [k for k in nxt if k not in seen]
        seen.update(nxt)
    unreachable = sorted(set(nodes) - seen)
    if unreachable:
        out.append(
            f"error: C08: The following element(s) are not reachable from the root element(s) "
            f"({', '.join(roots)}): {', '.join(unreachable)}"
        )
    return out
