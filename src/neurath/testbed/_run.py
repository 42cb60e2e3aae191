"""A run's folder: the one owner of its paths and of what marks it started or finished.

::

    runs/<id>/
        study.json        the study as run
        audit.jsonl       every action and result, hash-chained
        ledger.db         findings (as they were made) and assessments
        calibration.json  the calibration the findings were made with
        seal.json         which organism each target is, and the seal's key (never shown to
                          research; its hash is in the log's first entry)
        results.json      metrics, targets, the audit log's head hash (written last)
        anchor.json       the head, results hash and (with a key) their signature
        report.html       written from the files above by whoever asks for it
        .lock             held by the one command writing the folder
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from neurath._errors import NeurathError, ResearchError
from neurath._files import read_user_text
from neurath._names import child, slug
from neurath.research._events import RunStarted
from neurath.testbed._results import RunResults
from neurath.testbed._study import Study


def new_run_id(study: Study) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slug(study.name)}-{secrets.token_hex(2)}"


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
    def seal_file(self) -> Path:
        return self.path / "seal.json"

    @property
    def anchor_file(self) -> Path:
        return self.path / "anchor.json"

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
    def new(cls, runs_dir: str | Path, study: Study, run_id: str | None = None) -> RunFolder:
        """The folder a new run would have under ``runs_dir`` (nothing is written).

        Raises:
            NeurathError: ``run_id`` cannot name a folder (a path, ``..``, odd characters).
        """
        return cls(child(runs_dir, new_run_id(study) if run_id is None else run_id, "run id"))

    def start(self, study: Study) -> None:
        """Make the folder a new run's, holding the study (call it holding :meth:`lock`).

        Raises:
            ResearchError: The folder already holds a run.
        """
        unstarted = {".lock", "study.json", "seal.json", "calibration.json"}
        if any(p.name not in unstarted for p in self.path.iterdir()):
            raise ResearchError(f"{self.path}: a run folder of that name exists (use --resume)")
        # A folder whose run never started (it failed while building or calibrating) is
        # started afresh; its seal, never used, is drawn again.
        self.seal_file.unlink(missing_ok=True)
        self.write_study(study)

    @classmethod
    def find(cls, run: str | Path) -> RunFolder:
        """``run`` as given if it exists, else the run of that id under ``./runs``.

        Raises:
            ResearchError: ``run`` is empty, or neither a folder nor a run id.
        """
        if not str(run).strip():
            raise ResearchError("no run given: name a run folder or a run id")
        path = Path(run)
        if path.exists():
            return cls(path)
        try:
            return cls(child("runs", str(run), "run id"))
        except NeurathError:
            raise ResearchError(f"{run}: no such run folder") from None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one writer: a second command on the same run is refused (the
        lock is the kernel's, so a killed process never leaves it held)."""
        import fcntl

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ResearchError(
                f"{self.path}: cannot make the run folder: {exc.strerror}"
            ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise ResearchError(
                    f"{self.path}: another neurath command is writing this run; wait for it "
                    "to finish (or stop it) and try again"
                ) from None
            yield
        finally:
            os.close(fd)

    def check_resumable(self) -> None:
        """Raises :class:`ResearchError` unless the run started and did not finish."""
        if not self.audit_file.exists():
            raise ResearchError(
                f"{self.path}: no run to resume there (no audit.jsonl: it never started; "
                f"start it again with --run-id {self.id})"
            )
        if self.finished:
            raise ResearchError(f"{self.path}: this run finished; there is nothing to resume")

    def write_study(self, study: Study) -> None:
        self.study_file.write_text(study.model_dump_json(indent=2) + "\n")

    def read_study(self) -> Study:
        """The study the run started with, as its audit log's first entry records it (the
        chain up to it verified). ``study.json`` is a copy for people; one that differs was
        edited, and is refused rather than adopted.

        Raises:
            ResearchError: The log does not open with a study, or study.json differs from it.
        """
        try:
            study = Study.model_validate(self.started().study)
        except ValidationError as exc:
            raise ResearchError(
                f"{self.audit_file}: its first entry is not a neurath study: "
                f"{exc.errors()[0]['msg']}"
            ) from None
        if self.study_file.exists():
            try:
                copy = Study.model_validate_json(_read_small(self.study_file))
            except (ValidationError, OSError):
                copy = None
            if copy != study:
                raise ResearchError(
                    f"{self.study_file} differs from the study this run started with (the audit "
                    "log's first entry): it was edited. Restore it, or start a new run"
                )
        return study

    def started(self) -> RunStarted:
        """The run's first audit entry: what it started as."""
        from neurath.research._audit import first_entry

        if not self.audit_file.exists():
            raise ResearchError(f"{self.path}: no run there (no audit.jsonl)")
        first = first_entry(self.audit_file)
        event = first.event if first is not None else None
        if not isinstance(event, RunStarted):
            raise ResearchError(f"{self.audit_file}: the log does not open with run_started")
        return event

    def write_results(self, results: RunResults) -> None:
        """Write ``results.json`` atomically: its presence marks the run finished."""
        tmp = self.path / "results.json.tmp"
        tmp.write_text(results.model_dump_json(indent=2) + "\n")
        tmp.replace(self.results_file)

    def read_text(self, path: Path) -> str:
        """One of the run's own files (seal, anchor): a regular, small, UTF-8 file only."""
        return _read_small(path)

    def recorded_head(self) -> str | None:
        """The audit head ``results.json`` records (None: no results), read without
        validating the rest of the file."""
        if not self.finished:
            return None
        try:
            data = json.loads(_read_small(self.results_file))
        except OSError as exc:
            raise ResearchError(f"{self.results_file}: cannot read: {exc.strerror}") from None
        except (ValueError, RecursionError):
            raise ResearchError(f"{self.results_file}: not valid JSON") from None
        head = data.get("audit_head") if isinstance(data, dict) else None
        if not isinstance(head, str):
            raise ResearchError(f"{self.results_file}: records no audit head")
        return head

    def read_results(self) -> RunResults:
        if not self.finished:
            raise ResearchError(f"{self.path}: the run has no results (it did not finish)")
        try:
            return RunResults.model_validate_json(_read_small(self.results_file))
        except OSError as exc:
            raise ResearchError(f"{self.results_file}: cannot read: {exc.strerror}") from None
        except ValidationError as exc:
            raise ResearchError(
                f"{self.results_file}: not neurath run results: {exc.errors()[0]['msg']}"
            ) from None


def load_run(run: str | Path) -> tuple[Study, str]:
    """The study and folder of an existing run (to resume it)."""
    folder = RunFolder.find(run)
    folder.check_resumable()
    return folder.read_study(), str(folder.path)


MAX_RUN_FILE = 64 * 2**20
"""The largest study.json or results.json read (a run's own files are far smaller)."""


def _read_small(path: Path) -> str:
    """A run file's text: a regular file under :data:`MAX_RUN_FILE` (nothing else is read)."""
    return read_user_text(path, "run", max_bytes=MAX_RUN_FILE)
