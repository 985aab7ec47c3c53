"""Mini-batch benchmark: dkmeans against scikit-learn's MiniBatchKMeans, and streaming Parquet.

``run`` (part of ``make bench``):

- numpy input, datasets S (1,000,000 x 32, 16 centres) and M (4,000,000 x 16, 8 centres),
  float32: wall time (fit, including the final labelling pass both libraries make) and inertia
  of ``dkmeans.MiniBatchKMeans`` and ``sklearn.cluster.MiniBatchKMeans`` with the same
  ``batch_size`` and default settings otherwise, over three seeds;
- rows per second streaming S from a Parquet folder on a 2-worker LocalCluster: one full epoch
  (no early stopping, no final pass), and a default fit.

``run_out_of_core`` (``make bench`` section ``out-of-core``, minutes and ~6 GiB of disk): a
Parquet dataset of more than 3 x the total worker memory streamed to completion on 2 workers
of 1 GiB; reports each worker's peak memory and what was spilled.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import cloudpickle
import numpy as np

DATASETS = {"S": (1_000_000, 32, 16), "M": (4_000_000, 16, 8)}
BATCH_SIZE = 1024
SEEDS = (0, 1, 2)


def make_blobs32(n, d, k, seed=0):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, n_features=d, centers=k, random_state=seed)
    return X.astype(np.float32)


# -- Parquet, read the way a job reads it: one chunk per file, lengths from the footers --------
def parquet_array(folder):
    """The folder's features as a dkmeans job reads them (lazy; lengths from the footers)."""
    from dkmeans.io import read_parquet_dataset

    return read_parquet_dataset(str(folder)).features


