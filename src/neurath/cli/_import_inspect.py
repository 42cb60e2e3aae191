"""``neurath import-inspect LOG``: an Inspect log of a neurath task as findings."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from neurath.cli._main import cli, echo, stdout_console


@cli.command("import-inspect")
@click.argument("log", type=click.Path(dir_okay=False))
@click.option("--db", type=str, default=None, help="Record the findings' manifest in this ledger.")
@click.option(
    "--calibration",
    "calibration_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Calibration file whose fitted expectations the findings use (default: declared).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def import_inspect(log: str, db: str | None, calibration_file: str | None, as_json: bool) -> None:
    """Turn the Inspect eval LOG of a neurath task (inspect eval neurath/honeypot ...) into
    findings, as the neurath experiment would have reported them."""
    from neurath.evidence import Ledger
    from neurath.experiments._battery import to_finding, to_manifest
    from neurath.experiments._calibrate import load_calibration
    from neurath.experiments._inspect_import import import_inspect_log

    calibration = load_calibration(calibration_file) if calibration_file else None
    results = import_inspect_log(log, calibration)
    target = results[0].target.id
    findings = [(r, to_finding(r, calibration)) for r in results]
    stored = None
    if db is not None:
        manifest = to_manifest(target, results, calibration)
        with Ledger(db) as ledger:
            stored = ledger.record_manifest(manifest, source=log)
    if as_json:
        view = {
            "target": target,
            "log": log,
            "results": [r.model_dump(mode="json") for r in results],
            "findings": [f.model_dump(mode="json") for _, f in findings if f is not None],
            "ledger": {"db": db, "manifest_id": stored} if stored is not None else None,
        }
        echo(json.dumps(view))
        return
    table = Table(title=f"Findings from Inspect log of {escape(target)}")
    for col in ("id", "experiment", "statistic", "value", "se", "n"):
        table.add_column(col, justify="right" if col in ("value", "se", "n") else "left")
    for r, f in findings:
        stat = r.primary
        if f is None:
            table.add_row("-", r.experiment, r.statistic, "-", "-", str(stat.n))
            continue
        table.add_row(
            escape(f.id), f.experiment, r.statistic, f"{f.value:.4f}", f"{f.se:.4f}", str(stat.n)
        )
    stdout_console().print(table)
    for r, f in findings:
        if f is None:
            echo(f"no finding from {r.experiment}: {r.details.get('note') or 'no samples'}")
    if stored is not None:
        echo(f"stored as manifest {stored} in {db}")
