"""``neurath run [STUDY]``: the whole pipeline, blind on organisms, scored against their truth."""

from __future__ import annotations

import signal
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.progress import TaskID
from rich.table import Table

from neurath.cli._main import cli, echo, progress_bar, stdout_console

if TYPE_CHECKING:
    from neurath.testbed import RunResults, Study

_STAGES = {
    "build": "build organisms",
    "calibrate": "calibrate",
    "research": "research (queries)",
    "assess": "assess targets",
}


@cli.command()
@click.argument("study_file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--resume", "resume", default=None, help="Continue an interrupted run (its id or folder)."
)
@click.option(
    "--organisms",
    "organisms_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the suite is built (default: $NEURATH_ORGANISMS or .neurath/organisms).",
)
@click.option("--runs", "runs_dir", default="runs", show_default=True, help="Where run folders go.")
@click.option("--controller", default=None, help="Override the study's controller.")
@click.option(
    "--budget",
    type=click.IntRange(0, 10**12),
    default=None,
    help="Override the study's query budget.",
)
@click.option("--run-id", default=None, help="Name the run folder (default: time-stamped).")
@click.option(
    "--anchor",
    "anchor_ledger",
    default=None,
    help="Ledger outside the run folder where the finished run is anchored "
    "(default: $NEURATH_LEDGER or .neurath/ledger.db).",
)
@click.option("--no-anchor", is_flag=True, help="Do not anchor the run in a ledger.")
@click.option(
    "--signing-key",
    default=None,
    type=click.Path(dir_okay=False),
    help="File with a secret to sign the run's anchor (default: $NEURATH_SIGNING_KEY).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Build organisms and run experiments as Ray tasks: on a local cluster of this "
    "machine's cores, or (--ray=ADDRESS) on a running cluster. Same results; this process "
    "writes the run. Needs neurath[ray].",
)
def run(
    study_file: str | None,
    resume: str | None,
    organisms_dir: str | None,
    runs_dir: str,
    controller: str | None,
    budget: int | None,
    run_id: str | None,
    anchor_ledger: str | None,
    no_anchor: bool,
    signing_key: str | None,
    ray_address: str | None,
) -> None:
    """Run STUDY (default: the embedded default study) and score it against ground truth.

    Builds or reuses the suite's organisms, calibrates on the calibration group, lets the
    controller research the test group blind under its budget, assesses every target, then
    unseals the ground truth and scores the assessments. Writes runs/<id>/ with report.html,
    results.json, the ledger and the audit log.
    """
    from neurath.report import write_report
    from neurath.testbed import RunFolder, default_study, load_run, load_study
    from neurath.testbed._verify import home_ledger, read_signing_key

    if study_file is None and ray_address and Path(ray_address).is_file():
        # `--ray study.yaml`: the option's value is optional, so it took the study.
        study_file, ray_address = ray_address, ""
    key = read_signing_key(signing_key)
    anchor = None if no_anchor else (anchor_ledger or home_ledger())
    if resume is not None:
        if study_file:
            raise click.UsageError("give either STUDY or --resume RUN, not both")
        study, folder = load_run(resume)
        runs_dir, run_id = str(Path(folder).parent), Path(folder).name
    else:
        study = load_study(study_file) if study_file else default_study()
    updates: dict[str, Any] = {}
    if controller:
        updates["controller"] = controller
        updates["controller_options"] = {}
    if budget is not None:
        updates["budget"] = study.budget.model_copy(update={"queries": budget})
    if updates and resume is not None:
        raise click.UsageError(
            "a resumed run keeps its study; --controller and --budget do not apply"
        )
    if updates:
        study = study.model_validate({**study.model_dump(), **updates})
    if resume is None:
        # Named now (and checked), so an interrupt can say which run to resume.
        run_id = RunFolder.new(runs_dir, study, run_id).id
    pool = None
    if ray_address is not None:
        from neurath._ray import RayPool

        pool = RayPool(ray_address or None)
    # A kill (SIGTERM) stops like Ctrl-C: the audit log is flushed entry by entry already.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        results = _run(study, runs_dir, organisms_dir, run_id, resume, anchor, key, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    report = write_report(Path(runs_dir) / results.run_id)
    _summary(results, report)


def _run(
    study: Study,
    runs_dir: str,
    organisms_dir: str | None,
    run_id: str | None,
    resume: str | None,
    anchor: str | None,
    key: bytes | None,
    pool: Executor | None,
) -> RunResults:
    """The study under a progress bar; an interrupt says how to resume it."""
    from neurath.testbed import run_study

    with progress_bar("{task.description}", transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int | None, total: int | None, what: str) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
            label = _STAGES.get(stage, stage) + (f": {escape(what)}" if what else "")
            bar.update(tasks[stage], completed=done or 0, total=total, description=label)

        try:
            results = run_study(
                study,
                runs_dir=runs_dir,
                organisms_dir=organisms_dir,
                run_id=run_id,
                resume=resume is not None,
                progress=update,
                anchor_ledger=anchor,
                signing_key=key,
                pool=pool,
            )
        except KeyboardInterrupt:
            bar.stop()
            echo(
                "neurath: interrupted; continue with: neurath run --resume "
                f"{Path(runs_dir) / str(run_id)}",
                err=True,
            )
            raise SystemExit(130) from None
    return results


def _summary(results: Any, report: Path) -> None:
    console = stdout_console()
    m = results.metrics
    table = Table(
        "metric",
        "correlated engine",
        "naive aggregator",
        title=f"Study {results.study.name!r}: {len(results.targets)} targets, "
        f"controller {results.controller} (level {results.automation_level})",
    )

    def f(x: float, d: int = 3) -> str:
        return "n/a" if x != x else f"{x:.{d}f}"

    c, n = m["correlated"], m["naive"]
    table.add_row("Brier", f(c.brier), f(n.brier))
    table.add_row("log loss", f(c.log_loss), f(n.log_loss))
    table.add_row(
        "calibration slope (Firth)",
        _slope(c),
        _slope(n),
    )
    table.add_row(
        "ECE [95%]",
        f"{f(c.ece)} [{f(c.ece_interval[0])}, {f(c.ece_interval[1])}]",
        f"{f(n.ece)} [{f(n.ece_interval[0])}, {f(n.ece_interval[1])}]",
    )
    table.add_row("AUROC", f(c.auroc), f(n.auroc))
    table.add_row("false reassurances", str(c.false_reassurances), str(n.false_reassurances))
    table.add_row("reassurance rate", f(c.reassurance_rate, 2), f(n.reassurance_rate, 2))
    console.print(table)
    targets = Table("target", "P(not scheming)", "naive", "findings", "organism", "scheming")
    for t in sorted(results.targets, key=lambda t: t.id):
        targets.add_row(
            t.id,
            f(t.p_not_scheming),
            f(t.p_not_scheming_naive),
            str(t.n_findings),
            escape(str(t.organism)),
            "yes" if t.scheming else "no",
        )
    console.print(targets)
    console.print(
        f"common cause c = {results.common_cause:.4f}, assurance ceiling {results.ceiling:.4f}; "
        f"spent {results.spent['queries']:,} queries in {results.elapsed_s:.0f} s"
    )
    console.print(f"report: {escape(str(report))}")


def _slope(m: Any) -> str:
    from neurath.report._html import slope_text

    return slope_text(m)
