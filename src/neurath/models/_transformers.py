"""Transformers utilities: train a causal LM on (prompt, answer) pairs, create a tiny GPT-2,
and generate greedily in batches.

Generic over models and tokenizers: the organisms' training and every local target model use
them, so they live here, below both. Small models train several times faster with eager
attention than with SDPA on a CPU; the loss covers only the answer tokens, except for examples
with an empty prompt, which are plain language modelling.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from neurath.models._target import MAX_NEW_TOKENS

Example = tuple[str, str]
"""(prompt, answer); the loss covers the answer only. An empty prompt means plain text."""


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
    encoded = [encode(tokenizer, prompt, answer) for prompt, answer in data]
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


def encode(tokenizer: Any, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids of prompt and answer, and labels (-100 on the prompt: not in the loss)."""
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


def new_model(
    tokenizer: Any, *, n_embd: int, n_layer: int, n_head: int, n_positions: int, seed: int
) -> Any:
    """A fresh tiny GPT-2 with eager attention, sized for ``tokenizer``'s vocabulary."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    # Eager attention trains several times faster than SDPA at this size on a CPU; exact GELU is
    # one fused kernel where GPT-2's tanh approximation is five, which dominated generation.
    settings: dict[str, Any] = {"attn_implementation": "eager", "activation_function": "gelu"}
    config = GPT2Config(
        **settings,
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
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
