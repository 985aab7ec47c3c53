"""Per-thread scratch buffers kept between passes.

Dask's workers hand freed memory back to the system at once (their nanny sets
``MALLOC_TRIM_THRESHOLD_``), so a buffer of megabytes allocated on every pass is faulted in
again every time: on K of ``make bench`` (1.6 MiB of products per row block) a Lloyd chunk
pass took 23.5-23.9 ms with that setting and 20.1-20.5 ms with the buffer kept; aligned copies
of a misaligned chunk cost about 1 ms more per 4 MiB.

A buffer is named by its use: its contents are never needed after the call that fills it,
and no two uses of one name are ever live at once in one thread.
"""

from __future__ import annotations

import threading

import numpy as np

_buffers = threading.local()

#: Larger buffers are allocated afresh on every call rather than kept: a thread of a
#: long-lived pool or worker should not hold more than a few of these for good.
KEEP_MAX_BYTES = 16 << 20


def thread_scratch(name, shape, dtype):
    """This thread's buffer ``name`` viewed as an uninitialised array (grown when too small;
    a fresh array past ``KEEP_MAX_BYTES``).

    Parameters
    ----------
    name : str
    shape : tuple of int
    dtype : numpy dtype

    Returns
    -------
    ndarray of the given shape and dtype, C-contiguous and aligned
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes > KEEP_MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    buffer = getattr(_buffers, name, None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)
        setattr(_buffers, name, buffer)
    return buffer[:nbytes].view(dtype).reshape(shape)
