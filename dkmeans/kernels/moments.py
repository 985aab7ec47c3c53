"""Per-feature mean and variance over finite rows, merged with Chan et al.'s parallel update.

The same pass counts rows holding NaN or infinity, so input hygiene costs no extra pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dkmeans.kernels._compiled import finite_moments


@dataclass(frozen=True)
class Moments:
    """Moments of a set of rows.

    Attributes
    ----------
    count : int
        Finite rows.
    mean : ndarray of shape (d,), float64
    m2 : ndarray of shape (d,), float64
        Sum of squared deviations from ``mean``.
    n_nonfinite : int
        Rows holding NaN or +-inf (excluded from the moments).
    first_nonfinite : int
        Global index of the first such row, or -1.
    weight_sum : float
        Total sample weight of the rows (their count when unweighted).
    nonfinite_per_feature : ndarray of shape (d,), int64
        NaN/inf values found in each feature.
    """

    count: int
    mean: np.ndarray
    m2: np.ndarray
    n_nonfinite: int
    first_nonfinite: int
    weight_sum: float = 0.0
    nonfinite_per_feature: np.ndarray | None = None

    @property
    def variance(self):
        """Population variance per feature, shape (d,)."""
        return self.m2 / max(self.count, 1)


def chunk_moments(X, row_offset=0, sample_weight=None):
    """Moments of one chunk.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    row_offset : int
        Global index of the chunk's first row.
    sample_weight : ndarray of shape (n,), optional
        Only summed (into ``weight_sum``); the moments themselves are unweighted, as
        scikit-learn's centring and tolerance are.

    Returns
    -------
    Moments
    """
    X = np.asarray(X)
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    n, d = X.shape
    mean, m2 = np.zeros(d), np.zeros(d)
    finite = np.empty(n, dtype=np.bool_)
    bad = np.zeros(d, dtype=np.int64)
    count = int(finite_moments(X, mean, m2, finite, bad)) if n else 0
    bad_rows = np.flatnonzero(~finite) if count < n else np.empty(0, dtype=np.int64)
    first = int(bad_rows[0]) + row_offset if len(bad_rows) else -1
    weight_sum = float(n if sample_weight is None else np.sum(sample_weight))
    return Moments(count, mean, m2, n - count, first, weight_sum, bad)


def combine_moments(parts):
    """Merge moments of disjoint row sets, in order (Chan, Golub & LeVeque 1979)."""
    parts = list(parts)
    acc = parts[0]
    for p in parts[1:]:
        n = acc.count + p.count
        if p.count == 0:
            mean, m2 = acc.mean, acc.m2
        elif acc.count == 0:
            mean, m2 = p.mean, p.m2
        else:
            delta = p.mean - acc.mean
            mean = acc.mean + delta * (p.count / n)
            m2 = acc.m2 + p.m2 + delta**2 * (acc.count * p.count / n)
        firsts = [f for f in (acc.first_nonfinite, p.first_nonfinite) if f >= 0]
        acc = Moments(n, mean, m2, acc.n_nonfinite + p.n_nonfinite,
                      min(firsts) if firsts else -1, acc.weight_sum + p.weight_sum,
                      acc.nonfinite_per_feature + p.nonfinite_per_feature)
    return acc
