"""Experiments: parameterised alignment proxies that turn a target model into findings.

Each registered experiment (``@experiment``) runs against any :class:`~neurath.models.TargetModel`
with batched calls and returns an :class:`ExperimentResult`: its statistics, the shared factors
they rest on (assumptions, method, weights lineage, data, raters) and its creation arguments.
:func:`to_manifest` turns results into findings, with expected values declared by each
experiment or fitted on calibration organisms (:func:`fit_calibration`).

Built in: ``behavioural``, ``honeypot``, ``adversarial``, ``honesty``, ``capability``,
``probe`` (white-box) and ``sandwiching`` (tests the raters the others rely on). An installed
package adds experiments through the ``neurath.experiments`` entry point
(:mod:`neurath._registry`). Nothing here knows about organism suites or ground truth: a probe's
labelled reference models are given to it (:class:`Reference`).
"""

from neurath.experiments._battery import (
    DEFAULT_BATTERY,
    finding_id,
    run_battery,
    to_finding,
    to_manifest,
)
from neurath.experiments._calibrate import (
    Calibration,
    StatisticFit,
    fit_calibration,
    load_calibration,
)
from neurath.experiments._inspect_import import import_inspect_log
from neurath.experiments._params import Check, Param, Positive, RaterPools, Share, SplitName
from neurath.experiments._probe import Reference
from neurath.experiments._raters import RATERS, Rater, SimulatedRater, Transcript, expert_label
from neurath.experiments._registry import (
    ExperimentError,
    ExperimentInfo,
    experiment,
    experiments,
    get_experiment,
    run_experiment,
)
from neurath.experiments._result import ExperimentResult, FactorUse, Statistic, rate
from neurath.experiments._scenarios import (
    REALISTIC,
    RealismModel,
    default_realism,
    deployment_set,
    honeypots,
    standard_set,
)

__all__ = [
    "DEFAULT_BATTERY",
    "RATERS",
    "REALISTIC",
    "Calibration",
    "Check",
    "ExperimentError",
    "ExperimentInfo",
    "ExperimentResult",
    "FactorUse",
    "Param",
    "Positive",
    "Rater",
    "RaterPools",
    "RealismModel",
    "Reference",
    "Share",
    "SimulatedRater",
    "SplitName",
    "Statistic",
    "StatisticFit",
    "Transcript",
    "default_realism",
    "deployment_set",
    "experiment",
    "experiments",
    "expert_label",
    "finding_id",
    "fit_calibration",
    "get_experiment",
    "honeypots",
    "import_inspect_log",
    "load_calibration",
    "rate",
    "run_battery",
    "run_experiment",
    "standard_set",
    "to_finding",
    "to_manifest",
]
