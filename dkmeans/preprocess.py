"""What happens to the features between reading and fitting: non-finite rows and scaling.

Both are lazy per-chunk transforms fused into the tasks that read the chunks; their statistics
come from one moments pass (which the job needs anyway for the scaler and to find NaN/inf).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scaler:
    """Per-feature affine map ``(x - mean) / scale`` (identity for ``kind="none"``).

    Attributes
    ----------
    kind : {"none", "standard"}
    mean, scale : ndarray of shape (d,), float64 or None
    """

    kind: str = "none"
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    @classmethod
    def fit(cls, kind, moments):
        """Fit from :class:`dkmeans.kernels.moments.Moments`; constant features get scale 1."""
        if kind == "none":
            return cls()
        std = np.sqrt(moments.variance)
        return cls("standard", moments.mean.copy(), np.where(std > 0, std, 1.0))

    def transform_block(self, x):
        """Scale one block, keeping its dtype. x (n, d) → (n, d)."""
        if self.kind == "none":
            return x
        return ((x - self.mean) / self.scale).astype(x.dtype, copy=False)

    def inverse(self, centers):
        """Back to original units. centers (k, d) → (k, d) float64."""
        centers = np.asarray(centers, dtype=np.float64)
        if self.kind == "none":
            return centers
        return centers * self.scale + self.mean

    def to_dict(self):
        """JSON-ready description stored in ``model.json``."""
        if self.kind == "none":
            return {"scale": "none"}
        return {"scale": "standard", "mean": self.mean.tolist(), "std": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict`."""
        if not data or data.get("scale", "none") == "none":
            return cls()
        return cls("standard", np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["std"], dtype=np.float64))


def _clean_block(x, scaler):
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        x = np.where(finite[:, None], x, 0).astype(x.dtype, copy=False)
    return scaler.transform_block(x)


def _finite_weight_block(x):
    return np.isfinite(x).all(axis=1).astype(np.float64)


def prepare_features(features, scaler, *, skip_nonfinite):
    """Lazily scaled features, and row weights that exclude non-finite rows when skipping.

    Parameters
    ----------
    features : dask.array.Array of shape (n, d)
    scaler : Scaler
    skip_nonfinite : bool
        Rows with NaN/inf get weight 0 (and zeros in place of their values), so they take no
        part in the fit; their label is written as null.

    Returns
    -------
    X : dask.array.Array of shape (n, d)
    weights : dask.array.Array of shape (n,) float64, or None
    """
    if not skip_nonfinite and scaler.kind == "none":
        return features, None
    X = features.map_blocks(_clean_block, scaler, dtype=features.dtype,
                            token="dkmeans-preprocess")
    weights = None
    if skip_nonfinite:
        weights = features.map_blocks(_finite_weight_block, drop_axis=1, dtype=np.float64,
                                      token="dkmeans-row-weights")
    return X, weights
