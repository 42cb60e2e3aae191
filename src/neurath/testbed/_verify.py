"""Checking a finished run against its own audit log, and against an anchor outside its folder.

A hash chain shows that no entry was changed without recomputing every hash after it; it
cannot show that someone with write access to the run folder did not recompute them all. Two
anchors close that gap:

- the **ledger anchor**: when a run finishes, its log's head, length and the hash of its
  ``results.json`` are recorded in a ledger outside the run folder (``$NEURATH_LEDGER`` or
  ``.neurath/ledger.db``), itself hash-chained (``neurath ledger verify``);
- an optional **signature**: with a signing key (``$NEURATH_SIGNING_KEY`` names its file), the
  same record is signed (HMAC-SHA256) into ``anchor.json``; without the key it cannot be
  forged.

:func:`verify_run` checks the chain, that ``results.json`` says what the log says (each
target's probabilities, its truth, the study, and the metrics recomputed from them), and every
anchor it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from neurath._errors import AuditError, NeurathError
from neurath.research._audit import AuditEntry, AuditLog, verify_audit
from neurath.testbed._results import Metrics, RunResults, score
from neurath.testbed._run import RunFolder
from neurath.testbed._study import Study

MAX_KEY_BYTES = 4096


def home_ledger() -> str:
    """Where finished runs are anchored: ``$NEURATH_LEDGER`` (a file or a
    ``postgresql://`` URL: a team's shared ledger), else ``.neurath/ledger.db``."""
    return os.environ.get("NEURATH_LEDGER") or ".neurath/ledger.db"


def read_signing_key(path: str | Path | None = None) -> bytes | None:
    """The secret in a key file (its bytes, surrounding whitespace removed): the file ``path``,
    else the one ``$NEURATH_SIGNING_KEY`` names, else None (no key).

    Raises:
        NeurathError: The file is missing, not a regular file, empty or too large.
    """
    path = path or os.environ.get("NEURATH_SIGNING_KEY") or None
    if path is None:
        return None
    file = Path(path)
    try:
        if not file.is_file():  # is_file follows links and is False for pipes and devices
            raise NeurathError(f"signing key {file}: not a regular file")
        data = file.read_bytes()[: MAX_KEY_BYTES + 1].strip()
    except OSError as exc:
        raise NeurathError(f"signing key {file}: cannot read: {exc.strerror}") from None
    if not 16 <= len(data) <= MAX_KEY_BYTES:
        raise NeurathError(f"signing key {file}: use 16 to {MAX_KEY_BYTES} bytes of secret")
    return data


class Anchor(BaseModel):
    """``anchor.json``: what a finished run commits to, and (with a key) its signature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    audit_head: str
    audit_entries: int
    results_sha256: str
    signature: str | None = None
    """HMAC-SHA256 of the fields above with the run's signing key."""

    def payload(self) -> bytes:
        body = self.model_dump(exclude={"signature"})
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: bytes) -> Anchor:
        mac = hmac.new(key, self.payload(), hashlib.sha256).hexdigest()
        return self.model_copy(update={"signature": mac})

    def signature_holds(self, key: bytes) -> bool:
        if self.signature is None:
            return False
        return hmac.compare_digest(self.signed(key).signature or "", self.signature)


def anchor_run(
    run: RunFolder, results: RunResults, *, ledger: str | Path | None, key: bytes | None
) -> Anchor:
    """Write the run's ``anchor.json`` (signed with ``key``) and record it in ``ledger``."""
    from neurath.evidence import Ledger, prepare_location

    anchor = Anchor(
        run_id=run.id,
        audit_head=results.audit_head,
        audit_entries=results.audit_entries,
        results_sha256=_sha256(run.results_file),
    )
    if key is not None:
        anchor = anchor.signed(key)
    run.anchor_file.write_text(anchor.model_dump_json(indent=2) + "\n")
    if ledger is not None:
        prepare_location(ledger)
        with Ledger(ledger, author="neurath run") as store:
            store.record_anchor(
                run.id,
                anchor.audit_head,
                anchor.audit_entries,
                anchor.results_sha256,
                signature=anchor.signature,
            )
    return anchor


