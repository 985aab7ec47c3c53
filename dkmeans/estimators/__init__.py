"""scikit-learn-style estimators over NumPy and Dask arrays."""

from dkmeans.estimators.kmeans import ConvergenceWarning, KMeans
from dkmeans.estimators.minibatch import MiniBatchKMeans

__all__ = ["KMeans", "MiniBatchKMeans", "ConvergenceWarning"]
