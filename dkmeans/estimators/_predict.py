"""Using fitted centres: ``predict``, ``transform``, ``score`` and their ``fit_*`` forms.

In-memory input is processed by the thread pool and returns NumPy arrays; Dask input returns
lazy Dask arrays (``score`` is always a concrete float).
"""

from __future__ import annotations

import numpy as np

from dkmeans.dist.backend import make_backend
from dkmeans.dist.graph import sum_parts
from dkmeans.estimators._validation import (
    check_array,
    check_feature_names,
    check_finite,
    check_n_features,
    check_sample_weight,
)
from dkmeans.kernels.distances import nearest_centers, squared_distances


def _labels_chunk(x, w, offset, centers, shift):
    return nearest_centers(x, centers, shift=shift)[0].astype(np.int32)


def _distances_chunk(x, w, offset, centers, shift):
    return np.sqrt(squared_distances(x, centers, shift=shift)).astype(x.dtype)


def _inertia_chunk(x, w, offset, centers, shift):
    d2 = nearest_centers(x, centers, shift=shift)[1]
    return float(d2.sum() if w is None else d2 @ w)


def _finite_block(x):
    check_finite(x)
    return x


class PredictMixin:
    """``predict``/``transform``/``score`` over the fitted ``cluster_centers_``."""

    def _reference_point(self):
        shift = getattr(self, "_shift", None)
        return self.cluster_centers_.mean(axis=0) if shift is None else shift

    def _check_new(self, X):
        """Validate input for a fitted estimator: fitted, names, n_features, finite."""
        self._check_fitted()
        X, names = check_array(X, estimator_name=type(self).__name__)
        check_feature_names(self, names, reset=False)
        check_n_features(self, X)
        if hasattr(X, "dask"):
            # checked per block as the blocks are read, so no extra pass over the data
            return X.map_blocks(_finite_block, dtype=X.dtype, token="dkmeans-check-finite")
        check_finite(X)
        return X

    def _labels_for(self, backend, X):
        args = (self.cluster_centers_.astype(np.float64), self._reference_point())
        return backend.map_rows(_labels_chunk, args=args, phase="labels", dtype=np.int32)

    def predict(self, X):
        """Index of the closest centre for each row.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray (or Dask array) of shape (n_samples,), int32
        """
        X = self._check_new(X)
        return self._labels_for(make_backend(X, n_threads=getattr(self, "n_threads", None)), X)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit on ``X`` and return the label of each row.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        labels : ndarray (or Dask array) of shape (n_samples,), int32
            ``labels_`` of the fit.
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distance of each row to every centre.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)

        Returns
        -------
        distances : ndarray (or Dask array) of shape (n_samples, n_clusters)
            In ``X``'s float dtype (float32 stays float32).
        """
        X = self._check_new(X)
        backend = make_backend(X, n_threads=getattr(self, "n_threads", None))
        args = (self.cluster_centers_.astype(np.float64), self._reference_point())
        return backend.map_rows(_distances_chunk, args=args, phase="transform", dtype=X.dtype,
                                trailing_shape=(self.cluster_centers_.shape[0],))

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit on ``X`` and return its distances to the centres.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        distances : ndarray (or Dask array) of shape (n_samples, n_clusters)
        """
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the inertia of ``X`` on the fitted centres (higher is better).

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        score : float
            Minus the sum of the (weighted) squared distances of rows to their nearest centre.
        """
        X = self._check_new(X)
        weights = check_sample_weight(sample_weight, X)
        backend = make_backend(X, weights, n_threads=getattr(self, "n_threads", None))
        args = (self.cluster_centers_.astype(np.float64), self._reference_point())
        return -float(backend.reduce(_inertia_chunk, sum_parts, args=args, phase="score",
                                     result_nbytes=8))
