"""``run_study``: the stages in order, in one run folder."""

from __future__ import annotations

import time
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path

from neurath._errors import ResearchError
from neurath.evidence import Ledger, ledger_exists
from neurath.testbed._results import RunResults
from neurath.testbed._run import RunFolder
from neurath.testbed._stages import (
    Calibrated,
    Researched,
    Scored,
    StudyProgress,
    _quiet,
    assess,
    build,
    calibrate,
    research,
    seal,
    unseal_and_score,
)
from neurath.testbed._store import OrganismStore
from neurath.testbed._study import Study
from neurath.testbed._verify import anchor_run


def run_study(
    study: Study,
    *,
    runs_dir: str | Path = "runs",
    organisms_dir: str | Path | None = None,
    run_id: str | None = None,
    resume: bool = False,
    progress: StudyProgress | None = None,
    anchor_ledger: str | Path | None = None,
    signing_key: bytes | None = None,
    pool: Executor | None = None,
) -> RunResults:
    """Run (or, with ``resume``, continue) a study and write its run folder.

    The report is not written here: :func:`neurath.report.write_report` makes it from the
    finished run folder. The folder is locked while this runs: a second ``run_study`` on it
    (a concurrent resume) is refused.

    Args:
        study: What to run. A resumed run must be given the study its audit log started
            with (:func:`neurath.testbed.load_run` reads it from there).
        runs_dir: Where run folders go.
        organisms_dir: The organism store the suite is built in (default:
            ``$NEURATH_ORGANISMS`` or ``.neurath/organisms``).
        run_id: The run's folder name (default: a new time-stamped id).
        resume: Continue the run ``run_id``: finished actions are read back from its audit
            log and not redone, and findings already in its ledger are not recorded again.
        anchor_ledger: A ledger outside the run folder where the finished run's head and
            results hash are recorded (None: none).
        signing_key: A secret to sign the run's anchor with (None: unsigned).
        pool: Where organism builds and experiments compute (a Ray cluster's
            :class:`neurath._ray.RayPool`; None: here and in a process pool). The results
            are the same; this process alone writes the run folder. Left running.
    """
    if resume:
        if not run_id:
            raise ResearchError("resume needs the run's id")
        run = RunFolder.find(Path(runs_dir) / run_id)
    else:
        run = RunFolder.new(runs_dir, study, run_id)
        _check_new(run, study, organisms_dir, anchor_ledger)
    with run.lock():
        results = _run_locked(study, run, organisms_dir, resume, progress or _quiet, pool)
        anchor_run(run, results, ledger=anchor_ledger, key=signing_key)
    return results


def _check_new(
    run: RunFolder,
    study: Study,
    organisms_dir: str | Path | None,
    anchor_ledger: str | Path | None,
) -> None:
    """What can be known wrong before minutes of building: the controller and its options,
    the organism store's folder, and a run id the anchor ledger already holds."""
    from neurath.research._controllers import make_controller

    make_controller(study.controller, study.controller_options)
    root = OrganismStore(organisms_dir).root
    if root.exists() and not root.is_dir():
        raise ResearchError(f"{root}: the organism store must be a folder")
    if anchor_ledger is not None and ledger_exists(anchor_ledger):
        with Ledger(anchor_ledger, create=False) as ledger:
            if ledger.anchors(run_id=run.id):
                raise ResearchError(
                    f"run id {run.id!r} is already anchored in {anchor_ledger}: choose another"
                )


def _run_locked(
    study: Study,
    run: RunFolder,
    organisms_dir: str | Path | None,
    resume: bool,
    say: StudyProgress,
    pool: Executor | None = None,
) -> RunResults:
    start = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = None
    if resume:
        run.check_resumable()
        if run.read_study() != study:
            raise ResearchError(
                f"{run.path}: a resumed run keeps the study its audit log started with"
            )
        started = run.started()
        organisms_dir = organisms_dir or started.organisms
    else:
        run.start(study)
    built = build(study, OrganismStore(organisms_dir), say, pool)
    calibrated = calibrate(study, built, say)
    if started is not None and started.calibration != calibrated.calibration.id:
        raise ResearchError(
            f"{run.path}: the run was calibrated with {started.calibration}, but the organisms "
            f"in {built.store.root} give {calibrated.calibration.id}: resume it with the "
            "organism store it started with (--organisms)"
        )
    calibrated.calibration.save(run.calibration_file)
    sealed = seal(study, built, run)
    if started is not None and started.seal_sha256 not in (None, sealed.digest):
        raise ResearchError(f"{run.seal_file}: not the seal this run started with (edited)")
    # Research and assessment need nothing from the cards area: it is closed while they run.
    with (
        built.store.cards_closed(),
        Ledger(run.ledger_file, author=f"neurath run ({study.controller})") as ledger,
    ):
        researched = research(
            study, run, built, calibrated, sealed, ledger, resume=resume, say=say, pool=pool
        )
        assessed = assess(study, researched, ledger, say)
    scored = unseal_and_score(study, built, sealed, assessed, researched.env.audit)
    results = _results(run, study, calibrated, researched, scored, started_at, start)
    run.write_results(results)  # last: its presence marks the run finished
    return results


def _results(
    run: RunFolder,
    study: Study,
    calibrated: Calibrated,
    researched: Researched,
    scored: Scored,
    started_at: str,
    start: float,
) -> RunResults:
    from neurath.engine import assurance_ceiling

    env = researched.env
    return RunResults(
        run_id=run.id,
        study=study,
        controller=study.controller,
        automation_level=researched.controller.automation_level,
        calibration=calibrated.calibration.id,
        common_cause=calibrated.common_cause,
        ceiling=assurance_ceiling(study.prior_not_scheming, calibrated.common_cause),
        spent=env.spent.as_dict(),
        budget=study.budget,
        metrics=scored.metrics,
        targets=scored.outcomes,
        audit_head=env.audit.head,
        audit_entries=len(env.audit),
        started_at=started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        elapsed_s=round(time.perf_counter() - start, 2),
    )
