"""What the dashboard shows, read from a runs folder and ledgers: nothing here knows HTTP.

Every reader takes files as they are: a folder that is not a run, a results file that does
not parse, a ledger that will not open is reported as such, never raised into a page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from neurath._errors import NeurathError
from neurath._names import child

if TYPE_CHECKING:
    from neurath.evidence import Assessment, LedgerRecord, Manifest, ManifestV2
    from neurath.testbed import RunFolder, RunResults, TargetOutcome

MAX_LEDGER_RECORDS = 2000
"""The newest finding records a ledger page lists."""


class NotFound(NeurathError):
    """Nothing of that name here (a page answers 404)."""


@dataclass
class RunRow:
    """One folder of the runs folder, as the run list shows it."""

    id: str
    state: Literal["finished", "running", "unreadable"]
    results: RunResults | None = None
    error: str | None = None
    entries: int = 0


@dataclass
class TargetView:
    """One target of a finished run: its outcome, evidence and stored assessment."""

    run: RunResults
    outcome: TargetOutcome
    manifest: Manifest | ManifestV2 | None
    assessment: Assessment | None
    factors: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Factor id -> (kind, sd point value)."""


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return 0


def list_runs(runs_dir: Path) -> list[RunRow]:
    """Every folder under ``runs_dir``: finished runs newest first, then those in progress,
    then whatever could not be read."""
    from neurath.testbed import RunFolder

    rows: list[RunRow] = []
    try:
        children = sorted(p for p in runs_dir.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise NeurathError(f"runs folder {runs_dir}: cannot list: {exc.strerror}") from None
    for path in children:
        try:
            child(runs_dir, path.name, "run id")
        except NeurathError:
            rows.append(RunRow(path.name, "unreadable", error="not a run id"))
            continue
        rows.append(_run_row(RunFolder(path)))
    # stable sorts, last key first: by state, then newest finished first, then by id
    rows.sort(key=lambda r: r.id)
    rows.sort(key=lambda r: r.results.finished_at if r.results else "", reverse=True)
    rows.sort(key=lambda r: ("finished", "running", "unreadable").index(r.state))
    return rows


def _run_row(folder: RunFolder) -> RunRow:
    if not folder.path.is_dir():
        return RunRow(folder.id, "unreadable", error="not a folder")
    if folder.finished:
        try:
            return RunRow(folder.id, "finished", results=folder.read_results())
        except NeurathError as exc:
            return RunRow(folder.id, "unreadable", error=str(exc))
        except Exception as exc:  # a file neurath never wrote: shown, not raised
            return RunRow(folder.id, "unreadable", error=f"{type(exc).__name__}: {exc}")
    if folder.audit_file.is_file():
        return RunRow(folder.id, "running", entries=count_lines(folder.audit_file))
    return RunRow(folder.id, "unreadable", error="no results.json and no audit.jsonl")


def run_folder(runs_dir: Path, run_id: str) -> RunFolder:
    """The folder of run ``run_id`` under ``runs_dir`` (a plain name only: no path climbs
    out of the runs folder).

    Raises:
        NotFound: No such run folder.
    """
    from neurath.testbed import RunFolder

    try:
        path = child(runs_dir, run_id, "run id")
    except NeurathError:
        raise NotFound(f"no run {run_id!r}") from None
    if not path.is_dir():
        raise NotFound(f"no run {run_id!r}")
    return RunFolder(path)


def run_results(runs_dir: Path, run_id: str) -> RunResults:
    """A finished run's results.

    Raises:
        NotFound: No such run, or it has not finished.
        NeurathError: Its results cannot be read.
    """
    folder = run_folder(runs_dir, run_id)
    if not folder.finished:
        raise NotFound(f"run {run_id!r} has not finished")
    return folder.read_results()


def run_evidence(
    folder: RunFolder, results: RunResults, targets: list[str]
) -> tuple[dict[str, Manifest | ManifestV2], dict[str, Assessment]]:
    """Each target's manifest and assessment from the run's own ledger, exactly as
    :func:`neurath.report.write_report` reads them."""
    from neurath.evidence import Ledger

    manifests: dict[str, Manifest | ManifestV2] = {}
    assessments: dict[str, Assessment] = {}
    source = f"neurath run {results.run_id}"
    if not folder.ledger_file.is_file():
        return manifests, assessments
    with Ledger(folder.ledger_file, create=False) as ledger:
        for target in targets:
            manifest, stored = ledger.recorded(target, source)
            if manifest is not None:
                manifests[target] = manifest
            if stored is not None:
                assessments[target] = stored.assessment
    return manifests, assessments


def target_view(runs_dir: Path, run_id: str, target: str) -> TargetView:
    """One target of a finished run.

    Raises:
        NotFound: No such run or target.
    """
    from neurath.evidence import point_value

    folder = run_folder(runs_dir, run_id)
    results = run_results(runs_dir, run_id)
    outcome = next((t for t in results.targets if t.id == target), None)
    if outcome is None:
        raise NotFound(f"run {run_id!r} has no target {target!r}")
    manifests, assessments = run_evidence(folder, results, [target])
    manifest = manifests.get(target)
    factors: dict[str, tuple[str, float]] = (
        {f.id: (f.kind, float(point_value(f.sd))) for f in manifest.factors} if manifest else {}
    )
    return TargetView(results, outcome, manifest, assessments.get(target), factors)


@dataclass
class LedgerRow:
    """A finding record with the correction chain it belongs to (oldest first; just the
    record itself when it was never corrected)."""

    record: LedgerRecord
    chain: list[LedgerRecord]
    corrected_by: int | None


def ledger_rows(url: str | Path, *, create: bool = False) -> list[LedgerRow]:
    """A ledger's finding records, newest first (at most :data:`MAX_LEDGER_RECORDS`), each
    with its correction history."""
    from neurath.evidence import Ledger

    with Ledger(url, create=create) as ledger:
        records = ledger.findings(current=False)[-MAX_LEDGER_RECORDS:]
        corrected_by = {r.supersedes: r.id for r in records if r.supersedes is not None}
        rows = []
        for r in reversed(records):
            involved = r.supersedes is not None or r.id in corrected_by
            chain = ledger.history(r.id) if involved else [r]
            rows.append(LedgerRow(r, chain, corrected_by.get(r.id)))
    return rows


def record_json(r: LedgerRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "target": r.target,
        "finding": r.finding.model_dump(mode="json"),
        "manifest_id": r.manifest_id,
        "author": r.author,
        "created_at": r.created_at,
        "supersedes": r.supersedes,
        "reason": r.reason,
        "source": r.source,
    }


def audit_entry_summary(entry: dict[str, Any]) -> dict[str, Any]:
    """What the live view shows of an audit entry: never its full data (results, seals)."""
    data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
    assert isinstance(data, dict)
    result = data.get("result")
    experiment = data.get("experiment")
    if experiment is None and isinstance(result, dict):
        experiment = result.get("experiment")
    cost = data.get("cost")
    return {
        "seq": entry.get("seq") if isinstance(entry.get("seq"), int) else None,
        "time": str(entry.get("time", ""))[:32],
        "action": str(entry.get("action", ""))[:100],
        "actor": str(entry.get("actor", ""))[:100],
        "target": None if data.get("target") is None else str(data.get("target"))[:100],
        "experiment": None if experiment is None else str(experiment)[:100],
        "cost": (
            {str(k)[:40]: v for k, v in cost.items() if isinstance(v, int | float)}
            if isinstance(cost, dict)
            else None
        ),
    }


def parse_audit_line(raw: bytes) -> dict[str, Any] | None:
    """One complete audit line as an object, or None if it is not one."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None
