"""The command group; library errors become one-line CLI errors here and nowhere else."""

from __future__ import annotations

import os
import re
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
from rich.text import Text

from neurath._errors import NeurathError
from neurath._version import __version__

EXIT_USER_ERROR = 2


EXIT_INTERNAL_ERROR = 1

# Control characters (but newline and tab), DEL, C1 controls and bidirectional overrides: text
# from files and models (ids, authors, paths) must not move the cursor, recolour or rewrite
# the user's terminal, or reorder what it shows.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile("[\n\t]")


def plain(text: object) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), never obeyed."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], str(text))


def one_line(text: object) -> str:
    """``text`` made safe (:func:`plain`) and kept on one line: an error is one line even when
    a path, an id or a library's message holds a line break."""
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], plain(text))


def echo(text: object = "", *, err: bool = False) -> None:
    """The CLI's one way to print a line of plain text (made safe for a terminal)."""
    click.echo(plain(text), err=err)


class _SafeConsole(Console):
    """A rich console that shows control characters in any string it renders as escapes."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(plain(text), **kwargs)


def stdout_console() -> Console:
    """Standard output for tables; piped output would be cut to 80 columns, ellipsising ids."""
    console = _SafeConsole()
    return console if console.is_terminal else _SafeConsole(width=120)


def progress_bar(
    label: str = "{task.description}", *, eta: bool = False, transient: bool = True
) -> Progress:
    """A progress bar on stderr: done / total, and the time elapsed (or, with ``eta``, left).

    A transient bar only shows on a terminal; a lasting one is printed once it is done.
    """
    console = _SafeConsole(stderr=True)
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
            echo(one_line(f"neurath: error: {exc}"), err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            # A bug, not a user mistake: still one line, with the way to get the traceback.
            if os.environ.get("NEURATH_DEBUG"):
                raise
            echo(
                one_line(
                    f"neurath: internal error: {type(exc).__name__}: {exc} "
                    "(please report it; set NEURATH_DEBUG=1 to see the traceback)"
                ),
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
        _bench,
        _experiment,
        _import_inspect,
        _judge,
        _ledger,
        _organisms,
        _run,
        _safetycase,
        _serve,
        _validate,
    )

    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        echo(exc.format_message(), err=True)
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        # A usage mistake: one line like every other error, with where to read more.
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} -h')"
        echo(one_line(f"neurath: error: {exc.format_message()}{hint}"), err=True)
        raise SystemExit(exc.exit_code) from None
    except click.Abort:
        echo("neurath: aborted", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
