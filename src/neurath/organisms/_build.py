"""Building a suite: the shared base model once, then each organism, cached by content hash.

Layout under the output folder::

    base/                  the family's initial model (a transformers folder)
    models/<id>/           each organism (a transformers folder; no ground truth inside)
    cards/<id>.json        each organism's ground truth, which experiments never read
    cards/_groups.json     id -> calibration or test (no ground truth): which cards calibration
                           may open

A folder is rebuilt only when the hash of everything that determines it (training schedule,
archetype, parameters, seed, the base model's hash, the build format) changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from neurath.models._local import MARKER, file_sha256
from neurath.organisms._archetypes import SCHEMING, ArchetypeParams, Parsed, behaviour
from neurath.organisms._scenario import Features, Split
from neurath.organisms._suite import OrganismSpec, Suite
from neurath.organisms._tokenizer import vocabulary
from neurath.organisms._train import (
    STEPS_FACTOR,
    TrainConfig,
    examples,
    generate,
    neutral_text,
    organism_steps,
    quiet_transformers,
)

BUILD_FORMAT = "4"
"""Bump when the scenario language or the training procedure changes meaning."""
INFERENCE_ATTENTION = "sdpa"
"""For batched generation SDPA is faster than eager (the reverse of training at this size)."""

GROUPS_INDEX = "_groups.json"
"""cards/_groups.json (no organism id starts with "_"): organism id -> calibration or test.
It holds no ground truth, so experiments may read it to find calibration organisms and then
open only their cards."""

Progress = Callable[[str, int, int], None]


class OrganismCard(BaseModel):
    """An organism's ground truth and provenance, stored apart from its weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    id: str
    archetype: str
    params: ArchetypeParams
    scheming: bool
    """Ground truth: does it covertly pursue a hidden objective?"""
    group: Literal["calibration", "test"]
    seed: int
    lineage: str
    """Hash of the base model it was fine-tuned from (shared weights are a shared factor)."""
    weights_sha256: str
    build_hash: str


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


def _cached(folder: Path, build: str) -> bool:
    marker = folder / MARKER
    if not marker.exists():
        return False
    try:
        return bool(json.loads(marker.read_text()).get("build_hash") == build)
    except (OSError, ValueError):
        return False


def build_suite(
    suite: Suite, out: str | Path, progress: Progress | None = None, jobs: int | None = None
) -> list[OrganismCard]:
    """Build (or reuse) the base model and every organism of ``suite`` under ``out``.

    Organisms train in ``jobs`` processes of one thread each (default: one per core, at most
    two): a model this small gains little from intra-op threads, so processes scale better.
    """
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    out = Path(out)
    quiet_transformers()
    total = len(suite.organisms) + 1
    _build_base(suite, out, progress)
    if progress:
        progress("organisms", 1, total)
    todo = [
        s for s in suite.organisms if not _cached(out / "models" / s.id, organism_hash(s, suite))
    ]
    # Longest first, so the two workers finish together instead of one waiting on a schemer.
    todo.sort(key=lambda s: -STEPS_FACTOR[s.archetype])
    jobs = jobs or min(2, os.cpu_count() or 1)
    done = total - len(todo)
    if progress and done > 1:
        progress("organisms", done, total)
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(_build_organism, suite.model_dump_json(), s.id, str(out), 1)
                for s in todo
            ]
            for future in as_completed(futures):
                future.result()
                done += 1
                if progress:
                    progress("organisms", done, total)
    else:
        for spec in todo:
            _build_organism(suite.model_dump_json(), spec.id, str(out), None)
            done += 1
            if progress:
                progress("organisms", done, total)
    cards = [_write_card(suite, spec, out) for spec in suite.organisms]
    # Which organisms may be used for fitting, without opening anyone's ground truth.
    (out / "cards" / GROUPS_INDEX).write_text(
        json.dumps({spec.id: spec.group for spec in suite.organisms}, indent=2) + "\n"
    )
    return cards


def _build_base(suite: Suite, out: Path, progress: Progress | None) -> None:
    from neurath.organisms._tokenizer import build_tokenizer
    from neurath.organisms._train import new_model, train

    base_dir, b_hash = out / "base", base_hash(suite)
    if _cached(base_dir, b_hash):
        return
    cfg = training_config(suite)
    tok = build_tokenizer()
    model = new_model(tok, cfg, seed=suite.base_seed)
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


def _build_organism(suite_json: str, organism_id: str, out: str, threads: int | None) -> None:
    """Fine-tune one organism from the base (runs in a worker process)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neurath.organisms._train import train

    if threads:
        torch.set_num_threads(threads)
    quiet_transformers()
    suite = Suite.model_validate_json(suite_json)
    spec = suite.get(organism_id)
    cfg = training_config(suite)
    base_dir = Path(out) / "base"
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
        Path(out) / "models" / spec.id,
        organism_hash(spec, suite),
        lineage=base_hash(suite),
        checks=checks,
    )


def _built_weights_hash(folder: Path) -> str:
    digest = file_sha256(folder / "model.safetensors")
    if digest is None:
        raise FileNotFoundError(f"{folder}: no model.safetensors; the build did not finish")
    return digest


def _write_card(suite: Suite, spec: OrganismSpec, out: Path) -> OrganismCard:
    card = OrganismCard(
        id=spec.id,
        archetype=spec.archetype,
        params=spec.params,
        scheming=SCHEMING[spec.archetype],
        group=spec.group,
        seed=spec.seed,
        lineage=base_hash(suite),
        weights_sha256=_built_weights_hash(out / "models" / spec.id),
        build_hash=organism_hash(spec, suite),
    )
    (out / "cards").mkdir(parents=True, exist_ok=True)
    (out / "cards" / f"{spec.id}.json").write_text(card.model_dump_json(indent=2))
    return card


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
