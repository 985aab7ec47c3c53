"""scikit-learn's handwritten digits as one Parquet file, the data of ``configs/digits.yaml``."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pyarrow as pa

from dkmeans.errors import DkmeansError
from dkmeans.generate.staging import part_name, summarize, write_staged, write_table
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)


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
        return [write_table(handle, staging, part_name(0), table)]

    summary = summarize(handle, write_staged(handle, overwrite, write), started)
    logger.info("Wrote scikit-learn's digits to %s: %d rows", handle.url, summary["rows"])
    return summary
