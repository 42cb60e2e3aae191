"""Shared helpers: dense references that the low-rank engine is checked against."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurath.engine import EvidenceArrays, random_evidence


def dense_sigma(ev: EvidenceArrays, sd: np.ndarray | None = None) -> np.ndarray:
    """``D + B B^T`` formed densely from the definition (DESIGN.md section 3)."""
    scales = ev.sd_point if sd is None else sd
    b = np.zeros((ev.n, ev.k))
    np.add.at(
        b,
        (ev.load_rows, ev.load_cols),
        ev.loading * scales[ev.load_cols] * np.abs(ev.delta)[ev.load_rows],
    )
    return np.diag(ev.variance) + b @ b.T


def with_values(ev: EvidenceArrays, value: np.ndarray) -> EvidenceArrays:
    return dataclasses.replace(ev, value=value)


def observed(ev: EvidenceArrays, rng: np.random.Generator, scale: float = 1.0) -> EvidenceArrays:
    """The structure with values drawn around the midpoint (a mixed, informative world)."""
    return with_values(ev, ev.value + scale * rng.normal(0.0, 1.0, ev.n) * np.sqrt(ev.variance))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


@pytest.fixture
def small_evidence(rng: np.random.Generator) -> EvidenceArrays:
    return observed(random_evidence(60, 6, 2, rng), rng)
