"""Clustering quality measures computed without scikit-learn at run time.

External measures (against known classes) come from a contingency table that one pass over
the labels builds; internal measures (silhouette, Davies–Bouldin) run on a uniform sample.
Formulas follow scikit-learn's definitions, which the tests compare against.
"""

from __future__ import annotations

import numpy as np


def contingency_chunk(clusters, classes):
    """Counts of (cluster, class) pairs in one chunk: dict {(cluster, class): count}.

    Rows whose cluster is negative (skipped rows) are left out.
    """
    keep = clusters >= 0
    clusters = clusters[keep].astype(np.int64)
    values, class_index = np.unique(classes[keep].astype(np.float64), return_inverse=True)
    if not len(values):
        return {}
    codes = np.bincount(clusters * len(values) + class_index.ravel())
    nonzero = np.flatnonzero(codes)
    return {(int(code // len(values)), float(values[code % len(values)])): int(codes[code])
            for code in nonzero}


def combine_contingency(parts):
    """Merge :func:`contingency_chunk` dicts."""
    total = {}
    for part in parts:
        for key, count in part.items():
            total[key] = total.get(key, 0) + count
    return total


def contingency_matrix(pairs):
    """Dense table of shape (n_clusters_seen, n_classes_seen) from merged pair counts."""
    clusters = sorted({a for a, _ in pairs})
    classes = sorted({b for _, b in pairs})
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    ci = {c: i for i, c in enumerate(clusters)}
    ki = {c: i for i, c in enumerate(classes)}
    for (a, b), count in pairs.items():
        table[ci[a], ki[b]] = count
    return table


def _comb2(x):
    x = np.asarray(x, dtype=np.float64)
    return (x * (x - 1) / 2).sum()


def adjusted_rand(table):
    """Adjusted Rand index (Hubert & Arabie 1985) from a contingency table."""
    n = table.sum()
    sum_cells = _comb2(table)
    sum_rows = _comb2(table.sum(axis=1))
    sum_cols = _comb2(table.sum(axis=0))
    expected = sum_rows * sum_cols / _comb2([n]) if n > 1 else 0.0
    maximum = (sum_rows + sum_cols) / 2
    if maximum == expected:
        return 1.0
    return float((sum_cells - expected) / (maximum - expected))


def _entropy(counts):
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(table):
    """NMI with arithmetic-mean normalisation (scikit-learn's default)."""
    n = table.sum()
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    nz = table > 0
    outer = np.outer(rows, cols)[nz]
    mi = float((table[nz] / n * (np.log(table[nz] * n) - np.log(outer))).sum())
    h_rows, h_cols = _entropy(rows), _entropy(cols)
    if h_rows == 0 and h_cols == 0:
        return 1.0
    denom = (h_rows + h_cols) / 2
    return float(max(mi, 0.0) / denom) if denom > 0 else 0.0


def majority_accuracy(table):
    """Accuracy when each cluster is labelled with its most frequent class."""
    return float(table.max(axis=1).sum() / table.sum())


def external_scores(pairs):
    """ARI, NMI and majority-matched accuracy from merged contingency pairs."""
    table = contingency_matrix(pairs)
    return {"adjusted_rand": adjusted_rand(table),
            "normalized_mutual_info": normalized_mutual_info(table),
            "accuracy": majority_accuracy(table)}


def _pairwise(X, Y):
    d2 = (X * X).sum(1)[:, None] - 2 * X @ Y.T + (Y * Y).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


def silhouette(X, labels):
    """Mean silhouette coefficient of a sample. X (m, d), labels (m,); needs 2+ clusters."""
    X = np.asarray(X, dtype=np.float64)
    present = np.unique(labels)
    if len(present) < 2:
        return float("nan")
    dist = _pairwise(X, X)
    sums = np.stack([dist[:, labels == c].sum(axis=1) for c in present], axis=1)
    sizes = np.array([(labels == c).sum() for c in present])
    own = np.searchsorted(present, labels)
    own_size = sizes[own]
    a = sums[np.arange(len(X)), own] / np.maximum(own_size - 1, 1)
    other = sums / sizes[None, :]
    other[np.arange(len(X)), own] = np.inf
    b = other.min(axis=1)
    s = np.where(own_size > 1, (b - a) / np.maximum(a, b), 0.0)
    return float(np.nan_to_num(s).mean())


def davies_bouldin(X, labels):
    """Davies–Bouldin index of a sample (lower is better). X (m, d), labels (m,)."""
    X = np.asarray(X, dtype=np.float64)
    present = np.unique(labels)
    if len(present) < 2:
        return float("nan")
    centroids = np.stack([X[labels == c].mean(axis=0) for c in present])
    scatter = np.array([np.sqrt(((X[labels == c] - centroids[i]) ** 2).sum(1)).mean()
                        for i, c in enumerate(present)])
    separation = _pairwise(centroids, centroids)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (scatter[:, None] + scatter[None, :]) / separation
    np.fill_diagonal(ratio, -np.inf)
    ratio[~np.isfinite(ratio)] = 0.0
    return float(ratio.max(axis=1).mean())


def choose_k(rows):
    """The k with the highest silhouette; ties go to the smaller k.

    Parameters
    ----------
    rows : list of dict with keys ``k`` and ``silhouette``

    Returns
    -------
    int
    """
    best = max(rows, key=lambda r: (np.nan_to_num(r["silhouette"], nan=-2.0), -r["k"]))
    return int(best["k"])
