"""``neurath audit verify RUN``: check a run's audit log, its results, and its anchors."""

from __future__ import annotations

import click

from neurath.cli._main import cli, echo


@cli.group()
def audit() -> None:
    """Audit logs of research runs."""


@audit.command()
@click.argument("run")
@click.option(
    "--ledger",
    default=None,
    help="Ledger holding run anchors (default: $NEURATH_LEDGER or .neurath/ledger.db).",
)
@click.option(
    "--signing-key",
    default=None,
    type=click.Path(dir_okay=False),
    help="The key the run was signed with (default: $NEURATH_SIGNING_KEY).",
)
def verify(run: str, ledger: str | None, signing_key: str | None) -> None:
    """Verify RUN: a run folder, a run id under ./runs, or an audit log file.

    Checks every entry's hash and its link to the entry before; for a finished run, that
    results.json ends the log where it says and says what the log says (each target's
    probabilities and truth, the study, the metrics recomputed); and the run's anchors: the
    record in a ledger outside the folder and, with the key, the signature on anchor.json.
    """
    from neurath.research import verify_audit
    from neurath.testbed import RunFolder
    from neurath.testbed._verify import home_ledger, read_signing_key, verify_run

    path = RunFolder.find(run).path
    if not path.is_dir():
        report = verify_audit(path)
        echo(f"{path}: audit log intact, {report.entries} entries, head {report.head[:12]}")
        return
    key = read_signing_key(signing_key)
    check = verify_run(RunFolder(path), ledger=ledger or home_ledger(), key=key)
    echo(f"{path}: audit log intact, {check.entries} entries, head {check.head[:12]}")
    if check.results is None:
        echo("  no results.json: the run did not finish (its tail cannot be checked)")
        return
    echo(f"  results.json agrees with the log: {check.results} targets, metrics recomputed")
    for line in check.anchors:
        echo(f"  {line}")
    if check.unanchored:
        echo(
            "  not anchored outside the run folder: a consistently rewritten log would pass "
            "(anchor runs in a ledger, or sign them with --signing-key)"
        )
