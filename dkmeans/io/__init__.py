"""Parquet in, labels out: the storage layer of dkmeans.

- :func:`read_parquet_dataset` opens Parquet files, folders, globs or ``s3://`` prefixes as a
  :class:`Dataset` whose features are a chunked Dask array (chunk lengths from metadata).
- :class:`OutputWriter` stages labels (written by Dask tasks), model and metrics, then publishes
  them under a commit protocol: ``_SUCCESS`` with a manifest is written last, and a failure
  leaves the previous output as it was.
- :func:`read_manifest`, :func:`is_published`, :func:`read_labels`, :func:`read_model` and
  :func:`load_model` read a published output back, trusting only its manifest.

``storage_options`` are passed to fsspec unchanged and never logged, written or put in task keys.
"""

from dkmeans.io.chunks import ChunkSource
from dkmeans.io.commit import PublishError
from dkmeans.io.dataset import Dataset
from dkmeans.io.label_parts import PartInfo
from dkmeans.io.labels import read_labels
from dkmeans.io.manifest import is_published, read_manifest
from dkmeans.io.model_store import load_model, model_files, read_model, save_model
from dkmeans.io.reader import read_parquet_dataset
from dkmeans.io.writer import OutputWriter

__all__ = [
    "ChunkSource",
    "Dataset",
    "OutputWriter",
    "PartInfo",
    "PublishError",
    "is_published",
    "load_model",
    "model_files",
    "read_labels",
    "read_manifest",
    "read_model",
    "read_parquet_dataset",
    "save_model",
]
