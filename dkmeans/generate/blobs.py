"""Gaussian blobs (scikit-learn's ``make_blobs``, at any size): one Dask task per Parquet file.

Parameter checks, the true centres, the rows of any range and :func:`generate_blobs`; the files
are written and published by :mod:`dkmeans.generate.staging`. How the rows are drawn so that
they do not depend on the workers or the file layout is described under *Determinism* in
:mod:`dkmeans.generate`.
"""

from __future__ import annotations

import logging
import numbers
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from dkmeans.errors import UserInputError
from dkmeans.generate.staging import TASK_PREFIX, part_name, summarize, write_staged, write_table
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

#: Rows drawn from one generator; the unit that makes the data independent of the file layout.
BLOCK_ROWS = 8192
_CENTERS_KEY, _ROWS_KEY = 0, 1


# --------------------------------------------------------------------------------------------
# Parameter checks (scikit-learn's wording)


def _check_int(func: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UserInputError(
            f"The '{name}' parameter of {func} must be an int >= {minimum}. Got {value!r} instead."
        )
    return int(value)


def _check_box(func: str, center_box: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in center_box)
    except (TypeError, ValueError):
        lo = hi = float("nan")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise UserInputError(
            f"The 'center_box' parameter of {func} must be a pair (low, high) of finite numbers "
            f"with low < high. Got {center_box!r} instead."
        )
    return lo, hi


def _check_std(func: str, cluster_std: Any, centers: int) -> np.ndarray:
    try:
        std = None if isinstance(cluster_std, str) else np.asarray(cluster_std, dtype=np.float64)
    except (TypeError, ValueError):
        std = None
    ok = std is not None and std.ndim in (0, 1) and (std.ndim == 0 or std.shape == (centers,))
    if ok:
        std = np.broadcast_to(std, (centers,)).copy()
        ok = bool(np.all(np.isfinite(std)) and np.all(std > 0))
    if not ok:
        raise UserInputError(
            f"The 'cluster_std' parameter of {func} must be a positive number or a sequence of "
            f"{centers} positive numbers (one per centre). Got {cluster_std!r} instead."
        )
    return std


def _check_dtype(func: str, dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise UserInputError(
            f"The 'dtype' parameter of {func} must be 'float32' or 'float64'. "
            f"Got {dtype!r} instead."
        )
    return name


# --------------------------------------------------------------------------------------------
# The data


def blob_centers(*, centers: int, features: int, seed: int = 0,
                 center_box: tuple[float, float] = (-10.0, 10.0)) -> np.ndarray:
    """The true centres :func:`generate_blobs` uses for these parameters.

    Parameters
    ----------
    centers : int
        Number of centres ``k``.
    features : int
        Number of features ``d``.
    seed : int, default 0
        Non-negative seed.
    center_box : (float, float), default (-10, 10)
        Each coordinate is drawn uniformly from this interval.

    Returns
    -------
    ndarray of shape (centers, features), float64
    """
    return _centers("blob_centers", centers, features, seed, center_box)


def _centers(func: str, centers: Any, features: Any, seed: Any, center_box: Any) -> np.ndarray:
    centers = _check_int(func, "centers", centers, 1)
    features = _check_int(func, "features", features, 1)
    seed = _check_int(func, "seed", seed, 0)
    lo, hi = _check_box(func, center_box)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_CENTERS_KEY,)))
    return rng.uniform(lo, hi, size=(centers, features))


@dataclass(frozen=True)
class BlobSpec:
    """What every ``dkmeans-generate`` task needs to draw its rows (small: k × d centres)."""

    seed: int
    centers: np.ndarray  # (k, d) float64
    std: np.ndarray  # (k,) float64
    dtype: str


