"""The one place where a name becomes a path: run ids, organism ids, study names.

A name that reaches the file system must be one plain path component, so that no run id,
study name or organism id can climb out of the folder it is meant to live in (``..``, ``/``)
or hide (a leading dot), and so that it reads the same on every file system.
"""

from __future__ import annotations

import re
from pathlib import Path

from neurath._errors import NeurathError

MAX_NAME = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, what: str) -> str:
    """``name`` if it can be a folder or file name on its own, else a :class:`NeurathError`.

    Allowed: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, at most
    :data:`MAX_NAME` characters.
    """
    if not isinstance(name, str) or not name:
        raise NeurathError(f"{what} must be a non-empty name")
    if len(name) > MAX_NAME or not _NAME.fullmatch(name) or ".." in name:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise NeurathError(
            f"{what} {shown!r} cannot name a folder: use letters, digits, '.', '_' and '-' "
            f"(starting with a letter or digit, no '..', at most {MAX_NAME} characters)"
        )
    return name


def slug(text: str, *, limit: int = 40) -> str:
    """``text`` reduced to a safe name fragment (for names made from free text)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    out = re.sub(r"\.{2,}", ".", out)[:limit].strip("-.")
    return out or "run"


def child(root: str | Path, name: str, what: str) -> Path:
    """``root / name`` for a checked ``name``: the only way a name joins a path."""
    return Path(root) / check_name(name, what)
