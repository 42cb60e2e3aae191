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
    # By default the 12 largest contributions are computed (exactly), and the output says so.
    assert data["contributions_computed"] == {"mode": "top", "top": 12}
    assert set(data["contributions"]) <= set(data["weights"])
    assert len(data["contributions"]) == min(12, data["n_findings"]) or not data["contributions"]
    assert data["n_findings"] == len(data["weights"])
    # In these examples the shared factors make the naive sum overconfident, never the reverse.
    assert data["p_not_scheming"] <= data["p_not_scheming_naive"] + 1e-12
    text = neurath("assess", str(example))
    assert text.returncode == 0, text.stderr
    assert "Overall safety assessment" in text.stdout
    assert data["target"] in text.stdout
    # Piped tables keep whole finding ids (an 80-column console cut them to "deception-…").
    shown = list(data["contributions"])[:5]
    assert shown and all(f" {finding_id} " in text.stdout for finding_id in shown)


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
    assert out.stderr.strip() == (
        f"neurath: error: {tmp_path / 'nope.yaml'}: manifest file not found"
    )


def _spec_with(**replacements: str) -> str:
    text = SPEC_V1
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    return text


# Files a user could plausibly hand over by mistake: (name, file contents, extra files,
# fragment of the one-line message).
MALFORMED = [
    ("empty", "", {}, "a manifest must be a mapping"),
    ("top-level list", "- 1\n- 2\n", {}, "a manifest must be a mapping"),
    ("findings mapping", "version: 1\ntarget: m\nfindings: {a: 1}\n", {}, "field 'findings'"),
    ("factors mapping", "version: 1\ntarget: m\nfactors: {a: 1}\n", {}, "field 'factors'"),
    ("version true", _spec_with(**{"version: 1": "version: true"}), {}, "unsupported manifest"),
    ("nan value", _spec_with(**{"value: 0.0": "value: .nan"}), {}, ".nan is not a finite number"),
    ("huge se", _spec_with(**{"se: 0.01": "se: 1.0e+200"}), {}, "outside double precision"),
    ("tiny se", _spec_with(**{"se: 0.01": "se: 1.0e-200"}), {}, "outside double precision"),
    (
        "factor list of lists",
        _spec_with(**{"{honeypot-realism: 1.0, rater-pool-a: 0.5}": "[[honeypot-realism]]"}),
        {},
        "factor ids (strings)",
    ),
    ("deep nesting", "a: " + "[" * 100_000, {}, "m.yaml"),
    (
        "findings file is a folder",
        SPEC_V1 + "findings_file: sub\n",
        {"sub/": ""},
        "findings file is not a regular file (a directory)",
    ),
    ("empty findings file name", SPEC_V1 + 'findings_file: ""\n', {}, "field 'findings_file'"),
    (
        "nul in findings file name",
        SPEC_V1 + 'findings_file: "a\\0b"\n',
        {},
        "cannot read findings file",
    ),
    (
        "findings file not UTF-8",
        SPEC_V1 + "findings_file: f.jsonl\n",
        {"f.jsonl": b'{"id": "caf\xe9"}\n'},
        "f.jsonl:1: not UTF-8",
    ),
    (
        "findings file bad JSON",
        SPEC_V1 + "findings_file: f.jsonl\n",
        {"f.jsonl": "{oops\n"},
        "f.jsonl:1",
    ),
    (
        "factors dwarf errors",
        _spec_with(**{"se: 0.01": "se: 1.0e-9", "sd: 0.3}": "sd: 1.0e+4}"}),
        {},
        "too much for an accurate solve",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "extra", "fragment"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_files_are_one_line_errors(
    tmp_path: Path, name: str, text: str, extra: dict[str, str | bytes], fragment: str
) -> None:
    for rel, content in extra.items():
        target = tmp_path / rel
        if rel.endswith("/"):
            target.mkdir()
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    path = tmp_path / "m.yaml"
    path.write_text(text)
    out = neurath("assess", str(path), "--json")
    assert out.returncode == 2, (name, out.stdout, out.stderr[-500:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurath: error: "), out.stderr[-500:]
    assert fragment in lines[0], lines[0]


def test_markup_in_ids_is_printed_literally(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        _spec_with(**{"id: hp-1": "id: '[red]hp-1[/b]'", "target: model-x": "target: '[bold]x'"})
    )
    out = neurath("assess", str(path))
    assert out.returncode == 0, out.stderr
    assert "[red]hp-1[/b]" in out.stdout
    assert "[bold]x" in out.stdout


def test_ledger_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(SPEC_V1)
    foreign = tmp_path / "other.db"
    import sqlite3

    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE manifests (x)")
    for args, fragment in [
        (["assess", str(path), "--db", str(foreign)], "not a neurath ledger"),
        (["assess", str(path), "--db", "sqlite:///"], "malformed SQLite URL"),
        (["ledger", "list", "--db", str(tmp_path / "typo.db")], "no ledger there"),
    ]:
        out = neurath(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.count("\n") == 1 and fragment in out.stderr, out.stderr
    assert not (tmp_path / "typo.db").exists()
