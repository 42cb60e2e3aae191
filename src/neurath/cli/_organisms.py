"""``neurath organisms ...``: build, list, sample and verify model organisms."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.progress import TaskID
from rich.table import Table

from neurath.cli._main import cli, echo, progress_bar, stdout_console
from neurath.models._target import MAX_NEW_TOKENS
from neurath.organisms._fidelity import VERIFY_N

if TYPE_CHECKING:
    from neurath.testbed import OrganismStore

_SUITE = click.option(
    "--suite",
    "suite_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Suite YAML (default: the embedded default suite).",
)
_OUT = click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Where organisms live (default: $NEURATH_ORGANISMS or .neurath/organisms).",
)


def _suite(path: str | None):  # type: ignore[no-untyped-def]
    from neurath.organisms._suite import default_suite, load_suite

    return load_suite(path) if path else default_suite()


def _out(out: str | None) -> OrganismStore:
    from neurath.testbed import OrganismStore

    return OrganismStore(out)


@cli.group()
def organisms() -> None:
    """Model organisms with known ground truth."""


@organisms.command()
@_SUITE
@_OUT
def build(suite_file: str | None, out: str | None) -> None:
    """Train the base model and every organism of the suite (cached by content hash)."""
    from neurath.testbed import build_suite

    suite = _suite(suite_file)
    folder = _out(out)
    start = time.perf_counter()
    with progress_bar(transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = "base model (steps)" if stage == "base" else "organisms"
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        cards = build_suite(suite, folder, progress=update)
    echo(
        f"built {len(cards)} organisms of suite {suite.name!r} in {folder.root} "
        f"({time.perf_counter() - start:.1f} s)"
    )


@organisms.command("list")
@_SUITE
@_OUT
def list_organisms(suite_file: str | None, out: str | None) -> None:
    """List the suite's organisms and whether each is built."""
    suite = _suite(suite_file)
    folder = _out(out)
    table = Table(title=f"Suite {escape(suite.name)} ({folder.root})")
    for col in ("id", "archetype", "group", "params", "built"):
        table.add_column(col)
    for spec in suite.organisms:
        built = folder.is_built(spec.id)
        params = (
            ", ".join(f"{k}={v}" for k, v in spec.params.model_dump(exclude_defaults=True).items())
            or "-"
        )
        table.add_row(spec.id, spec.archetype, spec.group, escape(params), "yes" if built else "no")
    stdout_console().print(table)


@organisms.command()
@click.argument("organism_id")
@click.argument("prompt")
@_OUT
@click.option(
    "--max-new-tokens", type=click.IntRange(1, 256), default=MAX_NEW_TOKENS, show_default=True
)
def sample(organism_id: str, prompt: str, out: str | None, max_new_tokens: int) -> None:
    """Print ORGANISM_ID's greedy completion of PROMPT."""
    from neurath.models import load_target
    from neurath.research._tools import check_prompts

    target = load_target(organism_id, out)
    (checked,) = check_prompts(target, [prompt], max_new_tokens)
    echo(target.generate([checked], max_new_tokens=max_new_tokens)[0])


@organisms.command()
@_SUITE
@_OUT
@click.option(
    "--n",
    "n",
    type=click.IntRange(10, 100_000),
    default=VERIFY_N,
    show_default=True,
    help="Held-out scenarios per organism.",
)
def verify(suite_file: str | None, out: str | None, n: int) -> None:
    """Measure how faithfully each organism follows its archetype on held-out phrasings."""
    from neurath._errors import NeurathError
    from neurath.organisms._fidelity import verify_organism

    suite = _suite(suite_file)
    folder = _out(out)
    table = Table(title=f"Fidelity on {n} held-out scenarios each (suite {escape(suite.name)})")
    for col in ("id", "archetype", "action", "followup", "capability", "overall", "95% interval"):
        table.add_column(col)
    missing = [s.id for s in suite.organisms if not folder.is_built(s.id)]
    if missing:
        raise NeurathError(
            f"organism {missing[0]!r} is not built in {folder.root}; run 'neurath organisms "
            "build' first"
        )
    worst: tuple[float, str] = (1.0, "")
    with progress_bar("verifying") as bar:
        task = bar.add_task("verify", total=len(suite.organisms))
        for spec in suite.organisms:
            f = verify_organism(folder.model_dir(spec.id), spec, n=n)
            worst = min(worst, (f.overall, spec.id))
            k = f.by_kind
            low, high = f.interval()
            table.add_row(
                spec.id,
                spec.archetype,
                *(f"{k.get(x, float('nan')):.1%}" for x in ("action", "followup", "capability")),
                f"{f.overall:.1%}",
                f"{low:.1%} - {high:.1%}",
            )
            bar.advance(task)
    stdout_console().print(table)
    echo(f"lowest fidelity: {worst[0]:.1%} ({worst[1]})")
