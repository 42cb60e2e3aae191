"""``neurath audit verify RUN``: check a research run's hash-chained audit log."""

from __future__ import annotations

import json

import click

from neurath.cli._main import cli

AUDIT_FILE = "audit.jsonl"
RESULTS_FILE = "results.json"


@cli.group()
def audit() -> None:
    """Audit logs of research runs."""


@audit.command()
@click.argument("run")
def verify(run: str) -> None:
    """Verify RUN's audit log: a run folder, a run id under ./runs, or the log file itself.

    Every entry's hash and its link to the entry before are checked; where the run's
    results.json records the log's head hash, a cut-off tail is caught too.
    """
    from neurath._errors import AuditError
    from neurath.research import verify_audit
    from neurath.testbed import RunFolder

    path = RunFolder.find(run).path
    folder = path if path.is_dir() else None
    log = folder / AUDIT_FILE if folder else path
    head = None
    if folder and (folder / RESULTS_FILE).exists():
        try:
            head = json.loads((folder / RESULTS_FILE).read_text()).get("audit_head")
        except ValueError:
            raise AuditError(f"{folder / RESULTS_FILE}: not valid JSON") from None
    report = verify_audit(log, head=head)
    tail = "; head matches results.json" if head else ""
    click.echo(f"{log}: audit log intact, {report.entries} entries, head {report.head[:12]}{tail}")
