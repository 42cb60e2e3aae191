"""The one interface every experiment talks to: a target model.

``TargetModel`` is a protocol: anything with a ``card`` and a batched ``generate`` is a target.
Local transformers models add ``logprobs``, ``hidden_states`` and ``finetune``; models reached
through Inspect generate only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


class ModelCard(BaseModel):
    """What is known about a target without its ground truth: identity and lineage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """The name experiments and the ledger use."""
    backend: str
    """``local`` (a transformers folder) or ``inspect`` (any Inspect provider)."""
    lineage: str | None = None
    """Hash of the base model it descends from, when known (a shared-weights factor)."""
    weights_sha256: str | None = None
    """Hash of its weights file, when local."""
    source: str = ""
    """Where it was loaded from (a folder or an Inspect model name)."""


MAX_NEW_TOKENS = 32
"""Default generation length: an organism's longest answer (26 tokens) fits with room to spare."""


@runtime_checkable
class TargetModel(Protocol):
    """A model under evaluation."""

    card: ModelCard

    def generate(
        self, prompts: Sequence[str], *, max_new_tokens: int = MAX_NEW_TOKENS
    ) -> list[str]:
        """Greedy completions of each prompt, in order."""
        ...
