"""The assessment built on the kernel: contributions, weights, n_eff, common cause, interval."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import multivariate_normal

from neurath import AssessmentError, Factor, Manifest, assess
from neurath.engine import (
    EvidenceArrays,
    assess_arrays,
    assurance_ceiling,
    gls_solve,
    log_lr_common_cause,
    random_evidence,
)

from .conftest import dense_sigma, observed


def _dense_llr(ev: EvidenceArrays, keep: np.ndarray | None = None, sd=None) -> float:
    sigma = dense_sigma(ev, sd)
    idx = np.arange(ev.n) if keep is None else keep
    s = sigma[np.ix_(idx, idx)]
    y = ev.value[idx]
    return float(
        multivariate_normal.logpdf(y, ev.mu_not_scheming[idx], s)
        - multivariate_normal.logpdf(y, ev.mu_scheming[idx], s)
    )


@pytest.mark.parametrize("c", [0.0, 0.03])
def test_leave_one_out_contributions_match_brute_force(rng: np.random.Generator, c: float) -> None:
    ev = observed(random_evidence(80, 9, 3, rng), rng, scale=2.0)
    result = assess_arrays(ev, target="t", prior=0.5, common_cause=c)
    full_log_lr = float(log_lr_common_cause(_dense_llr(ev), c))
    assert result.contributions_complete
    assert len(result.contributions) == ev.n
    assert len(result.factor_contributions) == ev.k
    for fid, value in result.contributions.items():
        i = ev.finding_ids.index(fid)
        keep = np.delete(np.arange(ev.n), i)
        expected = full_log_lr - float(log_lr_common_cause(_dense_llr(ev, keep), c))
        assert value == pytest.approx(expected, rel=1e-7, abs=1e-10)
    for fid, value in result.factor_contributions.items():
        j = ev.factor_ids.index(fid)
        sd = ev.sd_point.copy()
        sd[j] = 0.0
        expected = full_log_lr - float(log_lr_common_cause(_dense_llr(ev, sd=sd), c))
        assert value == pytest.approx(expected, rel=1e-7, abs=1e-10)


def test_top_reports_the_largest_contributions_first(rng: np.random.Generator) -> None:
    ev = observed(random_evidence(400, 30, 3, rng), rng, scale=2.0)
    full = assess_arrays(ev, target="t", prior=0.5)
    top = assess_arrays(ev, target="t", prior=0.5, top=10)
    assert not top.contributions_complete
    assert list(top.contributions.items()) == list(full.contributions.items())[:10]
    assert list(top.factor_contributions.items()) == list(full.factor_contributions.items())[:10]
    sizes = [abs(v) for v in full.contributions.values()]  # c = 0: log-odds change = LLR change
    assert sizes == sorted(sizes, reverse=True)
    point = assess_arrays(ev, target="t", prior=0.5, contributions=False)
    assert point.contributions == {} and not point.contributions_complete
    assert point.p_not_scheming == full.p_not_scheming


def test_posterior_is_the_bayes_mixture_over_a_dense_reference(rng: np.random.Generator) -> None:
    ev = observed(random_evidence(50, 4, 2, rng), rng, scale=0.5)
    prior, c = 0.3, 0.05
    result = assess_arrays(ev, target="t", prior=prior, common_cause=c)
    sigma = dense_sigma(ev)
    lik_n = multivariate_normal.pdf(ev.value, ev.mu_not_scheming, sigma)
    lik_s = c * lik_n + (1 - c) * multivariate_normal.pdf(ev.value, ev.mu_scheming, sigma)
    expected = prior * lik_n / (prior * lik_n + (1 - prior) * lik_s)
    assert result.p_not_scheming == pytest.approx(expected, rel=1e-8)
    # The fair naive sum: independent findings, each with its full variance (factors included).
    naive = float(np.sum(ev.delta * ev.residual / np.diag(sigma)))
    assert result.llr_naive == pytest.approx(naive, rel=1e-12)
    assert result.p_not_scheming_naive == pytest.approx(float(expit(logit(prior) + naive)))


def test_weights_and_n_eff_follow_their_definitions(rng: np.random.Generator) -> None:
    ev = observed(random_evidence(40, 5, 2, rng), rng)
    result = assess_arrays(ev, target="t", prior=0.5)
    sigma = dense_sigma(ev)
    u = np.linalg.solve(sigma, ev.delta)
    info = ev.delta @ u
    expected_weights = ev.delta * u / info
    got = np.array([result.weights[f] for f in ev.finding_ids])
    np.testing.assert_allclose(got, expected_weights, rtol=1e-8, atol=1e-14)
    assert got.sum() == pytest.approx(1.0)
    n_eff = info / np.mean(ev.delta**2 / np.diag(sigma))
    assert result.n_eff == pytest.approx(n_eff, rel=1e-9)


def _two_findings(se_b: float) -> Manifest:
    return Manifest.model_validate(
        {
            "version": 1,
            "target": "m",
            "factors": [{"id": "shared", "kind": "method", "sd": 1.0}],
            "findings": [
                {
                    "id": "precise",
                    "experiment": "x",
                    "value": 0.0,
                    "se": 0.05,
                    "expected": {"not_scheming": 0.0, "scheming": 1.0},
                    "factors": {"shared": 0.5},
                },
                {
                    "id": "noisy",
                    "experiment": "x",
                    "value": 0.0,
                    "se": se_b,
                    "expected": {"not_scheming": 0.0, "scheming": 1.0},
                    "factors": ["shared"],
                },
            ],
        }
    )


def test_negative_weight_is_flagged_and_n_eff_falls_below_n() -> None:
    # Two findings share a strong factor, and the noisy one is twice as exposed to it: once the
    # precise one is counted, the noisy one mostly measures the factor, so GLS uses it to
    # subtract the factor out with a negative weight.
    result = assess(_two_findings(se_b=0.3))
    assert result.weights["noisy"] < 0
    assert any("negative GLS weight" in w and "noisy" in w for w in result.warnings)
    # Equally exposed findings: positive weights, and together worth less than two.
    equal = _two_findings(se_b=0.3)
    equal = equal.model_copy(
        update={
            "findings": [f.model_copy(update={"factors": {"shared": 1.0}}) for f in equal.findings]
        }
    )
    shared = assess(equal)
    assert all(w > 0 for w in shared.weights.values())
    assert 1.0 <= shared.n_eff < 2.0
    independent = assess(
        _two_findings(se_b=0.3).model_copy(
            update={"factors": [Factor(id="shared", kind="method", sd=0.0)]}
        )
    )
    assert all(w > 0 for w in independent.weights.values())
    assert not any("negative GLS weight" in w for w in independent.warnings)


def test_ceiling_bounds_the_posterior_however_strong_the_evidence() -> None:
    prior, c = 0.5, 0.02
    strong = np.array([1e3, 1e6, 1e12])
    p = expit(logit(prior) + log_lr_common_cause(strong, c))
    ceiling = assurance_ceiling(prior, c)
    assert ceiling == pytest.approx(1 / (1 + c * (1 - prior) / prior))
    assert np.all(p <= ceiling + 1e-15)
    assert p[-1] == pytest.approx(ceiling, rel=1e-12)
    # With no common cause the mixture is the plain likelihood ratio.
    assert float(log_lr_common_cause(2.5, 0.0)) == pytest.approx(2.5)


def test_evidence_of_scheming_lowers_the_assessment() -> None:
    m = _two_findings(se_b=0.3)
    bad = m.model_copy(
        update={"findings": [f.model_copy(update={"value": 1.0}) for f in m.findings]}
    )
    good, worse = assess(m), assess(bad)
    assert good.p_not_scheming > 0.5 > worse.p_not_scheming
    assert good.contributions["precise"] > 0 > worse.contributions["precise"]


def test_monte_carlo_interval_is_seeded_and_brackets_the_draws(rng: np.random.Generator) -> None:
    ev = observed(random_evidence(60, 5, 2, rng), rng, scale=1.5)
    ranged = dataclasses.replace(ev, sd_lo=ev.sd_lo * 0.2, sd_hi=ev.sd_hi * 2.0)
    a = assess_arrays(ranged, target="t", prior=0.5, common_cause=(0.0, 0.1), draws=200, seed=1)
    b = assess_arrays(ranged, target="t", prior=0.5, common_cause=(0.0, 0.1), draws=200, seed=1)
    c = assess_arrays(ranged, target="t", prior=0.5, common_cause=(0.0, 0.1), draws=200, seed=2)
    assert a.interval == b.interval
    assert a.interval != c.interval
    assert a.interval[0] < a.interval[1]
    assert a.draws == 200 and a.seed == 1
    # Recompute the draws independently and compare the quantiles.
    draw_rng = np.random.default_rng(1)
    cs = draw_rng.uniform(0.0, 0.1, size=200)
    ps = []
    for t in range(200):
        sd = draw_rng.uniform(ranged.sd_lo, ranged.sd_hi)
        llr = gls_solve(ranged.covariance(sd), ranged.delta, ranged.residual).llr
        ps.append(float(expit(log_lr_common_cause(llr, cs[t]))))
    lo, hi = np.quantile(ps, [0.025, 0.975])
    assert a.interval == pytest.approx((lo, hi), rel=1e-10)


def test_no_uncertain_inputs_gives_a_point_interval(small_evidence: EvidenceArrays) -> None:
    r = assess_arrays(small_evidence, target="t", prior=0.5, common_cause=0.01)
    assert r.draws == 0
    assert r.interval == (r.p_not_scheming, r.p_not_scheming)


def test_empty_manifest_returns_the_prior_with_a_warning() -> None:
    r = assess(Manifest(version=1, target="m", prior_not_scheming=0.8))
    assert r.p_not_scheming == pytest.approx(0.8)
    assert r.n_findings == 0
    assert any("no findings" in w for w in r.warnings)


def test_unused_factor_and_failed_experiment_are_reported() -> None:
    m = Manifest.model_validate(
        {
            "version": 1,
            "target": "m",
            "factors": [
                {"id": "used", "kind": "data", "sd": 0.2},
                {"id": "idle", "kind": "other", "sd": 0.2},
            ],
            "findings": [
                {
                    "id": "f",
                    "experiment": "x",
                    "value": 0.1,
                    "se": 0.1,
                    "status": "error",
                    "expected": {"not_scheming": 0, "scheming": 1},
                    "factors": ["used"],
                }
            ],
        }
    )
    warnings = " | ".join(assess(m).warnings)
    assert "loaded by no finding: idle" in warnings
    assert "failed experiments (f)" in warnings


def test_contributions_lost_to_cancellation_are_omitted_and_named() -> None:
    # A factor 10^10 times the finding's own variance: the solve is still accurate, but
    # P_ii = 1/d - (almost 1/d) keeps too few digits for an honest leave-one-out figure.
    m = Manifest.model_validate(
        {
            "version": 1,
            "target": "m",
            "factors": [{"id": "huge", "kind": "assumption", "sd": 1000.0}],
            "findings": [
                {
                    "id": "f",
                    "experiment": "x",
                    "value": 0.2,
                    "se": 0.01,
                    "expected": {"not_scheming": 1.0, "scheming": 0.0},
                    "factors": ["huge"],
                }
            ],
        }
    )
    r = assess(m)
    assert "f" not in r.contributions
    assert not r.contributions_complete
    assert any("contributions of 1 finding(s) omitted (f)" in w for w in r.warnings)
    # The headline numbers themselves stay exact.
    sigma = 0.01**2 + 1000.0**2
    assert r.llr == pytest.approx(1.0 * (0.2 - 0.5) / sigma, rel=1e-6)


def test_evidence_beyond_double_precision_is_refused() -> None:
    m = Manifest.model_validate(
        {
            "version": 1,
            "target": "m",
            "factors": [{"id": "huge", "kind": "assumption", "sd": 1e4}],
            "findings": [
                {
                    "id": f"f{i}",
                    "experiment": "x",
                    "value": 0.1 * i,
                    "se": 1e-9,
                    "expected": {"not_scheming": 1.0, "scheming": 0.0},
                    "factors": ["huge"],
                }
                for i in range(3)
            ],
        }
    )
    with pytest.raises(AssessmentError, match="too much for an accurate solve"):
        assess(m)