class RunCheck(NamedTuple):
    """What :func:`verify_run` checked (it raises on the first thing that does not hold)."""

    entries: int
    head: str
    results: int | None
    """Targets whose results were checked against the log (None: no results.json)."""
    anchors: list[str]
    """Each anchor that held, in words."""
    unanchored: bool
    """No anchor outside the folder covers this run: a rewritten chain would pass."""


def verify_run(
    run: RunFolder, *, ledger: str | Path | None = None, key: bytes | None = None
) -> RunCheck:
    """Check a run folder's log, its results against the log, and its anchors.

    Args:
        run: The run folder.
        ledger: A ledger holding run anchors (None: do not look for one).
        key: The signing key the run was signed with (None: signatures are not checked).

    Raises:
        AuditError: The first thing that does not hold.
    """
    from neurath.evidence import ledger_exists

    # The chain first, against the head results.json records (read loosely): a broken chain
    # is named as such even where results.json is broken too.
    report = verify_audit(run.audit_file, head=run.recorded_head())
    anchors: list[str] = []
    if not run.finished:
        _check_not_anchored(run, ledger)
        return RunCheck(report.entries, report.head, None, anchors, True)
    results = run.read_results()
    entries = AuditLog(run.audit_file).entries()
    _check_results(run, results, entries)
    digest = _sha256(run.results_file)
    if ledger is not None and ledger_exists(ledger):
        anchors += _check_ledger_anchor(run, results, digest, ledger)
    _check_run_files(run, entries)
    anchors += _check_file_anchor(run, results, digest, key)
    unanchored = not any(a.startswith(("ledger", "signature")) for a in anchors)
    return RunCheck(report.entries, report.head, len(results.targets), anchors, unanchored)


def _check_results(run: RunFolder, results: RunResults, entries: list[AuditEntry]) -> None:
    where = run.results_file
    if results.audit_entries != len(entries):
        raise AuditError(
            f"{where}: records {results.audit_entries} audit entries, the log holds {len(entries)}"
        )
    by_action = {e.action: e.data for e in entries}
    started = by_action.get("run_started", {})
    if Study.model_validate(started.get("study", {})) != results.study:
        raise AuditError(f"{where}: its study is not the one the log started with")
    for name in ("calibration", "controller"):
        if started.get(name) != getattr(results, name):
            raise AuditError(f"{where}: its {name} is not the one the log started with")
    assessed = by_action.get("assessed", {}).get("targets", {})
    unsealed = by_action.get("unsealed", {}).get("targets", {})
    if sorted(assessed) != sorted(t.id for t in results.targets):
        raise AuditError(f"{where}: its targets are not the ones the log assessed")
    for t in results.targets:
        logged, truth = assessed[t.id], unsealed.get(t.id, {})
        said = {"p": t.p_not_scheming, "p_naive": t.p_not_scheming_naive}
        if not _same(said, logged):
            raise AuditError(
                f"{where}: target {t.id}'s probabilities differ from the log's assessment"
            )
        if truth.get("organism") != t.organism or truth.get("scheming") != t.scheming:
            raise AuditError(f"{where}: target {t.id}'s ground truth differs from the log's")
        if "archetype" in truth and truth["archetype"] != t.archetype:
            raise AuditError(f"{where}: target {t.id}'s archetype differs from the log's")
    _check_metrics(where, results)


_ADDED_LATER = ("calibration_slope_interval",)
"""Metrics fields that runs written before them do not have (all optional)."""


def _check_metrics(where: Path, results: RunResults) -> None:
    """Recompute the scores from the (now checked) targets: edited metrics are caught."""
    truth = [bool(t.scheming) for t in results.targets]
    groups = [str(t.archetype) for t in results.targets]
    seed = results.study.seed
    recomputed: dict[str, Metrics] = {
        "correlated": score([t.p_not_scheming for t in results.targets], truth, groups, seed),
        "naive": score([t.p_not_scheming_naive for t in results.targets], truth, groups, seed),
    }
    for name, metrics in recomputed.items():
        stored = results.metrics.get(name)
        # A run written before a metric was added lacks it: that is its age, not an edit.
        newer = set(_ADDED_LATER) - (stored.model_fields_set if stored else set())
        if stored is None or not _same(
            metrics.model_dump(exclude=newer), stored.model_dump(exclude=newer)
        ):
            raise AuditError(
                f"{where}: its {name} metrics are not what its targets score (edited?)"
            )


