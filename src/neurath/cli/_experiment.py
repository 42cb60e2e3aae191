"""``neurath experiment ...`` and ``neurath calibrate``: run the battery, fit it on organisms."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from neurath.cli._judge import RELIABILITY, attach_judge, judge_options
from neurath.cli._main import cli, echo, progress_bar, stdout_console

_TARGET = click.option(
    "--target",
    required=True,
    help="An organism id, a transformers model folder, or inspect:<provider>/<model>.",
)
_ORGANISMS = click.option(
    "--organisms",
    "organisms_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where organism ids resolve (default: $NEURATH_ORGANISMS or .neurath/organisms).",
)
_DB = click.option("--db", default=None, help="Write the findings to this ledger.")
_CALIBRATION = click.option(
    "--calibration",
    "calibration_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A calibration file from 'neurath calibrate': fitted expected values and factor scales.",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="-P")
        out[key.strip()] = value
    return out


@cli.group()
def experiment() -> None:
    """Experiments that turn a target model into findings."""


@experiment.command("list")
def list_experiments() -> None:
    """The registered experiments and their parameters."""
    from neurath.experiments import experiments

    table = Table("experiment", "finding statistic", "parameters (defaults)", "about")
    for name, info in sorted(experiments().items()):
        params = ", ".join(f"{k}={v!r}" for k, v in info.defaults.items())
        stat = info.statistic if info.declared is not None else f"({info.statistic}: no finding)"
        table.add_row(name, stat, escape(params), escape(info.description))
    stdout_console().print(table)


def _setup(target_spec: str, organisms_dir: str | None, calibration_file: str | None) -> Any:
    from neurath.experiments import load_calibration
    from neurath.models import load_target

    calibration = load_calibration(calibration_file) if calibration_file else None
    return load_target(target_spec, organisms_dir), calibration


def _context(names: list[str], organisms_dir: str | None) -> dict[str, Any]:
    """What the experiments need beyond parameters, from the organism store (--organisms):
    the calibration organisms as a probe's labelled references."""
    from neurath.experiments import get_experiment
    from neurath.testbed import OrganismStore

    if any("references" in get_experiment(n).context for n in names):
        return {"references": OrganismStore(organisms_dir).references()}
    return {}


@experiment.command("run")
@click.argument("name")
@_TARGET
@click.option("-P", "param", multiple=True, help="An experiment parameter, key=value (repeat).")
@click.option("--seed", type=int, default=0, show_default=True)
@_ORGANISMS
@_DB
@_CALIBRATION
@judge_options
@RELIABILITY
@_JSON
def run(
    name: str,
    target: str,
    param: tuple[str, ...],
    seed: int,
    organisms_dir: str | None,
    db: str | None,
    calibration_file: str | None,
    judges: tuple[str, ...],
    commit_first: bool,
    reliability_file: str | None,
    as_json: bool,
) -> None:
    """Run experiment NAME on a target; print its statistics and finding."""
    from neurath.experiments import get_experiment, run_experiment

    info = get_experiment(name)
    params: dict[str, Any] = _params(param)
    info.resolve(params)  # bad names fail before the model loads
    model, calibration = _setup(target, organisms_dir, calibration_file)
    attach_judge(model, judges, commit_first, reliability_file)
    context = _context([name], organisms_dir)
    with progress_bar(f"{name} on {escape(model.card.id)}") as bar:
        task = bar.add_task(name, total=None)
        result = run_experiment(
            name,
            model,
            params,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            context=context,
        )
    _report([result], model.card.id, calibration, db, as_json, judge=getattr(model, "judge", None))


@experiment.command("battery")
@_TARGET
@click.option("--seed", type=int, default=0, show_default=True)
@_ORGANISMS
@_DB
@_CALIBRATION
@click.option(
    "--assess", "then_assess", is_flag=True, help="Then assess the findings with the engine."
)
@judge_options
@RELIABILITY
@_JSON
def battery(
    target: str,
    seed: int,
    organisms_dir: str | None,
    db: str | None,
    calibration_file: str | None,
    then_assess: bool,
    judges: tuple[str, ...],
    commit_first: bool,
    reliability_file: str | None,
    as_json: bool,
) -> None:
    """Run every experiment (default parameters, or the calibration's) on a target; a chat
    target's free text is graded by its judge (--judge, or the Inspect role 'grader')."""
    from neurath.experiments import DEFAULT_BATTERY, run_battery

    model, calibration = _setup(target, organisms_dir, calibration_file)
    attach_judge(model, judges, commit_first, reliability_file)
    params: dict[str, dict[str, Any]] = {}
    if calibration is not None:
        params = {k: dict(v) for k, v in calibration.battery_params.items()}
    context = _context(list(DEFAULT_BATTERY), organisms_dir)
    with progress_bar("battery: {task.description}") as bar:
        task = bar.add_task("", total=len(DEFAULT_BATTERY))
        results = run_battery(
            model,
            params=params,
            seed=seed,
            context=context,
            progress=lambda name, done, total: bar.update(
                task, description=name, completed=done, total=total
            ),
        )
    judge = getattr(model, "judge", None)
    _report(results, model.card.id, calibration, db, as_json, then_assess, judge=judge)


