"""Fine-tuning a stack of models (:mod:`neurath.organisms._batched`'s forward) with one AdamW
step for all of them.

:func:`train_stack` is :func:`neurath.models._transformers.train` for ``K`` models at once: the
same draws (each model its own data and seed), warm-up and linear decay, AdamW (elementwise, so
one optimiser over the stacked tensors is ``K`` optimisers) and gradient clipping per model.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from neurath.organisms._batched import Batch, Encoded, Stack, final_hidden, losses, make_batch


def _clip(params: Sequence[Any], max_norm: float) -> None:
    """``clip_grad_norm_`` for each model of the stack separately."""
    import torch

    k = params[0].shape[0]
    sq = torch.zeros(k)
    for p in params:
        if p.grad is not None:
            sq += p.grad.pow(2).reshape(k, -1).sum(1)
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for p in params:
        if p.grad is not None:
            p.grad.mul_(coef.view(k, *([1] * (p.dim() - 1))))


@dataclass(frozen=True)
class Anchor:
    """Keep the models' hidden states where a probe reads them close to those of ``reference``
    (one model, frozen: the base) on the same inputs: ``weight`` times the mean squared distance
    of the final hidden state at each example's last prompt token."""

    reference: Stack
    weight: float


def _anchor_loss(anchor: Anchor, s: Stack, batch: Batch, hidden: Any) -> Any:
    import torch

    k, b = batch.first.shape
    ref = anchor.reference
    with torch.no_grad():
        expanded = Stack(ref.config, {n: p.expand(k, *p.shape[1:]) for n, p in ref.params.items()})
        target = final_hidden(expanded, batch)
    rows = batch.first.unsqueeze(-1).expand(k, b, hidden.shape[-1])
    diff = hidden.gather(1, rows) - target.gather(1, rows)
    return anchor.weight * diff.pow(2).mean(dim=(1, 2))


def draws(
    data: Sequence[Sequence[Encoded]],
    rngs: Sequence[random.Random],
    steps: int,
    batch_size: int,
    *,
    in_turn: bool = False,
) -> Iterator[list[list[Encoded]]]:
    """Each step's batch for every model: ``batch_size`` examples of its data, drawn with
    replacement with its ``rng``, or (``in_turn``) taken in turn from one shuffle of it, so
    that every example is used once before any is used again."""
    if in_turn:
        data = [rng.sample(list(d), len(d)) for d, rng in zip(data, rngs, strict=True)]
    for step in range(steps):
        if in_turn:
            at = step * batch_size
            yield [[d[(at + j) % len(d)] for j in range(batch_size)] for d in data]
        else:
            yield [
                [d[rng.randrange(len(d))] for _ in range(batch_size)]
                for d, rng in zip(data, rngs, strict=True)
            ]


def train_stack(
    s: Stack,
    data: Sequence[Sequence[Encoded]],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seeds: Sequence[int],
    anchor: Anchor | None = None,
    warmup: int = 50,
    on_step: Callable[[int, Any], None] | None = None,
    in_turn: bool = False,
) -> list[float]:
    """Train every model of ``s`` in place, model ``k`` on ``data[k]`` drawn with ``seeds[k]``
    (the same draws and schedule as :func:`neurath.models._transformers.train`; ``in_turn``:
    see :func:`draws`); return each model's mean loss over the last 50 steps. The learning rate
    is ``lr`` times a warm-up factor (rising to 1 over ``warmup`` steps) times a linear decay
    (from 1 at the first step to a tenth at 90 % of the steps). ``anchor`` adds its penalty to
    every model's loss."""
    import torch

    rngs = [random.Random(seed) for seed in seeds]
    params = list(s.params.values())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warmup) * max(0.1, 1.0 - i / max(steps, 1))
    )
    recent: list[Any] = []
    for step, groups in enumerate(draws(data, rngs, steps, batch_size, in_turn=in_turn)):
        batch = make_batch(groups)
        hidden = final_hidden(s, batch)
        each = losses(s, batch, hidden)
        total = each if anchor is None else each + _anchor_loss(anchor, s, batch, hidden)
        total.sum().backward()
        _clip(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        value = each.detach()
        recent = [*recent[-49:], value]
        if on_step is not None:
            on_step(step + 1, value)
    mean: list[float] = torch.stack(recent).mean(0).tolist() if recent else [0.0] * len(seeds)
    return mean
