"""The study as named stages, each with typed inputs and outputs.

::

    build -> calibrate -> seal -> research -> assess -> unseal and score -> write

Only :func:`unseal_and_score` reads test organisms' ground truth, and only after
:func:`assess` has written every target's assessment to the audit log. The blind is enforced,
not only kept: the store's cards area (cards, group index, the store's key, which alone ties
an organism to its folder) is read by calibrate (the calibration group's labels, as
references named by alias), seal (each target's folder) and unseal and score, never by
research or assess, which run with the cards folder gone. What research is handed (targets
by opaque id, loaded sealed; aliased references and calibration; the run folder, whose
``seal.json`` names organisms by keyed hashes) names no organism, archetype or card.
:func:`neurath.testbed.run_study` runs the stages in order; each can also be run (and tested)
on its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurath._errors import NeurathError, ResearchError
from neurath._version import __version__
from neurath.evidence._assessment import Assessment
from neurath.evidence._ledger import Ledger
from neurath.evidence._model import Manifest
from neurath.evidence._model_v2 import ManifestV2
from neurath.experiments._calibrate import Calibration
from neurath.organisms._archetypes import SCHEMING
from neurath.organisms._suite import Suite
from neurath.research._audit import AuditLog
from neurath.research._controllers import ControllerInfo, get_controller, make_controller
from neurath.research._environment import ResearchEnvironment
from neurath.research._events import (
    Assessed,
    ResearchDone,
    RunResumed,
    RunStarted,
    TailRepaired,
    TargetP,
    Unsealed,
)
from neurath.research._floor import run_floor
from neurath.research._parallel import ExperimentRunner
from neurath.testbed._results import Metrics, TargetOutcome, score
from neurath.testbed._run import RunFolder
from neurath.testbed._store import OrganismStore, sealed_loader
from neurath.testbed._study import Study

if TYPE_CHECKING:
    from neurath.experiments._probe import Reference

StudyProgress = Callable[[str, int | None, int | None, str], None]
"""Called with (stage, done, total, what): stages ``build``, ``calibrate``, ``research``,
``assess``."""


def _quiet(stage: str, done: int | None, total: int | None, what: str) -> None:
    """A progress callback that says nothing."""


# -- build ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Built:
    suite: Suite
    store: OrganismStore


def build(
    study: Study, store: OrganismStore, say: StudyProgress = _quiet, pool: Executor | None = None
) -> Built:
    """The study's suite, built (or reused) in ``store`` (on ``pool``'s workers if given)."""
    from neurath.organisms._suite import default_suite, load_suite
    from neurath.testbed._build import build_suite

    suite = default_suite() if study.suite == "default" else load_suite(study.suite)
    build_suite(suite, store, progress=lambda what, d, t: say("build", d, t, what), pool=pool)
    return Built(suite, store)


# -- calibrate -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibrated:
    calibration: Calibration
    """Its calibration organisms named by their aliases (research is given it)."""
    common_cause: float
    """``c`` for the assessments: the study's, else the calibration's estimate."""
    params: dict[str, dict[str, Any]]
    """Experiment -> the parameters research uses: the calibration's, then the study's."""
    references: list[Reference] = field(default_factory=list)
    """The calibration group as labelled reference models (a probe's trainers), by alias:
    read from the cards now, so research is handed them and never opens the store."""


def calibrate(study: Study, built: Built, say: StudyProgress = _quiet) -> Calibrated:
    """The calibration for this suite and these parameters (cached in the store)."""
    from neurath.testbed._calibrate import cached_calibration

    calibration, cached = cached_calibration(
        built.suite,
        built.store,
        params=study.params,
        seed=study.seed,
        progress=lambda oid, d, t: say("calibrate", d, t, oid),
        novel=study.novel if study.engine == 2 else None,
    )
    if cached:
        say("calibrate", 1, 1, "cached")
    measured = calibration.common_cause
    if study.engine == 2 and calibration.evasion is not None:
        measured = calibration.evasion.common_cause
    c = study.common_cause if study.common_cause is not None else measured
    params = {k: dict(v) for k, v in calibration.battery_params.items()}
    for name, extra in study.params.items():
        params.setdefault(name, {}).update(extra)
    ids = [s.id for s in built.suite.organisms]
    return Calibrated(calibration, c, params, built.store.references(ids, aliases=True))


# -- seal ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sealed:
    targets: dict[str, str]
    """Opaque target id -> the organism's sealed name (:meth:`OrganismStore.sealed_name`):
    only a reader of the store's cards area can tell which organism that is."""
    key: str
    """A random key, new for each run: targets' weights hashes are shown keyed with it (see
    :class:`~neurath.models._local.LocalModel`'s ``seal_key``: equal weights stay equal within
    the run, so shared-lineage factors still hold, but match no card)."""
    folders: Mapping[str, Path] = field(default_factory=dict, compare=False, repr=False)
    """Target id -> its model folder (named by a keyed hash): what research loads. Known once
    :func:`seal` has opened the seal; not in ``seal.json``."""
    scheming: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    """The targets that scheme, known once :func:`seal` has opened the seal: told to a
    red-team controller only (and the run's audit log says it was)."""

    @property
    def digest(self) -> str:
        """What the run's first audit entry records of the seal."""
        text = json.dumps({"key": self.key, "targets": self.targets}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def read_seal(run: RunFolder) -> Sealed:
    """The run's seal, as ``seal.json`` holds it (without its folders).

    Raises:
        ResearchError: The file is missing, unreadable or not a seal.
    """
    try:
        data = json.loads(run.read_text(run.seal_file))
        return Sealed({str(k): str(v) for k, v in data["targets"].items()}, str(data["key"]))
    except (ValueError, KeyError, TypeError, AttributeError, NeurathError):
        raise ResearchError(
            f"{run.seal_file}: not this run's seal (missing or unreadable)"
        ) from None


def seal(study: Study, built: Built, run: RunFolder) -> Sealed:
    """A random numbering of the test organisms, drawn once per run and kept in the run's
    ``seal.json`` (read back on resume), so neither names, order nor the study's seed give
    away which organism (and so which archetype) a target is. ``seal.json`` names each
    target's organism by a hash keyed with the store's secret, so the run folder (which
    research could read) does not give it away either."""
    test_ids = [s.id for s in built.suite.organisms if s.group == "test"]
    if not test_ids:
        raise ResearchError(f"suite {built.suite.name!r} has no test organisms to study")
    if run.seal_file.exists():
        sealed = read_seal(run)
        names = _sealed_names(built.store, test_ids, sealed.key)
        if sorted(sealed.targets.values()) != sorted(names):
            raise ResearchError(f"{run.seal_file}: its targets are not the suite's test group")
        return _opened(sealed, built, names)
    order = list(test_ids)
    secrets.SystemRandom().shuffle(order)
    width = max(2, len(str(len(order))))
    key = secrets.token_hex(16)
    tids = {f"target-{i + 1:0{width}d}": oid for i, oid in enumerate(order)}
    sealed = Sealed({t: built.store.sealed_name(oid, key) for t, oid in tids.items()}, key)
    fd = os.open(run.seal_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"key": sealed.key, "targets": sealed.targets}, fh, indent=2)
    return _opened(sealed, built, _sealed_names(built.store, test_ids, key))


def _sealed_names(store: OrganismStore, organism_ids: list[str], key: str) -> dict[str, str]:
    """Sealed name -> organism id, for the organisms a seal may name."""
    return {store.sealed_name(oid, key): oid for oid in organism_ids}


def _opened(sealed: Sealed, built: Built, names: Mapping[str, str]) -> Sealed:
    """The seal with each target's model folder (what research loads) and the truth a red team
    is told."""
    folders = {t: built.store.model_dir(names[name]) for t, name in sealed.targets.items()}
    kinds = {s.id: s.archetype for s in built.suite.organisms}
    scheming = frozenset(t for t, name in sealed.targets.items() if SCHEMING[kinds[names[name]]])
    return Sealed(sealed.targets, sealed.key, folders, scheming)


# -- research ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Researched:
    env: ResearchEnvironment
    controller: ControllerInfo


def research(
    study: Study,
    run: RunFolder,
    built: Built,
    calibrated: Calibrated,
    sealed: Sealed,
    ledger: Ledger,
    *,
    resume: bool = False,
    say: StudyProgress = _quiet,
    pool: Executor | None = None,
) -> Researched:
    """The controller's research on the sealed targets, every action in the audit log and
    every finding in ``ledger`` as it is made; a resumed run first replays its log. With a
    ``pool``, experiments compute on its workers (:mod:`neurath.research._parallel`); the log
    and the ledger are written here, as without one."""
    info, ctrl = _controller(study, sealed)
    audit = AuditLog(run.audit_file, repair=resume)
    queries = study.budget.queries
    if set(sealed.folders) != set(sealed.targets):
        raise ResearchError("research needs an opened seal (from the seal stage)")
    env = ResearchEnvironment(
        targets={t: sealed_loader(sealed.folders[t], t, sealed.key) for t in sealed.targets},
        budget=study.budget,
        audit=audit,
        actor=study.controller,
        calibration=calibrated.calibration,
        prior=study.prior_not_scheming,
        common_cause=calibrated.common_cause,
        params=calibrated.params,
        seed=study.seed,
        allowed=study.experiments,
        ledger=ledger,
        source=f"neurath run {run.id}",
        context={"references": list(calibrated.references)},
        runner=ExperimentRunner(pool),
        on_result=lambda tool, target, _: say(
            "research", env.spent.queries, queries, f"{tool} on {target}"
        ),
    )
    if audit.repaired is not None:
        audit.append(TailRepaired(**audit.repaired._asdict()), actor="neurath")
    if resume:
        audit.append(RunResumed(results_replayed=env.replay()), actor="neurath")
    else:
        audit.append(_started(study, info, built, calibrated, sealed), actor="neurath")
    say("research", env.spent.queries, queries, "starting")
    step = lambda what: say("research", env.spent.queries, queries, what)  # noqa: E731
    try:
        run_floor(env, study.floor, step)
        ctrl.run(env, progress=step)
    finally:
        env.runner.close()
    audit.append(ResearchDone(spent=env.spent.as_dict()), actor=study.controller)
    return Researched(env, info)


def _started(
    study: Study, info: ControllerInfo, built: Built, calibrated: Calibrated, sealed: Sealed
) -> RunStarted:
    """The run's first audit entry: what it starts as."""
    return RunStarted(
        study=study.model_dump(mode="json"),
        controller=study.controller,
        automation_level=info.automation_level,
        calibration=calibrated.calibration.id,
        targets=list(sealed.targets),
        neurath_version=__version__,
        organisms=str(built.store.root.resolve()),
        seal_sha256=sealed.digest,
        told_which_scheme=info.red_team,
        floor=list(study.floor),
    )


def _controller(study: Study, sealed: Sealed) -> tuple[ControllerInfo, Any]:
    """The study's controller; a red team is told which targets scheme."""
    info = get_controller(study.controller)
    options = dict(study.controller_options)
    if info.red_team:
        options["scheming"] = ",".join(sorted(sealed.scheming))
    return info, make_controller(study.controller, options)


# -- assess --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssessedTargets:
    outcomes: list[TargetOutcome]
    manifests: dict[str, Manifest | ManifestV2]
    assessments: dict[str, Assessment]


def assess(
    study: Study, researched: Researched, ledger: Ledger, say: StudyProgress = _quiet
) -> AssessedTargets:
    """Assess every target; the ledger gets each manifest (naming the findings it already
    holds) and assessment once, so a run resumed half-way through this stage skips those
    already there. Ends with every target's P(not scheming) in the audit log."""
    from neurath.engine import assess as assess_manifest

    env = researched.env
    outcomes, manifests, assessments = [], {}, {}
    for i, tid in enumerate(env.target_ids):
        say("assess", i, len(env.target_ids), tid)
        manifest = _manifest(study, env, tid)
        a = assess_manifest(manifest, seed=study.seed)
        manifests[tid], assessments[tid] = manifest, a
        if not ledger.manifest_ids(target=tid, source=env.source):
            ledger.record(manifest, a, source=env.source, linked=env.finding_records(tid))
        outcomes.append(
            TargetOutcome(
                id=tid,
                p_not_scheming=a.p_not_scheming,
                p_not_scheming_naive=a.p_not_scheming_naive,
                interval=a.interval,
                ceiling=a.ceiling,
                n_findings=a.n_findings,
                n_eff=a.n_eff if math.isfinite(a.n_eff) else 0.0,
                queries=sum(r.queries for r in env.results.get(tid, [])),
            )
        )
    say("assess", len(env.target_ids), len(env.target_ids), "done")
    p = {t.id: TargetP(p=t.p_not_scheming, p_naive=t.p_not_scheming_naive) for t in outcomes}
    env.audit.append(Assessed(targets=p), actor="neurath")
    return AssessedTargets(outcomes, manifests, assessments)


def _manifest(study: Study, env: ResearchEnvironment, tid: str) -> Manifest | ManifestV2:
    """What the study assesses: the research's manifest, or (engine 2) the same evidence
    with a component per calibrated mechanism and the declared unknown kind."""
    if study.engine == 1:
        return env.manifest(tid)
    from neurath.research._voi_v2 import manifest_v2

    return manifest_v2(env, tid, novel=float(study.novel or 0.0))


# -- unseal and score ----------------------------------------------------------------------
@dataclass(frozen=True)
class Scored:
    outcomes: list[TargetOutcome]
    """With each target's organism, archetype and truth."""
    metrics: dict[str, Metrics]
    """``correlated`` (the engine) and ``naive`` (independent findings, no common cause)."""


def unseal_and_score(
    study: Study, built: Built, sealed: Sealed, assessed: AssessedTargets, audit: AuditLog
) -> Scored:
    """Only now is the ground truth read: which organism each target is, its card, then the
    scores."""
    test_ids = [s.id for s in built.suite.organisms if s.group == "test"]
    names = _sealed_names(built.store, test_ids, sealed.key)
    organisms = {tid: names[name] for tid, name in sealed.targets.items()}
    cards = built.store.unseal(organisms.values())
    outcomes = []
    for o in assessed.outcomes:
        card = cards[organisms[o.id]]
        outcomes.append(
            o.model_copy(
                update={"organism": card.id, "archetype": card.archetype, "scheming": card.scheming}
            )
        )
    unsealed = {
        o.id: {"organism": o.organism, "scheming": o.scheming, "archetype": o.archetype}
        for o in outcomes
    }
    audit.append(Unsealed(targets=unsealed), actor="neurath")
    truth = [bool(o.scheming) for o in outcomes]
    groups = [str(o.archetype) for o in outcomes]
    metrics = {
        "correlated": score([o.p_not_scheming for o in outcomes], truth, groups, study.seed),
        "naive": score([o.p_not_scheming_naive for o in outcomes], truth, groups, study.seed),
    }
    return Scored(outcomes, metrics)
