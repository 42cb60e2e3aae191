"""Manifests compiled to flat arrays: the form the kernel works on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from neurath.engine._kernel import FactorCovariance, FloatArray, IntArray
from neurath.evidence._model import Manifest


@dataclass(frozen=True)
class EvidenceArrays:
    """The numbers of a manifest, one array entry per finding or per loading.

    Build one with :meth:`from_manifest`, or directly when findings arrive as arrays
    (simulation, benchmarks): no per-finding Python objects are needed then.
    """

    finding_ids: tuple[str, ...]
    factor_ids: tuple[str, ...]
    value: FloatArray
    """Observed statistic y, shape (n,)."""
    variance: FloatArray
    """Independent variance ``se^2 + extra_sd^2``, shape (n,)."""
    mu_not_scheming: FloatArray
    mu_scheming: FloatArray
    load_rows: IntArray
    """Finding index of each loading, shape (nnz,)."""
    load_cols: IntArray
    """Factor index of each loading, shape (nnz,)."""
    loading: FloatArray
    """Loading value, shape (nnz,)."""
    sd_lo: FloatArray
    """Lower end of each factor's scale, shape (k,)."""
    sd_hi: FloatArray
    """Upper end (equal to ``sd_lo`` for a fixed scale)."""

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> EvidenceArrays:
        findings = manifest.findings
        index = manifest.factor_index()
        n = len(findings)
        rows: list[int] = []
        cols: list[int] = []
        loads: list[float] = []
        for i, f in enumerate(findings):
            for fid, w in f.factors.items():
                rows.append(i)
                cols.append(index[fid])
                loads.append(w)
        lo = [f.sd[0] if isinstance(f.sd, tuple) else f.sd for f in manifest.factors]
        hi = [f.sd[1] if isinstance(f.sd, tuple) else f.sd for f in manifest.factors]
        return cls(
            finding_ids=tuple(f.id for f in findings),
            factor_ids=tuple(f.id for f in manifest.factors),
            value=np.fromiter((f.value for f in findings), float, n),
            variance=np.fromiter((f.variance for f in findings), float, n),
            mu_not_scheming=np.fromiter((f.expected.not_scheming for f in findings), float, n),
            mu_scheming=np.fromiter((f.expected.scheming for f in findings), float, n),
            load_rows=np.asarray(rows, dtype=np.int64),
            load_cols=np.asarray(cols, dtype=np.int64),
            loading=np.asarray(loads, dtype=np.float64),
            sd_lo=np.asarray(lo, dtype=np.float64),
            sd_hi=np.asarray(hi, dtype=np.float64),
        )

    @property
    def n(self) -> int:
        return len(self.value)

    @property
    def k(self) -> int:
        return len(self.sd_lo)

    @property
    def delta(self) -> FloatArray:
        """``mu_N - mu_S`` per finding."""
        return self.mu_not_scheming - self.mu_scheming

    @property
    def residual(self) -> FloatArray:
        """``y - (mu_N + mu_S) / 2`` per finding."""
        return self.value - 0.5 * (self.mu_not_scheming + self.mu_scheming)

    @property
    def sd_point(self) -> FloatArray:
        """Point scales: each range's midpoint (as :func:`neurath.evidence.point_value`)."""
        return 0.5 * (self.sd_lo + self.sd_hi)

    @property
    def sd_uncertain(self) -> bool:
        return bool(np.any(self.sd_hi > self.sd_lo))

    def unscaled_loadings(self) -> sp.csr_matrix:
        """``A_ij = loading_ij * |Delta_i|``: B without the factor scales."""
        vals = self.loading * np.abs(self.delta)[self.load_rows]
        return sp.csr_matrix((vals, (self.load_rows, self.load_cols)), shape=(self.n, self.k))

    def covariance(self, sd: FloatArray | None = None) -> FactorCovariance:
        """``Sigma = D + B B^T`` at the given factor scales (default: the point scales)."""
        scales = self.sd_point if sd is None else sd
        return FactorCovariance(self.variance, self.unscaled_loadings(), scales)
