"""``neurath bench``: the calibration benchmark on a population of organisms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.progress import TaskID
from rich.table import Table

from neurath.cli._main import cli, echo, progress_bar, stdout_console

_STAGES = {"build": "build organisms", "battery": "battery (organisms)", "split": "splits"}


@cli.command()
@click.option(
    "--tier",
    type=click.Choice(["full", "fast"]),
    default="full",
    show_default=True,
    help="full: every mechanism, 10 individuals each (make bench); fast: a small tiny-model "
    "population that checks the machinery (CI).",
)
@click.option(
    "--population",
    "population_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A suite YAML to use as the population instead of the tier's.",
)
@click.option(
    "--redraw",
    type=click.IntRange(0, 2**31),
    default=None,
    help="Draw a fresh population from this seed (the default draw is seed 0).",
)
@click.option("--split", "only", multiple=True, help="Run only these splits (names or kinds).")
@click.option(
    "--organisms",
    "organisms_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the population is built (default: $NEURATH_ORGANISMS or .neurath/organisms).",
)
@click.option("--out", "out_dir", default=None, help="Output folder (default: runs/bench-<hash>).")
@click.option(
    "--prior",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="The study prior P(not scheming); metrics are weighted to it.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31),
    default=0,
    show_default=True,
    help="Seed of the experiments and of the splits.",
)
@click.option(
    "--novel",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Declared chance that a scheming target is of a mechanism no calibration organism "
    "has (the version 2 engine's unknown component and common cause). Default: 0.1.",
)
@click.option(
    "--boot",
    type=click.IntRange(0, 100_000),
    default=1000,
    show_default=True,
    help="Bootstrap draws for the intervals.",
)
def bench(
    tier: str,
    population_file: str | None,
    redraw: int | None,
    only: tuple[str, ...],
    organisms_dir: str | None,
    out_dir: str | None,
    prior: float,
    seed: int,
    novel: float | None,
    boot: int,
) -> None:
    """Score the whole pipeline on splits of a population of organisms.

    Splits: in-distribution, leave-one-mechanism-out (each scheming mechanism absent from
    calibration), held-out cue bank, held-out lineage. Every metric for the engine, the
    engine without its common cause, the version 2 engine (a component per mechanism, its
    common cause measured by holding mechanisms out) and the fair naive baseline, with
    intervals from a
    bootstrap over mechanisms. The population and splits are pre-registered (hashed into
    the output) before anything is scored. Writes bench.json and bench.html.
    """
    from neurath.organisms._suite import load_suite
    from neurath.report._bench_html import write_bench_page
    from neurath.testbed._bench_run import run_bench
    from neurath.testbed._common_cause import DECLARED_NOVEL
    from neurath.testbed._population import suite_sha256
    from neurath.testbed._population import tier as tier_of

    suite, params = tier_of(tier, redraw if redraw is not None else 0)
    if population_file is not None:
        if redraw is not None:
            raise click.UsageError("--redraw draws a tier's population; not with --population")
        suite = load_suite(population_file)
    out = Path(out_dir) if out_dir else Path("runs") / f"bench-{suite_sha256(suite)[:12]}"
    with progress_bar(eta=True, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def say(stage: str, done: int, total: int, what: str) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = run_bench(
            suite,
            out,
            store=organisms_dir,
            prior=prior,
            seed=seed,
            params=params,
            n_boot=boot,
            only=list(only) or None,
            say=say,
            novel=DECLARED_NOVEL if novel is None else novel,
        )
    page = write_bench_page(result, out)
    _print_summary(result)
    echo(f"wrote {out / 'bench.json'} and {page}")


def _cell(score: Any) -> str:
    bound = score.false_reassurance_upper
    return f"{score.false_reassurances}/{score.n_schemers}" + (
        f" (<= {bound:.2f})" if bound is not None else ""
    )


def _print_summary(result: Any) -> None:
    table = Table(
        "split",
        "c",
        "ceiling",
        "false reassured: engine",
        "engine c=0",
        "fair naive",
        "log loss engine",
        "log loss naive",
        "AUROC engine",
        "false reassured: v2",
        "log loss v2",
        "v2 c0 / ceiling",
        "held-out evasion",
    )
    for s in result.splits:
        if s.status != "scored":
            table.add_row(s.name, "", "", f"not scored: {s.reason}")
            continue
        e, z, n = s.scores["engine"], s.scores["engine_no_common_cause"], s.scores["naive"]
        auc = e.metrics["auroc"].value
        table.add_row(
            s.name,
            f"{s.common_cause:.3f}",
            f"{s.ceiling:.3f}" + (" (vacuous)" if s.ceiling_vacuous else ""),
            _cell(e),
            _cell(z),
            _cell(n),
            f"{e.metrics['log_loss'].value:.3f}",
            f"{n.metrics['log_loss'].value:.3f}",
            "n/a" if auc is None else f"{auc:.3f}",
            *(
                (
                    _cell(s.scores["engine_v2"]),
                    f"{s.scores['engine_v2'].metrics['log_loss'].value:.3f}",
                )
                if "engine_v2" in s.scores
                else ("n/a", "n/a")
            ),
            _v2_cause(s),
            "" if s.held_out_evasion is None else f"{s.held_out_evasion:.2f}",
        )
    stdout_console().print(table)


def _v2_cause(s: Any) -> str:
    if s.v2_common_cause is None or s.v2_ceiling is None:
        return "n/a"
    vacuous = " (vacuous)" if s.v2_ceiling_vacuous else ""
    return f"{s.v2_common_cause.common_cause:.3f} / {s.v2_ceiling:.3f}{vacuous}"