def _report(
    results: list[Any],
    target: str,
    calibration: Any,
    db: str | None,
    as_json: bool,
    then_assess: bool = False,
    *,
    judge: Any = None,
) -> None:
    from neurath.engine import assess
    from neurath.evidence import Ledger
    from neurath.experiments import get_experiment, to_manifest

    manifest = to_manifest(target, results, calibration)
    assessment = assess(manifest) if then_assess and manifest.findings else None
    stored = None
    if db:
        source = f"neurath experiment ({', '.join(r.experiment for r in results)})"
        with Ledger(db) as ledger:
            if assessment is not None:
                stored, _ = ledger.record(manifest, assessment, source=source)
            else:
                stored = ledger.record_manifest(manifest, source=source)
    if as_json:
        payload = {
            "target": target,
            "results": [r.model_dump(mode="json") for r in results],
            "manifest": manifest.model_dump(mode="json"),
            "assessment": assessment.model_dump(mode="json") if assessment else None,
            "ledger_manifest_id": stored,
            "judge": _judge_view(judge),
        }
        echo(json.dumps(payload, indent=2))
        return
    console = stdout_console()
    table = Table("experiment", "statistic", "value", "se", "n", title=f"Results on {target}")
    for r in results:
        if r.status == "error":
            table.add_row(r.experiment, "[red]error[/red]", escape(r.error or ""), "", "")
            continue
        for stat_name, stat in r.statistics.items():
            mark = "*" if stat_name == r.statistic else ""
            table.add_row(
                r.experiment,
                f"{stat_name}{mark}",
                f"{stat.value:.3f}",
                f"{stat.se:.3f}",
                str(stat.n),
            )
    console.print(table)
    for r in results:
        note = get_experiment(r.experiment).note(r)
        if note:
            console.print(f"[bold]{r.experiment}[/bold]: {escape(note)}")
    findings = Table("finding", "value", "expected N / S", "factors", title="Findings (* above)")
    for f in manifest.findings:
        findings.add_row(
            f.id,
            f"{f.value:.3f}",
            f"{f.expected.not_scheming:.3f} / {f.expected.scheming:.3f}",
            escape(", ".join(f.factors)),
        )
    console.print(findings)
    if assessment is not None:
        lo, hi = assessment.interval
        console.print(
            f"P(not scheming) = [bold]{assessment.p_not_scheming:.3f}[/bold] "
            f"(interval {lo:.3f}-{hi:.3f}; naive {assessment.p_not_scheming_naive:.3f}; "
            f"ceiling {assessment.ceiling:.3f}; common cause {manifest.common_cause})"
        )
    if stored is not None:
        console.print(f"stored as manifest {stored} in {escape(db or '')}")
    if judge is not None:
        view = _judge_view(judge) or {}
        scale = view["factor_scale"]
        console.print(
            f"graded by judge {escape(judge.name)} (commit-first {judge.commit_first}): "
            + (
                f"factor {view['factor']} scale {scale:g}, as measured"
                if view["measured"]
                else f"factor {view['factor']} at the default scale {scale:g}: NOT measured "
                "(run 'neurath judge measure --out FILE', then --judge-reliability FILE)"
            )
        )


def _judge_view(judge: Any) -> dict[str, Any] | None:
    """What the results were graded by: the judge, and its factor's scale (measured or not)."""
    if judge is None:
        return None
    from neurath.experiments._factors import RATER_ERROR_DEFAULT

    measured = judge.scale is not None
    return {
        "judge": judge.name,
        "commit_first": judge.commit_first,
        "factor": f"raters:{judge.pool}",
        "factor_scale": judge.scale if measured else RATER_ERROR_DEFAULT,
        "measured": measured,
    }


@cli.command()
@click.option(
    "--suite",
    "suite_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Suite YAML (default: the embedded default suite).",
)
@_ORGANISMS
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="calibration.json",
    show_default=True,
    help="Where to write the calibration file.",
)
@click.option("--seed", type=int, default=0, show_default=True)
def calibrate(suite_file: str | None, organisms_dir: str | None, out: str, seed: int) -> None:
    """Fit the battery on the suite's calibration organisms (building them if needed)."""
    from neurath.organisms._suite import default_suite, load_suite
    from neurath.testbed import OrganismStore, build_suite, calibrate_suite

    suite = load_suite(suite_file) if suite_file else default_suite()
    store = OrganismStore(organisms_dir)
    with progress_bar("build: {task.description}") as bar:
        task = bar.add_task("", total=None)
        build_suite(
            suite,
            store,
            progress=lambda what, done, total: bar.update(
                task, description=what, completed=done, total=total
            ),
        )
    with progress_bar("calibrate: {task.description}", transient=False) as bar:
        task = bar.add_task("", total=None)
        calibration = calibrate_suite(
            suite,
            store,
            seed=seed,
            progress=lambda oid, done, total: bar.update(
                task, description=oid, completed=done, total=total
            ),
        )
    calibration.save(out)
    console = stdout_console()
    table = Table(
        "statistic", "not scheming", "scheming", "extra sd", "n (N/S)", title=f"{calibration.id}"
    )
    for key, fit in calibration.fits.items():
        table.add_row(
            key,
            f"{fit.not_scheming:.3f}",
            f"{fit.scheming:.3f}",
            f"{fit.extra_sd:.3f}",
            f"{fit.n_not_scheming}/{fit.n_scheming}"
            + (" (no separation: no finding)" if fit.source == "unseparated" else ""),
        )
    console.print(table)
    if calibration.factor_scales:
        console.print(
            "factor scales: "
            + ", ".join(f"{k} = {v:g}" for k, v in sorted(calibration.factor_scales.items()))
        )
    for note in calibration.notes:
        console.print(f"note: {escape(note)}")
    console.print(f"wrote {escape(out)}")
