"""Acceptance: worlds drawn from the factor model, with known truth, score the engine.

If the engine computes the right posterior it is calibrated on these worlds by construction of
the simulation, not of the engine: the worlds here are drawn from a dense covariance built from
the definition in DESIGN.md (tests/conftest.py), not from the engine's own factor matrix, so a
mistake in how the engine builds Sigma would show as miscalibration. An aggregator that ignores
the factors must be overconfident on the same worlds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import expit, logit

from neurath.engine import (
    EvidenceArrays,
    SimulatedWorlds,
    assess_arrays,
    auroc,
    calibration_fit,
    expected_calibration_error,
    llr_many,
    log_lr_common_cause,
    random_evidence,
    simulate_worlds,
)

from .conftest import dense_sigma

PRIOR = 0.5
COMMON_CAUSE = 0.02
STRUCTURES = 40
WORLDS_PER_STRUCTURE = 100  # 4,000 worlds in all


def _independent_worlds(ev: EvidenceArrays, rng: np.random.Generator) -> SimulatedWorlds:
    """Truth from the prior, the common cause, then values ~ N(mu, Sigma) with a dense Sigma."""
    m = WORLDS_PER_STRUCTURE
    scheming = rng.random(m) >= PRIOR
    defeated = scheming & (rng.random(m) < COMMON_CAUSE)
    mean = np.where(
        (scheming & ~defeated)[None, :], ev.mu_scheming[:, None], ev.mu_not_scheming[:, None]
    )
    chol = np.linalg.cholesky(dense_sigma(ev))
    return SimulatedWorlds(mean + chol @ rng.standard_normal((ev.n, m)), scheming, defeated)


def test_library_simulator_draws_from_the_dense_model(rng: np.random.Generator) -> None:
    ev = random_evidence(6, 2, 2, rng, sd_range=(0.4, 0.9), se_range=(0.4, 1.0))
    worlds = simulate_worlds(ev, prior=0.3, common_cause=0.2, n_worlds=200_000, rng=rng)
    assert worlds.scheming.mean() == pytest.approx(0.7, abs=0.005)
    assert worlds.defeated.sum() / worlds.scheming.sum() == pytest.approx(0.2, abs=0.005)
    looks_scheming = worlds.scheming & ~worlds.defeated
    centred = worlds.values - np.where(
        looks_scheming[None, :], ev.mu_scheming[:, None], ev.mu_not_scheming[:, None]
    )
    sigma = dense_sigma(ev)
    np.testing.assert_allclose(np.cov(centred), sigma, atol=0.03 * np.max(np.diag(sigma)))


def score_worlds(seed: int = 1) -> dict[str, np.ndarray]:
    """P(not scheming) from the engine and from the naive sum, with the truth, on 4,000 worlds.

    Figures for BENCHMARKS.md: ``python -c "from tests.test_calibration import report; report()"``.
    """
    rng = np.random.default_rng(seed)
    engine, naive, truth = [], [], []
    for s in range(STRUCTURES):
        # Ten findings, each on two of three shared factors as large as their own errors.
        ev = random_evidence(10, 3, 2, rng, sd_range=(0.4, 0.9), se_range=(0.4, 1.0))
        worlds = _independent_worlds(ev, rng)
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
        naive.append(expit(logit(PRIOR) + (ev.delta / ev.covariance().diag()) @ resid))
        truth.append(~worlds.scheming)
    return {
        "engine": np.concatenate(engine),
        "naive": np.concatenate(naive),
        "not_scheming": np.concatenate(truth).astype(float),
    }


@pytest.fixture(scope="module")
def scored_worlds() -> dict[str, np.ndarray]:
    return score_worlds()


def report() -> None:
    scored = score_worlds()
    y = scored["not_scheming"]
    for name in ("engine", "naive"):
        fit = calibration_fit(scored[name], y)
        ece = expected_calibration_error(scored[name], y)
        print(
            f"{name:7s} worlds {len(y)}  slope {fit.slope:.3f}  intercept {fit.intercept:+.3f}"
            f"  ECE {ece:.4f}  AUROC {auroc(scored[name], y):.3f}"
        )


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
    # The fair naive sum (each finding with its full variance) is only mildly overconfident
    # here (slope 0.81 measured): what it misses is the correlation, not the variance.
    naive = calibration_fit(scored_worlds["naive"], y)
    assert naive.slope < 0.9
    # And measurably worse calibrated and ranked than the engine, in the same run (2.6x).
    assert expected_calibration_error(scored_worlds["naive"], y) > 2 * expected_calibration_error(
        scored_worlds["engine"], y
    )
    assert auroc(scored_worlds["naive"], y) < auroc(scored_worlds["engine"], y)


def test_a_separation_within_the_organisms_sampling_noise_is_no_separation() -> None:
    """One calibration organism per hypothesis and a statistic that does not tell them apart:
    a difference of means of 1.8 standard errors is noise, not an expected value to read
    findings by; 3 standard errors is kept."""
    from neurath.experiments import fit_calibration
    from neurath.experiments._result import ExperimentResult, Statistic
    from neurath.models._target import ModelCard

    def result(value: float) -> ExperimentResult:
        stat = Statistic(value=value, se=0.02, n=80)
        return ExperimentResult(
            experiment="capability_context",
            target=ModelCard(id="x", backend="local"),
            statistic="accuracy_drop_in_context",
            statistics={"accuracy_drop_in_context": stat},
        )

    labels = {"a": False, "s": True}
    for drop, kept in ((0.0509, "unseparated"), (0.0849, "fitted")):
        cal = fit_calibration({"a": [result(0.0)], "s": [result(drop)]}, labels, suite="k")
        fit = cal.fit_for("capability_context", "accuracy_drop_in_context")
        assert fit is not None and fit.source == kept, (drop, fit)
