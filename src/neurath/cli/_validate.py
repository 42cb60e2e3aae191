"""``neurath validate FILE``: check a manifest without assessing it."""

from __future__ import annotations

import click

from neurath.cli._main import cli, echo
from neurath.engine import ManifestArrays, load_manifest_arrays


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check that FILE is a valid manifest (and that its findings file is too, read in bulk as
    neurath assess reads it)."""
    manifest = load_manifest_arrays(file)
    if isinstance(manifest, ManifestArrays):
        target, findings, factors = (
            manifest.header.target,
            manifest.arrays.n,
            len(manifest.header.factors),
        )
    else:
        target, findings, factors = manifest.target, len(manifest.findings), len(manifest.factors)
    echo(f"ok: {file}: target {target!r}, {findings} findings, {factors} factors")
