"""Input checks shared by the estimators, with scikit-learn's error conventions.

scikit-learn is not a runtime dependency, so these few rules are written out here; the
messages follow scikit-learn's wording (``sklearn.utils.validation.check_array`` and
``_check_sample_weight``) so code and tests written against it behave the same.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

try:  # dask is a hard dependency, but keep the import cheap to read
    import dask.array as da
    import dask.dataframe as dd
except ImportError:  # pragma: no cover
    da = dd = None

_RESHAPE_HINT = ("Reshape your data either using array.reshape(-1, 1) if your data has a "
                 "single feature or array.reshape(1, -1) if it contains a single sample.")


def _is_sparse(X):
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse") or (
        hasattr(X, "format") and hasattr(X, "nnz"))


def _is_dataframe(X):
    """pandas or Dask DataFrame (anything with columns and per-column dtypes)."""
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def _is_series(X):
    """pandas or Dask Series: one-dimensional with a ``dtype`` and a ``name``."""
    return (not _is_dataframe(X) and hasattr(X, "to_numpy") and hasattr(X, "name")
            and getattr(X, "ndim", None) == 1)


def _feature_names(X):
    """String column names of a DataFrame, or None.

    Raises
    ------
    TypeError
        If the column names mix strings and other types, as scikit-learn does.
    """
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) == 0:
        return None
    types = sorted({type(name).__qualname__ for name in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. If you want "
            "feature names to be stored and validated, you must convert them all to strings, "
            "by using X.columns = X.columns.astype(str) for example. Otherwise you can remove "
            "feature / column names from your input data, or convert them all to a non-string "
            "data type.")
    return names if types == ["str"] else None


def _sparse_error():
    return TypeError("Sparse data was passed for X, but dense data is required. Use "
                     "'.toarray()' to convert to a dense numpy array.")


def _check_ndim(arr, estimator_name):
    """scikit-learn's messages for input that is not two-dimensional."""
    if arr.ndim == 2:
        return
    if arr.ndim == 0:
        raise ValueError(f"Expected 2D array, got scalar array instead:\narray={arr}.\n"
                         + _RESHAPE_HINT)
    if arr.ndim == 1:
        raise ValueError(f"Expected 2D array, got 1D array instead:\narray={arr}.\n"
                         + _RESHAPE_HINT)
    raise ValueError(f"Found array with dim {arr.ndim}, while dim <= 2 is required by "
                     f"{estimator_name}.")


def _check_kind(dtype):
    if dtype.kind == "c":
        raise ValueError("Complex data not supported.")
    if dtype.kind in "USV":
        raise ValueError("dtype='numeric' is not compatible with arrays of bytes/strings."
                         "Convert your data to numeric values explicitly instead.")


def _float_dtype(dtypes):
    """float32 if every column is float32, float64 otherwise."""
    return np.float32 if all(str(t) == "float32" for t in np.atleast_1d(dtypes)) else np.float64


def check_array(X, *, estimator_name, allow_dask=True, dtype_policy="float",
                ensure_min_samples=1):
    """Validate and convert ``X`` to a float ndarray or a row-chunked float Dask array.

    Parameters
    ----------
    X : array-like, pandas DataFrame, Dask array or Dask DataFrame of shape (n, d)
    estimator_name : str
        For error messages.
    allow_dask : bool, default True
        Whether a Dask array or DataFrame is accepted.
    dtype_policy : {'float'}, default 'float'
        How the dtype is chosen; the one policy: float32 stays float32, any other real
        dtype (integers, booleans, numeric objects) becomes float64.
    ensure_min_samples : int, default 1

    Returns
    -------
    X : ndarray or dask.array.Array of shape (n, d), float32 or float64
        A Dask array always has known chunk sizes (computed here if they were not).
    feature_names : ndarray of str or None
        The column names of a DataFrame whose names are all strings.

    Raises
    ------
    TypeError
        Sparse input; column names that mix strings and other types; values that cannot be
        converted to numbers (numpy's own message).
    ValueError
        Input that is not 2-D, complex, strings, fewer than ``ensure_min_samples`` rows or
        no column, with scikit-learn's messages.

    Notes
    -----
    Finite values are checked elsewhere: :func:`check_finite` for in-memory data, and by
    the fit's first pass over the data (which counts non-finite rows) during ``fit``.
    """
    if dtype_policy != "float":
        raise ValueError(f"Unknown dtype_policy {dtype_policy!r}; the only policy is 'float'.")
    if _is_sparse(X):
        raise _sparse_error()
    names = _feature_names(X)
    if dd is not None and isinstance(X, (dd.DataFrame, dd.Series)):
        X = X.to_dask_array(lengths=True)
    if da is not None and isinstance(X, da.Array):
        if not allow_dask:
            raise TypeError(f"{estimator_name} does not accept Dask arrays here.")
        return _check_dask_array(X, estimator_name, ensure_min_samples), names
    if _is_series(X):
        raise ValueError(
            f"Expected a 2-dimensional container but got {type(X)} instead. Pass a DataFrame "
            "containing a single row (i.e. single sample) or a single column (i.e. single "
            "feature) instead.")
    try:
        if _is_dataframe(X) and type(X).__module__.startswith("pandas"):
            # nullable columns (Int64, Float64) hold pd.NA: make it NaN, caught as non-finite
            X = X.to_numpy(dtype=_float_dtype(X.dtypes), na_value=np.nan)
        arr = np.asarray(X)
        _check_kind(arr.dtype)
        _check_ndim(arr, estimator_name)
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    except TypeError as exc:  # e.g. "float() argument must be a string or a real number"
        raise TypeError(f"{estimator_name} expects numeric data: {exc}") from exc
    _check_shape(arr.shape, estimator_name, ensure_min_samples)
    return arr, names


