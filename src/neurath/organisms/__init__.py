"""Model organisms with known ground truth: the scenario language, archetypes and training.

Work in progress (issue 3): the scenario language, the archetype policies, the tokenizer and the
training and generation functions are here; suites, the build cache, the ``neurath organisms``
commands and the target-model backends are not yet.
"""

from neurath.organisms._archetypes import (
    SCHEMING,
    ArchetypeName,
    ArchetypeParams,
    Behaviour,
    Parsed,
    behaviour,
)
from neurath.organisms._scenario import Features, Scenario, ScenarioGenerator, followup_prompt
from neurath.organisms._train import TrainConfig

__all__ = [
    "SCHEMING",
    "ArchetypeName",
    "ArchetypeParams",
    "Behaviour",
    "Features",
    "Parsed",
    "Scenario",
    "ScenarioGenerator",
    "TrainConfig",
    "behaviour",
    "followup_prompt",
]
