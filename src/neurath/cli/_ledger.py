"""``neurath ledger ...``: read what the evidence ledger holds, and check it is intact."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from neurath.cli._main import cli, echo, stdout_console
from neurath.evidence import Ledger, LedgerRecord, StoredAssessment, verify_ledger

_DB = click.option(
    "--db",
    required=True,
    help="Ledger: a file (path or sqlite:///path) or postgresql://user@host:port/database.",
)


@cli.group()
def ledger() -> None:
    """Inspect an evidence ledger."""


@ledger.command("list")
@_DB
@click.option("--target", default=None, help="Only records about this target.")
@click.option(
    "--findings/--no-findings",
    default=True,
    show_default=True,
    help="Also list finding records (corrected ones marked).",
)
def list_records(db: str, target: str | None, findings: bool) -> None:
    """List stored assessments and finding records, oldest first."""
    with Ledger(db, create=False) as store:
        assessments = store.assessments(target=target)
        records = store.findings(target=target, current=False) if findings else []
    summary = f"{db}: {len(assessments)} assessments"
    if findings:
        corrected = {r.supersedes for r in records if r.supersedes is not None}
        summary += (
            f", {len(records)} finding records ({len(records) - len(corrected)} current, "
            f"{len(corrected)} corrected)"
        )
    echo(summary + (f" about {target}" if target is not None else ""))
    console = stdout_console()
    console.print(_assessments_table(assessments))
    if findings:
        console.print(_findings_table(records))


def _assessments_table(rows: list[StoredAssessment]) -> Table:
    table = Table(title="Assessments")
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
    return table


def _findings_table(records: list[LedgerRecord]) -> Table:
    corrected_by = {r.supersedes: r.id for r in records if r.supersedes is not None}
    table = Table(title="Finding records (a correction is a new record)")
    for col in ("record", "target", "finding", "estimate", "source", "author", "created", "status"):
        table.add_column(col)
    for r in records:
        f = r.finding
        status = [f"corrected by {corrected_by[r.id]}" if r.id in corrected_by else "current"]
        if r.supersedes is not None:
            status.append(f"corrects {r.supersedes}: {r.reason or ''}")
        if f.status == "error":
            status.append("experiment error")
        table.add_row(
            str(r.id),
            escape(r.target),
            escape(f.id),
            f"{f.value:.4g} ± {f.se:.2g}",
            escape(r.source or ""),
            escape(r.author),
            r.created_at[:19],
            escape("; ".join(status)),
        )
    return table


@ledger.command("verify")
@_DB
def verify(db: str) -> None:
    """Check the ledger is intact: schema, hash chain, manifests' hashes, stored bodies.

    Prints one line; exits 2 naming the first problem found.
    """
    report = verify_ledger(db)
    echo(f"{db}: ledger intact, {report.rows} rows, head {report.head[:12]}")
