"""Per-thread scratch buffers."""

import threading

import numpy as np

from dkmeans.kernels.scratch import KEEP_MAX_BYTES, thread_scratch


def test_a_buffer_is_reused_by_name_and_grown_when_too_small():
    a = thread_scratch("test-a", (4, 3), np.float64)
    assert a.shape == (4, 3) and a.dtype == np.float64
    assert a.flags.c_contiguous and a.flags.aligned
    b = thread_scratch("test-a", (2, 5), np.float32)  # fits: the same memory
    assert b.shape == (2, 5) and np.shares_memory(a, b)
    c = thread_scratch("test-a", (100,), np.float64)  # too large: a new buffer, then kept
    assert not np.shares_memory(a, c)
    assert np.shares_memory(c, thread_scratch("test-a", (2,), np.float32))
    assert not np.shares_memory(c, thread_scratch("test-b", (2,), np.float32))


def test_threads_and_large_buffers_get_their_own_memory():
    mine = thread_scratch("test-c", (16,), np.float64)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(thread_scratch("test-c", (16,),
                                                                         np.float64)))
    thread.start()
    thread.join()
    assert not np.shares_memory(mine, seen[0])
    n = KEEP_MAX_BYTES // 8 + 1
    big = thread_scratch("test-d", (n,), np.float64)
    assert big.shape == (n,)
    assert not np.shares_memory(big, thread_scratch("test-d", (n,), np.float64))
