"""Fine-tuning a stack of models (:mod:`neurath.organisms._batched`'s forward) with one AdamW
step for all of them, and letting a model leave the stack mid-schedule.

:func:`train_stack` is :func:`neurath.models._transformers.train` for ``K`` models at once: the
same draws (each model its own data and seed), warm-up and linear decay, AdamW (elementwise, so
one optimiser over the stacked tensors is ``K`` optimisers) and gradient clipping per model. A
``leave`` callback may take models out at any step (an organism that already does what its
policy says need not train on): the stack, the optimiser's moments and the draws of the others
go on exactly as they would have, so a model's weights do not depend on who trains beside it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
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


Leave = Callable[[int, Stack], Sequence[int]]
"""Called after each step with the number of steps done and the stack as it stands: the rows
(of the stack now, not of the first one) that stop training here. The caller copies out what
it wants of them (:func:`~neurath.organisms._batched.unstack`) before returning."""


def _optimizer(params: Sequence[Any]) -> Any:
    import torch

    # The rate is set before every step (see ``train_stack``).
    return torch.optim.AdamW(params, lr=0.0, weight_decay=0.0, fused=True)


def _keep(s: Stack, opt: Any, rows: list[int]) -> Any:
    """Shrink ``s`` to ``rows`` in place, with the optimiser's state of those rows; return the
    optimiser of the new tensors."""
    import torch

    index = torch.tensor(rows, dtype=torch.long)
    old = list(s.params.values())
    s.params = {
        n: p.detach().index_select(0, index).requires_grad_(True) for n, p in s.params.items()
    }
    new = _optimizer(list(s.params.values()))
    for was, now in zip(old, s.params.values(), strict=True):
        state = opt.state.get(was)
        if state:
            new.state[now] = {
                "step": state["step"].clone(),
                "exp_avg": state["exp_avg"].index_select(0, index),
                "exp_avg_sq": state["exp_avg_sq"].index_select(0, index),
            }
    return new


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
    leave: Leave | None = None,
) -> list[float]:
    """Train every model of ``s`` in place, model ``k`` on ``data[k]`` drawn with ``seeds[k]``
    (the same draws and schedule as :func:`neurath.models._transformers.train`); return the mean
    loss over the last 50 steps of each model still in ``s`` at the end. ``anchor`` adds its
    penalty to every model's loss; ``leave`` takes models out of ``s`` (see :data:`Leave`)."""
    import torch

    rngs = [random.Random(seed) for seed in seeds]
    data = list(data)
    opt = _optimizer(list(s.params.values()))
    recent: list[Any] = []
    for step in range(steps):
        groups = [
            [d[rng.randrange(len(d))] for _ in range(batch_size)]
            for d, rng in zip(data, rngs, strict=True)
        ]
        batch = make_batch(groups)
        hidden = final_hidden(s, batch)
        each = losses(s, batch, hidden)
        total = each if anchor is None else each + _anchor_loss(anchor, s, batch, hidden)
        total.sum().backward()
        params = list(s.params.values())
        _clip(params, 1.0)
        # Warm-up, then a linear decay to a tenth (``LambdaLR``'s rate, set by hand so that
        # the optimiser can be rebuilt when models leave).
        factor = min(1.0, (step + 1) / warmup) * max(0.1, 1.0 - step / max(steps, 1))
        for group in opt.param_groups:
            group["lr"] = lr * factor
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = each.detach()
        recent = [*recent[-49:], value]
        if on_step is not None:
            on_step(step + 1, value)
        gone = set(leave(step + 1, s)) if leave is not None else set()
        if gone:
            rows = [r for r in range(len(rngs)) if r not in gone]
            opt = _keep(s, opt, rows)
            if not rows:
                return []
            rngs, data = [rngs[r] for r in rows], [data[r] for r in rows]
            recent = [v[rows] for v in recent]
    mean: list[float] = torch.stack(recent).mean(0).tolist() if recent else [0.0] * len(rngs)
    return mean
