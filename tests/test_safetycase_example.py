"""The example safety case committed under examples/safetycase/ (built from one run of the
default study, whose folder is committed beside it) is what the code builds today, and every
figure in it traces to that run's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from neurath.safetycase import SafetyCase, build_case, resolve, validate_gsn2x

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "safetycase"


def _committed() -> SafetyCase:
    return SafetyCase.model_validate_json((EXAMPLE / "case.json").read_text())


def test_the_example_case_is_what_the_code_builds(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE / "run", run)  # the build opens the run's ledger: not the checkout's
    rebuilt = build_case([run])
    committed = _committed()

    def comparable(case: SafetyCase) -> dict[str, object]:
        data = json.loads(case.model_dump_json(exclude={"created_at", "runs", "audit_heads"}))
        return json.loads(json.dumps(data).replace(str(run), "examples/safetycase/run"))

    assert comparable(rebuilt) == comparable(committed)


def test_every_figure_of_the_example_traces_to_the_committed_run(tmp_path: Path) -> None:
    committed = _committed()
    assert committed.runs == ["examples/safetycase/run"]
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE / "run", run)  # reading a SQLite file in WAL mode writes beside it
    for e in committed.evidence:
        for s in e.sources:
            value = resolve(s.model_copy(update={"run": str(run)}))
            if not e.derived and s is e.sources[0]:
                assert value == e.value, e.id
    assert validate_gsn2x((EXAMPLE / "case.gsn.yaml").read_text()) == []
    assert "Safety case for the research scheme" in (EXAMPLE / "case.html").read_text()
