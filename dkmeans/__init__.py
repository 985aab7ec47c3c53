"""dkmeans: k-means clustering for data that outgrows one machine.

Full Lloyd and mini-batch k-means with k-means|| initialisation over Dask arrays, with the
scikit-learn estimator API, and a YAML job runner for Parquet data on disk or S3.
"""

from dkmeans.estimators import ConvergenceWarning, KMeans
from dkmeans.io import load_model
from dkmeans.estimators import MiniBatchKMeans

__version__ = "0.1.0"

__all__ = ["KMeans", "MiniBatchKMeans", "ConvergenceWarning", "load_model", "__version__"]
