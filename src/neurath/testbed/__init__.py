"""The testbed: everything that exists only because organisms have known ground truth.

- :class:`OrganismStore`: where organisms, their cards and calibration caches live, and the
  only reader of cards (:meth:`~OrganismStore.references` for fitting,
  :meth:`~OrganismStore.unseal` for scoring).
- :func:`build_suite` and :func:`calibrate_suite`: a suite built into a store; the battery
  fitted on its calibration group.
- Studies: :class:`Study`, its stages (:mod:`neurath.testbed._stages`: build, calibrate, seal,
  research, assess, unseal and score) and :func:`run_study`, which runs them in a
  :class:`RunFolder` and scores the assessments against the truth (:func:`score`).

``experiments`` and ``research`` know nothing of this package: what they get from it (labelled
reference models, targets by opaque id) is handed to them.
"""

from neurath.testbed._build import build_suite
from neurath.testbed._calibrate import cached_calibration, calibrate_suite, calibration_key
from neurath.testbed._results import REASSURED, Metrics, RunResults, TargetOutcome, score
from neurath.testbed._run import RunFolder, load_run
from neurath.testbed._runner import run_study
from neurath.testbed._store import OrganismCard, OrganismStore, organisms_home
from neurath.testbed._study import Study, default_study, load_study

__all__ = [
    "REASSURED",
    "Metrics",
    "OrganismCard",
    "OrganismStore",
    "RunFolder",
    "RunResults",
    "Study",
    "TargetOutcome",
    "build_suite",
    "cached_calibration",
    "calibrate_suite",
    "calibration_key",
    "default_study",
    "load_run",
    "load_study",
    "organisms_home",
    "run_study",
    "score",
]
