"""Manifest format v1: accepted exactly as specified, and precise errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurath import ManifestError, assess, load_manifest

# The format v1 example from the specification, verbatim.
SPEC_V1 = """\
version: 1
target: model-x
prior_not_scheming: 0.5          # P(N) before evidence
common_cause: 0.02               # c, or a range [0.01, 0.05]
factors:
  - {id: honeypot-realism, kind: assumption, sd: 0.5}      # sd may be a range [lo, hi]
  - {id: rater-pool-a, kind: raters, sd: 0.3}
findings:
  - id: hp-1
    experiment: honeypot
    claim: "No defection in 200 realistic honeypots"
    value: 0.0
    se: 0.01
    extra_sd: 0.0                # optional
    expected: {not_scheming: 0.0, scheming: 0.3}
    factors: {honeypot-realism: 1.0, rater-pool-a: 0.5}   # or a list of ids, loading 1.0
"""


def _write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_spec_example_is_accepted_exactly_as_written(tmp_path: Path) -> None:
    m = load_manifest(_write(tmp_path, SPEC_V1))
    assert m.target == "model-x"
    assert m.common_cause == 0.02
    assert [f.id for f in m.factors] == ["honeypot-realism", "rater-pool-a"]
    finding = m.findings[0]
    assert finding.factors == {"honeypot-realism": 1.0, "rater-pool-a": 0.5}
    assert finding.expected.separation == pytest.approx(-0.3)
    assert 0 < assess(m).p_not_scheming < 1


def test_ranges_lists_and_json_are_accepted(tmp_path: Path) -> None:
    text = SPEC_V1.replace("common_cause: 0.02", "common_cause: [0.01, 0.05]")
    text = text.replace("sd: 0.5}", "sd: [0.2, 0.8]}")
    text = text.replace("{honeypot-realism: 1.0, rater-pool-a: 0.5}", "[honeypot-realism]")
    m = load_manifest(_write(tmp_path, text))
    assert m.common_cause == (0.01, 0.05)
    assert m.factors[0].sd == (0.2, 0.8)
    assert m.findings[0].factors == {"honeypot-realism": 1.0}
    as_json = _write(tmp_path, m.model_dump_json(), "m.json")
    assert load_manifest(as_json) == m


def test_findings_file_is_read_relative_to_the_manifest(tmp_path: Path) -> None:
    sub = tmp_path / "evidence"
    sub.mkdir()
    rows = [
        {
            "id": f"f{i}",
            "experiment": "probe",
            "value": 0.1,
            "se": 0.05,
            "expected": {"not_scheming": 0.1, "scheming": 0.5},
            "factors": ["rater-pool-a"],
        }
        for i in range(3)
    ]
    (sub / "more.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    m = load_manifest(_write(sub, SPEC_V1 + "findings_file: more.jsonl\n"))
    assert [f.id for f in m.findings] == ["hp-1", "f0", "f1", "f2"]


BAD_INPUTS = [
    # (description, edit to the spec text, expected fragments of the one-line message)
    (
        "missing field",
        lambda t: t.replace("    se: 0.01\n", ""),
        ["m.yaml", "finding 'hp-1'", "field 'se'", "required"],
    ),
    (
        "se not positive",
        lambda t: t.replace("se: 0.01", "se: 0"),
        ["m.yaml", "finding 'hp-1'", "field 'se'", "greater than 0"],
    ),
    (
        "unknown factor",
        lambda t: t.replace("rater-pool-a: 0.5}", "rater-pool-b: 0.5}"),
        ["m.yaml", "finding 'hp-1'", "field 'factors.rater-pool-b'", "did you mean 'rater-pool-a'"],
    ),
    (
        "equal expectations",
        lambda t: t.replace("scheming: 0.3}", "scheming: 0.0}"),
        ["m.yaml", "finding 'hp-1'", "field 'expected'", "equal"],
    ),
    (
        "malformed YAML",
        lambda t: t.replace("  - id: hp-1", "  - id: [hp-1"),
        ["m.yaml:", "malformed YAML"],
    ),
    (
        "missing findings file",
        lambda t: t + "findings_file: nowhere.jsonl\n",
        ["nowhere.jsonl", "findings file not found", "m.yaml"],
    ),
    (
        "bad factor kind",
        lambda t: t.replace("kind: raters", "kind: judges"),
        ["m.yaml", "field 'factors.rater-pool-a.kind'"],
    ),
    (
        "range reversed",
        lambda t: t.replace("sd: 0.3}", "sd: [0.5, 0.1]}"),
        ["field 'factors.rater-pool-a.sd'", "lo <= hi"],
    ),
    (
        "sd not a number",
        lambda t: t.replace("sd: 0.3}", "sd: lots}"),
        ["field 'factors.rater-pool-a.sd'", "number or a range"],
    ),
    (
        "prior out of range",
        lambda t: t.replace("prior_not_scheming: 0.5", "prior_not_scheming: 1"),
        ["field 'prior_not_scheming'", "strictly between 0 and 1"],
    ),
    (
        "unknown key",
        lambda t: t.replace("    extra_sd: 0.0", "    extra_se: 0.0"),
        ["finding 'hp-1'", "field 'extra_se'", "unknown field"],
    ),
    (
        "unsupported version",
        lambda t: t.replace("version: 1", "version: 3"),
        ["field 'version'", "unsupported manifest version 3", "reads versions 1, 2"],
    ),
    (
        "version 2 without its components",
        lambda t: t.replace("version: 1", "version: 2"),
        ["field 'components'", "required field is missing"],
    ),
    (
        "duplicate finding id",
        lambda t: t + t[t.index("  - id: hp-1") :],
        ["finding 'hp-1'", "used twice"],
    ),
]


@pytest.mark.parametrize(("what", "edit", "fragments"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_file_finding_and_field(
    tmp_path: Path, what: str, edit, fragments: list[str]
) -> None:
    path = _write(tmp_path, edit(SPEC_V1))
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (what, message)


def test_bad_line_in_findings_file_names_its_line(tmp_path: Path) -> None:
    good = {
        "id": "ok",
        "experiment": "x",
        "value": 0,
        "se": 1,
        "expected": {"not_scheming": 0, "scheming": 1},
    }
    bad = dict(good, id="broken", se=-1)
    (tmp_path / "f.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(tmp_path, SPEC_V1 + "findings_file: f.jsonl\n"))
    assert "f.jsonl:2" in str(info.value)
    assert "finding 'broken'" in str(info.value)
    assert "field 'se'" in str(info.value)


def test_missing_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        load_manifest(tmp_path / "absent.yaml")
