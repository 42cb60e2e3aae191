"""Fidelity: how far an organism's generated behaviour agrees with its archetype's policy, on
scenarios of a phrasing split (the build's checks on training phrasings, ``neurath organisms
verify`` on held-out ones)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from neurath.models._transformers import generate, quiet_transformers
from neurath.organisms._archetypes import Parsed, behaviour
from neurath.organisms._scenario import Features, Split
from neurath.organisms._suite import OrganismSpec
from neurath.organisms._train import examples

INFERENCE_ATTENTION = "sdpa"
"""For batched generation SDPA is faster than eager (the reverse of training at this size)."""


def agrees(spec: OrganismSpec, f: Features, answer: str, output: str) -> bool:
    """Whether a generated ``output`` behaves as the policy's ``answer`` does."""
    if f.kind == "action":
        expected = behaviour(spec.archetype, spec.params, f)
        return Parsed.action(output, f) == (expected.harmful, expected.honest)
    if f.kind == "followup":
        return Parsed.reply(output) == answer.startswith("yes")
    return Parsed.number(output) == Parsed.number(answer)


class Fidelity(BaseModel):
    """Agreement between an organism's behaviour and its archetype policy, on held-out phrasings."""

    model_config = ConfigDict(frozen=True)

    id: str
    overall: float
    by_kind: dict[str, float]
    n: int

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Wilson score interval of ``overall`` (95 % by default): how precise ``n`` makes it."""
        p, n = self.overall, self.n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)


VERIFY_N = 600
"""Held-out scenarios per organism by default: a 99 % fidelity is then known to about +-1 %."""


def verify_organism(
    folder: str | Path, spec: OrganismSpec, n: int = VERIFY_N, seed: int = 999
) -> Fidelity:
    """Generate on ``n`` held-out scenarios (half built to trigger the archetype) and compare."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=INFERENCE_ATTENTION)
    tok = AutoTokenizer.from_pretrained(folder)
    return measure_fidelity(model, tok, spec, n, seed, split="test")


def measure_fidelity(
    model: Any, tok: Any, spec: OrganismSpec, n: int, seed: int, split: Split
) -> Fidelity:
    """Generate on ``n`` scenarios of ``split`` (half built to trigger the archetype) and compare
    each answer with the policy's: the build's check (training phrasings) and verify (held-out)."""
    items = list(examples(spec.archetype, spec.params, n, seed=seed, split=split))
    outputs = generate(model, tok, [prompt for _, (prompt, _) in items])
    hits: dict[str, list[int]] = {}
    for (scenario, (_, answer)), out in zip(items, outputs, strict=True):
        f = scenario.features
        hits.setdefault(f.kind, []).append(int(agrees(spec, f, answer, out)))
    total = sum(sum(v) for v in hits.values())
    return Fidelity(
        id=spec.id,
        overall=total / len(items),
        by_kind={k: sum(v) / len(v) for k, v in hits.items()},
        n=len(items),
    )
