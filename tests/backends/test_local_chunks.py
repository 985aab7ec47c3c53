"""How an in-memory array is cut into chunks for the thread pool."""

import numpy as np
import pytest

from dkmeans.dist.backend import (
    LOCAL_CHUNK_BYTES,
    LOCAL_CHUNK_MULTIPLE,
    LocalBackend,
    local_chunk_rows,
)


@pytest.mark.parametrize("n_rows, row_bytes", [(1, 4), (300, 8), (10**6, 128), (4 * 10**6, 64),
                                               (200_000, 256), (123_457, 36),
                                               (300_000, 64)])
def test_chunks_are_equal_cache_friendly_and_shareable(n_rows, row_bytes):
    rows = local_chunk_rows(n_rows, row_bytes)
    n_chunks = -(-n_rows // rows)
    assert rows * row_bytes <= LOCAL_CHUNK_BYTES or n_chunks == 1
    if n_rows * row_bytes > LOCAL_CHUNK_BYTES:
        # several chunks, their number a multiple of 4 and all but the last full
        assert n_chunks % LOCAL_CHUNK_MULTIPLE == 0
        assert n_rows - (n_chunks - 1) * rows <= rows
        assert rows * row_bytes > LOCAL_CHUNK_BYTES / LOCAL_CHUNK_MULTIPLE
    else:
        assert n_chunks == 1


def test_chunking_and_results_do_not_depend_on_threads():
    from dkmeans import KMeans

    rng = np.random.default_rng(3)
    X = rng.standard_normal((LOCAL_CHUNK_BYTES // 32 + 1000, 8)).astype(np.float32)
    assert len(LocalBackend(X, n_threads=1).slices) == len(LocalBackend(X, n_threads=2).slices) > 1
    fits = [KMeans(5, random_state=0, n_threads=t, max_iter=5).fit(X) for t in (1, 2)]
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
