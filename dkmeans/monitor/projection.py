"""Two-dimensional views of a clustering: PCA of a sample, and matching classes to clusters.

Both are small NumPy computations on a sample the caller already holds (a few thousand rows);
nothing here touches Dask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """A fitted 2-D PCA: ``transform(X) = ((X - mean) / scale) @ components.T``.

    Attributes
    ----------
    mean : ndarray of shape (d,)
    scale : ndarray of shape (d,)
        Per-feature standard deviation (1 where constant, or all ones if not standardised).
    components : ndarray of shape (2, d)
        Unit principal axes; a second axis of zeros when ``d == 1``.
    explained : ndarray of shape (2,)
        Fraction of the (standardised) variance along each axis.
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    explained: np.ndarray

    def transform(self, X):
        """Project rows ``X`` of shape (m, d) to shape (m, 2)."""
        X = np.asarray(X, dtype=np.float64)
        return ((X - self.mean) / self.scale) @ self.components.T


def fit_pca_2d(sample, *, standardize=True):
    """Principal axes of a sample, by SVD of the centred (and standardised) rows.

    Standardising (the default) keeps one large-valued feature from filling the picture;
    the signs of the axes are fixed (largest loading positive) so the picture is the same
    from run to run.

    Parameters
    ----------
    sample : ndarray of shape (m, d)
        Finite rows.
    standardize : bool, default True

    Returns
    -------
    Projection
    """
    X = np.asarray(sample, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"the sample must be a non-empty 2-D array, got shape {X.shape}")
    d = X.shape[1]
    mean = X.mean(axis=0)
    scale = X.std(axis=0) if standardize else np.ones(d)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (X - mean) / scale
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    comps = np.zeros((2, d))
    n = min(2, vt.shape[0])
    comps[:n] = vt[:n]
    for row in comps:
        j = int(np.argmax(np.abs(row)))
        if row[j] < 0:
            row *= -1
    var = s ** 2
    total = var.sum()
    explained = np.zeros(2)
    if total > 0:
        explained[:n] = var[:n] / total
    return Projection(mean=mean, scale=scale, components=comps, explained=explained)


def match_classes(labels, classes, n_clusters):
    """Colour index of each known class, matched to the cluster it overlaps most.

    Greedy one-to-one matching on the contingency table (largest overlap first), so that in a
    side-by-side picture a class and the cluster that found it share a colour; classes left
    over get colours after the clusters'.

    Parameters
    ----------
    labels : ndarray of shape (m,), int
        Cluster of each sampled row, in ``[0, n_clusters)``.
    classes : ndarray of shape (m,)
        Known class of each sampled row (any sortable values).
    n_clusters : int

    Returns
    -------
    names : ndarray
        The distinct classes, sorted.
    color_index : ndarray of shape (len(names),), int
    class_index : ndarray of shape (m,), int
        Position of each row's class in ``names``.

    Examples
    --------
    >>> names, colors, _ = match_classes(np.array([1, 1, 0]), np.array(["b", "b", "a"]), 2)
    >>> dict(zip(names.tolist(), colors.tolist()))
    {'a': 0, 'b': 1}
    """
    labels = np.asarray(labels, dtype=np.int64)
    names, class_index = np.unique(np.asarray(classes), return_inverse=True)
    table = np.zeros((len(names), n_clusters), dtype=np.int64)
    np.add.at(table, (class_index, labels), 1)
    color = np.full(len(names), -1, dtype=np.int64)
    used = np.zeros(n_clusters, dtype=bool)
    order = np.argsort(-table, axis=None, kind="stable")
    for flat in order:
        c, k = divmod(int(flat), n_clusters)
        if table[c, k] == 0:
            break
        if color[c] < 0 and not used[k]:
            color[c], used[k] = k, True
    spare = iter(range(n_clusters, n_clusters + len(names)))
    for c in range(len(names)):
        if color[c] < 0:
            free = np.flatnonzero(~used)
            if free.size:
                color[c], used[free[0]] = free[0], True
            else:
                color[c] = next(spare)
    return names, color, class_index.reshape(-1)
