"""Registers the ``organism`` model provider with Inspect (loaded via the entry point)."""

from __future__ import annotations

from typing import Any

from inspect_ai.model import modelapi


@modelapi(name="organism")
def organism() -> Any:
    from neurath.models._inspect import organism_api

    return organism_api()
