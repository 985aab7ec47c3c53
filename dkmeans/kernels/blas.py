"""How many threads BLAS may use while our own code runs kernels.

Two OpenBLAS builds are loaded side by side: NumPy's, for ``np.matmul`` in Python, and
SciPy's, which numba calls for ``np.dot`` inside compiled kernels. Each keeps its own
threads, which spin for a while after every product; with both multithreaded, one build's
spinning threads took the cores from the other's work (the weighted Lloyd passes of
k-means|| reclustering on K of ``make bench``: 0.6 to 6 ms per call instead of about 0.7).
Kernels therefore run with BLAS on one thread, as Dask's workers also set it.
"""

from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController


@functools.lru_cache(maxsize=1)
def _blas_controller():
    # inspecting the loaded BLAS libraries takes milliseconds: do it once per process
    return ThreadpoolController()


def single_threaded_blas():
    """Context manager keeping every loaded BLAS to one thread."""
    return _blas_controller().limit(limits=1, user_api="blas")
