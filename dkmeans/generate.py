"""Synthetic and sample Parquet datasets for demos, benchmarks and tests.

- :func:`generate_blobs` writes Gaussian blobs (scikit-learn's ``make_blobs``, at any size) as
  ``part-NNNNN.parquet`` files, each file written by one Dask task (``dkmeans-generate-*``).
- :func:`generate_digits` writes scikit-learn's handwritten digits as one Parquet file.

Both write through fsspec (``storage_options`` are passed unchanged and never logged) and never
show a half-written dataset: files are written under a ``_dkmeans-generate-<token>/`` folder
inside the target (invisible to readers, which skip ``_``-prefixed names) and moved into place
once every file is complete; a failure removes that folder and leaves the target as it was.

Determinism
-----------
The data depends only on the parameters, never on the number of workers, the scheduling order
or ``rows_per_file``. Rows are drawn in fixed blocks of :data:`BLOCK_ROWS` rows, block ``b``
from a generator seeded with ``numpy.random.SeedSequence(seed, spawn_key=(1, b))``; the centres
from ``spawn_key=(0,)``. A file takes the rows of the blocks it overlaps, so the same seed gives
the same table whatever the file layout, and the same Parquet bytes for the same layout (with
the same pyarrow). The first ``n`` rows of a dataset do not depend on ``rows``.
"""

from __future__ import annotations

import logging
import numbers
import posixpath
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dkmeans.errors import DkmeansError, OutputExistsError, StorageError, UserInputError
from dkmeans.io.commit import move_many
from dkmeans.io.storage import StorageHandle

__all__ = ["BLOCK_ROWS", "blob_centers", "generate_blobs", "generate_digits"]

logger = logging.getLogger(__name__)

#: Rows drawn from one generator; the unit that makes the data independent of the file layout.
BLOCK_ROWS = 8192
#: Prefix of the Dask tasks and of the staging folder.
TASK_PREFIX = "dkmeans-generate"
_STAGING_PREFIX = f"_{TASK_PREFIX}-"
_PART_RE = re.compile(r"^part-\d{5,}\.parquet$")
_CENTERS_KEY, _ROWS_KEY = 0, 1


def part_name(index: int) -> str:
    """``part-NNNNN.parquet`` for file ``index`` (five digits, more when needed)."""
    return f"part-{index:05d}.parquet"


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


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue().to_pybytes()


def _write_bytes(handle: StorageHandle, path: str, data: bytes) -> None:
    """Write one file (indirection so that tests can inject failures)."""
    handle.fs.pipe_file(path, data)


def write_blob_part(spec: BlobSpec, handle: StorageHandle, staging: str, index: int,
                    start: int, stop: int) -> dict[str, Any]:
    """Body of one ``dkmeans-generate`` task: write rows ``start:stop`` as part ``index``.

    Returns
    -------
    dict
        ``{"path": "part-NNNNN.parquet", "rows": int, "bytes": int}``.
    """
    name = part_name(index)
    data = _parquet_bytes(blob_table(spec, start, stop))
    _write_bytes(handle, handle.path(f"{staging}/{name}"), data)
    return {"path": name, "rows": stop - start, "bytes": len(data)}


# --------------------------------------------------------------------------------------------
# Staging and publishing


def _prepare_target(handle: StorageHandle, *, overwrite: bool) -> list[str]:
    """Check the target and return the names of the old parts to replace (with ``overwrite``).

    Leftover staging folders of crashed runs are not counted as content.
    """
    fs, root = handle.fs, handle.root
    fs.invalidate_cache()
    try:
        if fs.isfile(root):
            raise OutputExistsError(f"Cannot generate into '{handle.url}': it is a file.")
        entries = fs.ls(root, detail=True) if fs.isdir(root) else []
    except FileNotFoundError:
        entries = []
    names = {posixpath.basename(e["name"].rstrip("/")): e.get("type") for e in entries}
    content = sorted(n for n in names if not n.startswith(_STAGING_PREFIX))
    if not content:
        return []
    if not overwrite:
        raise OutputExistsError(
            f"Cannot generate into '{handle.url}': it already holds {len(content)} entr"
            f"{'y' if len(content) == 1 else 'ies'} (e.g. '{content[0]}'). Choose an empty "
            "location, or pass overwrite=True (--overwrite) to replace a dataset generated before."
        )
    foreign = [n for n in content if names[n] == "directory" or not _PART_RE.match(n)]
    if foreign:
        raise OutputExistsError(
            f"Cannot overwrite '{handle.url}': it holds '{foreign[0]}', which is not a "
            "part-NNNNN.parquet file written by dkmeans generate; remove it yourself if you "
            "mean to."
        )
    return content


def _remove_tree(handle: StorageHandle, path: str, *, attempts: int = 3) -> None:
    """Remove a staging folder; retried, as a task still running may be writing into it."""
    for attempt in range(attempts):
        try:
            handle.fs.rm(path, recursive=True)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == attempts - 1:
                logger.warning("Could not remove the staging folder %s; readers ignore it and "
                               "the next overwrite removes it", handle.to_url(path))
                return
            time.sleep(0.2 * (attempt + 1))


