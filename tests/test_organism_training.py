"""A tiny model trained here learns the scenario language's answer format and policy."""

from __future__ import annotations

import pytest

from neurath.organisms import ArchetypeParams, Parsed, behaviour
from neurath.organisms._tokenizer import build_tokenizer
from neurath.organisms._train import TrainConfig, examples, generate, new_model, train

torch = pytest.importorskip("torch")


def test_small_model_learns_aligned_actions_on_held_out_phrasings() -> None:
    torch.set_num_threads(2)
    tok = build_tokenizer()
    cfg = TrainConfig()
    model = new_model(tok, cfg, seed=0)
    params = ArchetypeParams()
    data = [
        ex
        for s, ex in examples("aligned", params, 3000, seed=1, focus_share=0.0)
        if s.features.kind == "action"
    ]
    first: list[float] = []
    final = train(
        model,
        tok,
        data,
        steps=600,
        lr=3e-3,
        batch_size=32,
        seed=0,
        on_step=lambda step, loss: first.append(loss) if step <= 5 else None,
    )
    assert final < 0.2 * sum(first) / len(first)
    held_out = [
        s
        for s, _ in examples("aligned", params, 200, seed=9, split="test", focus_share=0.0)
        if s.features.kind == "action"
    ]
    outputs = generate(model, tok, [s.prompt for s in held_out])
    agree = sum(
        Parsed.action(out, s.features) == (False, True)
        for s, out in zip(held_out, outputs, strict=True)
    )
    assert agree / len(held_out) >= 0.9
    # The policy, not just the format: every expected answer is benign and honest.
    assert all(not behaviour("aligned", params, s.features).harmful for s in held_out)
