"""A run's folder: the one owner of its paths and of what marks it started or finished.

::

    runs/<id>/
        study.json        the study as run
        audit.jsonl       every action and result, hash-chained
        ledger.db         findings (as they were made) and assessments
        calibration.json  the calibration the findings were made with
        results.json      metrics, targets, the audit log's head hash (written last)
        report.html       written from the files above by whoever asks for it
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from neurath._errors import ResearchError
from neurath.research._events import RunStarted
from neurath.testbed._results import RunResults
from neurath.testbed._study import Study


def new_run_id(study: Study) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{study.name}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunFolder:
    """The folder of one run."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def study_file(self) -> Path:
        return self.path / "study.json"

    @property
    def audit_file(self) -> Path:
        return self.path / "audit.jsonl"

    @property
    def ledger_file(self) -> Path:
        return self.path / "ledger.db"

    @property
    def calibration_file(self) -> Path:
        return self.path / "calibration.json"

    @property
    def results_file(self) -> Path:
        return self.path / "results.json"

    @property
    def report_file(self) -> Path:
        return self.path / "report.html"

    @property
    def finished(self) -> bool:
        """Whether the run wrote its results (they are written last)."""
        return self.results_file.exists()

    @classmethod
    def create(cls, runs_dir: str | Path, study: Study, run_id: str | None = None) -> RunFolder:
        """A new, empty run folder under ``runs_dir``, holding the study.

        Raises:
            ResearchError: A non-empty folder of that name exists.
        """
        folder = cls(Path(runs_dir) / (run_id or new_run_id(study)))
        if folder.path.exists() and any(folder.path.iterdir()):
            raise ResearchError(f"{folder.path}: a run folder of that name exists (use --resume)")
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.write_study(study)
        return folder

    @classmethod
    def find(cls, run: str | Path) -> RunFolder:
        """``run`` as given if it exists, else the run of that id under ``./runs``."""
        path = Path(run)
        if not path.exists() and (Path("runs") / str(run)).exists():
            return cls(Path("runs") / str(run))
        return cls(path)

    def check_resumable(self) -> None:
        """Raises :class:`ResearchError` unless the run started and did not finish."""
        if not self.audit_file.exists():
            raise ResearchError(f"{self.path}: no run to resume there (no audit.jsonl)")
        if self.finished:
            raise ResearchError(f"{self.path}: this run finished; there is nothing to resume")

    def write_study(self, study: Study) -> None:
        self.study_file.write_text(study.model_dump_json(indent=2) + "\n")

    def read_study(self) -> Study:
        if not self.study_file.exists():
            raise ResearchError(f"{self.path}: not a run folder (no study.json)")
        try:
            return Study.model_validate_json(self.study_file.read_text())
        except ValidationError as exc:
            raise ResearchError(
                f"{self.study_file}: not a neurath study: {exc.errors()[0]['msg']}"
            ) from None

    def started(self) -> RunStarted:
        """The run's first audit entry: what it started as."""
        from neurath.research._audit import AuditLog

        entries = AuditLog(self.audit_file).entries()
        event = entries[0].event if entries else None
        if not isinstance(event, RunStarted):
            raise ResearchError(f"{self.audit_file}: the log does not open with run_started")
        return event

    def write_results(self, results: RunResults) -> None:
        """Write ``results.json`` atomically: its presence marks the run finished."""
        tmp = self.path / "results.json.tmp"
        tmp.write_text(results.model_dump_json(indent=2) + "\n")
        tmp.replace(self.results_file)

    def read_results(self) -> RunResults:
        if not self.finished:
            raise ResearchError(f"{self.path}: the run has no results (it did not finish)")
        try:
            return RunResults.model_validate_json(self.results_file.read_text())
        except ValidationError as exc:
            raise ResearchError(
                f"{self.results_file}: not neurath run results: {exc.errors()[0]['msg']}"
            ) from None


def load_run(run: str | Path) -> tuple[Study, str]:
    """The study and folder of an existing run (to resume it)."""
    folder = RunFolder.find(run)
    return folder.read_study(), str(folder.path)
