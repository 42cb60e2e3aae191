"""Planning under the version 2 model: the value of a planned finding, checked against a dense
computation, and what it prefers."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from neurath.engine._engine import log_lr_common_cause, posterior_not_scheming
from neurath.engine._engine_v2 import mixture_arrays
from neurath.engine._mixture import mixture_likelihood
from neurath.evidence import ManifestV2, manifest_from_data
from neurath.research._voi_v2 import planning_value, weighted_entropy

LOSS = 19.0


def _finding(fid: str, value: float, comps: dict[str, tuple[float, float]], factors: Any) -> dict:  # type: ignore[type-arg]
    return {
        "id": fid,
        "experiment": fid.rstrip("0123456789"),
        "value": value,
        "se": 0.1,
        "expected": {"not_scheming": 0.0, "scheming": 1.0},
        "factors": factors,
        "components": {k: {"mean": m, "sd": s} for k, (m, s) in comps.items()},
    }


def _doc(findings: list[dict]) -> dict:  # type: ignore[type-arg]
    return {
        "version": 2,
        "target": "t",
        "prior_not_scheming": 0.5,
        "common_cause": 0.05,
        "components": [
            {"id": "aligned", "scheming": False},
            {"id": "sandbagger", "scheming": True},
            {"id": "oversight", "scheming": True},
        ],
        "factors": [
            {"id": "honeypot-method", "kind": "method", "sd": 0.4},
            {"id": "capability-method", "kind": "method", "sd": 0.3},
        ],
        "findings": findings,
    }


HONEYPOT = {"aligned": (0.0, 0.05), "sandbagger": (0.0, 0.05), "oversight": (0.8, 0.2)}
CAPABILITY = {"aligned": (0.0, 0.05), "sandbagger": (0.9, 0.1), "oversight": (0.0, 0.05)}


def _manifest(findings: list[dict]) -> ManifestV2:  # type: ignore[type-arg]
    m = manifest_from_data(_doc(findings))
    assert isinstance(m, ManifestV2)
    return m


def _dense_value(now: list[dict], planned: dict) -> float:  # type: ignore[type-arg]
    """The same expectation by dense conditioning and a fine grid, the posterior after each
    grid value from the engine itself."""
    before = _manifest(now)
    x = mixture_arrays(_manifest([*now, planned]))
    n = x.n
    b = np.zeros((n, x.k))
    b[x.load_rows, x.load_cols] = x.loading * x.sd[x.load_cols] * x.scale[x.load_rows]
    prior, c = 0.5, 0.05
    xb = mixture_arrays(before)
    lik = mixture_likelihood(xb)
    logpdf = lik.component_logpdf
    atoms = []  # (weight, component index, benign)
    for t in range(len(x.component_ids)):
        w = x.weight[t] * np.exp(logpdf[t])
        if not x.scheming[t]:
            atoms += [(prior * w, t, True), ((1 - prior) * c * w, t, False)]
        else:
            atoms.append(((1 - prior) * (1 - c) * w, t, False))
    total = sum(a[0] for a in atoms)
    p_now = sum(a[0] for a in atoms if a[2]) / total
    expected = 0.0
    for weight, t, _ in atoms:
        cov = np.diag(x.se2 + x.spread2[t]) + b @ b.T
        r_old = x.value[:-1] - x.mean[t, :-1]
        gain = cov[-1, :-1] @ np.linalg.inv(cov[:-1, :-1])
        mean = x.mean[t, -1] + gain @ r_old
        var = cov[-1, -1] - gain @ cov[:-1, -1]
        grid = mean + np.sqrt(var) * np.linspace(-8, 8, 401)
        risks = []
        for z in grid:
            at_z = dataclasses.replace(x, value=np.append(x.value[:-1], z))
            llr = mixture_likelihood(at_z).llr
            risks.append(posterior_not_scheming(prior, log_lr_common_cause(llr, c)))
        risks = list(weighted_entropy(np.array(risks), LOSS))
        dens = norm.pdf(grid, mean, np.sqrt(var))
        expected += weight / total * np.trapezoid(np.array(risks) * dens, grid)
    return float(weighted_entropy(np.array([p_now]), LOSS)[0] - expected)


@pytest.mark.parametrize("observed", [0.05, 0.6])
def test_planning_value_matches_dense_conditioning(observed: float) -> None:
    """A second honeypot sharing the first's method factor, planned after the first came out
    at ``observed``: the value equals the dense computation (Gaussian conditioning on the
    shared factor, the engine's posterior at every outcome)."""
    now = [_finding("honeypot1", observed, HONEYPOT, ["honeypot-method"])]
    planned = _finding("honeypot2", 0.0, HONEYPOT, ["honeypot-method"])
    value = planning_value(_manifest(now), _manifest([*now, planned]))
    assert value == pytest.approx(_dense_value(now, planned), rel=2e-3, abs=1e-6)
    assert value > 0


def test_an_experiment_that_tests_an_untested_kind_is_worth_more_than_a_repeat() -> None:
    """After one honeypot that came out aligned-looking, the sandbagger component is untested:
    a capability test (which sees it) is worth more than another honeypot sharing the first's
    method factor, and the repeat is worth less than the first honeypot was."""
    first = _finding("honeypot1", 0.02, HONEYPOT, ["honeypot-method"])
    now = _manifest([first])
    capability = planning_value(
        now, _manifest([first, _finding("capability1", 0.0, CAPABILITY, ["capability-method"])])
    )
    repeat = planning_value(
        now, _manifest([first, _finding("honeypot2", 0.0, HONEYPOT, ["honeypot-method"])])
    )
    assert capability > 2 * repeat > 0
    empty = _manifest([])
    was = planning_value(empty, _manifest([copy.deepcopy(first)]))
    assert was > repeat


def test_a_planned_result_that_adds_no_finding_is_worth_nothing() -> None:
    first = _finding("honeypot1", 0.02, HONEYPOT, ["honeypot-method"])
    assert planning_value(_manifest([first]), _manifest([first])) == 0.0
    # Nothing yet, and the planned result set aside (an uncalibrated probe): still nothing.
    assert planning_value(_manifest([]), _manifest([])) == 0.0


def test_the_weighted_loss_is_largest_where_a_false_reassurance_is_likely() -> None:
    """H_L is concave, zero at certainty and peaks on the reassuring side: uncertainty near
    reassurance costs more than the same uncertainty near alarm."""
    p = np.linspace(0.0, 1.0, 2001)
    h = weighted_entropy(p, LOSS)
    assert h[0] < 1e-9 and h[-1] < 1e-9
    assert np.all(np.diff(h, 2) <= 1e-9)
    assert p[np.argmax(h)] > 0.6
    assert weighted_entropy(np.array([0.9]), LOSS)[0] > weighted_entropy(np.array([0.1]), LOSS)[0]
