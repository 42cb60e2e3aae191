"""The ``neurath`` command line: one module per command."""

from neurath.cli._main import cli, main

__all__ = ["cli", "main"]
