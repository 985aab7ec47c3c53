"""Lloyd iteration speed against scikit-learn (and dask-ml when installed) and the hardware floor.

Per-iteration time is measured as ``(t(max_iter=1 + n) - t(max_iter=1)) / n`` from the same
initial centres with ``tol=0``, for every library alike, so fixed costs (validation, the final
assignment) cancel out. The machine's speed drifts (up to 2x within minutes on shared
machines), so the figures compared are measured in turn, round after round, and the ratios are
the medians of the per-round ratios.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

DATASETS = {
    "S": dict(rows=1_000_000, features=32, centers=16),
    "M": dict(rows=4_000_000, features=16, centers=8),
    "K": dict(rows=200_000, features=64, centers=256),
}
ITERATIONS = 20

#: Rounds of interleaved measurements per figure (medians are reported).
ROUNDS = 5

#: Within a round, each of the two fits of a per-iteration figure is the best of this many:
#: with single fits, a stall in the short one made some rounds' figures near zero (S: a round
#: ratio of 0.00) or half the possible (scikit-learn on M: 15.6 ms, under its two-thread rate).
PAIR_REPEATS = 2


def make_data(name):
    from sklearn.datasets import make_blobs

    spec = DATASETS[name]
    X, _ = make_blobs(spec["rows"], n_features=spec["features"], centers=spec["centers"],
                      random_state=0)
    X = X.astype(np.float32)
    init = X[np.random.default_rng(0).choice(len(X), spec["centers"], replace=False)]
    return X, init


def _timed(fit, repeats=2):
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        fit()
        best = min(best, time.perf_counter() - started)
    return best


def per_iteration(make_estimator, X, fit_kwargs=None, repeats=2):
    """Seconds per Lloyd iteration, fixed costs cancelled; NaN when the machine slowed so
    much during the short fit that it took as long as the long one (no figure that round)."""
    fit_kwargs = fit_kwargs or {}
    one = _timed(lambda: make_estimator(1).fit(X, **fit_kwargs), repeats)
    many = _timed(lambda: make_estimator(1 + ITERATIONS).fit(X, **fit_kwargs), repeats)
    return (many - one) / ITERATIONS if many > one else float("nan")


def interleaved(measures, rounds=ROUNDS):
    """Every measure once per round, in turn, so that drift in the machine's speed falls on
    all of them alike.

    Parameters
    ----------
    measures : dict of str to callable
        Each returns one figure.

    Returns
    -------
    dict of str to ndarray of shape (rounds,)
    """
    values = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            values[name].append(measure())
    return {name: np.array(v) for name, v in values.items()}


def init_seconds(X, init, repeats=3):
    """k-means|| alone, timed directly as ``KMeans.fit`` runs it (best of ``repeats``).

    Timing the initialisation itself, rather than a fit with it minus a fit without it,
    keeps the noise of two whole fits out of a figure a few iterations long.
    """
    from dkmeans.dist.backend import make_backend
    from dkmeans.dist.init import kmeans_parallel
    from dkmeans.dist.lloyd import data_moments

    backend = make_backend(X)
    shift = data_moments(backend).mean  # fit's first pass, needed before the initialisation
    return _timed(lambda: kmeans_parallel(backend, len(init), seed=0, shift=shift), repeats)


#: Side of the square float32 product that measures the machine's GEMM rate (17 GFLOP).
RATE_PRODUCT_SIDE = 2048

#: Width of the rows ``X``'s values are summed in to time one read of it.
READ_ROW_VALUES = 1024


def _sum_wide(values):
    """Sum of a 1-D array read as rows of :data:`READ_ROW_VALUES` (and the rest)."""
    whole = values.size // READ_ROW_VALUES * READ_ROW_VALUES
    return values[:whole].reshape(-1, READ_ROW_VALUES).sum(axis=0).sum() + values[whole:].sum()


def hardware_floor(X, k):
    """Seconds under which no Lloyd iteration over ``X`` can run on this machine: the larger
    of its ``2 n d k`` flops at the machine's float32 GEMM rate and one read of ``X``, both on
    every core.

    The rate is that of a large square product, where BLAS is at its best; the read sums
    ``X``'s values viewed as wide rows, a slice per core (NumPy releases the GIL in the sum),
    so that neither narrow rows nor a single thread hide the memory's speed. A product
    ``X @ C.T`` of the data itself is no floor: at few centres BLAS runs it far below its
    rate, and writes an ``n x k`` result (M: 80-90 ms, against 30-40 ms for a whole Lloyd
    iteration).

    Returns
    -------
    floor, compute, read : float
        Seconds.
    """
    from concurrent.futures import ThreadPoolExecutor

    from dkmeans.dist.backend import _cpu_count

    side = RATE_PRODUCT_SIDE
    A = np.random.default_rng(0).random((side, side), dtype=np.float32)
    A @ A
    rate = 2 * side ** 3 / _timed(lambda: A @ A, repeats=5)
    compute = 2 * X.shape[0] * X.shape[1] * k / rate

    n_threads = _cpu_count()  # the cores dkmeans' own thread pool uses
    slices = np.array_split(X.reshape(-1), n_threads)
    with ThreadPoolExecutor(n_threads) as pool:
        read = _timed(lambda: list(pool.map(_sum_wide, slices)), repeats=3)
    return max(compute, read), compute, read


def numpy_peak_ratio(X, init):
    from dkmeans import KMeans

    tracemalloc.start()
    KMeans(len(init), init=init, max_iter=5, tol=0).fit(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / X.nbytes


def run(results, *, start_cluster=None):
    """Fill ``results['engine']`` with one row per dataset and print a table.

    The in-memory figures (dkmeans and scikit-learn on NumPy input, the floor, k-means||,
    memory) are measured first, with no cluster running: an idle LocalCluster's processes and
    threads wake often enough to stall scikit-learn's OpenMP loop (which waits for its slowest
    thread) and slowed it about twice as much as dkmeans' thread pool. ``start_cluster``, a
    context manager yielding a ``distributed.Client``, is then entered once per round of the
    Dask rows, each compared with scikit-learn measured alone just before (:data:`DASK_ROUNDS`).
    """
    from sklearn.cluster import KMeans as SKKMeans

    from dkmeans import KMeans

    rows, data = [], {}
    for name in DATASETS:
        X, init = data[name] = make_data(name)
        k = len(init)
        row = {"dataset": name, "shape": list(X.shape), "k": k}
        rounds = interleaved({
            "dkmeans": lambda: per_iteration(
                lambda it: KMeans(k, init=init, max_iter=it, tol=0), X, repeats=PAIR_REPEATS),
            "sklearn": lambda: per_iteration(
                lambda it: SKKMeans(k, init=init, n_init=1, max_iter=it, tol=0), X,
                repeats=PAIR_REPEATS),
            "init": lambda: init_seconds(X, init, repeats=1),
        })
        row["dkmeans_numpy_ms"] = 1e3 * float(np.nanmedian(rounds["dkmeans"]))
        row["sklearn_ms"] = 1e3 * float(np.nanmedian(rounds["sklearn"]))
        row["ratio_numpy_vs_sklearn"] = float(np.nanmedian(rounds["dkmeans"]
                                                           / rounds["sklearn"]))
        row["ratio_numpy_vs_sklearn_range"] = _range(rounds["dkmeans"] / rounds["sklearn"])
        row["kmeans_parallel_init_s"] = float(np.nanmedian(rounds["init"]))
        row["init_in_iterations"] = float(np.nanmedian(rounds["init"] / rounds["dkmeans"]))
        floor, compute, read = hardware_floor(X, k)
        row["floor_ms"] = 1e3 * floor
        row["floor_compute_ms"], row["floor_read_ms"] = 1e3 * compute, 1e3 * read
        row["numpy_over_floor"] = row["dkmeans_numpy_ms"] / row["floor_ms"]
        row["numpy_peak_over_input"] = numpy_peak_ratio(X, init)
        rows.append(row)
        print(_format(row), flush=True)
    if start_cluster is not None:
        print("-- Dask input, persisted (each round: scikit-learn alone, then the cluster) --")
        _dask_rows(rows, data, start_cluster)
        for row in rows:
            print(_format(row), flush=True)
    results["engine"] = rows


#: Rounds of the Dask rows. Each round measures scikit-learn alone, then starts a cluster,
#: persists every dataset and measures dkmeans on it, so that each Dask figure is compared
#: with a scikit-learn figure taken within a minute of it, not several minutes earlier (the
#: machine's speed drifts that much in minutes). Five, as on NumPy input: with three, a run
#: gave S a median of 1.43 (rounds 0.85-1.43), where six measurements of the same code
#: minutes before gave 1.03-1.59, five of them under 1.15.
DASK_ROUNDS = 5


def _dask_rows(rows, data, start_cluster):
    from sklearn.cluster import KMeans as SKKMeans

    from dkmeans import KMeans

    sklearn_alone = {row["dataset"]: [] for row in rows}
    dask = {row["dataset"]: [] for row in rows}
    dask_init = {row["dataset"]: [] for row in rows}
    for round_no in range(DASK_ROUNDS):
        for row in rows:
            X, init = data[row["dataset"]]
            sklearn_alone[row["dataset"]].append(per_iteration(
                lambda it: SKKMeans(len(init), init=init, n_init=1, max_iter=it, tol=0), X,
                repeats=PAIR_REPEATS))
        with start_cluster() as client:
            for row in rows:
                X, init = data[row["dataset"]]
                Xd = _persisted(X, client)
                dask[row["dataset"]].append(per_iteration(
                    lambda it: KMeans(len(init), init=init, max_iter=it, tol=0), Xd,
                    repeats=PAIR_REPEATS))
                dask_init[row["dataset"]].append(init_seconds(Xd, init))
                if round_no == DASK_ROUNDS - 1:  # once: the peer
                    row.update(_dask_ml_once(Xd, init))
                del Xd
    for row in rows:
        name = row["dataset"]
        ratios = np.array(dask[name]) / np.array(sklearn_alone[name])
        row["dkmeans_dask_ms"] = 1e3 * float(np.nanmedian(dask[name]))
        row["sklearn_alone_for_dask_ms"] = 1e3 * float(np.nanmedian(sklearn_alone[name]))
        row["ratio_dask_vs_sklearn"] = float(np.nanmedian(ratios))
        row["ratio_dask_vs_sklearn_range"] = _range(ratios)
        # as on NumPy input: each round's initialisation over that round's iterations
        row["dask_kmeans_parallel_init_s"] = float(np.median(dask_init[name]))
        row["dask_init_in_iterations"] = float(np.nanmedian(np.array(dask_init[name])
                                                            / np.array(dask[name])))
        if row["dask_ml_ms"] is not None:
            row["dask_ml_over_dkmeans"] = row["dask_ml_ms"] / row["dkmeans_dask_ms"]


def _persisted(X, client):
    import dask.array as da

    n_workers = len(client.scheduler_info()["workers"])
    # each chunk allocated by the worker that holds it, as a Parquet or Zarr reader's chunks
    # are; a chunk received in a message is a view at whatever byte offset its frame had
    # (seen here: float32 rows at an odd address), which every library would pay for alike
    Xd = da.from_array(X, chunks=(int(np.ceil(len(X) / (2 * n_workers))), X.shape[1]))
    Xd = Xd.map_blocks(np.copy, dtype=X.dtype).persist()
    client.wait_for_workers(n_workers)
    return Xd


def _dask_ml_once(Xd, init):
    """dask-ml's figures on the Dask input, when it is installed."""
    k = len(init)
    out = {}
    try:
        import dask_ml.cluster
    except ImportError:
        out["dask_ml_ms"] = out["dask_ml_init_s"] = None
        return out
    out["dask_ml_ms"] = 1e3 * per_iteration(
        lambda it: dask_ml.cluster.KMeans(k, init=init, max_iter=it, tol=0), Xd)
    # its default k-means|| initialisation, timed as ours is
    out["dask_ml_init_s"] = max(
        _timed(lambda: dask_ml.cluster.KMeans(k, random_state=0, max_iter=1).fit(Xd),
               repeats=1)
        - _timed(lambda: dask_ml.cluster.KMeans(k, init=init, max_iter=1).fit(Xd),
                 repeats=1), 0.0)
    return out


