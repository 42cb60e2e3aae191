"""``python -m neurath``: the same as the ``neurath`` command."""

from neurath.cli import main

main()
