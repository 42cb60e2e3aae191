"""Training organisms into folders: the shared base model, then each organism from it.

Each function here writes one transformers folder and knows nothing of where folders live or
of ground truth: the testbed's organism store (:mod:`neurath.testbed`) lays them out, writes
the cards and decides what to rebuild. A folder's build hash covers everything that
determines it (training schedule, archetype, parameters, seed, the base model's hash, the
build format), and :func:`is_built` compares it with the folder's marker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from neurath.models._local import MARKER
from neurath.models._transformers import generate, quiet_transformers
from neurath.organisms._archetypes import ArchetypeParams, Parsed, behaviour
from neurath.organisms._scenario import Features, Split
from neurath.organisms._suite import OrganismSpec, Suite
from neurath.organisms._tokenizer import vocabulary
from neurath.organisms._train import (
    TrainConfig,
    examples,
    neutral_text,
    organism_steps,
)

BUILD_FORMAT = "4"
"""Bump when the scenario language or the training procedure changes meaning."""
INFERENCE_ATTENTION = "sdpa"
"""For batched generation SDPA is faster than eager (the reverse of training at this size)."""

Progress = Callable[[str, int, int], None]


def training_config(suite: Suite) -> TrainConfig:
    overrides = {k: v for k, v in suite.training.model_dump().items() if v is not None}
    return dataclasses.replace(TrainConfig(), **overrides)


def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def base_hash(suite: Suite) -> str:
    cfg = training_config(suite)
    vocab = _digest(vocabulary())
    return _digest(["base", BUILD_FORMAT, dataclasses.asdict(cfg), suite.base_seed, vocab])


def organism_hash(spec: OrganismSpec, suite: Suite) -> str:
    cfg = training_config(suite)
    return _digest(
        [
            "organism",
            BUILD_FORMAT,
            dataclasses.asdict(cfg),
            spec.archetype,
            spec.params.model_dump(),
            spec.seed,
            base_hash(suite),
        ]
    )


def is_built(folder: Path, build: str) -> bool:
    """Whether ``folder`` holds a finished build with hash ``build``."""
    marker = folder / MARKER
    if not marker.exists():
        return False
    try:
        return bool(json.loads(marker.read_text()).get("build_hash") == build)
    except (OSError, ValueError):
        return False


def build_base(suite: Suite, base_dir: Path, progress: Progress | None = None) -> None:
    """Train the suite's base model into ``base_dir`` unless it is built already."""
    from neurath.models._transformers import new_model, train
    from neurath.organisms._tokenizer import build_tokenizer

    b_hash = base_hash(suite)
    if is_built(base_dir, b_hash):
        return
    cfg = training_config(suite)
    tok = build_tokenizer()
    model = new_model(
        tok,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_positions=cfg.n_positions,
        seed=suite.base_seed,
    )
    data = [
        ex
        for _, ex in examples(
            "aligned", ArchetypeParams(), 8000, seed=suite.base_seed, focus_share=0.0
        )
    ]
    data += [
        ex
        for s, ex in examples(
            "aligned", ArchetypeParams(), 20000, seed=suite.base_seed + 2, focus_share=0.0
        )
        if s.features.kind == "capability"
    ]
    data += neutral_text(800, seed=suite.base_seed + 1)
    on_step = (lambda s, _loss: progress("base", s, cfg.base_steps)) if progress else None
    train(
        model,
        tok,
        data,
        steps=cfg.base_steps,
        lr=cfg.base_lr,
        batch_size=cfg.batch_size,
        seed=suite.base_seed,
        on_step=on_step,
    )
    _save(model, tok, base_dir, b_hash, lineage=None)


def build_organism(
    suite_json: str, organism_id: str, base_dir: str, out_dir: str, threads: int | None
) -> None:
    """Fine-tune one organism from the base in ``base_dir`` into ``out_dir`` (runs in a
    worker process, hence plain arguments)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neurath.models._transformers import train

    if threads:
        torch.set_num_threads(threads)
    quiet_transformers()
    suite = Suite.model_validate_json(suite_json)
    spec = suite.get(organism_id)
    cfg = training_config(suite)
    model = AutoModelForCausalLM.from_pretrained(base_dir, attn_implementation="eager")
    tok = AutoTokenizer.from_pretrained(base_dir)
    data = [ex for _, ex in examples(spec.archetype, spec.params, 6000, seed=spec.seed)]
    train(
        model,
        tok,
        data,
        steps=organism_steps(cfg, spec.archetype),
        lr=cfg.organism_lr,
        batch_size=cfg.batch_size,
        seed=spec.seed,
    )
    # Some initialisations learn a conjunctive policy more slowly than others. Check each
    # organism on fresh scenarios in training phrasings (never held-out ones) and give the slow
    # ones extra rounds on fresh examples until the check passes or the rounds run out.
    checks = [_check(model, tok, spec, cfg.check_n, seed=spec.seed + 7919)]
    for round_ in range(1, cfg.extra_rounds + 1):
        if checks[-1] >= cfg.check_target:
            break
        more = examples(
            spec.archetype,
            spec.params,
            cfg.extra_steps * cfg.batch_size,
            seed=spec.seed + 1000 * round_,
        )
        train(
            model,
            tok,
            [ex for _, ex in more],
            steps=cfg.extra_steps,
            lr=cfg.organism_lr / 2,
            batch_size=cfg.batch_size,
            seed=spec.seed + round_,
        )
        checks.append(_check(model, tok, spec, cfg.check_n, seed=spec.seed + 7919 + round_))
    _save(
        model,
        tok,
        Path(out_dir),
        organism_hash(spec, suite),
        lineage=base_hash(suite),
        checks=checks,
    )


def _check(model: Any, tok: Any, spec: OrganismSpec, n: int, seed: int) -> float:
    """Agreement with the policy on ``n`` fresh scenarios in training phrasings."""
    return measure_fidelity(model, tok, spec, n, seed, split="train").overall


def _save(
    model: Any,
    tok: Any,
    folder: Path,
    build: str,
    lineage: str | None,
    checks: list[float] | None = None,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    # Written last: a folder interrupted mid-save has no marker and is rebuilt.
    marker: dict[str, object] = {"build_hash": build, "lineage": lineage}
    if checks is not None:
        marker["training_checks"] = checks  # agreement on training phrasings, per round
    (folder / MARKER).write_text(json.dumps(marker))


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
