"""Training organisms into folders: each lineage's base model, then organisms from it.

The functions here write transformers folders and know nothing of where folders live or of
ground truth: the testbed's organism store (:mod:`neurath.testbed`) lays them out, writes the
cards and decides what to rebuild. A folder's build hash covers everything that determines it
(training schedule, the lineage's shape and seed, archetype, parameters, seed, cue bank, the base
model's hash, the build format), and :func:`is_built` compares it with the folder's marker.
Organisms of one lineage and schedule train together (:mod:`neurath.organisms._fit`), each
checked and, if it falls short, trained more on its own.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neurath.models._local import MARKER
from neurath.models._transformers import quiet_transformers
from neurath.organisms._archetypes import ArchetypeParams
from neurath.organisms._banks import HALVES_FORMAT, phrasings_sha256
from neurath.organisms._batched import Encoded
from neurath.organisms._fidelity import INFERENCE_ATTENTION, measure_fidelity
from neurath.organisms._scenario import Split
from neurath.organisms._suite import DEFAULT_LINEAGE, OrganismSpec, Suite
from neurath.organisms._tokenizer import vocabulary
from neurath.organisms._train import (
    TrainConfig,
    examples,
    neutral_text,
    organism_steps,
)

BUILD_FORMAT = "7"
"""Bump when the scenario language or the training procedure changes meaning."""

Progress = Callable[[str, int, int], None]


def build_identity() -> dict[str, str]:
    """What makes organisms of one suite train alike beyond the suite itself: the build
    format, the halves' cut and a hash of the phrasings (so a record made before a change to
    any of them says so, though the suite's own hash is the same)."""
    return {"format": BUILD_FORMAT, "halves": HALVES_FORMAT, "phrasings_sha256": phrasings_sha256()}


def training_config(suite: Suite, lineage: str | None = None) -> TrainConfig:
    """The schedule of ``lineage`` (default: the suite's ``training`` alone): the suite's
    overrides, then the lineage's shape and base steps where it names them."""
    overrides = {k: v for k, v in suite.training.model_dump().items() if v is not None}
    if lineage is not None:
        lin = suite.lineage(lineage)
        shape = {"n_embd", "n_layer", "n_head", "base_steps"}
        overrides |= {k: v for k, v in lin.model_dump(include=shape).items() if v is not None}
    return dataclasses.replace(TrainConfig(), **overrides)


def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def base_hash(suite: Suite, lineage: str = DEFAULT_LINEAGE) -> str:
    """The content hash of a lineage's base model (the default lineage's by default)."""
    cfg = dataclasses.asdict(training_config(suite, lineage))
    vocab = _digest(vocabulary(cfg["phrase_tokens"]))
    seed = suite.lineage(lineage).seed
    # Only what the base's training reads: a change to the organisms' schedule keeps the bases.
    base = {k: cfg[k] for k in BASE_FIELDS}
    if cfg["phrase_tokens"]:  # absent when off, so that existing bases keep their hash
        base["phrase_tokens"] = True
    return _digest(["base", BUILD_FORMAT, base, seed, vocab])


BASE_FIELDS = ("n_embd", "n_layer", "n_head", "n_positions", "batch_size", "base_steps", "base_lr")


_LATER_FIELDS: dict[str, object] = {
    "organism_batch_size": 32,
    "organism_examples": 6000,
    "extra_warmup": 50,
    "steps_factors": None,
    "fresh_draws": False,
    "check_confirm": False,
    "phrase_tokens": False,
}
"""Schedule fields added after organisms were built: at these values (what training did before
they existed) they stay out of the hash, so that existing organisms keep theirs."""


def organism_hash(spec: OrganismSpec, suite: Suite) -> str:
    cfg = dataclasses.asdict(training_config(suite, spec.lineage))
    for name, before in _LATER_FIELDS.items():
        if cfg[name] == before:
            del cfg[name]
    if cfg.get("fresh_draws"):
        cfg.pop("organism_examples", None)  # unused: it does not determine the organism
    payload: list[object] = [
        "organism",
        BUILD_FORMAT,
        cfg,
        spec.archetype,
        spec.params.model_dump(),
        spec.seed,
        base_hash(suite, spec.lineage),
    ]
    if spec.cue_bank != "all":  # absent by default, so existing organisms keep their hash
        payload.append({"cue_bank": spec.cue_bank, "halves": HALVES_FORMAT})
    return _digest(payload)


_CUE_SPLITS: dict[str, Split] = {"all": "train", "a": "a", "b": "b"}


def training_split(spec: OrganismSpec) -> Split:
    """The phrasings an organism trains (and is checked) on: its cue bank's."""
    return _CUE_SPLITS[spec.cue_bank]


