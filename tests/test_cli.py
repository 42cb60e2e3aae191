"""The command line, run as a real subprocess the way users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from neurath import Ledger

from .test_manifest import BAD_INPUTS, SPEC_V1

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
REQUIRED_KEYS = {
    "target",
    "p_not_scheming",
    "interval",
    "p_not_scheming_naive",
    "llr",
    "llr_naive",
    "n_findings",
    "n_eff",
    "ceiling",
    "weights",
    "contributions",
    "warnings",
}


def neurath(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neurath", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_there_are_at_least_three_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_every_example_assesses_as_json_and_as_tables(example: Path, tmp_path: Path) -> None:
    out = neurath("assess", str(example), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data.keys() >= REQUIRED_KEYS
    assert 0.0 < data["p_not_scheming"] <= data["ceiling"]
    lo, hi = data["interval"]
    assert lo <= hi
    assert set(data["weights"]) == set(data["contributions"]) or not data["contributions"]
    assert data["n_findings"] == len(data["weights"])
    # In these examples the shared factors make the naive sum overconfident, never the reverse.
    assert data["p_not_scheming"] <= data["p_not_scheming_naive"] + 1e-12
    text = neurath("assess", str(example))
    assert text.returncode == 0, text.stderr
    assert "Overall safety assessment" in text.stdout
    assert data["target"] in text.stdout


def test_assess_with_db_stores_manifest_and_result(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    example = EXAMPLES[0]
    out = neurath("assess", str(example), "--json", "--db", str(db))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    with Ledger(db) as ledger:
        (stored,) = ledger.assessments()
        assert stored.id == data["ledger"]["assessment_id"]
        assert stored.assessment.p_not_scheming == data["p_not_scheming"]
        assert ledger.count("findings") == data["n_findings"]
    listed = neurath("ledger", "list", "--db", str(db))
    assert listed.returncode == 0
    assert data["target"] in listed.stdout


def test_validate_reports_counts(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(SPEC_V1)
    out = neurath("validate", str(path))
    assert out.returncode == 0
    assert "1 findings, 2 factors" in out.stdout


@pytest.mark.parametrize(("what", "edit", "fragments"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
@pytest.mark.parametrize("command", ["assess", "validate"])
def test_bad_input_is_one_line_exit_2_no_traceback(
    tmp_path: Path, command: str, what: str, edit, fragments: list[str]
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(edit(SPEC_V1))
    out = neurath(command, str(path))
    assert out.returncode == 2, (what, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert lines[0].startswith("neurath: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    out = neurath("assess", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2
    assert out.stderr.strip() == f"neurath: error: {tmp_path / 'nope.yaml'}: file not found"
