"""``neurath validate FILE``: check a manifest without assessing it."""

from __future__ import annotations

import click

from neurath.cli._main import cli, echo
from neurath.evidence import load_manifest


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check that FILE is a valid manifest (and that its findings file is too)."""
    manifest = load_manifest(file)
    echo(
        f"ok: {file}: target {manifest.target!r}, {len(manifest.findings)} findings, "
        f"{len(manifest.factors)} factors"
    )
