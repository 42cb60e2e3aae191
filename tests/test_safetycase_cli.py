"""``neurath safetycase`` run as users run it (a subprocess), on a copy of the tiny study's run,
and the safety case section of the run report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from neurath.safetycase import SafetyCase, validate_gsn2x

FILES = ("case.json", "case.md", "case.html", "case.gsn.yaml")


def neurath(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neurath", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def run_copy(tiny_run: Any, tmp_path: Path) -> Path:
    """The tiny study's finished run, copied (under ``<tmp>/runs/ref``) so a test may change it."""
    _, runs, _ = tiny_run
    dst = tmp_path / "runs" / "ref"
    shutil.copytree(runs / "ref", dst, ignore=shutil.ignore_patterns(".lock", "safetycase"))
    return dst


def test_safetycase_writes_the_document_the_pages_and_the_export(run_copy: Path) -> None:
    out = neurath("safetycase", str(run_copy))
    assert out.returncode == 0, out.stderr
    folder = run_copy / "safetycase"
    lines = out.stdout.strip().splitlines()
    assert lines[0] == f"wrote {', '.join(FILES)} to {folder}"
    assert lines[1].startswith("G1 ") and "automation level 1" in lines[1]
    case = SafetyCase.model_validate_json((folder / "case.json").read_text())
    assert case.runs and case.claims[0].id == "G1"
    page = (folder / "case.html").read_text()
    text = (folder / "case.md").read_text()
    for c in case.claims:
        assert f"id='{c.id}'" in page and f"### {c.id}:" in text
    assert "<svg" in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert validate_gsn2x((folder / "case.gsn.yaml").read_text()) == []


def test_safetycase_takes_a_run_id_and_an_output_folder(run_copy: Path) -> None:
    root = run_copy.parent.parent
    out = neurath("safetycase", "ref", "--out", "case-out", cwd=root)
    assert out.returncode == 0, out.stderr
    assert all((root / "case-out" / name).is_file() for name in FILES)
    assert not (run_copy / "safetycase").exists()


def _unfinished(run: Path) -> None:
    (run / "results.json").unlink()


def _not_a_run(run: Path) -> None:
    shutil.rmtree(run)
    run.mkdir()
    (run / "notes.txt").write_text("not a run")


def _other_version(run: Path) -> None:
    data = json.loads((run / "results.json").read_text())
    data["version"] = 99
    (run / "results.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (_unfinished, "did not finish"),
        (_not_a_run, "not a run folder"),
        (_other_version, "another version"),
        (lambda run: shutil.rmtree(run), "no such run folder"),
    ],
    ids=["unfinished", "not-a-run", "other-version", "missing"],
)
def test_bad_input_is_one_line_and_exit_code_2(run_copy: Path, spoil: Any, expected: str) -> None:
    spoil(run_copy)
    out = neurath("safetycase", str(run_copy))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurath: error: "), out.stderr
    assert expected in lines[0]
    assert not (run_copy / "safetycase").exists()


def test_a_bad_baseline_is_one_line_and_exit_code_2(run_copy: Path, tmp_path: Path) -> None:
    out = neurath("safetycase", str(run_copy), "--baseline", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "nowhere" in out.stderr


def test_run_report_shows_the_safety_case(run_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import neurath.safetycase
    from neurath._errors import SafetyCaseError
    from neurath.report import write_report

    page = write_report(run_copy).read_text()
    assert "<h2>Safety case</h2>" in page and 'class="gsn"' in page
    assert "Top claim G1" in page and "Automation level 1" in page

    def refuse(runs: list[Path], **kw: Any) -> SafetyCase:
        raise SafetyCaseError("no case <b>here</b>")

    monkeypatch.setattr(neurath.safetycase, "build_case", refuse)
    page = write_report(run_copy).read_text()
    assert "No safety case: no case &lt;b&gt;here&lt;/b&gt;" in page
    assert 'class="gsn"' not in page


def test_a_missing_review_ledger_is_one_line_and_exit_code_2(
    run_copy: Path, tmp_path: Path
) -> None:
    # In a folder of its own: no accounts file there, so item ids keep the default key.
    out = neurath("safetycase", str(run_copy), "--reviews", str(tmp_path / "none.db"), cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurath: error: ") and "none.db" in lines[0]
