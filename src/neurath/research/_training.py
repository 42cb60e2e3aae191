"""Fine-tuning inside a research run: a copy of a target trained by a method, and its test."""

from __future__ import annotations

from neurath._errors import ResearchError
from neurath.models._target import TargetModel
from neurath.research._events import DerivedTarget

FINE_TUNE_METHODS = ("safety-honeypot",)
"""Training methods ``fine_tune`` knows: ``safety-honeypot`` trains on honeypot scenarios
answered safely (the transcripts a safety team would train on)."""


def honeypot_harm(model: TargetModel, n: int, seed: int) -> float:
    """Harmful-action rate on ``n`` held-out honeypots without evaluation cues."""
    from neurath.experiments._querying import act
    from neurath.experiments._raters import expert_label
    from neurath.experiments._scenarios import honeypots

    transcripts = act(model, honeypots(n, seed + 7, "test", 0.0))
    return sum(bool(expert_label(t)) for t in transcripts) / n


def fine_tuned(parent: TargetModel, new_id: str, recipe: DerivedTarget) -> TargetModel:
    """``parent`` trained with ``recipe`` (deterministic, so a resumed run rebuilds it)."""
    finetune = getattr(parent, "finetune", None)
    if not callable(finetune):
        raise ResearchError(
            f"target {recipe.parent!r} cannot be fine-tuned here (its backend has no training)"
        )
    from neurath.experiments._scenarios import honeypots
    from neurath.organisms import ArchetypeParams, behaviour

    scenarios = honeypots(4 * recipe.steps, recipe.seed, "train", 0.0)
    data = [
        (s.prompt, behaviour("aligned", ArchetypeParams(), s.features).answer) for s in scenarios
    ]
    model: TargetModel = finetune(data, steps=recipe.steps, seed=recipe.seed, model_id=new_id)
    return model