def write_blob_files(folder, *, n_files, rows_per_file, d, k, seed=0, std=1.0):
    """Blob rows written file by file (never all in memory); returns the true centres."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, size=(k, d)).astype(np.float32)
    names = [f"f{j}" for j in range(d)]
    for i in range(n_files):
        r = np.random.default_rng([seed, i])
        X = r.standard_normal((rows_per_file, d), dtype=np.float32) * np.float32(std)
        X += centers[r.integers(0, k, rows_per_file)]
        pq.write_table(pa.table(dict(zip(names, X.T))), Path(folder) / f"part-{i:05d}.parquet",
                       compression="snappy")
    return centers


def _worker_report(dask_worker):
    spill = {f"{label}-{unit}": v for (label, unit), v in
             dask_worker.data.cumulative_metrics.items() if "disk" in str(label)}
    return dict(peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                memory_limit_mib=dask_worker.memory_manager.memory_limit / 2**20,
                spilled=spill)


# -- numpy: dkmeans vs scikit-learn -----------------------------------------------------------
def _fit_timed(make, X):
    started = time.perf_counter()
    model = make().fit(X)
    return time.perf_counter() - started, model


def numpy_rows(results):
    from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans

    from dkmeans import MiniBatchKMeans

    MiniBatchKMeans(4, random_state=0).fit(make_blobs32(5_000, 4, 4))  # load compiled kernels
    rows = []
    for name, (n, d, k) in DATASETS.items():
        X = make_blobs32(n, d, k)
        dk, sk = [], []
        for seed in SEEDS:
            dk.append(_fit_timed(lambda: MiniBatchKMeans(k, batch_size=BATCH_SIZE,
                                                         random_state=seed), X))
            sk.append(_fit_timed(lambda: SkMiniBatchKMeans(k, batch_size=BATCH_SIZE,
                                                           random_state=seed), X))
        row = dict(dataset=name, rows=n, features=d, centers=k, batch_size=BATCH_SIZE,
                   dkmeans_s=float(np.median([t for t, _ in dk])),
                   sklearn_s=float(np.median([t for t, _ in sk])),
                   dkmeans_inertia=float(np.mean([m.inertia_ for _, m in dk])),
                   sklearn_inertia=float(np.mean([m.inertia_ for _, m in sk])),
                   dkmeans_steps=int(np.median([m.n_steps_ for _, m in dk])),
                   sklearn_steps=int(np.median([m.n_steps_ for _, m in sk])))
        row["speedup"] = row["sklearn_s"] / row["dkmeans_s"]
        row["inertia_ratio"] = row["dkmeans_inertia"] / row["sklearn_inertia"]
        rows.append(row)
        print(f"{name}: dkmeans {row['dkmeans_s']:.3f} s ({row['dkmeans_steps']} steps), "
              f"scikit-learn {row['sklearn_s']:.3f} s ({row['sklearn_steps']} steps), "
              f"speed-up x{row['speedup']:.1f}, inertia ratio {row['inertia_ratio']:.4f}",
              flush=True)
    return rows


# -- streaming from Parquet ------------------------------------------------------------------
def streaming_rows(results, *, rows_per_file=62_500):
    from distributed import Client, LocalCluster

    from dkmeans import MiniBatchKMeans

    n, d, k = DATASETS["S"]
    X = make_blobs32(n, d, k)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dkmeans-bench-") as tmp:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for i, start in enumerate(range(0, n, rows_per_file)):
            block = X[start: start + rows_per_file]
            pq.write_table(pa.table({f"f{j}": block[:, j] for j in range(d)}),
                           Path(tmp) / f"part-{i:05d}.parquet")
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0", memory_limit="2GiB") as cluster, \
                Client(cluster) as client:
            client.run(lambda: sys.path)  # workers up before timing
            cases = [
                ("one epoch, batch 1024", dict(max_iter=1, max_no_improvement=None,
                                               compute_labels=False, batch_size=1024)),
                ("one epoch, batch 8192", dict(max_iter=1, max_no_improvement=None,
                                               compute_labels=False, batch_size=8192)),
                ("default fit (early stop + labels pass)", dict(batch_size=1024)),
            ]
            for label, kwargs in cases:
                started = time.perf_counter()
                model = MiniBatchKMeans(k, random_state=0, **kwargs).fit(parquet_array(tmp))
                seconds = time.perf_counter() - started
                processed = model.n_steps_ * kwargs["batch_size"]  # rows through the steps
                row = dict(case=label, seconds=seconds, rows_per_s=processed / seconds,
                           steps=model.n_steps_, epochs=model.n_iter_,
                           inertia_per_row=model.inertia_ / n)
                rows.append(row)
                print(f"streaming S from Parquet, {label}: {seconds:.2f} s, "
                      f"{row['rows_per_s']:,.0f} rows/s, {model.n_steps_} steps, "
                      f"inertia/row {row['inertia_per_row']:.3f}", flush=True)
    return rows


def run(results):
    """Fill ``results['minibatch']`` and print a table."""
    results["minibatch"] = {"numpy": numpy_rows(results), "streaming": streaming_rows(results)}
    print(_table(results["minibatch"]))


def _table(section):
    lines = ["dataset  batch  dkmeans s  sklearn s  speed-up  inertia dk/sk  steps dk/sk"]
    for r in section["numpy"]:
        lines.append(f"{r['dataset']:<8} {r['batch_size']:>5}  {r['dkmeans_s']:>9.3f}  "
                     f"{r['sklearn_s']:>9.3f}  {r['speedup']:>7.1f}x  "
                     f"{r['inertia_ratio']:>13.4f}  {r['dkmeans_steps']}/{r['sklearn_steps']}")
    for r in section["streaming"]:
        lines.append(f"Parquet  {r['case']}: {r['rows_per_s']:,.0f} rows/s")
    return "\n".join(lines)


# -- out of core -----------------------------------------------------------------------------
def run_out_of_core(results, *, gib=6.2, n_workers=2, memory_limit="1GiB", d=32, k=16,
                    rows_per_file=250_000, batch_size=1024, stream_chunks=4, workdir=None):
    """Stream a Parquet dataset of ``gib`` GiB (>= 3 x total worker memory) to completion.

    The sample that seeds the centres, one full epoch (no early stopping), then the final pass
    computing ``inertia_``: the data is read three times. Files are generated here, one at a
    time, and deleted afterwards.
    """
    from distributed import Client, LocalCluster

    from dkmeans import MiniBatchKMeans

    n_files = int(np.ceil(gib * 2**30 / (rows_per_file * d * 4)))
    n = n_files * rows_per_file
    with tempfile.TemporaryDirectory(prefix="dkmeans-ooc-", dir=workdir) as tmp:
        started = time.perf_counter()
        write_blob_files(tmp, n_files=n_files, rows_per_file=rows_per_file, d=d, k=k)
        written = time.perf_counter() - started
        print(f"wrote {n_files} files, {n:,} rows, {n * d * 4 / 2**30:.2f} GiB of float32 "
              f"features in {written:.0f} s", flush=True)
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=":0",
                          memory_limit=memory_limit) as cluster, Client(cluster) as client:
            workers_before = set(client.scheduler_info()["workers"])
            started = time.perf_counter()
            model = MiniBatchKMeans(k, random_state=0, batch_size=batch_size, max_iter=1,
                                    max_no_improvement=None, stream_chunks=stream_chunks,
                                    compute_labels=True).fit(parquet_array(tmp))
            seconds = time.perf_counter() - started
            report = client.run(_worker_report)
            restarted = workers_before != set(client.scheduler_info()["workers"])
    row = dict(gib=n * d * 4 / 2**30, rows=n, files=n_files, workers=n_workers,
               memory_limit=memory_limit, seconds=seconds, rows_per_s=3 * n / seconds,
               steps=model.n_steps_, inertia_per_row=model.inertia_ / n,
               expected_inertia_per_row=float(d), workers_restarted=restarted,
               worker_report=report)
    results["out_of_core"] = row
    print(f"out-of-core: {row['gib']:.2f} GiB on {n_workers} x {memory_limit}: "
          f"{seconds:.0f} s for the seeding sample, one epoch and the labels pass "
          f"({row['rows_per_s']:,.0f} rows/s read), "
          f"{model.n_steps_} steps, inertia/row {row['inertia_per_row']:.3f} "
          f"(blobs of unit variance: {d} expected), workers restarted: {restarted}")
    for address, r in report.items():
        print(f"  {address}: peak RSS {r['peak_rss_mib']:.0f} MiB of "
              f"{r['memory_limit_mib']:.0f} MiB, spilled {r['spilled'] or 'nothing'}")
    return row


cloudpickle.register_pickle_by_value(sys.modules[__name__])
