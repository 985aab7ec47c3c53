"""Saving a fitted model next to its labels, and loading it back as an estimator.

``model/centroids.parquet`` holds one row per centre and one column per feature (any tool can
read it); ``model/model.json`` holds what a ``predict`` run needs besides the centres: feature
names, dtype, the algorithm's parameters, the preprocessing (e.g. scaler mean and scale), the
dkmeans version and the fingerprint of the training input. Both are published under the
commit protocol, so a model is loaded only from an output with ``_SUCCESS``.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dkmeans.errors import StorageError, UserInputError
from dkmeans.io.manifest import dkmeans_version, dumps, read_manifest, utc_now
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

CENTROIDS = "model/centroids.parquet"
MODEL_JSON = "model/model.json"
MODEL_FORMAT = "dkmeans-model"
MODEL_FORMAT_VERSION = 1


def model_files(
    centers: np.ndarray,
    feature_names: Sequence[str],
    *,
    params: dict | None = None,
    preprocess: dict | None = None,
    inertia: float | None = None,
    n_iter: int | None = None,
    input_fingerprint: str | None = None,
    algorithm: str | None = None,
    dtype: str | None = None,
) -> dict[str, tuple[bytes, int | None]]:
    """Serialise a model to the two files of ``model/``.

    Parameters
    ----------
    centers : ndarray of shape (n_clusters, n_features)
        float32 or float64; stored in that dtype, so it round-trips bit for bit.
    feature_names : sequence of str, length n_features
    params : dict, optional
        The algorithm's parameters (n_clusters, init, tol, random_state, ...).
    preprocess : dict, optional
        Preprocessing to apply before ``predict``, e.g. ``{"scale": "standard", "mean": [...],
        "scale_": [...]}``; NumPy arrays become lists.
    inertia : float, optional
    n_iter : int, optional
    input_fingerprint : str, optional
    algorithm : str, optional
        ``"lloyd"`` or ``"minibatch"``, recorded as is.
    dtype : {"float32", "float64"}, optional
        Dtype of the features the model was fitted on (``predict`` reads new data in it);
        default the centres' dtype. The centres keep their own dtype (``centers_dtype``).

    Returns
    -------
    dict
        Relative path to ``(bytes, rows)``.
    """
    centers = np.asarray(centers)
    names = list(feature_names)
    if centers.ndim != 2 or centers.shape[1] != len(names) or centers.shape[0] < 1:
        raise UserInputError(
            f"The 'centers' array must have shape (n_clusters >= 1, {len(names)}) to match the "
            f"{len(names)} feature names; got shape {centers.shape}."
        )
    if len(set(names)) != len(names):
        raise UserInputError(f"The 'feature_names' must be distinct; got {names}.")
    if centers.dtype not in (np.float32, np.float64):
        centers = centers.astype(np.float64)
    table = pa.table({n: centers[:, j] for j, n in enumerate(names)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    meta = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "n_clusters": int(centers.shape[0]),
        "n_features": int(centers.shape[1]),
        "feature_names": names,
        "dtype": centers.dtype.name if dtype is None else np.dtype(dtype).name,
        "centers_dtype": centers.dtype.name,
        "algorithm": algorithm,
        "inertia": None if inertia is None else float(inertia),
        "n_iter": None if n_iter is None else int(n_iter),
        "params": params or {},
        "preprocess": preprocess or {},
        "dkmeans_version": dkmeans_version(),
        "input_fingerprint": input_fingerprint,
        "created_at": utc_now(),
    }
    return {CENTROIDS: (buf.getvalue(), int(centers.shape[0])), MODEL_JSON: (dumps(meta), None)}


def save_model(url: str, centers: np.ndarray, feature_names: Sequence[str], *,
               storage_options: dict | None = None, mode: str = "error", **model: Any) -> dict:
    """Publish a model alone (``model/`` and ``_SUCCESS``) under ``url``.

    Parameters
    ----------
    url : str
    centers : ndarray of shape (n_clusters, n_features)
    feature_names : sequence of str
    storage_options : dict, optional
    mode : {"error", "overwrite"}, default "error"
    **model
        See :func:`model_files`.

    Returns
    -------
    dict
        The manifest written.
    """
    from dkmeans.io.writer import OutputWriter

    with OutputWriter(url, storage_options=storage_options, mode=mode) as out:
        out.stage_model(centers, feature_names, **model)
        return out.publish(input_fingerprint=model.get("input_fingerprint"))


def read_model(url: str, storage_options: dict | None = None) -> tuple[dict, np.ndarray]:
    """Read the model of a published output.

    Parameters
    ----------
    url : str
        The output root (the folder holding ``_SUCCESS`` and ``model/``).
    storage_options : dict, optional

    Returns
    -------
    meta : dict
        Content of ``model/model.json``.
    centers : ndarray of shape (n_clusters, n_features)
        In the stored dtype.

    Raises
    ------
    StorageError
        No ``_SUCCESS``, no model in the manifest, or files that disagree with each other.
    """
    manifest = read_manifest(url, storage_options)
    listed = {f["path"] for f in manifest.get("files", [])}
    missing = [p for p in (CENTROIDS, MODEL_JSON) if p not in listed]
    if missing:
        raise StorageError(
            f"The published output '{url}' holds no model: expected {missing} in its manifest."
        )
    handle = StorageHandle(url, storage_options)
    try:
        meta = json.loads(handle.fs.cat_file(handle.path(MODEL_JSON)))
        table = pq.read_table(io.BytesIO(handle.fs.cat_file(handle.path(CENTROIDS))))
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise StorageError(f"Reading the model under '{url}' failed: {exc}") from exc
    names = meta.get("feature_names", [])
    if table.column_names != names or table.num_rows != meta.get("n_clusters"):
        raise StorageError(
            f"The model under '{url}' is inconsistent: {CENTROIDS} has columns "
            f"{table.column_names} and {table.num_rows} rows; {MODEL_JSON} expects {names} and "
            f"{meta.get('n_clusters')}."
        )
    dtype = np.dtype(meta.get("centers_dtype") or meta.get("dtype") or "float64")
    centers = np.column_stack([table.column(n).to_numpy() for n in names]).astype(dtype, copy=False)
    return meta, centers


def load_model(url: str, storage_options: dict | None = None):
    """Load a published model as a fitted :class:`dkmeans.estimators.KMeans`.

    Parameters
    ----------
    url : str
        The output root of a published run (or of :func:`save_model`).
    storage_options : dict, optional

    Returns
    -------
    dkmeans.estimators.KMeans
        ``cluster_centers_`` (ndarray (k, d)), ``n_features_in_``, ``feature_names_in_``
        (object ndarray of str), ``inertia_``, ``n_iter_`` and ``preprocess_`` (dict) set;
        constructed with ``n_clusters=k, init=centers, n_init=1``.
    """
    from dkmeans.estimators import KMeans

    meta, centers = read_model(url, storage_options)
    est = KMeans(n_clusters=int(centers.shape[0]), init=centers, n_init=1)
    est.cluster_centers_ = centers
    est.n_features_in_ = int(centers.shape[1])
    est.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
    est.inertia_ = meta.get("inertia")
    est.n_iter_ = meta.get("n_iter")
    est.preprocess_ = dict(meta.get("preprocess") or {})
    logger.info("Loaded a %d-cluster model on %d feature(s) from %s", centers.shape[0],
                centers.shape[1], url)
    return est
