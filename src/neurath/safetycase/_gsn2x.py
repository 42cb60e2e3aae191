"""Export to gsn2x's YAML (https://github.com/jonasthewolf/gsn2x), and its checks re-implemented.

gsn2x renders GSN from YAML: a mapping of element ids to elements, the id's prefix giving the
type (``G`` goal, ``S`` strategy, ``Sn`` solution, ``C`` context, ``A`` assumption, ``J``
justification, and in the dialectic extension ``CG`` counter goal, ``CSn`` counter solution),
each with ``text``, ``supportedBy``, ``inContextOf``, ``undeveloped``, ``url``, ``classes`` and
so on; any other key is a "layer" (extra text shown with ``-l``). It is a Rust crate and cannot
be installed here, so :func:`validate_gsn2x` re-implements its rules, read from its sources
(``src/gsn.rs``: the fields of an element and the id prefixes; ``src/gsn/validation.rs``: V01
to V13; ``src/gsn/check.rs``: C01 to C16; ``src/main.rs``: one ``module`` entry, duplicate keys
refused; ``doc/src/checks.md``, ``doc/src/yaml_syntax.md``, ``doc/src/ext_dialectic.md``).
Messages carry gsn2x's check ids. Stricter than gsn2x: a key that is neither an attribute nor
one of ``layers`` is reported (gsn2x would take a misspelt ``supportedby`` for a layer).

The mapping: a claim is a goal, its argument a strategy, evidence a solution; the case's context
and automation level are context of G1, the collapse a justification, each open obligation an
assumption (the case holds only if it is argued); a defeater is a counter goal challenging the
deepest claim it bears on, and what addresses it a counter solution challenging it (the counter
goal ``defeated`` when the defeater is addressed). Statuses are classes and layers.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

import yaml

from neurath.safetycase._gsn2x_rules import NODE_TYPES, check_elements, check_graph, node_type
from neurath.safetycase._model import Claim, SafetyCase
from neurath.safetycase._render_layout import value_text

LAYERS = ("status", "tag", "why", "value", "sources", "obligation")
"""The layers :func:`to_gsn2x` writes (``gsn2x -l status ...`` shows them)."""

_ATTRIBUTES = (
    "text", "inContextOf", "supportedBy", "challenges", "undeveloped", "defeated",
    "defeatedRelation", "classes", "url", "rankIncrement", "horizontalIndex", "nodeType",
    "charWrap", "acp",
)  # fmt: skip
_MODULE_KEYS = (
    "name", "brief", "extends", "horizontalIndex", "rankIncrement", "charWrap", "stylesheets",
    "uses",
)  # fmt: skip
_REFS: dict[str, Any] = {
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
}
_INDEX: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "relative": {"type": "integer"},
        "absolute": {"oneOf": [{"type": "integer", "minimum": 0}, {"const": "last"}]},
    },
    "additionalProperties": False,
}
GSN2X_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gsn2x input file (after src/gsn.rs: GsnNode, ModuleInformation)",
    "type": "object",
    "minProperties": 1,
    "properties": {
        "module": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "brief": {"type": "string"},
                "extends": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["module", "develops"],
                        "properties": {
                            "module": {"type": "string"},
                            "develops": {"type": "object", "additionalProperties": _REFS},
                        },
                    },
                },
                "horizontalIndex": _INDEX,
                "rankIncrement": {"type": "integer", "minimum": 0},
                "charWrap": {"type": "integer", "minimum": 0},
                "stylesheets": {"type": "array", "items": {"type": "string"}},
                "uses": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
    "additionalProperties": {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "supportedBy": _REFS,
            "inContextOf": _REFS,
            "defeatedRelation": _REFS,
            "challenges": {"type": "string"},
            "undeveloped": {"type": "boolean"},
            "defeated": {"type": "boolean"},
            "classes": {"type": "array", "items": {"type": "string"}},
            "url": {"type": "string"},
            "rankIncrement": {"type": "integer", "minimum": 0},
            "horizontalIndex": _INDEX,
            "nodeType": {"enum": list(NODE_TYPES)},
            "charWrap": {"type": "integer", "minimum": 0},
            "acp": {"type": "object", "additionalProperties": _REFS},
        },
    },
}
"""The format as a JSON Schema (types only; the rules between elements are in code)."""


def _gsn_id(kind: str, prefix: str, case_id: str) -> str:
    """``case_id`` if its prefix already gives ``kind``, else ``prefix-case_id``."""
    return case_id if node_type(case_id) == kind else f"{prefix}-{case_id}"


class _FlowDumper(yaml.SafeDumper):
    """Lists in flow style (``[G2, Sn1]``, as gsn2x's examples), mappings in block style."""


_FlowDumper.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _claim_elements(c: Claim, case: SafetyCase, ids: dict[str, str]) -> dict[str, Any]:
    known = {e.id for e in case.evidence}
    support = [ids[s] for s in c.subclaims if s in ids] + [ids[e] for e in c.evidence if e in known]
    goal: dict[str, Any] = {"text": _one_line(f"{c.text} [{c.status}, {c.tag}]")}
    out = {ids[c.id]: goal}
    if c.argument:
        strategy: dict[str, Any] = {"text": _one_line(c.argument)}
        strategy.update({"supportedBy": support} if support else {"undeveloped": True})
        goal["supportedBy"] = [f"S-{ids[c.id]}"]
        out[f"S-{ids[c.id]}"] = strategy
    elif support:
        goal["supportedBy"] = support
    else:
        goal["undeveloped"] = True
    goal.update(
        classes=[c.status, c.tag], url=f"case.html#{c.id}", status=c.status, tag=c.tag, why=c.why
    )
    return out


def _depths(case: SafetyCase) -> dict[str, int]:
    claims = {c.id: c for c in case.claims}
    queue, depth = [(case.claims[0].id, 0)] if case.claims else [], {}
    while queue:
        cid, level = queue.pop(0)
        if cid in claims and cid not in depth:
            depth[cid] = level
            queue += [(s, level + 1) for s in claims[cid].subclaims]
    return depth


def to_gsn2x(case: SafetyCase) -> str:
    """The case in gsn2x's YAML (see the module docstring); :func:`validate_gsn2x` passes it."""
    ids = {c.id: _gsn_id("Goal", "G", c.id) for c in case.claims}
    ids |= {e.id: _gsn_id("Solution", "Sn", e.id) for e in case.evidence}
    doc: dict[str, Any] = {"module": {"name": "neurath-safety-case", "brief": case.title}}
    for c in case.claims:
        doc |= _claim_elements(c, case, ids)
    used = {s for n in doc.values() for s in n.get("supportedBy", [])}
    evidence = {e.id: e for e in case.evidence}
    for e in case.evidence:
        if ids[e.id] in used:  # unused evidence would be a second top-level element (C01)
            doc[ids[e.id]] = {
                "text": _one_line(f"{e.text} = {value_text(e.value)}"),
                "url": f"case.html#{e.id}",
                "value": value_text(e.value),
                "sources": "; ".join(f"{s.kind} {s.file}#{s.pointer}" for s in e.sources),
            }
    if not case.claims:
        return yaml.dump(doc, Dumper=_FlowDumper, sort_keys=False, allow_unicode=True)
    top = ids[case.claims[0].id]
    context = {f"C{i}": text for i, text in enumerate(case.context, 1)}
    a = case.automation
    context["C-automation"] = f"Automation level {a.level}: {a.why}"
    if a.collapse:
        inherited = f" Inherited from level 1: {', '.join(a.inherited)}." if a.inherited else ""
        context["J-collapse"] = a.collapse + inherited
    context |= {f"A{i}": f"Open obligation: {o}" for i, o in enumerate(case.obligations, 1)}
    doc[top]["inContextOf"] = list(context)
    doc |= {k: {"text": _one_line(v)} for k, v in context.items()}
    depth = _depths(case)
    for d in case.defeaters:
        known = [x for x in d.against if x in depth] or [case.claims[0].id]
        target = ids[max(known, key=lambda g: (depth.get(g, 0), -known.index(g)))]
        against = f"; against {', '.join(d.against)}" if d.against else ""
        counter: dict[str, Any] = {
            "text": _one_line(f"{d.worry} [{d.status}; seed {d.seed}{against}]"),
            "challenges": target,
            "classes": [d.status],
            "url": f"case.html#{d.id}",
            "status": d.status,
            "why": d.why,
        }
        counter |= {"obligation": d.obligation} if d.obligation else {}
        doc[f"CG-{d.id}"] = counter
        if d.status != "open":
            shown = [f"{x} = {value_text(evidence[x].value)}" for x in d.evidence if x in evidence]
            text = d.why + (f" Evidence: {', '.join(shown)}." if shown else "")
            doc[f"CSn-{d.id}"] = {"text": _one_line(text), "challenges": f"CG-{d.id}"}
            counter["defeated"] = d.status == "addressed"
    # One line per scalar: gsn2x reads YAML with uniform indentation required.
    return yaml.dump(doc, Dumper=_FlowDumper, sort_keys=False, allow_unicode=True, width=2**30)


class _UniqueKeyLoader(yaml.SafeLoader):
    """gsn2x's parser refuses duplicate keys (src/main.rs: DuplicateKeyPolicy::Error)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(k, deep=True) for k, _ in node.value]
        dupes = sorted({str(k) for k in keys if keys.count(k) > 1})
        if dupes:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {', '.join(dupes)}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def validate_gsn2x(
    text: str, layers: Iterable[str] = LAYERS, *, extended: bool = False
) -> list[str]:
    """What gsn2x would report about the file ``text`` (and what it would take for a layer):
    ``"error: V04: Element G1 ..."`` and ``"warning: ..."`` lines; none when it is clean.
    ``extended``: also gsn2x's ``--extended-check`` (V08). One file: references to elements of
    other modules are unresolved here."""
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no objects built
    except yaml.YAMLError as exc:
        return [f"error: Failed to parse YAML: {' '.join(str(exc).split())}"]
    if doc is None or doc == {}:
        return ["error: No input elements are found."]
    if not isinstance(doc, dict):
        return ["error: Failed to parse YAML: not a mapping of element ids to elements"]
    problems = _schema_problems(doc)
    module = doc.pop("module", None)
    if module is not None and not (
        isinstance(module, dict) and isinstance(module.get("name"), str)
    ):
        problems.append("error: module: must be a mapping with a name")
    elif isinstance(module, dict):
        problems += [f"error: module: unknown key {k!r}" for k in module if k not in _MODULE_KEYS]
    if not doc:
        return [*problems, "error: The module does not contain elements."]
    nodes, element_problems = check_elements(doc, set(_ATTRIBUTES), set(layers), extended)
    return problems + element_problems + check_graph(nodes)


def _schema_problems(doc: dict[Any, Any]) -> list[str]:
    """:data:`GSN2X_SCHEMA`'s complaints, where ``jsonschema`` is installed (else none)."""
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:
        return []
    validator = jsonschema.Draft202012Validator(GSN2X_SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.path])
    return [
        f"error: {'/'.join(str(p) for p in e.path) or '(file)'}: {' '.join(e.message.split())}"
        for e in errors
    ]
