"""Building a suite into an organism store: the shared base model once, then each organism,
cached by content hash, and each one's ground truth written to its card."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from neurath.organisms._build import (
    base_hash,
    build_base,
    build_organism,
    is_built,
    organism_hash,
)
from neurath.organisms._suite import OrganismSpec, Suite
from neurath.testbed._store import OrganismCard, OrganismStore

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total): stages ``base`` (steps) and ``organisms``."""


def build_suite(
    suite: Suite,
    store: OrganismStore | str | Path | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> list[OrganismCard]:
    """Build (or reuse) the base model and every organism of ``suite`` in ``store``.

    Organisms train in ``jobs`` processes of one thread each (default: one per core, at most
    two): a model this small gains little from intra-op threads, so processes scale better.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from neurath.models._transformers import quiet_transformers
    from neurath.organisms._train import STEPS_FACTOR

    store = store if isinstance(store, OrganismStore) else OrganismStore(store)
    quiet_transformers()
    total = len(suite.organisms) + 1
    build_base(suite, store.base_dir, progress)
    if progress:
        progress("organisms", 1, total)
    todo = [
        s for s in suite.organisms if not is_built(store.model_dir(s.id), organism_hash(s, suite))
    ]
    # Longest first, so the two workers finish together instead of one waiting on a schemer.
    todo.sort(key=lambda s: -STEPS_FACTOR[s.archetype])
    jobs = jobs or min(2, os.cpu_count() or 1)
    done = total - len(todo)
    if progress and done > 1:
        progress("organisms", done, total)
    suite_json, base = suite.model_dump_json(), str(store.base_dir)
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(build_organism, suite_json, s.id, base, str(store.model_dir(s.id)), 1)
                for s in todo
            ]
            for future in as_completed(futures):
                future.result()
                done += 1
                if progress:
                    progress("organisms", done, total)
    else:
        for spec in todo:
            build_organism(suite_json, spec.id, base, str(store.model_dir(spec.id)), None)
            done += 1
            if progress:
                progress("organisms", done, total)
    cards = [_card(suite, spec, store) for spec in suite.organisms]
    for card in cards:
        store.write_card(card)
    # Which organisms may be used for fitting, without opening anyone's ground truth.
    store.write_groups({spec.id: spec.group for spec in suite.organisms})
    return cards


def _card(suite: Suite, spec: OrganismSpec, store: OrganismStore) -> OrganismCard:
    from neurath.models._local import file_sha256
    from neurath.organisms._archetypes import SCHEMING

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
        lineage=base_hash(suite),
        weights_sha256=weights,
        build_hash=organism_hash(spec, suite),
    )
