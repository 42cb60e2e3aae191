"""Value of information under the correlated model: how much a planned experiment is expected
to tell about scheming, given the evidence a target already has.

Under the engine's Gaussian model the log-likelihood ratio of a set of findings is normal
under each hypothesis, ``LLR ~ N(+-d^2 / 2, d^2)`` with ``d^2 = Delta^T Sigma^-1 Delta``.
Adding findings to a set whose LLR is ``L`` adds an increment independent of ``L`` (``L`` is
sufficient for the old findings): ``I ~ N(+-g / 2, g)`` with ``g = d_new^2 - d_old^2``. So
the whole value of an experiment is summarised by ``g``, and ``g`` is small when the new
finding shares factors (method, assumptions, data, weights, raters) with what is already
there: the correlated model's way of preferring independent evidence.

The common cause splits scheming into evaders (probability ``c``), whose evidence behaves as
a non-schemer's, and the detectable rest. The expected information gain about
scheming is then computed by Gauss-Hermite quadrature over the increment:
``EIG = H(P(N)) - E[H(P(N | I))]`` (Lindley 1956, "On a measure of the information provided
by an experiment").
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from neurath.evidence._model import Manifest

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


class Separation(NamedTuple):
    """The Gaussian LLR of a manifest's findings and their separation ``d^2``."""

    llr: float
    information: float


def separation(manifest: Manifest) -> Separation:
    """``LLR`` (before the common cause) and ``d^2 = Delta^T Sigma^-1 Delta`` of a manifest."""
    from neurath.engine import EvidenceArrays, gls_solve

    if not manifest.findings:
        return Separation(0.0, 0.0)
    ev = EvidenceArrays.from_manifest(manifest)
    sol = gls_solve(ev.covariance(), ev.delta, ev.residual)
    return Separation(sol.llr, sol.information)


def _entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-15, 1 - 1e-15)
    out: np.ndarray = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    return out


def expected_information_gain(llr: float, gain: float, prior: float, common_cause: float) -> float:
    """Expected reduction in the entropy (bits) of "scheming or not" from an increment of
    separation ``gain``, for a target whose findings so far have Gaussian LLR ``llr``.

    Args:
        llr: The current findings' Gaussian log-likelihood ratio N:S (0 with none).
        gain: ``d_new^2 - d_old^2`` (at least 0).
        prior: P(not scheming) before any evidence.
        common_cause: ``c``, the share of schemers that defeat every line of evidence.
    """
    if gain <= 1e-12:
        return 0.0
    c = min(max(common_cause, 0.0), 1.0)
    # Unnormalised posterior weights of N, evading and detectable scheming (likelihoods
    # relative to detectable scheming: N and evaders share the non-schemer's distribution).
    logs = np.array(
        [
            math.log(prior) + llr,
            (math.log((1 - prior) * c) + llr) if c > 0 else -np.inf,
            math.log((1 - prior) * (1 - c)) if c < 1 else -np.inf,
        ]
    )
    w = np.exp(logs - logs.max())
    w /= w.sum()
    p_now = w[0]
    root = math.sqrt(gain)
    expected = 0.0
    for sign, weight in ((1.0, w[0] + w[1]), (-1.0, w[2])):
        if weight <= 0:
            continue
        inc = sign * gain / 2 + root * _NODES  # the increment's quadrature nodes
        num = w[0] * np.exp(np.minimum(inc, 700))
        p_after = num / (num + w[1] * np.exp(np.minimum(inc, 700)) + w[2])
        expected += weight * float(_WEIGHTS @ _entropy(p_after))
    return max(0.0, float(_entropy(np.array([p_now]))[0]) - expected)
