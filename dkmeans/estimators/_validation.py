"""Input checks shared by the estimators, with scikit-learn's error conventions.

scikit-learn is not a runtime dependency, so these few rules are written out here; the
messages follow scikit-learn's wording so code and tests written against it behave the same.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

try:  # dask is a hard dependency, but keep the import cheap to read
    import dask.array as da
    import dask.dataframe as dd
except ImportError:  # pragma: no cover
    da = dd = None


def _is_sparse(X):
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse") or (
        hasattr(X, "format") and hasattr(X, "nnz"))


def _feature_names(X):
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(c, str) for c in names):
        return names
    return None


def check_array(X, *, estimator_name, allow_dask=True, dtype_policy="float", ensure_min_samples=1):
    """Validate and convert ``X`` to a float ndarray or a row-chunked float Dask array.

    Parameters
    ----------
    X : array-like, pandas DataFrame, Dask array or Dask DataFrame of shape (n, d)
    estimator_name : str
        For error messages.
    allow_dask : bool
    ensure_min_samples : int

    Returns
    -------
    X : ndarray or dask.array.Array of shape (n, d), float32 or float64
        float32 stays float32; other numeric types become float64.
    feature_names : ndarray of str or None
    """
    if _is_sparse(X):
        raise TypeError(
            f"{estimator_name} does not support sparse input; got {type(X).__name__}. "
            "Convert it with X.toarray() or use a dense Dask array."
        )
    names = _feature_names(X)
    if dd is not None and isinstance(X, dd.DataFrame):
        X = X.to_dask_array(lengths=True)
    if da is not None and isinstance(X, da.Array):
        if not allow_dask:
            raise TypeError(f"{estimator_name} does not accept Dask arrays here.")
        _check_shape(X.shape, estimator_name, ensure_min_samples)
        if X.dtype.kind == "c":
            raise ValueError("Complex data not supported.")
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X, names
    if hasattr(X, "dtypes") and hasattr(X, "to_numpy"):  # pandas
        X = X.to_numpy(dtype=np.float32 if all(
            str(t) == "float32" for t in np.atleast_1d(X.dtypes)) else np.float64)
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{estimator_name} could not convert the input to a numeric array: {exc}") from exc
    if arr.dtype.kind == "c":
        raise ValueError("Complex data not supported.")
    if arr.ndim != 2:
        if arr.ndim == 1:
            raise ValueError(
                "Expected 2D array, got 1D array instead:\narray=" + np.array2string(arr[:10])
                + ".\nReshape your data either using array.reshape(-1, 1) if your data has a "
                "single feature or array.reshape(1, -1) if it contains a single sample."
            )
        raise ValueError(f"Expected 2D array, got {arr.ndim}D array instead (shape={arr.shape}).")
    if arr.dtype not in (np.float32, np.float64):
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{estimator_name} expects numeric data; could not convert {arr.dtype} "
                f"to float: {exc}") from exc
    _check_shape(arr.shape, estimator_name, ensure_min_samples)
    return arr, names


def _check_shape(shape, estimator_name, ensure_min_samples):
    n, d = shape
    if not np.isnan(n) and n < ensure_min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(shape)}) while a minimum of "
            f"{ensure_min_samples} is required by {estimator_name}.")
    if d < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is "
            f"required by {estimator_name}.")


def check_finite(X):
    """Raise the scikit-learn-style error if an in-memory array holds NaN or infinity."""
    if not np.isfinite(X).all():
        what = "NaN" if np.isnan(X).any() else "infinity or a value too large for dtype('float64')"
        raise ValueError(f"Input X contains {what}.")


def check_sample_weight(sample_weight, X):
    """``None`` (all ones) or a float64 array of shape (n,) (Dask array for Dask ``X``)."""
    if sample_weight is None:
        return None
    n = X.shape[0]
    if da is not None and isinstance(X, da.Array):
        if isinstance(sample_weight, numbers.Number):
            return da.full(n, float(sample_weight), chunks=(X.chunks[0],))
        w = sample_weight if isinstance(sample_weight, da.Array) else da.from_array(
            np.asarray(sample_weight, dtype=np.float64), chunks=(X.chunks[0],))
        if w.ndim != 1 or w.shape[0] != n:
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
        return w.astype(np.float64)
    if isinstance(sample_weight, numbers.Number):
        return np.full(n, float(sample_weight))
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    if w.shape[0] != n:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    if not np.isfinite(w).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError("Negative values in data passed to sample_weight.")
    return w


def check_feature_names(estimator, names, *, reset):
    """Record (``reset``) or check feature names, warning as scikit-learn does."""
    if reset:
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    cls = type(estimator).__name__
    if fitted is None and names is None:
        return
    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names",
                      UserWarning, stacklevel=3)
        return
    if names is None and fitted is not None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with "
                      "feature names", UserWarning, stacklevel=3)
        return
    if len(fitted) != len(names) or np.any(fitted != names):
        unexpected = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))
        message = "The feature names should match those that were passed during fit.\n"
        if unexpected:
            message += "Feature names unseen at fit time:\n" + "".join(
                f"- {n}\n" for n in unexpected[:5])
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + "".join(
                f"- {n}\n" for n in missing[:5])
        if not unexpected and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


def check_n_features(estimator, X):
    """Raise if ``X`` has not the number of features seen in ``fit``."""
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input.")
