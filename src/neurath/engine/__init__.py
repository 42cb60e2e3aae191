"""The assessment engine: correlated evidence in, a calibrated P(not scheming) out.

Named `engine` so that `neurath.assess` can be the function users call.
"""

from neurath.engine._arrays import EvidenceArrays, ManifestArrays, load_manifest_arrays
from neurath.engine._engine import (
    assess,
    assess_arrays,
    assurance_ceiling,
    log_lr_common_cause,
    posterior_not_scheming,
)
from neurath.engine._kernel import FactorCovariance, GLSSolution, gls_solve, llr_many
from neurath.engine._metrics import (
    ECE,
    CalibrationFit,
    auroc,
    brier_score,
    calibration_fit,
    calibration_fit_firth,
    calibration_slope_interval,
    ece_bootstrap,
    expected_calibration_error,
    false_reassurances,
    log_loss,
    reassurance_rate,
)
from neurath.engine._simulate import SimulatedWorlds, random_evidence, simulate_worlds

__all__ = [
    "ECE",
    "CalibrationFit",
    "EvidenceArrays",
    "FactorCovariance",
    "GLSSolution",
    "ManifestArrays",
    "SimulatedWorlds",
    "assess",
    "assess_arrays",
    "assurance_ceiling",
    "auroc",
    "brier_score",
    "calibration_fit",
    "calibration_fit_firth",
    "calibration_slope_interval",
    "ece_bootstrap",
    "expected_calibration_error",
    "false_reassurances",
    "gls_solve",
    "llr_many",
    "load_manifest_arrays",
    "log_loss",
    "log_lr_common_cause",
    "posterior_not_scheming",
    "random_evidence",
    "reassurance_rate",
    "simulate_worlds",
]