def _check_dask_array(X, estimator_name, ensure_min_samples):
    _check_ndim(X, estimator_name)
    _check_kind(X.dtype)
    if any(math.isnan(c) for c in X.chunks[0]):
        # one pass over the blocks; the backend would need it anyway, and sample weights
        # and the row-count checks below need the number of rows
        X = X.compute_chunk_sizes()
    _check_shape(X.shape, estimator_name, ensure_min_samples)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _check_shape(shape, estimator_name, ensure_min_samples):
    n, d = shape
    if n < ensure_min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(shape)}) while a minimum of "
            f"{ensure_min_samples} is required by {estimator_name}.")
    if d < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is "
            f"required by {estimator_name}.")


def check_finite(X, *, input_name="X"):
    """Raise scikit-learn's error if an in-memory array holds NaN or infinity.

    Parameters
    ----------
    X : ndarray
    input_name : str, default 'X'
        For the message.
    """
    if not np.isfinite(X).all():
        what = ("NaN" if np.isnan(X).any()
                else f"infinity or a value too large for {X.dtype!r}")
        raise ValueError(f"Input {input_name} contains {what}.")


def check_sample_weight(sample_weight, X):
    """Validate sample weights for ``X``.

    Parameters
    ----------
    sample_weight : None, float, array-like or Dask array of shape (n,)
    X : ndarray or dask.array.Array of shape (n, d)
        As returned by :func:`check_array`.

    Returns
    -------
    None, ndarray of shape (n,) float64, or (for Dask ``X``) dask.array.Array of shape (n,)
        ``None`` means unit weights.

    Raises
    ------
    ValueError
        Wrong shape, NaN or infinity, negative values, or all weights zero (scikit-learn's
        messages). For Dask weights, NaN and negative values are detected per block when
        the fit first reads them, and all-zero weights are not detected here.
    """
    if sample_weight is None:
        return None
    n = X.shape[0]
    is_dask = da is not None and isinstance(X, da.Array)
    if is_dask and isinstance(sample_weight, da.Array):
        w = sample_weight
        if w.ndim == 1 and any(math.isnan(c) for c in w.chunks[0]):
            w = w.compute_chunk_sizes()
        _check_weight_shape(w.ndim, w.shape, n)
        return w.astype(np.float64).map_blocks(_check_weight_block, dtype=np.float64,
                                               token="dkmeans-check-sample-weight")
    if isinstance(sample_weight, numbers.Number):
        w = np.full(n, float(sample_weight))
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        _check_weight_shape(w.ndim, w.shape, n)
    _check_weight_block(w)
    if n and not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if is_dask:
        return da.from_array(w, chunks=(X.chunks[0],))
    return w


def _check_weight_shape(ndim, shape, n):
    if ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {ndim}D array. Expected either "
            f"a scalar value or a 1D array of length {n}.")
    if shape[0] != n:
        raise ValueError(f"sample_weight.shape == {tuple(shape)}, expected {(n,)}!")


def _check_weight_block(w):
    """Finite and non-negative; returns ``w`` (also used per Dask block)."""
    if not np.isfinite(w).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError("Negative values in data passed to `sample_weight`.")
    return w


def check_feature_names(estimator, names, *, reset):
    """Record (``reset``) or check feature names, warning as scikit-learn does.

    Parameters
    ----------
    estimator : estimator instance
        Gets or loses ``feature_names_in_`` when ``reset``.
    names : ndarray of str or None
        From :func:`check_array`.
    reset : bool
        True in ``fit``; False in ``predict``, ``transform`` and ``score``.

    Raises
    ------
    ValueError
        If both the fitted and the given names exist and differ (names or order).
    """
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
    """Raise if ``X`` has not the number of features seen in ``fit``.

    Parameters
    ----------
    estimator : fitted estimator with ``n_features_in_``
    X : array of shape (n, d)
    """
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input.")


def check_magnitude(moments, dtype):
    """Raise if squared distances between rows would overflow ``dtype``.

    The kernels take dot products in the data's dtype: float32 holds at most about 3.4e38,
    so features near 1e19 already overflow. The typical size of a feature is estimated as
    ``|mean| + 8 std`` from the moments pass.

    Parameters
    ----------
    moments : dkmeans.kernels.moments.Moments
    dtype : numpy dtype
    """
    size = np.abs(moments.mean) + 8.0 * np.sqrt(moments.variance)
    if float(np.sum(size**2)) > float(np.finfo(dtype).max) / 64.0:
        worst = int(np.argmax(size))
        raise ValueError(
            f"Input X values are too large for {np.dtype(dtype).name} distances: feature "
            f"{worst} is about {size[worst]:.3g}. Convert X to float64 or rescale it.")