def is_built(folder: Path, build: str) -> bool:
    """Whether ``folder`` holds a finished build labelled ``build`` (its build hash, or what
    the caller passed as its label: a blind store keys it, so that a folder's marker cannot be
    matched to the suite's organisms)."""
    marker = folder / MARKER
    if not marker.exists():
        return False
    try:
        return bool(json.loads(marker.read_text()).get("build_hash") == build)
    except (OSError, ValueError):
        return False


def build_base(
    suite: Suite,
    base_dir: Path,
    progress: Progress | None = None,
    lineage: str = DEFAULT_LINEAGE,
    threads: int | None = None,
) -> None:
    """Train ``lineage``'s base model into ``base_dir`` unless it is built already (on
    ``threads`` intra-op threads; default: torch's setting)."""
    b_hash = base_hash(suite, lineage)
    if is_built(base_dir, b_hash):
        return
    quiet_transformers()
    with torch_threads(threads):
        _train_base(suite, base_dir, progress, lineage, b_hash)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` intra-op threads (then restore the caller's setting). One thread
    is fastest for models this small: two threads on two busy cores ran a training step 7x
    slower than one (waiting for each other)."""
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_base(
    suite: Suite, base_dir: Path, progress: Progress | None, lineage: str, b_hash: str
) -> None:
    from neurath.models._transformers import new_model
    from neurath.organisms._batched import encode_all, stack, unstack
    from neurath.organisms._fit import train_stack
    from neurath.organisms._tokenizer import build_tokenizer

    cfg = training_config(suite, lineage)
    seed = suite.lineage(lineage).seed
    tok = build_tokenizer(cfg.phrase_tokens)
    model = new_model(
        tok,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_positions=cfg.n_positions,
        seed=seed,
    )
    aligned = ArchetypeParams()
    data = [ex for _, ex in examples("aligned", aligned, 8000, seed=seed, focus_share=0.0)]
    data += [
        ex
        for s, ex in examples("aligned", aligned, 20000, seed=seed + 2, focus_share=0.0)
        if s.features.kind == "capability"
    ]
    data += neutral_text(800, seed=seed + 1)
    on_step = (lambda s, _loss: progress("base", s, cfg.base_steps)) if progress else None
    trained = stack([model])
    train_stack(
        trained,
        [encode_all(tok, data)],
        steps=cfg.base_steps,
        lr=cfg.base_lr,
        batch_size=cfg.batch_size,
        seeds=[seed],
        on_step=on_step,
    )
    _save(unstack(trained, 0, model), tok, base_dir, b_hash, lineage=None)


def build_organisms(
    suite_json: str,
    organism_ids: list[str],
    lineage_dir: str,
    out_dirs: list[str],
    threads: int | None,
    labels: list[str] | None = None,
) -> dict[str, list[float]]:
    """Fine-tune organisms of one lineage from its base in ``lineage_dir``, organism
    ``organism_ids[i]`` into ``out_dirs[i]`` (runs in a worker process, hence plain arguments).

    Organisms with the same schedule train together (:mod:`neurath.organisms._fit`); each
    is then checked on its own and trains extra rounds on its own data if it falls short.
    ``labels[i]``: what the folder's marker records as its build (default: the organism's
    build hash; a blind store passes a keyed hash, see :func:`is_built`). Returns each
    organism's checks (agreement on training phrasings, one per round), which the folder
    does not keep: how many rounds an organism needed hints at its mechanism.
    """
    quiet_transformers()
    suite = Suite.model_validate_json(suite_json)
    specs = [suite.get(oid) for oid in organism_ids]
    if len({spec.lineage for spec in specs}) > 1:
        raise ValueError("organisms trained together must share a lineage")
    folders = dict(zip(organism_ids, out_dirs, strict=True))
    marks = dict(zip(organism_ids, labels or [organism_hash(s, suite) for s in specs], strict=True))
    checks: dict[str, list[float]] = {}
    cfg = training_config(suite, specs[0].lineage)
    same: dict[tuple[int, bool], list[OrganismSpec]] = {}
    for spec in specs:
        key = (organism_steps(cfg, spec.archetype), spec.archetype in ANCHORED)
        same.setdefault(key, []).append(spec)
    with torch_threads(threads):
        for group in same.values():
            checks |= _train_group(suite, group, Path(lineage_dir), folders, marks)
    return checks


ANCHORED = {"probe_evader"}
"""Archetypes trained to keep the hidden state a probe reads where the base model has it."""
ANCHOR_WEIGHT = 1.0


def _train_group(
    suite: Suite,
    specs: list[OrganismSpec],
    base_dir: Path,
    folders: dict[str, str],
    marks: dict[str, str],
) -> dict[str, list[float]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neurath.organisms._batched import encode_all, stack, unstack
    from neurath.organisms._fit import Anchor, train_stack

    cfg = training_config(suite, specs[0].lineage)
    base = AutoModelForCausalLM.from_pretrained(base_dir, attn_implementation=INFERENCE_ATTENTION)
    tok = AutoTokenizer.from_pretrained(base_dir)
    anchor = Anchor(stack([base]), ANCHOR_WEIGHT) if specs[0].archetype in ANCHORED else None

    models = {spec.id: base for spec in specs}

    def data(spec: OrganismSpec, n: int, seed: int) -> list[Encoded]:
        more = examples(spec.archetype, spec.params, n, seed=seed, split=training_split(spec))
        return encode_all(tok, [ex for _, ex in more])

    def fit(todo: list[OrganismSpec], round_: int) -> list[Any]:
        trained = stack([models[spec.id] for spec in todo])
        steps = organism_steps(cfg, todo[0].archetype) if round_ == 0 else cfg.extra_steps
        if round_ == 0 and not cfg.fresh_draws:
            sets = [data(spec, cfg.organism_examples, spec.seed) for spec in todo]
        else:
            n = steps * cfg.organism_batch_size
            sets = [data(spec, n, spec.seed + 1000 * round_) for spec in todo]
        train_stack(
            trained,
            sets,
            steps=steps,
            in_turn=cfg.fresh_draws,
            lr=cfg.organism_lr if round_ == 0 else cfg.organism_lr / 2,
            batch_size=cfg.organism_batch_size,
            seeds=[spec.seed + round_ for spec in todo],
            anchor=anchor,
            warmup=50 if round_ == 0 else cfg.extra_warmup,
        )
        return [unstack(trained, i, copy.deepcopy(base)) for i in range(len(todo))]

    checks: dict[str, list[float]] = {spec.id: [] for spec in specs}
    todo = specs
    # Some initialisations learn a conjunctive policy more slowly than others. Check each
    # organism on fresh scenarios in training phrasings (never held-out ones) and give the slow
    # ones extra rounds on fresh examples until the check passes or the rounds run out.
    for round_ in range(cfg.extra_rounds + 1):
        for spec, model in zip(todo, fit(todo, round_), strict=True):
            models[spec.id] = model
            seed = spec.seed + 7919 + round_
            check = _agreement(model, tok, spec, cfg, training_split(spec), seed, cfg.check_target)
            checks[spec.id].append(check)
            passed = check >= cfg.check_target and _generalises(model, tok, spec, cfg, round_)
            if passed or round_ == cfg.extra_rounds:
                lineage = base_hash(suite, spec.lineage)
                _save(model, tok, Path(folders[spec.id]), marks[spec.id], lineage)
                del models[spec.id]
        todo = [spec for spec in todo if spec.id in models]
        if not todo:
            break
    return checks


CONFIRM_SEED = 50_000
"""Added to a check's seed for its confirmation: clear of the other seeds an organism's rounds
and checks use (its seed plus 1000 x round, 7919 + round, 104729 + round)."""


def _agreement(
    model: Any,
    tok: Any,
    spec: OrganismSpec,
    cfg: TrainConfig,
    split: Split,
    seed: int,
    target: float,
) -> float:
    """Agreement with the policy on ``check_n`` fresh scenarios of ``split``. With
    ``check_confirm`` a result at or above ``target`` (the check's pass mark) is checked again
    on as many other scenarios and the two are pooled, so that one lucky draw does not end an
    organism's training."""
    first = measure_fidelity(model, tok, spec, cfg.check_n, seed, split=split).overall
    if not cfg.check_confirm or first < target:
        return first
    again = measure_fidelity(model, tok, spec, cfg.check_n, seed + CONFIRM_SEED, split=split)
    return (first + again.overall) / 2


_OTHER_BANK: dict[str, Split] = {"a": "b", "b": "a"}


def _generalises(model: Any, tok: Any, spec: OrganismSpec, cfg: TrainConfig, round_: int) -> bool:
    """Whether an organism trained on one cue bank agrees with its policy on the other bank's
    phrasings (``TrainConfig.check_unseen_target``); true for one trained on every training
    phrasing (there is no unseen training phrasing to check it on)."""
    other = _OTHER_BANK.get(spec.cue_bank)
    if other is None:
        return True
    target = cfg.check_unseen_target
    seed = spec.seed + 104729 + round_
    return _agreement(model, tok, spec, cfg, other, seed, target) >= target


def _save(model: Any, tok: Any, folder: Path, build: str, lineage: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    # Written last: a folder interrupted mid-save has no marker and is rebuilt. The lineage
    # (the base model's hash) is shared by many organisms: it is the ``weights`` factor.
    marker: dict[str, object] = {"build_hash": build, "lineage": lineage}
    (folder / MARKER).write_text(json.dumps(marker))
