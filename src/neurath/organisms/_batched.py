"""Training tiny GPT-2s fast: several models of one shape in one forward pass, and only the
computation the loss needs.

The parameters of ``K`` models (organisms of one lineage) are stacked into ``[K, ...]`` tensors
(:class:`Stack`), and a functional GPT-2 forward with batched matrix products runs all of them in
one pass (:mod:`neurath.organisms._fit` trains them: one AdamW step updates every model). Each
trained model is copied back into an ordinary transformers model (:func:`unstack`). The forward
is transformers' ``GPT2LMHeadModel`` (exact GELU, tied LM head; a test checks the logits agree)
computing less: padding is never computed (projections and MLPs run on the packed real tokens,
scattered into padded layouts, bucketed by length, only for attention), and the last layer runs
only where the loss reads it (keys and values at every token; queries, output projection and
MLP at the positions that predict answer tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neurath.models._transformers import Example
from neurath.organisms._tokenizer import ids_of


@dataclass(frozen=True)
class Encoded:
    """One training example as the forward needs it."""

    ids: list[int]
    scored: list[int]
    """Positions whose next token is in the loss (the answer's, all of plain text)."""
    targets: list[int]
    """The token each scored position predicts."""


def encode_all(tokenizer: Any, data: Sequence[Example]) -> list[Encoded]:
    """:func:`~neurath.models._transformers.encode` of every example, in two ``ids_of`` calls."""
    encode = ids_of(tokenizer)
    prompts = encode([p for p, _ in data]) if data else []
    answers = encode([" " + a if p else a for p, a in data]) if data else []
    out = []
    for (prompt, _), p_ids, a_ids in zip(data, prompts, answers, strict=True):
        ids = (p_ids if prompt else []) + a_ids
        start = len(ids) - len(a_ids)  # the first answer token; plain text is all answer
        scored = list(range(max(start - 1, 0), len(ids) - 1))
        out.append(Encoded(ids, scored, ids[scored[0] + 1 :] if scored else []))
    return out


@dataclass
class Stack:
    """``K`` GPT-2 models of one configuration, each parameter stacked along a first axis."""

    config: Any
    params: dict[str, Any]
    """transformers' parameter names (``transformer.h.0.ln_1.weight``...) -> ``[K, ...]``."""


def stack(models: Sequence[Any]) -> Stack:
    """The models' parameters, copied into one stack of trainable tensors."""
    import torch

    named = [dict(m.named_parameters()) for m in models]
    params = {
        name: torch.stack([n[name].detach() for n in named]).clone().requires_grad_(True)
        for name in named[0]
    }
    return Stack(models[0].config, params)


def unstack(s: Stack, index: int, model: Any) -> Any:
    """Copy model ``index`` of the stack into ``model`` (same configuration); return it."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(s.params[name][index])
    model.eval()
    return model


@dataclass(frozen=True)
class Bucket:
    """Examples of similar length (of any of the models), padded together for attention."""

    rows: int
    width: int
    """The longest example in the bucket: the attention layout is [rows, width]; the last
    layer's queries are [rows, q_width], ``q_mask`` the keys each may attend to."""
    q_width: int
    q_mask: Any


@dataclass(frozen=True)
class Batch:
    """``K`` batches of ``B`` examples each, packed (see :func:`make_batch`): ``N`` tokens and
    ``M`` scored positions per model (padded to the most of any model)."""

    ids: Any
    """[K, N] the real tokens of each model's batch, packed."""
    pos: Any
    """[K, N] their positions."""
    buckets: list[Bucket]
    slots: Any
    """[K*N] where each token sits in the buckets' padded layouts, one after another (padding:
    one past them); ``back``: the slot each packed row reads back (padding reads slot 0)."""
    back: Any
    scored: Any
    """[K*M] packed rows whose next token is scored; ``q_slots`` and ``q_back``: where they
    sit in the last layer's query layouts, as ``slots`` and ``back``."""
    q_slots: Any
    q_back: Any
    targets: Any
    """[K, M] the scored tokens (-100 for padding)."""
    first: Any
    """[K, B] index into the M scored rows of each example's first one (its last prompt token
    when it has a prompt): where a probe reads a model's hidden state."""


BUCKETS = 4
"""Attention layouts per batch: examples sorted by length, padded in groups (it is quadratic)."""


def _ints(values: Sequence[Any]) -> Any:
    """A long tensor of (lists of) ints, through numpy (``torch.tensor`` of a list is slow)."""
    import numpy as np
    import torch

    return torch.from_numpy(np.asarray(values, dtype=np.int64))


def make_batch(groups: Sequence[Sequence[Encoded]], buckets: int = BUCKETS) -> Batch:
    """Pack ``K`` groups of ``B`` examples (the same ``B`` for each model)."""
    import torch

    k, b = len(groups), len(groups[0])
    n = max(sum(len(e.ids) for e in g) for g in groups)
    m = max(sum(len(e.scored) for e in g) for g in groups)
    # Every example of every model, longest first, cut into buckets of consecutive rows.
    flat = sorted(
        ((gi, bi) for gi in range(k) for bi in range(b)), key=lambda r: -len(groups[r[0]][r[1]].ids)
    )
    size = -(-len(flat) // max(1, min(buckets, len(flat))))
    where: dict[tuple[int, int], tuple[int, int]] = {}  # example -> (token slot, query slot)
    layout, at, q_at = [], 0, 0
    for start in range(0, len(flat), size):
        rows = flat[start : start + size]
        width = max(len(groups[gi][bi].ids) for gi, bi in rows)
        q_width = max(max(len(groups[gi][bi].scored) for gi, bi in rows), 1)
        q_pos = []
        for r, (gi, bi) in enumerate(rows):
            where[gi, bi] = (at + r * width, q_at + r * q_width)
            row_scored = groups[gi][bi].scored
            q_pos.append(row_scored + [0] * (q_width - len(row_scored)))
        mask = torch.arange(width).view(1, 1, width) <= _ints(q_pos).unsqueeze(-1)
        layout.append(Bucket(len(rows), width, q_width, mask.unsqueeze(1)))
        at, q_at = at + len(rows) * width, q_at + len(rows) * q_width
    columns: list[list[int]] = [[] for _ in range(7)]
    ids, pos, slots, scored, q_slots, targets, first = columns
    for gi, g in enumerate(groups):
        offset, row_m = 0, 0
        for bi, e in enumerate(g):
            length, s = len(e.ids), len(e.scored)
            slot, q_slot = where[gi, bi]
            ids += e.ids
            pos += range(length)
            slots += range(slot, slot + length)
            scored += [gi * n + offset + p for p in e.scored]
            q_slots += range(q_slot, q_slot + s)
            targets += e.targets
            first.append(row_m)
            offset, row_m = offset + length, row_m + s
        ids += [0] * (n - offset)
        pos += [0] * (n - offset)
        slots += [at] * (n - offset)
        scored += [gi * n] * (m - row_m)
        q_slots += [q_at] * (m - row_m)
        targets += [-100] * (m - row_m)
    slots_t, q_slots_t = _ints(slots), _ints(q_slots)
    return Batch(
        ids=_ints(ids).view(k, n),
        pos=_ints(pos).view(k, n),
        buckets=layout,
        slots=slots_t,
        back=torch.where(slots_t < at, slots_t, 0),
        scored=_ints(scored),
        q_slots=q_slots_t,
        q_back=torch.where(q_slots_t < q_at, q_slots_t, 0),
        targets=_ints(targets).view(k, m),
        first=_ints(first).view(k, b),
    )


def _ln(x: Any, w: Any, b: Any, eps: float) -> Any:
    import torch
    import torch.nn.functional as F

    return torch.addcmul(b.unsqueeze(1), F.layer_norm(x, x.shape[-1:], eps=eps), w.unsqueeze(1))


def _linear(x: Any, w: Any, b: Any) -> Any:
    import torch

    return torch.baddbmm(b.unsqueeze(1), x, w)


def _scatter(x: Any, slots: Any, size: int) -> Any:
    """Packed rows ``x`` ([..., C]) into a zero-padded [size, C] layout (one spare row)."""
    import torch

    c = x.shape[-1]
    out = torch.zeros(size + 1, c, dtype=x.dtype).index_copy(0, slots, x.reshape(-1, c))
    return out[:size]


def _heads(x: Any, rows: int, width: int, parts: int, heads: int) -> Any:
    """[rows*width, parts*E] -> ``parts`` tensors [rows, heads, width, E/heads]."""
    d = x.shape[-1] // (parts * heads)
    return x.reshape(rows, width, parts, heads, d).permute(2, 0, 3, 1, 4)


def _attention(s: Stack, batch: Batch, qkv: Any, last: bool) -> Any:
    """Causal multi-head attention of the packed ``qkv`` ([K, N, 3E]), bucket by bucket; at
    every packed token ([K, N, E]), or at the scored ones only ([K, M, E]) for the last layer."""
    import torch
    import torch.nn.functional as F

    k, n, e3 = qkv.shape
    e, heads = e3 // 3, s.config.n_head
    sizes = [bk.rows * bk.width for bk in batch.buckets]
    # One split, not a slice per bucket: the backward of a slice fills a zero gradient of the
    # whole layout for each bucket.
    if last:  # keys and values everywhere, queries only where the loss reads
        parts = _scatter(qkv[..., e:], batch.slots, sum(sizes)).split(sizes)
        q_sizes = [bk.rows * bk.q_width for bk in batch.buckets]
        q_all = qkv.reshape(k * n, e3).index_select(0, batch.scored)[:, :e]
        q_parts = _scatter(q_all, batch.q_slots, sum(q_sizes)).split(q_sizes)
    else:
        parts = _scatter(qkv, batch.slots, sum(sizes)).split(sizes)
    outs = []
    for i, bk in enumerate(batch.buckets):
        if last:
            kh, vh = _heads(parts[i], bk.rows, bk.width, 2, heads)
            (qh,) = _heads(q_parts[i], bk.rows, bk.q_width, 1, heads)
            out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=bk.q_mask)
        else:
            qh, kh, vh = _heads(parts[i], bk.rows, bk.width, 3, heads)
            out = F.scaled_dot_product_attention(qh, kh, vh, is_causal=True)
        outs.append(out.transpose(1, 2).reshape(-1, e))
    merged = torch.cat(outs)
    if last:
        return merged.index_select(0, batch.q_back).view(k, batch.targets.shape[1], e)
    return merged.index_select(0, batch.back).view(k, n, e)


def _block(s: Stack, i: int, h: Any, batch: Batch, last: bool) -> Any:
    import torch.nn.functional as F

    p, eps = s.params, s.config.layer_norm_epsilon
    pre = f"transformer.h.{i}."
    k, n, e = h.shape
    a = _ln(h, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], eps)
    qkv = _linear(a, p[pre + "attn.c_attn.weight"], p[pre + "attn.c_attn.bias"])
    out = _attention(s, batch, qkv, last)
    resid = h.reshape(k * n, e).index_select(0, batch.scored).view(out.shape) if last else h
    h = resid + _linear(out, p[pre + "attn.c_proj.weight"], p[pre + "attn.c_proj.bias"])
    a = _ln(h, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], eps)
    a = F.gelu(_linear(a, p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"]))
    return h + _linear(a, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])


def final_hidden(s: Stack, batch: Batch) -> Any:
    """[K, M, E] each model's last hidden state (after the final layer norm) at the scored
    positions: what its LM head reads, and what ``hidden_states[-1]`` of transformers holds."""
    import torch
    import torch.nn.functional as F

    p = s.params
    wte, wpe = p["transformer.wte.weight"], p["transformer.wpe.weight"]
    k, vocab, e = wte.shape
    model = torch.arange(k).view(k, 1)
    # Model k's rows of the stacked tables: token id (position) i of model k is row k*V + i.
    h = F.embedding(batch.ids + model * vocab, wte.reshape(-1, e)) + F.embedding(
        batch.pos + model * wpe.shape[1], wpe.reshape(-1, e)
    )
    layers = s.config.n_layer
    for i in range(layers):
        h = _block(s, i, h, batch, last=i == layers - 1)
    eps = s.config.layer_norm_epsilon
    return _ln(h, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"], eps)


def logits(s: Stack, hidden: Any) -> Any:
    """[K, M, V] the tied LM head on hidden states from :func:`final_hidden`."""
    import torch

    return torch.bmm(hidden, s.params["transformer.wte.weight"].transpose(1, 2))


def losses(s: Stack, batch: Batch, hidden: Any | None = None) -> Any:
    """[K] each model's mean next-token loss on its scored positions."""
    import torch.nn.functional as F

    hidden = final_hidden(s, batch) if hidden is None else hidden
    out = logits(s, hidden)
    k, m, v = out.shape
    each = F.cross_entropy(
        out.reshape(k * m, v), batch.targets.reshape(-1), ignore_index=-100, reduction="none"
    ).view(k, m)
    counts = (batch.targets != -100).sum(1).clamp(min=1)
    return each.sum(1) / counts
