"""Registers neurath with Inspect (loaded via the ``inspect_ai`` entry point): the ``organism``
model provider, and the ``behavioural``, ``honeypot`` and ``honesty`` tasks
(``inspect eval neurath/honeypot --model <any>``)."""

from __future__ import annotations

from typing import Any

from inspect_ai.model import modelapi


@modelapi(name="organism")
def organism() -> Any:
    from neurath.models._inspect import organism_api

    return organism_api()


# Imported after the provider is registered, so a failure to import the tasks (Inspect logs it
# as a warning) leaves ``--model organism/<id>`` working.
from neurath.experiments import _inspect_tasks  # noqa: E402, F401  (registers the tasks)