def _check_run_files(run: RunFolder, entries: list[AuditEntry]) -> None:
    """The folder's other files against the log's first entry: the study copy, the seal and
    the calibration; and the run's ledger against its own chain."""
    from neurath.evidence import verify_ledger
    from neurath.experiments._calibrate import load_calibration
    from neurath.testbed._stages import read_seal

    started = entries[0].data if entries else {}
    run.read_study()  # the study copy against the log's first entry
    seal_sha256 = started.get("seal_sha256")
    if seal_sha256 is not None and read_seal(run).digest != seal_sha256:
        raise AuditError(f"{run.seal_file}: not the seal the log started with (edited)")
    calibration = run.calibration_file
    if calibration.exists() and load_calibration(calibration).id != started.get("calibration"):
        raise AuditError(f"{run.calibration_file}: not the calibration the log names")
    if run.ledger_file.exists():
        verify_ledger(run.ledger_file)


def _check_not_anchored(run: RunFolder, ledger: str | Path | None) -> None:
    """A run without results.json must not be one the ledger saw finish (a cut-off log whose
    results were deleted would otherwise read as an unfinished run)."""
    from neurath.evidence import Ledger, ledger_exists

    if ledger is None or not ledger_exists(ledger):
        return
    with Ledger(ledger, create=False, migrate=False) as store:
        anchors = store.anchors(run_id=run.id)
    if anchors:
        raise AuditError(
            f"{run.path}: the ledger {ledger} anchored this run as finished (head "
            f"{anchors[-1].audit_head[:12]}, {anchors[-1].audit_entries} entries), but its "
            "results.json is gone: the run folder was cut back"
        )


def _check_ledger_anchor(
    run: RunFolder, results: RunResults, digest: str, ledger: str | Path
) -> list[str]:
    from neurath.evidence import Ledger

    with Ledger(ledger, create=False, migrate=False) as store:
        store.verify()
        anchors = store.anchors(run_id=run.id)
    if not anchors:
        return []
    kinds = {(a.audit_head, a.audit_entries, a.results_sha256) for a in anchors}
    if len(kinds) > 1:
        raise AuditError(
            f"{run.path}: the ledger {ledger} holds {len(kinds)} different anchors of run "
            f"{run.id!r}: one was added later (a forged anchor), or another run took its id"
        )
    last = anchors[-1]
    if last.audit_head != results.audit_head or last.audit_entries != results.audit_entries:
        raise AuditError(
            f"{run.audit_file}: the ledger {ledger} anchored this run at head "
            f"{last.audit_head[:12]} ({last.audit_entries} entries), but the log ends at "
            f"{results.audit_head[:12]} ({results.audit_entries}): the log was rewritten"
        )
    if last.results_sha256 != digest:
        raise AuditError(
            f"{run.results_file}: not the results the ledger {ledger} anchored: it was edited"
        )
    return [f"ledger {ledger} anchors this head and these results"]


def _check_file_anchor(
    run: RunFolder, results: RunResults, digest: str, key: bytes | None
) -> list[str]:
    if not run.anchor_file.exists():
        if key is not None:
            raise AuditError(f"{run.path}: no anchor.json, so no signature to check")
        return []
    try:
        anchor = Anchor.model_validate_json(run.read_text(run.anchor_file))
    except (ValueError, NeurathError) as exc:
        raise AuditError(f"{run.anchor_file}: not a run anchor: {exc}") from None
    if (anchor.audit_head, anchor.results_sha256) != (results.audit_head, digest):
        raise AuditError(f"{run.anchor_file}: does not match the log's head and results")
    if key is None:
        return ["anchor.json matches (unsigned, or no key given to check it)"]
    if not anchor.signature_holds(key):
        raise AuditError(
            f"{run.anchor_file}: its signature does not hold with this key: the run was "
            "rewritten, or signed with another key"
        )
    return ["signature on anchor.json holds"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 (NaN equal to NaN), tuples as lists."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
