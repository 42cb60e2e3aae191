"""Building a suite into an organism store: each lineage's base model once, then every
organism, cached by content hash, and each one's ground truth written to its card."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurath._errors import NeurathError
from neurath.organisms._build import (
    base_hash,
    build_base,
    build_organisms,
    is_built,
    organism_hash,
)
from neurath.organisms._suite import OrganismSpec, Suite
from neurath.testbed._store import OrganismCard, OrganismStore

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total): stages ``base`` (steps of the one base model, or base
models when several train at once) and ``organisms``."""

GROUP_SIZE = 4
"""Organisms of one lineage and schedule trained together in one process (see
:mod:`neurath.organisms._fit`): more per group saves little at this model size (compute,
not per-operation overhead, dominates) and balances the workers worse."""


@dataclass(frozen=True)
class _Group:
    lineage: str
    specs: tuple[OrganismSpec, ...]
    labels: tuple[str, ...]
    """What each organism's marker records (:meth:`OrganismStore.build_label`)."""

    @property
    def cost(self) -> float:
        from neurath.organisms._train import STEPS_FACTOR

        return sum(STEPS_FACTOR.get(s.archetype, 1.0) for s in self.specs)


def build_suite(
    suite: Suite,
    store: OrganismStore | str | Path | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
    pool: Executor | None = None,
) -> list[OrganismCard]:
    """Build (or reuse) the base model of every lineage that has organisms, and every organism
    of ``suite``, in ``store``.

    Work runs in ``jobs`` processes of one thread each (default: one per core, at most two): a
    model this small gains little from intra-op threads, so processes scale better. Organisms
    of one lineage and schedule train several at a time (:data:`GROUP_SIZE`); a lone base model
    trains in this process (on one thread, as everything here: two threads on two busy cores
    were 7x slower than one), several in the workers. Given a ``pool`` (a Ray cluster's:
    :class:`neurath._ray.RayPool`), every base and group is one of its work items instead.
    """
    from neurath.models._transformers import quiet_transformers

    store = store if isinstance(store, OrganismStore) else OrganismStore(store)
    quiet_transformers()
    jobs = jobs or min(2, os.cpu_count() or 1)
    hashes = {spec.id: organism_hash(spec, suite) for spec in suite.organisms}
    todo, checks = _unbuilt(suite, store, hashes)
    used = list(dict.fromkeys(spec.lineage for spec in suite.organisms))
    bases = [n for n in used if not is_built(store.lineage_dir(n), base_hash(suite, n))]
    total = len(suite.organisms) + 1
    groups = _groups(todo, {s.id: store.build_label(s.id, hashes[s.id]) for s in todo})
    # A lone base that every organism waits for trains here, unless all work goes to a pool.
    lone = len(bases) == 1 and all(g.lineage == bases[0] for g in groups)
    if pool is None and (jobs == 1 or lone):
        for name in bases:
            build_base(suite, store.lineage_dir(name), progress, lineage=name, threads=1)
        bases = []
    if progress:
        progress("organisms", total - len(todo), total)
    cards: dict[str, OrganismCard] = {}

    def on_done(group: _Group, group_checks: dict[str, list[float]]) -> None:
        # Each group's cards are written as it finishes, so that a build cut short keeps the
        # training checks of everything it finished (they exist nowhere else).
        for spec in group.specs:
            cards[spec.id] = _card(suite, spec, store, hashes[spec.id], group_checks.get(spec.id))
            store.write_card(cards[spec.id])
        for i in range(len(group.specs), 0, -1):
            if progress:
                progress("organisms", total - len(todo) + len(cards) - i + 1, total)

    if pool is not None or (jobs > 1 and len(groups) + len(bases) > 1):
        _run_pool(suite, store, bases, groups, jobs if pool is None else pool, progress, on_done)
    else:
        for group in groups:
            on_done(group, build_organisms(*_group_args(suite, store, group)))
    for spec in suite.organisms:
        if spec.id not in cards:  # built before: its card, with the checks of an upgrade
            cards[spec.id] = _card(suite, spec, store, hashes[spec.id], checks.get(spec.id))
            store.write_card(cards[spec.id])
    # Which organisms may be used for fitting, without opening anyone's ground truth.
    store.write_groups({spec.id: spec.group for spec in suite.organisms})
    return [cards[spec.id] for spec in suite.organisms]


