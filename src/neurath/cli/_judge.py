"""``neurath judge measure``: a judge model's reliability on transcripts with known truth; and
the ``--judge`` options that give a chat target its grader."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from neurath.cli._main import cli, echo

JUDGE_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--judge",
        "judges",
        multiple=True,
        help="Inspect model that grades a chat target's free text (repeat for two judges, "
        "combined); default: the Inspect model role 'grader'.",
    ),
    click.option(
        "--commit-first",
        is_flag=True,
        help="The judge gives its verdict before it sees the target's report on itself.",
    ),
]
RELIABILITY = click.option(
    "--judge-reliability",
    "reliability_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A 'neurath judge measure --out' file: sets the scale of the judge's factor.",
)


def judge_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--judge and --commit-first."""
    for option in reversed(JUDGE_OPTIONS):
        fn = option(fn)
    return fn


def attach_judge(
    model: Any, judges: tuple[str, ...], commit_first: bool, reliability_file: str | None
) -> None:
    """Give a chat target its judge (organisms need none: their answers are read exactly)."""
    from neurath.experiments._chat import renders_chat

    if renders_chat(model):
        model.judge = make_judge(judges, commit_first, reliability_file)
    elif judges or reliability_file:
        raise click.UsageError(f"{model.card.id} is not a chat target: it needs no judge")


def make_judge(judges: tuple[str, ...], commit_first: bool, reliability_file: str | None) -> Any:
    """The judge the options name (two combine), its factor scale read from a measurement."""
    from neurath._errors import NeurathError
    from neurath.experiments._judge import CombinedJudge, inspect_judge

    if len(judges) > 2:
        raise click.BadParameter("at most two judges", param_hint="--judge")
    made = [inspect_judge(j, commit_first=commit_first) for j in judges] or [
        inspect_judge(None, commit_first=commit_first)
    ]
    judge = made[0] if len(made) == 1 else CombinedJudge(made[0], made[1])
    if reliability_file is not None:
        data = json.loads(Path(reliability_file).read_text())
        if data.get("judge") != judge.name or data.get("commit_first") != judge.commit_first:
            raise NeurathError(
                f"{reliability_file}: measures judge {data.get('judge')!r} (commit_first "
                f"{data.get('commit_first')}), not {judge.name!r} (commit_first "
                f"{judge.commit_first})"
            )
        judge.scale = float(data["factor_scale"])
    return judge


@cli.group()
def judge() -> None:
    """Judge models that grade chat targets' free-text answers."""


@judge.command("measure")
@judge_options
@click.option("--n", "n_organism", type=click.IntRange(0, 100_000), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write JSON here.")
def measure(
    judges: tuple[str, ...],
    commit_first: bool,
    n_organism: int,
    seed: int,
    out: str | None,
) -> None:
    """Grade the shipped hand-written transcripts and N organism transcripts; print the
    judge's accuracy, miss and false-alarm rates and the scale of its factor."""
    from neurath.experiments._judge_reliability import labelled_set, measure_judge

    made = make_judge(judges, commit_first, None)
    result = measure_judge(made, labelled_set(n_organism, seed))
    text = result.model_dump_json(indent=2)
    if out:
        Path(out).write_text(text + "\n")
    echo(
        f"judge {result.judge} (commit_first={result.commit_first}) on {result.n} transcripts: "
        f"accuracy {result.accuracy:.3f}, misses {result.false_negative_rate:.3f}, false alarms "
        f"{result.false_positive_rate:.3f}, judge errors {result.judge_errors}; "
        f"{result.factor} scale {result.factor_scale:g}"
    )
