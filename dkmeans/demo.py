"""``make demo``: cluster generated blobs on a local Dask cluster and print a summary.

Run as ``python -m dkmeans.demo``.
"""

from __future__ import annotations

import logging
import time

import numpy as np


def main():
    import dask.array as da
    from distributed import Client, LocalCluster

    from dkmeans import KMeans

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    rng = np.random.default_rng(0)
    n_rows, n_features, k = 1_000_000, 16, 8
    centers = rng.uniform(-10, 10, (k, n_features))
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        print(f"Dask dashboard: {client.dashboard_link}")
        X = da.random.RandomState(0).standard_normal((n_rows, n_features),
                                                     chunks=(250_000, n_features))
        truth = da.from_array(rng.integers(0, k, n_rows), chunks=(250_000,))
        X = (X + da.from_array(centers)[truth]).astype(np.float32).persist()
        started = time.perf_counter()
        model = KMeans(n_clusters=k, random_state=0).fit(X)
        seconds = time.perf_counter() - started
        sizes = np.bincount(model.labels_.compute(), minlength=k)
    print(f"Clustered {n_rows:,} rows x {n_features} features into {k} clusters "
          f"in {seconds:.1f} s ({model.n_iter_} iterations, inertia {model.inertia_:.4g}).")
    print("Cluster sizes:", ", ".join(str(s) for s in sizes))


if __name__ == "__main__":
    main()
