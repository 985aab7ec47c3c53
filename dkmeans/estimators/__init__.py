"""scikit-learn-style estimators over NumPy and Dask arrays."""

from dkmeans.estimators.kmeans import ConvergenceWarning, KMeans

__all__ = ["KMeans", "ConvergenceWarning"]