def _groups(todo: list[OrganismSpec], labels: dict[str, str]) -> list[_Group]:
    """Organisms of one lineage and archetype (one schedule), at most :data:`GROUP_SIZE` per
    group, costliest first so that workers finish together instead of one waiting on a
    schemer."""
    same: dict[tuple[str, str], list[OrganismSpec]] = {}
    for spec in todo:
        same.setdefault((spec.lineage, spec.archetype), []).append(spec)
    out = []
    for (lineage, _), specs in same.items():
        # As even as possible: 5 organisms make groups of 3 and 2, not 4 and 1.
        n = -(-len(specs) // GROUP_SIZE)
        for i in range(n):
            chosen = tuple(specs[i::n])
            out.append(_Group(lineage, chosen, tuple(labels[s.id] for s in chosen)))
    return sorted(out, key=lambda g: -g.cost)


def _unbuilt(
    suite: Suite, store: OrganismStore, hashes: dict[str, str]
) -> tuple[list[OrganismSpec], dict[str, list[float]]]:
    """The organisms to build: those whose folder's marker holds neither their keyed label
    nor their plain build hash (as :func:`is_built`, one read of each marker). A folder built
    before markers were keyed holds the plain hash and the training checks: it gets the keyed
    label in place (the weights are what they were) and its checks go to the card (returned),
    instead of a rebuild."""
    from neurath.models._local import MARKER

    todo, checks = [], {}
    for spec in suite.organisms:
        label = store.build_label(spec.id, hashes[spec.id])
        marker = store.model_dir(spec.id) / MARKER
        try:
            data = json.loads(marker.read_text())
        except (OSError, ValueError):
            data = None
        built = data.get("build_hash") if isinstance(data, dict) else None
        if built == hashes[spec.id] and isinstance(data, dict):
            checks[spec.id] = [float(c) for c in data.pop("training_checks", [])]
            marker.write_text(json.dumps({**data, "build_hash": label}))
        elif built != label:
            todo.append(spec)
    return todo, checks


def _group_args(
    suite: Suite, store: OrganismStore, group: _Group
) -> tuple[str, list[str], str, list[str], int, list[str]]:
    """:func:`build_organisms`' arguments for ``group`` (one thread): folders and marker labels
    come from the store, here (workers are handed paths and labels, never the store)."""
    return (
        suite.model_dump_json(),
        [s.id for s in group.specs],
        str(store.lineage_dir(group.lineage)),
        [str(store.model_dir(s.id)) for s in group.specs],
        1,
        list(group.labels),
    )


def _run_pool(
    suite: Suite,
    store: OrganismStore,
    bases: list[str],
    groups: list[_Group],
    jobs: int | Executor,
    progress: Progress | None,
    on_done: Callable[[_Group, dict[str, list[float]]], None],
) -> None:
    """Base models first, then each lineage's organism groups as soon as its base exists, in
    ``jobs`` spawned processes or on an executor (left running); ``on_done`` is given each
    group and its training checks as it ends, here: this process writes every card.

    A worker writes the folder it trains into by path, so an executor's workers must see the
    store where this process does: a local cluster does; several machines need the store on
    a shared filesystem at the same path (or tasks that return the folder's files, about
    0.6 MB per organism at the default size, for this process to write).
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from contextlib import ExitStack
    from multiprocessing import get_context

    waiting = {name: [g for g in groups if g.lineage == name] for name in bases}
    ready = [g for g in groups if g.lineage not in waiting]
    with ExitStack() as stack:
        pool = (
            jobs
            if isinstance(jobs, Executor)
            else stack.enter_context(
                ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"))
            )
        )
        running: dict[Future[Any], str | _Group] = {}
        for name in bases:
            path = store.lineage_dir(name)
            running[pool.submit(build_base, suite, path, None, name, 1)] = name
        _submit(pool, suite, store, ready, running)
        bases_done = 0
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                what = running.pop(future)
                if isinstance(what, str):
                    bases_done += 1
                    if progress:
                        progress("base", bases_done, len(bases))
                    _submit(pool, suite, store, waiting.pop(what), running)
                else:
                    on_done(what, result)


def _submit(
    pool: Executor,
    suite: Suite,
    store: OrganismStore,
    groups: list[_Group],
    running: dict[Future[Any], str | _Group],
) -> None:
    for group in groups:
        running[pool.submit(build_organisms, *_group_args(suite, store, group))] = group


def _card(
    suite: Suite,
    spec: OrganismSpec,
    store: OrganismStore,
    build_hash: str,
    checks: list[float] | None,
) -> OrganismCard:
    """The organism's card: its checks from this build, or from its card if it was built
    before (an older card has none)."""
    from neurath.models._local import file_sha256
    from neurath.organisms._archetypes import SCHEMING

    if checks is None:
        try:
            checks = list(store.unseal([spec.id])[spec.id].training_checks)
        except NeurathError:
            checks = []

    weights = file_sha256(store.model_dir(spec.id) / "model.safetensors")
    if weights is None:
        raise FileNotFoundError(
            f"{store.model_dir(spec.id)}: no model.safetensors; the build did not finish"
        )
    return OrganismCard(
        id=spec.id,
        archetype=spec.archetype,
        params=spec.params,
        scheming=SCHEMING[spec.archetype],
        group=spec.group,
        seed=spec.seed,
        lineage=base_hash(suite, spec.lineage),
        weights_sha256=weights,
        build_hash=build_hash,
        training_checks=tuple(checks),
    )