def _range(values):
    return [float(np.nanmin(values)), float(np.nanmax(values))]


def _format(row):
    parts = [f"{row['dataset']} {row['shape'][0]}x{row['shape'][1]} k={row['k']}:",
             f"dkmeans {row['dkmeans_numpy_ms']:.1f} ms/it",
             f"sklearn {row['sklearn_ms']:.1f} ms/it",
             f"ratio {row['ratio_numpy_vs_sklearn']:.2f} "
             f"(rounds {row['ratio_numpy_vs_sklearn_range'][0]:.2f}-"
             f"{row['ratio_numpy_vs_sklearn_range'][1]:.2f})",
             f"floor {row['floor_ms']:.1f} ms (flops {row['floor_compute_ms']:.1f}, "
             f"read {row['floor_read_ms']:.1f}; dkmeans {row['numpy_over_floor']:.1f}x it)",
             f"k-means|| init {row['kmeans_parallel_init_s']:.2f} s "
             f"(= {row['init_in_iterations']:.1f} iterations)",
             f"peak/input {row['numpy_peak_over_input']:.2f}"]
    if "dkmeans_dask_ms" in row:
        low, high = row["ratio_dask_vs_sklearn_range"]
        parts.append(f"dask {row['dkmeans_dask_ms']:.1f} ms/it (ratio "
                     f"{row['ratio_dask_vs_sklearn']:.2f}, rounds {low:.2f}-{high:.2f}, "
                     f"against scikit-learn alone {row['sklearn_alone_for_dask_ms']:.1f} ms/it)")
        parts.append(f"dask k-means|| init {row['dask_kmeans_parallel_init_s']:.2f} s "
                     f"(= {row['dask_init_in_iterations']:.1f} iterations)")
        if row.get("dask_ml_ms"):
            parts.append(f"dask-ml {row['dask_ml_ms']:.1f} ms/it "
                         f"(dkmeans {row['dask_ml_over_dkmeans']:.1f}x faster), "
                         f"dask-ml init {row['dask_ml_init_s']:.2f} s")
    return "  ".join(parts)
