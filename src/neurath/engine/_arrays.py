"""Manifests compiled to flat arrays: the form the kernel works on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from neurath.engine._kernel import FactorCovariance, FloatArray, IntArray
from neurath.evidence._bulk import FindingColumns, load_manifest_columns
from neurath.evidence._model import Factor, Manifest
from neurath.evidence._model_v2 import ManifestV2


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
        lo, hi = _scales(manifest.factors)
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
            sd_lo=lo,
            sd_hi=hi,
        )

    @classmethod
    def from_columns(cls, factors: list[Factor], columns: FindingColumns) -> EvidenceArrays:
        """The arrays of findings read in bulk (:mod:`neurath.evidence._bulk`): the same numbers
        :meth:`from_manifest` takes from the same findings, without a model per finding."""
        lo, hi = _scales(factors)
        return cls(
            finding_ids=tuple(columns.ids),
            factor_ids=tuple(f.id for f in factors),
            value=columns.value,
            variance=columns.se * columns.se + columns.extra_sd * columns.extra_sd,
            mu_not_scheming=columns.mu_not_scheming,
            mu_scheming=columns.mu_scheming,
            load_rows=columns.load_row,
            load_cols=columns.load_factor,
            loading=columns.loading,
            sd_lo=lo,
            sd_hi=hi,
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


def _scales(factors: list[Factor]) -> tuple[FloatArray, FloatArray]:
    lo = [f.sd[0] if isinstance(f.sd, tuple) else f.sd for f in factors]
    hi = [f.sd[1] if isinstance(f.sd, tuple) else f.sd for f in factors]
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


@dataclass(frozen=True)
class ManifestArrays:
    """A version 1 manifest read in bulk (:func:`load_manifest_arrays`): its header, and its
    findings as the engine's arrays, with no model per finding. :func:`neurath.assess` takes it
    as it takes a :class:`~neurath.evidence.Manifest`."""

    header: Manifest
    """The manifest with its inline findings only (those of ``findings_file`` are in the
    arrays)."""
    arrays: EvidenceArrays
    """Every finding, inline ones first."""
    columns: FindingColumns
    """The same findings as read (experiment, se, status), for reports."""

    def failed_ids(self) -> list[str]:
        """Findings from failed experiments (``status: error``)."""
        return [self.columns.ids[i] for i in np.flatnonzero(self.columns.failed)]


def load_manifest_arrays(path: str | Path) -> ManifestArrays | ManifestV2:
    """Load a manifest for assessment, a findings file of any size read in bulk.

    The findings file (JSON Lines, or Parquet: ``findings_file: findings.parquet``, schema in
    :mod:`neurath.evidence._bulk_parquet`) is checked a column at a time instead of a model at
    a time (:mod:`neurath.evidence._bulk`): the same findings, the same numbers and the same
    error messages as :func:`neurath.load_manifest`, for files of up to 2 GiB and 10^7
    findings. A version 2 manifest is read per finding and returned as it is.

    Raises:
        ManifestError: The manifest or its findings file is missing, malformed or inconsistent.
    """
    loaded = load_manifest_columns(path)
    if isinstance(loaded, ManifestV2):
        return loaded
    header, columns = loaded.header, loaded.columns
    return ManifestArrays(header, EvidenceArrays.from_columns(header.factors, columns), columns)