def blob_rows(spec: BlobSpec, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start:stop`` of the dataset ``spec`` describes.

    Parameters
    ----------
    spec : BlobSpec
    start, stop : int
        Global row range, ``0 <= start < stop``.

    Returns
    -------
    features : ndarray of shape (d, stop - start), ``spec.dtype``
        Feature-major, so that each column is contiguous.
    labels : ndarray of shape (stop - start,), int32
        Index of the true centre of each row.
    """
    k, d = spec.centers.shape
    n = stop - start
    features = np.empty((d, n), dtype=spec.dtype)
    labels = np.empty(n, dtype=np.int32)
    for block in range(start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS + 1):
        first = block * BLOCK_ROWS
        seq = np.random.SeedSequence(spec.seed, spawn_key=(_ROWS_KEY, block))
        rng = np.random.default_rng(seq)
        # Always the whole block, in this order, so that a row never depends on the layout.
        lab = rng.integers(0, k, size=BLOCK_ROWS)
        noise = rng.standard_normal((BLOCK_ROWS, d))
        lo, hi = max(start, first) - first, min(stop, first + BLOCK_ROWS) - first
        lab = lab[lo:hi]
        x = spec.centers[lab] + spec.std[lab, None] * noise[lo:hi]
        out = slice(first + lo - start, first + hi - start)
        features[:, out] = x.T
        labels[out] = lab
    return features, labels


def blob_table(spec: BlobSpec, start: int, stop: int) -> pa.Table:
    """Rows ``start:stop`` as a table: ``row_id`` int64, ``x0..x{d-1}``, ``label`` int32."""
    features, labels = blob_rows(spec, start, stop)
    columns = [pa.array(np.arange(start, stop, dtype=np.int64))]
    columns += [pa.array(features[j]) for j in range(features.shape[0])]
    columns.append(pa.array(labels))
    names = ["row_id", *(f"x{j}" for j in range(features.shape[0])), "label"]
    return pa.Table.from_arrays(columns, names=names)


def write_blob_part(spec: BlobSpec, handle: StorageHandle, staging: str, index: int,
                    start: int, stop: int) -> dict[str, Any]:
    """Body of one ``dkmeans-generate`` task: write rows ``start:stop`` as part ``index``.

    Returns
    -------
    dict
        ``{"path": "part-NNNNN.parquet", "rows": int, "bytes": int}``.
    """
    return write_table(handle, staging, part_name(index), blob_table(spec, start, stop))


# --------------------------------------------------------------------------------------------
# Public API


def generate_blobs(
    url: str,
    *,
    rows: int,
    features: int,
    centers: int,
    seed: int = 0,
    cluster_std: float | list[float] = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    rows_per_file: int = 250_000,
    dtype: str = "float32",
    storage_options: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write isotropic Gaussian blobs as Parquet files, in parallel with Dask.

    Row ``i`` belongs to a centre drawn uniformly among ``centers``; its features are the centre
    plus Gaussian noise of standard deviation ``cluster_std``. The centres are
    :func:`blob_centers` of the same parameters. Uses the current Dask client if there is one,
    else the local threaded scheduler; one task (``dkmeans-generate-<token>-<i>``) per file.

    Parameters
    ----------
    url : str
        Target folder: a local path, ``file://`` or any fsspec URL such as ``s3://bucket/prefix``.
        Must be absent or empty unless ``overwrite``.
    rows : int
        Number of rows, >= 1.
    features : int
        Number of feature columns ``x0 .. x{features-1}``, >= 1.
    centers : int
        Number of blobs, >= 1.
    seed : int, default 0
        Non-negative seed; the same seed gives the same data whatever the workers or the files.
    cluster_std : float or sequence of float, default 1.0
        Standard deviation of the blobs: one for all, or one per centre.
    center_box : (float, float), default (-10, 10)
        Interval each centre coordinate is drawn from.
    rows_per_file : int, default 250_000
        Rows per ``part-NNNNN.parquet`` file (and per task); the last file may hold fewer.
    dtype : {"float32", "float64"}, default "float32"
        Type of the feature columns.
    storage_options : dict, optional
        Passed to fsspec unchanged; never logged.
    overwrite : bool, default False
        Replace a dataset generated before. Only ``part-NNNNN.parquet`` files are replaced;
        a target holding anything else is refused. The old files stay until the new ones are
        all written.

    Returns
    -------
    dict
        ``url``, ``files`` (count), ``rows``, ``bytes``, ``parts`` (file names) and ``seconds``.

    Raises
    ------
    UserInputError
        A parameter is invalid.
    OutputExistsError
        The target is not empty and ``overwrite`` is False, or holds foreign files.
    StorageError
        Publishing failed (the previous files are put back where possible).

    Examples
    --------
    >>> import tempfile, pyarrow.parquet as pq
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = generate_blobs(f"{tmp}/blobs", rows=1000, features=3, centers=4,
    ...                              rows_per_file=400)
    ...     columns = pq.read_table(f"{tmp}/blobs").column_names
    >>> summary["files"], summary["rows"], summary["parts"][0]
    (3, 1000, 'part-00000.parquet')
    >>> columns
    ['row_id', 'x0', 'x1', 'x2', 'label']
    """
    import dask
    from dask import delayed

    func = "generate_blobs"
    rows = _check_int(func, "rows", rows, 1)
    rows_per_file = _check_int(func, "rows_per_file", rows_per_file, 1)
    dtype = _check_dtype(func, dtype)
    centres = _centers(func, centers, features, seed, center_box)
    spec = BlobSpec(int(seed), centres, _check_std(func, cluster_std, centres.shape[0]), dtype)
    handle = StorageHandle(url, storage_options)
    n_files = -(-rows // rows_per_file)
    started = time.perf_counter()
    logger.info("Generating %d rows x %d features around %d centres (seed %d) into %d file(s) "
                "at %s", rows, features, centers, seed, n_files, handle.url)

    def write(staging: str):
        token = uuid.uuid4().hex
        tasks = [
            delayed(write_blob_part, pure=False)(
                spec, handle, staging, i, i * rows_per_file, min(rows, (i + 1) * rows_per_file),
                dask_key_name=f"{TASK_PREFIX}-{token}-{i:05d}",
            )
            for i in range(n_files)
        ]
        return dask.compute(*tasks)

    summary = summarize(handle, write_staged(handle, overwrite, write), started)
    logger.info("Generated %s: %d file(s), %d rows, %.1f MB in %.1f s", handle.url,
                summary["files"], summary["rows"], summary["bytes"] / 1e6, summary["seconds"])
    return summary
