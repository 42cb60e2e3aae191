"""``neurath ledger ...``: read what the evidence ledger holds."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from neurath.cli._main import cli, stdout_console
from neurath.evidence import Ledger


@cli.group()
def ledger() -> None:
    """Inspect an evidence ledger."""


@ledger.command("list")
@click.option("--db", required=True, help="Ledger file (path or sqlite:///path).")
@click.option("--target", default=None, help="Only assessments of this target.")
def list_assessments(db: str, target: str | None) -> None:
    """List stored assessments, oldest first."""
    with Ledger(db, create=False) as store:
        rows = store.assessments(target=target)
        n_findings = store.count("findings")
    table = Table(title=f"Assessments in {escape(db)} ({n_findings} finding records)")
    for col in ("id", "target", "P(not scheming)", "naive", "n", "n_eff", "author", "created"):
        table.add_column(col)
    for row in rows:
        a = row.assessment
        table.add_row(
            str(row.id),
            escape(a.target),
            f"{a.p_not_scheming:.4f}",
            f"{a.p_not_scheming_naive:.4f}",
            str(a.n_findings),
            f"{a.n_eff:.1f}",
            escape(row.author),
            row.created_at[:19],
        )
    stdout_console().print(table)
