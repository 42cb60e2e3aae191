"""Where built organisms live by default."""

from __future__ import annotations

import os
from pathlib import Path


def organisms_home() -> Path:
    """``$NEURATH_ORGANISMS`` if set, else ``.neurath/organisms`` under the working directory."""
    return Path(os.environ.get("NEURATH_ORGANISMS", ".neurath/organisms"))
