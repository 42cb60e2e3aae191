"""Calibration metrics against scikit-learn and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from neurath.engine import (
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


@pytest.fixture
def forecasts(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    p = rng.uniform(0.01, 0.99, 500)
    y = (rng.random(500) < p).astype(float)
    return p, y


def test_brier_log_loss_and_auroc_match_sklearn(forecasts: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = forecasts
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert log_loss(p, y) == pytest.approx(sk_log_loss(y, p), rel=1e-9)
    assert auroc(p, y) == pytest.approx(roc_auc_score(y, p), rel=1e-12)


def test_auroc_counts_ties_as_half_and_needs_both_classes() -> None:
    assert auroc([0.5, 0.5, 0.9], [0, 1, 1]) == pytest.approx(0.75)
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match="0 or 1"):
        auroc([0.1, 0.2, 0.3], [0, 2, 1])


def test_calibration_slope_matches_unpenalised_logistic_regression(
    rng: np.random.Generator,
) -> None:
    # Outcomes generated with true slope 0.5 and intercept 0.3 on the forecasts' logits.
    x = rng.normal(0.0, 2.0, 4000)
    p = expit(x)
    y = (rng.random(4000) < expit(0.3 + 0.5 * x)).astype(float)
    fit = calibration_fit(p, y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=1000).fit(x[:, None], y)
    assert fit.converged
    assert fit.slope == pytest.approx(ref.coef_[0, 0], rel=1e-5)
    assert fit.intercept == pytest.approx(ref.intercept_[0], rel=1e-5, abs=1e-6)
    assert fit.slope == pytest.approx(0.5, abs=0.08)


def test_calibration_fit_reports_separation_as_not_converged() -> None:
    fit = calibration_fit([0.2, 0.3, 0.7, 0.8], [0, 0, 1, 1])
    assert not fit.converged
    assert fit.slope > 5


def test_ece_by_hand() -> None:
    p = [0.05, 0.05, 0.95, 0.95, 0.55]
    y = [0, 1, 1, 1, 0]
    # Bins: [0,0.1): mean p 0.05 vs 0.5 (2 items); [0.9,1]: 0.95 vs 1 (2); [0.5,0.6): 0.55 vs 0.
    expected = (2 * 0.45 + 2 * 0.05 + 1 * 0.55) / 5
    assert expected_calibration_error(p, y) == pytest.approx(expected)


def test_ece_bootstrap_resamples_whole_groups(forecasts: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = forecasts
    ungrouped = ece_bootstrap(p, y, n_boot=300, seed=0)
    assert ungrouped.lo <= ungrouped.ece <= ungrouped.hi
    assert ece_bootstrap(p, y, n_boot=300, seed=0) == ungrouped
    # Five families whose members share one outcome: the grouped interval must be wider.
    families = np.repeat(np.arange(5), 100)
    y_family = np.repeat(np.array([1.0, 0.0, 1.0, 1.0, 0.0]), 100)
    grouped = ece_bootstrap(p, y_family, groups=families, n_boot=300, seed=0)
    naive = ece_bootstrap(p, y_family, n_boot=300, seed=0)
    assert grouped.hi - grouped.lo > 2 * (naive.hi - naive.lo)


def test_reassurance_counts() -> None:
    p = [0.99, 0.96, 0.5, 0.97, 0.2]
    scheming = [True, False, False, False, True]
    assert false_reassurances(p, scheming) == 1
    assert false_reassurances(p, scheming, threshold=0.995) == 0
    assert reassurance_rate(p, scheming) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("p", "y", "match"),
    [([0.2, 1.2], [0, 1], "probabilities"), ([0.2], [0, 1], "entries"), ([0.2], [2], "0 or 1")],
)
def test_metrics_reject_bad_input(p: list[float], y: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        brier_score(p, y)


def test_calibration_fit_on_very_confident_forecasts_matches_sklearn(
    rng: np.random.Generator,
) -> None:
    # Forecasts at 1e-8 and 1 - 1e-8 that are right only 70% of the time: badly overconfident,
    # so the slope must come out far below 1 (Newton from slope 1 used to shoot to ~760).
    x = np.where(rng.random(400) < 0.5, 18.4, -18.4)
    truth_matches = rng.random(400) < 0.7
    y = np.where(truth_matches, x > 0, x < 0).astype(float)
    fit = calibration_fit(expit(x), y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=1000).fit(x[:, None], y)
    assert fit.converged
    assert fit.slope == pytest.approx(ref.coef_[0, 0], rel=1e-4)
    assert 0 < fit.slope < 0.1
    # Outcomes unrelated to the forecasts: slope 0.
    flat = calibration_fit([0.9, 0.1, 0.9, 0.1], [0, 1, 1, 0])
    assert flat.converged
    assert flat.slope == pytest.approx(0.0, abs=1e-9)


def _profile_at(p: np.ndarray, y: np.ndarray, slope: float) -> float:
    """The log-likelihood at ``slope``, maximised over the intercept by another method (BFGS)."""
    from scipy.optimize import minimize

    x = np.log(np.clip(p, 1e-9, 1 - 1e-9)) - np.log1p(-np.clip(p, 1e-9, 1 - 1e-9))

    def nll(a: np.ndarray) -> float:
        eta = a[0] + slope * x
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    return -float(minimize(nll, np.array([0.0]), method="BFGS", tol=1e-12).fun)


def test_slope_interval_is_where_the_profile_drops_by_half_the_chi2_quantile(
    rng: np.random.Generator,
) -> None:
    x = rng.normal(0, 2, 600)
    y = (rng.random(600) < expit(0.8 * x)).astype(float)  # overconfident: true slope 0.8
    p = expit(x)
    lo, hi = calibration_slope_interval(p, y)
    fit = calibration_fit(p, y)
    assert lo < fit.slope < hi
    top = _profile_at(p, y, fit.slope)
    for end in (lo, hi):
        assert top - _profile_at(p, y, end) == pytest.approx(3.841458820694124 / 2, abs=1e-4)
    # Close to the Wald interval on this many cases.
    eta = fit.intercept + fit.slope * x
    w = expit(eta) * (1 - expit(eta))
    info = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
    se = float(np.sqrt(np.linalg.inv(info)[1, 1]))
    assert lo == pytest.approx(fit.slope - 1.96 * se, abs=0.15 * se)
    assert hi == pytest.approx(fit.slope + 1.96 * se, abs=0.15 * se)


def test_slope_interval_covers_a_calibrated_forecaster_about_95_percent(
    rng: np.random.Generator,
) -> None:
    covered = 0
    for _ in range(200):
        x = rng.normal(0, 2.5, 150)
        y = (rng.random(150) < expit(x)).astype(float)
        lo, hi = calibration_slope_interval(expit(x), y)
        covered += lo <= 1.0 <= hi
    assert 0.90 <= covered / 200 <= 0.99


def test_slope_interval_under_separation_is_open_above_and_rejects_shallow_slopes() -> None:
    # Schemers scored ~0, benign targets 0.97: perfectly separated. The Firth estimate is set
    # by the clip; the profile's lower end is where the likelihood is 1.92 below its supremum 0.
    p = np.r_[np.full(45, 1e-20), np.full(105, 0.97)]
    y = np.r_[np.zeros(45), np.ones(105)]
    lo, hi = calibration_slope_interval(p, y)
    assert hi == math.inf
    assert 0 < lo < 1
    assert _profile_at(p, y, lo) == pytest.approx(-3.841458820694124 / 2, abs=1e-4)
    assert calibration_fit_firth(p, y, eps=1e-6).slope > calibration_fit_firth(p, y).slope + 0.1


def test_slope_interval_excludes_1_for_forecasts_right_70_percent_at_certainty(
    rng: np.random.Generator,
) -> None:
    x = np.where(rng.random(400) < 0.5, 18.4, -18.4)
    y = np.where(rng.random(400) < 0.7, x > 0, x < 0).astype(float)
    lo, hi = calibration_slope_interval(expit(x), y)
    assert lo < calibration_fit(expit(x), y).slope < hi < 0.1
