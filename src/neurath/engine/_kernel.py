"""The low-rank Gaussian kernel: ``Sigma = D + B B^T`` without ever forming an n x n matrix.

Notation (DESIGN.md section 3): ``D`` is diagonal (independent error variances), ``B`` is the
sparse n x k factor matrix, ``C = I_k + B^T D^-1 B`` is the k x k "capacitance" matrix and
``P = Sigma^-1`` the precision. Two classical identities carry everything:

* Woodbury: ``P = D^-1 - D^-1 B C^-1 B^T D^-1``, so a solve costs one Cholesky of ``C``.
* Matrix determinant lemma: ``log det Sigma = log det D + log det C``.

Both are in Hager, "Updating the inverse of a matrix", SIAM Review 31(2), 1989. Building ``C``
costs O(n s^2) for s factors per finding and factorising it O(k^3).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from neurath._errors import AssessmentError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MAX_DENSE_FACTORS = 40_000
"""Above this many active factors the k x k capacitance matrix would not fit in memory."""

_PAIR_CHUNK = 32_000_000
"""Pairs of loadings processed at once when gathering blocks of ``C^-1`` (bounds memory)."""


class FactorCovariance:
    """``Sigma = diag(d) + B B^T`` with ``B = A diag(sd)``, factorised once, then solved cheaply.

    ``A`` holds the unscaled loadings (``loading_ij * |Delta_i|``) and ``sd`` the factor scales,
    so ``B^T D^-1 B = diag(sd) G diag(sd)`` with the Gram matrix ``G = A^T D^-1 A`` computed
    once and reused by :meth:`with_scales` (the Monte Carlo over uncertain scales).

    Args:
        d: Independent variances, shape (n,), all positive.
        a: Sparse unscaled loadings, shape (n, k).
        sd: Factor scales, shape (k,), non-negative.
        gram: Lower triangle of ``A^T D^-1 A`` if already known (dense k x k).
    """

    def __init__(
        self, d: FloatArray, a: sp.csr_matrix, sd: FloatArray, gram: FloatArray | None = None
    ) -> None:
        n, k = a.shape
        if d.shape != (n,) or sd.shape != (k,):
            raise ValueError(f"shapes d={d.shape}, sd={sd.shape} do not match A={a.shape}")
        if k > MAX_DENSE_FACTORS:
            raise AssessmentError(
                f"{k} factors exceed the limit of {MAX_DENSE_FACTORS} (the k x k factorisation "
                f"would need {k * k * 8 / 2**30:.0f} GiB); merge factors or split the manifest"
            )
        a = a.tocsr()
        a.sum_duplicates()  # canonical: sorted indices, no duplicates (see _row_pairs)
        a.sort_indices()
        self.d, self.a, self.sd = d, a, sd
        self.n: int = int(n)
        self.k: int = int(k)
        # B = A diag(sd) and D^-1 B, scaled in place of copies so they stay canonical CSR.
        self.b: sp.csr_matrix = a.copy()
        self.b.data *= sd[a.indices]
        self._bw: sp.csr_matrix = self.b.copy()
        self._bw.data /= np.repeat(d, np.diff(a.indptr))
        self._gram = gram
        if gram is not None:
            cap = sd[:, None] * gram * sd[None, :]
        else:
            cap = _weighted_gram_lower(self.b, 1.0 / d)
        cap[np.diag_indices_from(cap)] += 1.0
        self.capacitance_diag = np.diag(cap).copy()
        # Only the lower triangle of C = I + B^T D^-1 B is filled: LAPACK's Cholesky reads no
        # more. C is symmetric positive definite with eigenvalues >= 1, so it cannot fail.
        # The C-ordered lower triangle is the Fortran-ordered upper triangle of the same memory:
        # factorising that view as C = U^T U runs in place, with no k x k copy.
        # LAPACK directly: scipy.linalg.cholesky would also zero the unused triangle, a wasted
        # pass over k^2 entries that no solve here reads.
        upper, info = sla.lapack.dpotrf(cap.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            raise AssessmentError(
                f"the factor matrix is not positive definite (LAPACK info {info}); "
                "check for non-finite loadings or scales"
            )
        self._upper: FloatArray = upper
        self._cinv: FloatArray | None = None
        self._cinv_diag: FloatArray | None = None

    def with_scales(self, sd: FloatArray) -> FactorCovariance:
        """The same evidence with other factor scales, reusing ``G = A^T D^-1 A`` (O(k^3))."""
        if self._gram is None:
            self._gram = _weighted_gram_lower(self.a, 1.0 / self.d)
        return FactorCovariance(self.d, self.a, sd, self._gram)

    def solve(self, x: FloatArray) -> FloatArray:
        """``Sigma^-1 x`` for x of shape (n,) or (n, m)."""
        dd = self.d if x.ndim == 1 else self.d[:, None]
        xd = x / dd
        if self.k == 0:
            return xd
        t = self.b.T @ xd
        z = sla.cho_solve((self._upper, False), t, check_finite=False)
        out: FloatArray = xd - (self.b @ z) / dd
        return out

    def _lower_solve(self, x: FloatArray) -> FloatArray:
        """``L^-1 x`` for ``C = L L^T`` (``L = U^T``): then ``x^T C^-1 x = |L^-1 x|^2``."""
        out: FloatArray = sla.solve_triangular(
            self._upper, x, trans="T", lower=False, check_finite=False
        )
        return out

    def logdet(self) -> float:
        """``log det Sigma`` by the matrix determinant lemma."""
        log_diag_u = np.log(np.diag(self._upper))
        return float(np.sum(np.log(self.d))) + 2.0 * float(np.sum(log_diag_u))

    def logpdf(self, residual: FloatArray) -> float:
        """Log density of ``N(0, Sigma)`` at ``residual`` (shape (n,))."""
        quad = float(residual @ self.solve(residual))
        return -0.5 * (self.n * math.log(2.0 * math.pi) + float(self.logdet()) + quad)

    def diag(self) -> FloatArray:
        """``diag(Sigma) = d + row sums of B^2``."""
        row_sq = np.asarray(self.b.multiply(self.b).sum(axis=1), dtype=np.float64).ravel()
        return self.d + row_sq

    def capacitance_inverse(self) -> FloatArray:
        """``C^-1`` as a dense k x k array (O(k^3))."""
        inv = self._inverse_upper()
        return np.triu(inv) + np.triu(inv, 1).T

    def _inverse_upper(self) -> FloatArray:
        """``C^-1`` with only its upper triangle (row <= column) filled in (``dpotri``, cached):
        all that the quadratic forms over canonical rows read, without two k x k copies."""
        if self._cinv is None:
            inv, info = sla.lapack.dpotri(self._upper, lower=0)
            if info != 0:
                raise AssessmentError(f"inverting the factor matrix failed (LAPACK info {info})")
            self._cinv = inv
        return self._cinv

    @property
    def weighted_loadings(self) -> sp.csr_matrix:
        """``D^-1 B``, canonical CSR: row i is the ``w_i`` of :meth:`precision_diag`."""
        return self._bw

    def inverse_at_hand(self) -> bool:
        """Whether ``diag(C^-1)`` is known (then it costs nothing more)."""
        return self._cinv is not None or self._cinv_diag is not None

    def capacitance_inverse_diag(self, cols: IntArray | None = None) -> FloatArray:
        """``diag(C^-1)``, at ``cols`` only or (``None``) at every factor.

        A few columns cost one triangular solve each (O(k^2)); many, one inversion of the
        Cholesky factor (``dtrtri``, O(k^3 / 3), half the work of ``C^-1``), cached:
        ``(C^-1)_jj`` is the squared norm of row j of ``U^-1``.
        """
        if self.k == 0:
            return np.zeros(0 if cols is None else len(cols))
        if self._cinv is not None:
            full = np.diag(self._cinv)
            return (full if cols is None else full[cols]).copy()
        if self._cinv_diag is None and (cols is None or len(cols) > self.k // 8):
            inv, info = sla.lapack.dtrtri(self._upper, lower=0)
            if info != 0:
                raise AssessmentError(f"inverting the factor matrix failed (LAPACK info {info})")
            for j in range(self.k - 1):
                inv[j + 1 :, j] = 0.0  # dtrtri leaves the other triangle as it found it
            self._cinv_diag = np.einsum("ij,ij->i", inv, inv)
        if self._cinv_diag is not None:
            return self._cinv_diag.copy() if cols is None else self._cinv_diag[cols]
        assert cols is not None
        e = np.zeros((self.k, len(cols)))
        e[cols, np.arange(len(cols))] = 1.0
        w = self._lower_solve(e)
        return np.asarray(np.einsum("ij,ij->j", w, w), dtype=np.float64)

    def precision_diag(self, rows: IntArray | None = None) -> FloatArray:
        """``diag(Sigma^-1)``, for all findings or only ``rows``, without forming ``Sigma^-1``.

        ``P_ii = 1/d_i - w_i^T C^-1 w_i`` with ``w_i`` row i of ``D^-1 B`` (s non-zeros).
        With ``rows`` given and no cached ``C^-1``, each row costs one triangular solve.
        """
        if self.k == 0:
            out = 1.0 / self.d
            return out if rows is None else out[rows]
        if rows is not None and self._cinv is None:
            z = self._lower_solve(self._bw[rows].toarray().T)  # (k, m)
            return np.asarray(1.0 / self.d[rows] - np.einsum("ij,ij->j", z, z), dtype=np.float64)
        quad = _row_quadratic_forms(self._bw, self._inverse_upper())
        out = 1.0 / self.d - quad
        return out if rows is None else out[rows]


class _RowPairs(NamedTuple):
    """Every pair ``p <= q`` of non-zeros sharing a row, for a chunk of rows."""

    first: int
    last: int
    row: IntArray
    """Row of each pair, relative to ``first``."""
    p: IntArray
    """Position of the first non-zero in the CSR arrays."""
    q: IntArray
    """Position of the second non-zero in the CSR arrays (``q >= p``)."""


def _row_pairs(w: sp.csr_matrix) -> Iterator[_RowPairs]:
    """Pairs ``p <= q`` of non-zeros within each row, in chunks of about ``_PAIR_CHUNK`` pairs.

    ``w`` must be canonical CSR (sorted column indices, no duplicates), so ``p < q`` means
    ``cols[p] < cols[q]``.
    """
    lengths = np.diff(w.indptr).astype(np.int64)
    for first, last in _row_chunks(lengths * (lengths + 1) // 2, _PAIR_CHUNK):
        lo, hi = int(w.indptr[first]), int(w.indptr[last])
        if hi == lo:
            continue
        seg = lengths[first:last]
        row_of_nz = np.repeat(np.arange(last - first), seg)
        # The non-zero at position j of a row of length L pairs with positions j .. L - 1.
        row_end = np.repeat(w.indptr[first + 1 : last + 1].astype(np.int64), seg)
        nz = np.arange(lo, hi)
        rep = row_end - nz
        p = np.repeat(nz, rep)
        q = p + (np.arange(len(p)) - np.repeat(np.cumsum(rep) - rep, rep))
        yield _RowPairs(first, last, row_of_nz[p - lo], p, q)


def _row_quadratic_forms(w: sp.csr_matrix, m: FloatArray) -> FloatArray:
    """``q_i = w_i^T M w_i`` for each row ``w_i`` of a sparse matrix and a symmetric ``M``.

    Costs O(sum_i s_i^2); off-diagonal pairs are visited once and counted twice. Only the upper
    triangle of ``M`` (row <= column) is read: ``w`` is canonical CSR.
    """
    out = np.zeros(w.shape[0])
    cols, vals = w.indices, w.data
    for ch in _row_pairs(w):
        terms = vals[ch.p] * vals[ch.q] * m[cols[ch.p], cols[ch.q]]
        terms[ch.p != ch.q] *= 2.0
        out[ch.first : ch.last] = np.bincount(ch.row, weights=terms, minlength=ch.last - ch.first)
    return out


def _weighted_gram_lower(w: sp.csr_matrix, row_weight: FloatArray) -> FloatArray:
    """The lower triangle of ``W^T diag(row_weight) W`` as a dense array (upper part zero).

    Accumulated pair by pair in O(sum_i s_i^2 + k^2): leaner than a sparse product followed by
    ``toarray`` when the result is dense, and the Cholesky factorisation reads only this
    triangle, so the scattered writes are halved.
    """
    k = w.shape[1]
    flat: FloatArray | None = None
    cols, vals = w.indices.astype(np.int64), w.data
    for ch in _row_pairs(w):
        weights = vals[ch.p] * vals[ch.q] * row_weight[ch.first + ch.row]
        # Canonical CSR has sorted column indices, so p < q means cols[p] < cols[q]: the pair
        # belongs at (row cols[q], column cols[p]) of the lower triangle.
        index = cols[ch.q] * k + cols[ch.p]
        part = np.bincount(index, weights=weights, minlength=k * k).astype(np.float64, copy=False)
        flat = part if flat is None else flat + part
    if flat is None:
        return np.zeros((k, k))
    return flat.reshape(k, k)


def _row_chunks(cost: IntArray, limit: int) -> list[tuple[int, int]]:
    """Split rows into consecutive ranges whose summed ``cost`` stays near ``limit``."""
    n = len(cost)
    if n == 0:
        return []
    cum = np.cumsum(cost)
    cuts = np.searchsorted(cum, np.arange(limit, int(cum[-1]), limit), side="right")
    edges = np.unique(np.concatenate([[0], cuts, [n]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


class GLSSolution(NamedTuple):
    """The pieces of the Gaussian log-likelihood ratio that everything else is built from."""

    llr: float
    """``Delta^T P r``: log N(y; mu_N, Sigma) - log N(y; mu_S, Sigma)."""
    u: FloatArray
    """``P Delta``."""
    v: FloatArray
    """``P r`` with ``r = y - (mu_N + mu_S)/2``."""
    information: float
    """``Delta^T P Delta``: the separation of the hypotheses in Mahalanobis units squared."""


def gls_solve(cov: FactorCovariance, delta: FloatArray, resid: FloatArray) -> GLSSolution:
    """Solve for ``P Delta`` and ``P r`` together (one pass over B)."""
    both = cov.solve(np.column_stack([delta, resid]))
    u, v = both[:, 0].copy(), both[:, 1].copy()
    return GLSSolution(float(delta @ v), u, v, float(delta @ u))


def llr_many(cov: FactorCovariance, delta: FloatArray, resid: FloatArray) -> FloatArray:
    """``Delta^T P r_w`` for many residual vectors at once: ``resid`` has shape (n, m)."""
    u = cov.solve(delta)
    return np.asarray(u @ resid, dtype=np.float64)