def _publish(handle: StorageHandle, staging: str, new: list[str], old: list[str]) -> None:
    """Move the old parts aside, the new ones in, then drop the staging folder.

    Each file appears whole (a rename on disk; on object stores a copy of a complete
    object); the set of files changes file by file. A failure puts the old parts back.
    """
    fs = handle.fs
    aside = [(handle.path(n), handle.path(f"{staging}/previous/{n}")) for n in old]
    moving_in = False
    try:
        move_many(handle, aside)
        moving_in = True
        move_many(handle, [(handle.path(f"{staging}/{n}"), handle.path(n)) for n in new])
    except Exception as exc:
        try:
            fs.invalidate_cache()
            if moving_in:  # the old parts are all aside: what is in place is new
                present = [handle.path(n) for n in new if fs.exists(handle.path(n))]
                if present:
                    fs.rm(present)
            move_many(handle, [(src, dst) for dst, src in aside if fs.exists(src)])
            restored = "the previous files were put back"
            _remove_tree(handle, handle.path(staging))
        except Exception:  # noqa: BLE001 - report the original failure
            restored = f"the previous files are left under {handle.to_url(handle.path(staging))}"
        raise StorageError(
            f"Publishing the generated files to '{handle.url}' failed "
            f"({type(exc).__name__}: {exc}); {restored}."
        ) from exc
    for stale in (d for d in _staging_folders(handle) if d != staging):
        _remove_tree(handle, handle.path(stale))
    _remove_tree(handle, handle.path(staging))


def _staging_folders(handle: StorageHandle) -> list[str]:
    try:
        names = [posixpath.basename(p.rstrip("/")) for p in handle.fs.ls(handle.root, detail=False)]
    except FileNotFoundError:
        return []
    return [n for n in names if n.startswith(_STAGING_PREFIX)]


def _write_staged(handle: StorageHandle, overwrite: bool, write) -> list[dict[str, Any]]:
    """Check the target, let ``write(staging)`` write the parts under staging, publish them."""
    old = _prepare_target(handle, overwrite=overwrite)
    existed = handle.fs.exists(handle.root)
    staging = f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
    if handle.is_local:  # object stores have no folders (and makedirs could create a bucket)
        handle.fs.makedirs(handle.path(staging), exist_ok=True)
    try:
        infos = list(write(staging))
    except BaseException:
        _remove_tree(handle, handle.path(staging))
        if handle.is_local and not existed:  # do not leave behind a folder we created
            try:
                handle.fs.rmdir(handle.root)
            except OSError:
                pass
        raise
    _publish(handle, staging, [i["path"] for i in infos], old)
    return infos


def _summary(handle: StorageHandle, infos: list[dict[str, Any]], started: float) -> dict[str, Any]:
    return {
        "url": handle.url,
        "files": len(infos),
        "rows": sum(i["rows"] for i in infos),
        "bytes": sum(i["bytes"] for i in infos),
        "parts": [i["path"] for i in infos],
        "seconds": round(time.perf_counter() - started, 3),
    }


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

    summary = _summary(handle, _write_staged(handle, overwrite, write), started)
    logger.info("Generated %s: %d file(s), %d rows, %.1f MB in %.1f s", handle.url,
                summary["files"], summary["rows"], summary["bytes"] / 1e6, summary["seconds"])
    return summary


def digits_table() -> pa.Table:
    """scikit-learn's digits as a table.

    Columns: ``image_id`` int64, ``pixel_0_0 .. pixel_7_7`` float64, ``digit`` int64.

    Raises
    ------
    DkmeansError
        scikit-learn is not installed (it is a test dependency of dkmeans, not a requirement).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DkmeansError(
            "generate_digits needs scikit-learn, which dkmeans does not require: "
            "pip install scikit-learn (or pip install 'dkmeans[test]')."
        ) from exc
    bunch = load_digits(as_frame=True)
    data = bunch.data
    columns = [pa.array(np.arange(len(data), dtype=np.int64))]
    columns += [pa.array(data[c].to_numpy(dtype=np.float64)) for c in data.columns]
    columns.append(pa.array(bunch.target.to_numpy(dtype=np.int64)))
    return pa.Table.from_arrays(columns, names=["image_id", *map(str, data.columns), "digit"])


def generate_digits(url: str, *, storage_options: dict[str, Any] | None = None,
                    overwrite: bool = False) -> dict[str, Any]:
    """Write scikit-learn's handwritten digits (1,797 images of 8x8 pixels) as one Parquet file.

    The file is ``<url>/part-00000.parquet`` with ``image_id`` (int64), the 64 pixels
    ``pixel_0_0 .. pixel_7_7`` (float64, 0-16, ``load_digits(as_frame=True)``'s names) and
    ``digit`` (int64, the true class), as ``configs/digits.yaml`` expects.

    Parameters
    ----------
    url : str
        Target folder (local, ``file://`` or any fsspec URL); absent or empty unless ``overwrite``.
    storage_options : dict, optional
        Passed to fsspec unchanged; never logged.
    overwrite : bool, default False
        Replace a dataset generated before (see :func:`generate_blobs`).

    Returns
    -------
    dict
        ``url``, ``files`` (1), ``rows`` (1797), ``bytes``, ``parts`` and ``seconds``.

    Raises
    ------
    DkmeansError
        scikit-learn is not installed.
    OutputExistsError
        The target is not empty and ``overwrite`` is False, or holds foreign files.
    """
    table = digits_table()  # first: no folder is created when scikit-learn is missing
    handle = StorageHandle(url, storage_options)
    started = time.perf_counter()

    def write(staging: str):
        data = _parquet_bytes(table)
        name = part_name(0)
        _write_bytes(handle, handle.path(f"{staging}/{name}"), data)
        return [{"path": name, "rows": table.num_rows, "bytes": len(data)}]

    summary = _summary(handle, _write_staged(handle, overwrite, write), started)
    logger.info("Wrote scikit-learn's digits to %s: %d rows", handle.url, summary["rows"])
    return summary
