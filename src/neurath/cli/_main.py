"""The command group; library errors become one-line CLI errors here and nowhere else."""

from __future__ import annotations

import os
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from neurath._errors import NeurathError
from neurath._version import __version__

EXIT_USER_ERROR = 2


EXIT_INTERNAL_ERROR = 1


def stdout_console() -> Console:
    """Standard output for tables; piped output would be cut to 80 columns, ellipsising ids."""
    console = Console()
    return console if console.is_terminal else Console(width=120)


def progress_bar(
    label: str = "{task.description}", *, eta: bool = False, transient: bool = True
) -> Progress:
    """A progress bar on stderr: done / total, and the time elapsed (or, with ``eta``, left).

    A transient bar only shows on a terminal; a lasting one is printed once it is done.
    """
    console = Console(stderr=True)
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn() if eta else TimeElapsedColumn(),
        console=console,
        transient=transient,
        disable=transient and not console.is_terminal,
    )


class _NeurathGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NeurathError as exc:
            click.echo(f"neurath: error: {exc}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            # A bug, not a user mistake: still one line, with the way to get the traceback.
            if os.environ.get("NEURATH_DEBUG"):
                raise
            click.echo(
                f"neurath: internal error: {type(exc).__name__}: {exc} "
                "(please report it; set NEURATH_DEBUG=1 to see the traceback)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL_ERROR)


@click.group(cls=_NeurathGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="neurath")
def cli() -> None:
    """neurath: alignment evidence with its provenance, and a calibrated safety assessment."""


def main() -> None:
    """Console-script entry point."""
    from neurath.cli import (  # noqa: F401  (registers)
        _assess,
        _audit,
        _experiment,
        _import_inspect,
        _ledger,
        _organisms,
        _run,
        _validate,
    )

    cli()
