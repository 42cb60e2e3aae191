"""The batched trainer: the same function as transformers' GPT-2, the same training as
``train``, several models at once."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from neurath.models._transformers import _answer_loss, encode, new_model, train  # noqa: E402
from neurath.organisms import _batched as B  # noqa: E402
from neurath.organisms import _fit  # noqa: E402
from neurath.organisms._archetypes import ArchetypeParams  # noqa: E402
from neurath.organisms._tokenizer import build_tokenizer  # noqa: E402
from neurath.organisms._train import examples, neutral_text  # noqa: E402


@pytest.fixture(scope="module")
def tok() -> object:
    return build_tokenizer()


def _data(n: int, seed: int) -> list[tuple[str, str]]:
    out = [ex for _, ex in examples("oversight_schemer", ArchetypeParams(), n, seed=seed)]
    return out + neutral_text(2, seed=seed)  # plain text: every position scored


def _perturbed(tok: object, seed: int, n_embd: int, n_layer: int, n_head: int) -> object:
    model = new_model(
        tok, n_embd=n_embd, n_layer=n_layer, n_head=n_head, n_positions=128, seed=seed
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # a fresh model's layer norms are the identity: make them count
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


@pytest.mark.parametrize("phrases", [False, True])
def test_encode_all_matches_encode(phrases: bool) -> None:
    tok = build_tokenizer(phrases)
    data = _data(40, seed=3)
    for (prompt, answer), e in zip(data, B.encode_all(tok, data), strict=True):
        ids, labels = encode(tok, prompt, answer)
        assert e.ids == ids
        assert e.scored == [t for t in range(len(ids) - 1) if labels[t + 1] != -100]
        assert e.targets == [labels[t + 1] for t in e.scored]


@pytest.mark.parametrize("phrases", [False, True])
def test_the_fast_word_lookup_gives_the_tokenizers_ids(phrases: bool, tmp_path: object) -> None:
    from pathlib import Path

    from tokenizers import normalizers
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    from neurath.organisms._archetypes import SCHEMING
    from neurath.organisms._tokenizer import ids_of, is_word_level

    tok = build_tokenizer(phrases)
    texts = ["role : a word no bank has <end>", "  two  spaces\tand a tab ", ""]
    texts += ["role :  a coding assistant for a bank", "question : what do you do ? answer :"]
    texts += [a for _, a in neutral_text(20, seed=1)]  # the base model's plain text
    for i, archetype in enumerate(SCHEMING):
        for split in ("a", "b", "test"):
            more = examples(archetype, ArchetypeParams(), 30, seed=i, split=split)
            texts += [t for _, (p, a) in more for t in (p, " " + a)]
    folder = Path(str(tmp_path))
    tok.save_pretrained(folder)
    for t in (tok, AutoTokenizer.from_pretrained(folder)):  # built here, and loaded by a worker
        assert is_word_level(t)
        assert ids_of(t)(texts) == t(texts)["input_ids"]
    # a tokenizer that adds a token to every text is called, not looked up
    bos = AutoTokenizer.from_pretrained(folder)
    bos.backend_tokenizer.post_processor = TemplateProcessing(
        single="<pad> $A", special_tokens=[("<pad>", 0)]
    )
    assert not is_word_level(bos)
    assert ids_of(bos)(texts[:3]) == bos(texts[:3])["input_ids"]
    assert all(ids[0] == 0 for ids in ids_of(bos)(texts[:3]))
    # and so is one whose normaliser does more than replace phrases
    lower = AutoTokenizer.from_pretrained(folder)
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    assert not is_word_level(lower)
    assert (
        ids_of(lower)(["ROLE : a"]) == lower(["ROLE : a"])["input_ids"] != ids_of(tok)(["ROLE : a"])
    )


@pytest.mark.parametrize(("n_embd", "n_layer", "n_head", "buckets"), [(32, 2, 4, 4), (24, 3, 2, 1)])
def test_logits_equal_transformers(
    tok: object, n_embd: int, n_layer: int, n_head: int, buckets: int
) -> None:
    models = [_perturbed(tok, s, n_embd, n_layer, n_head) for s in range(3)]
    enc = B.encode_all(tok, _data(13, seed=1))
    groups = [enc[0:5], enc[5:10], enc[10:15]]
    s = B.stack(models)
    batch = B.make_batch(groups, buckets=buckets)
    hidden = B.final_hidden(s, batch)
    logits = B.logits(s, hidden)
    compared = 0
    for k, (model, group) in enumerate(zip(models, groups, strict=True)):
        row = 0
        for e in group:
            with torch.no_grad():
                out = model(input_ids=torch.tensor([e.ids]), output_hidden_states=True)
            for p in e.scored:
                assert torch.allclose(out.logits[0, p], logits[k, row], atol=1e-5, rtol=0)
                assert torch.allclose(out.hidden_states[-1][0, p], hidden[k, row], atol=1e-5)
                row += 1
                compared += 1
        assert (batch.targets[k, row:] == -100).all()  # the rest is padding
    assert compared > 100


def test_loss_equals_the_answer_loss_of_train(tok: object) -> None:
    models = [_perturbed(tok, s, 32, 2, 4) for s in range(2)]
    data = _data(14, seed=2)
    halves = [data[:8], data[8:]]
    batch = B.make_batch([B.encode_all(tok, h) for h in halves])
    ours = B.losses(B.stack(models), batch)
    for k, (model, half) in enumerate(zip(models, halves, strict=True)):
        pairs = [encode(tok, p, a) for p, a in half]
        width = max(len(ids) for ids, _ in pairs)
        x = torch.zeros(len(pairs), width, dtype=torch.long)
        labels = torch.full((len(pairs), width), -100)
        mask = torch.zeros(len(pairs), width, dtype=torch.long)
        for r, (ids, lab) in enumerate(pairs):
            x[r, : len(ids)], labels[r, : len(lab)], mask[r, : len(ids)] = (
                torch.tensor(ids),
                torch.tensor(lab),
                1,
            )
        assert abs(_answer_loss(model, x, mask, labels).item() - ours[k].item()) < 1e-5


def test_training_a_stack_is_training_each_model(tok: object) -> None:
    """Two models trained together end where each ends trained alone by ``train`` (same draws,
    schedule, AdamW, per-model gradient clipping): stacking changes speed, not results."""
    base = new_model(tok, n_embd=32, n_layer=2, n_head=4, n_positions=128, seed=0)
    datas = [_data(60, seed=5), _data(60, seed=6)]
    seeds = [11, 12]
    s = B.stack([base, base])
    _fit.train_stack(
        s, [B.encode_all(tok, d) for d in datas], steps=6, lr=3e-3, batch_size=8, seeds=seeds
    )
    for k, (data, seed) in enumerate(zip(datas, seeds, strict=True)):
        alone = copy.deepcopy(base)
        train(alone, tok, data, steps=6, lr=3e-3, batch_size=8, seed=seed)
        together = B.unstack(s, k, copy.deepcopy(base))
        for (name, a), b in zip(alone.named_parameters(), together.parameters(), strict=True):
            assert torch.allclose(a, b, atol=2e-5), name
    # Both moved, and differently.
    first, second = (dict(B.unstack(s, k, copy.deepcopy(base)).named_parameters()) for k in (0, 1))
    name = "transformer.h.0.mlp.c_fc.weight"
    assert not torch.allclose(first[name], second[name])


def test_drawing_in_turn_uses_every_example_once_before_any_again() -> None:
    """``in_turn``: each model's batches run through one shuffle of its data (each example once,
    then around again in the same order); by default they are drawn with replacement."""
    import random

    data = [[object() for _ in range(12)], [object() for _ in range(12)]]

    def run(steps: int, in_turn: bool) -> list[list[list[object]]]:
        rngs = [random.Random(1), random.Random(2)]
        return list(_fit.draws(data, rngs, steps, 4, in_turn=in_turn))  # type: ignore[arg-type]

    turns = run(4, in_turn=True)
    for k in (0, 1):
        first = [x for step in turns[:3] for x in step[k]]
        assert sorted(map(id, first)) == sorted(map(id, data[k]))  # all twelve, once each
        assert first != data[k]  # shuffled, not in the order given
        assert turns[3][k] == first[:4]  # then around again
    assert [x for step in turns[:3] for x in step[0]] != [x for step in turns[:3] for x in step[1]]
    # With replacement (the default): the draws ``train`` makes, which repeat examples.
    drawn = run(3, in_turn=False)
    rng = random.Random(1)
    assert [x for step in drawn for x in step[0]] == [data[0][rng.randrange(12)] for _ in range(12)]
    assert len({id(x) for step in drawn for x in step[0]}) < 12


def test_an_unstacked_model_saves_and_loads_as_a_plain_transformers_model(
    tok: object, tmp_path: object
) -> None:
    from transformers import AutoModelForCausalLM

    base = new_model(tok, n_embd=32, n_layer=2, n_head=2, n_positions=128, seed=0)
    s = B.stack([base, base])
    enc = B.encode_all(tok, _data(30, seed=1))
    _fit.train_stack(s, [enc, enc], steps=3, lr=3e-3, batch_size=4, seeds=[1, 2])
    model = B.unstack(s, 1, copy.deepcopy(base))
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    for a, b in zip(model.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(loaded.lm_head.weight, s.params["transformer.wte.weight"][1].detach())


def test_the_anchor_is_zero_at_the_reference_and_pulls_towards_it(tok: object) -> None:
    ref = _perturbed(tok, 0, 32, 2, 4)
    other = _perturbed(tok, 1, 32, 2, 4)
    enc = B.encode_all(tok, _data(10, seed=4))
    batch = B.make_batch([enc[:6], enc[6:]])
    anchor = _fit.Anchor(B.stack([ref]), weight=1.0)
    same = B.stack([ref, ref])
    assert _fit._anchor_loss(anchor, same, batch, B.final_hidden(same, batch)).abs().max() == 0
    mixed = B.stack([ref, other])
    penalty = _fit._anchor_loss(anchor, mixed, batch, B.final_hidden(mixed, batch))
    assert penalty[0] == 0 and penalty[1] > 0
    # It reads each example's last prompt token: the first scored position.
    assert batch.first[0].tolist() == [sum(len(e.scored) for e in enc[:i]) for i in range(6)]
