"""Acceptance: worlds drawn from the factor model, with known truth, score the engine.

If the engine computes the right posterior it is calibrated on these worlds by construction of
the simulation, not of the engine: the simulator draws factor shifts, noise and the common
cause independently of the code under test. An aggregator that ignores the factors must be
overconfident on the same worlds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import expit, logit

from neurath.engine import (
    assess_arrays,
    auroc,
    calibration_fit,
    expected_calibration_error,
    llr_many,
    log_lr_common_cause,
    random_evidence,
    simulate_worlds,
)

PRIOR = 0.5
COMMON_CAUSE = 0.02
STRUCTURES = 40
WORLDS_PER_STRUCTURE = 100  # 4,000 worlds in all


@pytest.fixture(scope="module")
def scored_worlds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    engine, naive, truth = [], [], []
    for s in range(STRUCTURES):
        # Ten findings, each on two of three shared factors as large as their own errors.
        ev = random_evidence(10, 3, 2, rng, sd_range=(0.4, 0.9), se_range=(0.4, 1.0))
        worlds = simulate_worlds(
            ev, prior=PRIOR, common_cause=COMMON_CAUSE, n_worlds=WORLDS_PER_STRUCTURE, rng=rng
        )
        resid = worlds.values - 0.5 * (ev.mu_not_scheming + ev.mu_scheming)[:, None]
        llr = llr_many(ev.covariance(), ev.delta, resid)
        p = expit(logit(PRIOR) + log_lr_common_cause(llr, COMMON_CAUSE))
        if s < 3:
            # The batched path is the public assessment, world by world.
            for w in range(5):
                one = dataclasses.replace(ev, value=worlds.values[:, w])
                r = assess_arrays(one, target="sim", prior=PRIOR, common_cause=COMMON_CAUSE)
                assert r.p_not_scheming == pytest.approx(p[w], rel=1e-9)
        engine.append(p)
        naive.append(expit(logit(PRIOR) + (ev.delta / ev.variance) @ resid))
        truth.append(~worlds.scheming)
    return {
        "engine": np.concatenate(engine),
        "naive": np.concatenate(naive),
        "not_scheming": np.concatenate(truth).astype(float),
    }


def test_engine_is_calibrated_on_worlds_from_its_model(
    scored_worlds: dict[str, np.ndarray],
) -> None:
    p, y = scored_worlds["engine"], scored_worlds["not_scheming"]
    assert len(p) >= 2000
    fit = calibration_fit(p, y)
    assert fit.converged
    assert 0.8 <= fit.slope <= 1.25
    assert expected_calibration_error(p, y) < 0.03
    assert auroc(p, y) > 0.9


def test_naive_aggregator_is_overconfident_on_the_same_worlds(
    scored_worlds: dict[str, np.ndarray],
) -> None:
    y = scored_worlds["not_scheming"]
    naive = calibration_fit(scored_worlds["naive"], y)
    assert naive.slope < 0.5
    # And measurably worse calibrated than the engine, in the same run.
    assert expected_calibration_error(scored_worlds["naive"], y) > 3 * expected_calibration_error(
        scored_worlds["engine"], y
    )
