"""neurath's entry point for Inspect (the ``inspect_ai`` entry point group loads it): the
``organism`` model provider (``--model organism/<id>``) and the ``behavioural``,
``honeypot`` and ``honesty`` tasks (``inspect eval neurath/honeypot --model <any>``).

A top-level module of its own, so that neither ``models`` nor ``experiments`` imports the
other, or the testbed, to register with Inspect.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.model import modelapi


@modelapi(name="organism")
def organism() -> Any:
    from neurath.models._inspect import local_model_api
    from neurath.testbed._store import OrganismStore

    return local_model_api(lambda name, folder: OrganismStore(folder).load(name))


# Imported after the provider is registered, so a failure to import the tasks (Inspect logs it
# as a warning) leaves ``--model organism/<id>`` working.
from neurath.experiments import _inspect_tasks  # noqa: E402, F401  (registers the tasks)
