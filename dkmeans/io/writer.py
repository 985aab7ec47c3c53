"""``OutputWriter``: stage a run's labels, model and metrics, then publish them all at once.

Output layout under ``output_url``::

    labels/part-00000.parquet   one per input chunk: id columns, cluster (int32), distance (float32)
    model/centroids.parquet     one row per centre, one column per feature
    model/model.json            parameters, preprocessing, version, input fingerprint
    metrics.json, report.html   whatever the caller stages
    _SUCCESS                    the manifest, written last (see dkmeans.io.commit)

Example
-------
>>> with OutputWriter("s3://lake/segments/", mode="overwrite") as out:  # doctest: +SKIP
...     out.stage_labels(dataset, labels, distances)
...     out.stage_json("metrics.json", {"inertia": 12.5})
...     out.publish(input_fingerprint=dataset.fingerprint, config_hash="ab12")
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import posixpath
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

from dkmeans.errors import OutputExistsError, StorageError, UserInputError
from dkmeans.io import commit
from dkmeans.io.dataset import Dataset
from dkmeans.io.label_parts import PartInfo, PartTask, write_label_part
from dkmeans.io.manifest import MANIFEST_NAME, build_manifest, dumps, load_manifest
from dkmeans.io.publish_lock import publish_lock
from dkmeans.io.secrets import check_no_secrets, secret_values
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

WRITE_PREFIX = "dkmeans-write-labels"
MODES = ("error", "overwrite")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def new_run_id() -> str:
    """A run id that sorts by time: ``20261122T031500Z-1a2b3c4d``."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


def _check_relpath(relpath: str) -> str:
    parts = relpath.split("/") if isinstance(relpath, str) else [""]
    if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") for p in parts) or any(
            p.startswith(("_", ".")) for p in parts):
        raise UserInputError(
            f"An output file path must be relative, without '..' or names starting with '_' "
            f"or '.' (those are ignored by readers); got {relpath!r}."
        )
    return relpath


class OutputWriter:
    """Stages the files of one run under ``_staging/<run_id>/`` and publishes them together.

    Parameters
    ----------
    output_url : str
        Output folder (local path or fsspec URL such as ``s3://bucket/prefix``).
    storage_options : dict, optional
        Passed to fsspec unchanged; never written, logged or put in task keys.
    mode : {"error", "overwrite"}, default "error"
        ``"error"`` refuses an output that already holds a published result (checked now, so
        a job fails before its fit, and again at publish); ``"overwrite"`` replaces it.
    run_id : str, optional
        Names the staging folder; default a new time-ordered id.

    Raises
    ------
    OutputExistsError
        ``mode="error"`` and ``output_url`` already holds ``_SUCCESS``.

    Notes
    -----
    Use it as a context manager: leaving the block by an exception, or without publishing,
    discards the staged files. One writer per output at a time.
    """

    def __init__(self, output_url: str, *, storage_options: dict | None = None,
                 mode: str = "error", run_id: str | None = None):
        if mode not in MODES:
            raise UserInputError(f"The 'mode' parameter must be one of {MODES}; got {mode!r}.")
        run_id = new_run_id() if run_id is None else run_id
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise UserInputError(
                "The 'run_id' parameter must be letters, digits, '_', '.' or '-' (at most 128, "
                f"not starting with '_' or '.'); got {run_id!r}."
            )
        self.handle = StorageHandle(output_url, storage_options)
        self.url = output_url
        self.mode = mode
        self.run_id = run_id
        self._secrets = secret_values(storage_options)
        self._files: dict[str, dict] = {}
        self._state = "open"
        self.check_mode()

    @property
    def staging(self) -> str:
        """The staging folder, relative to the output root."""
        return f"{commit.STAGING_DIR}/{self.run_id}"

    @property
    def staged_files(self) -> list[dict]:
        """``{"path", "bytes", "rows"}`` of every staged file, sorted by path."""
        return [self._files[k] for k in sorted(self._files)]

    def check_mode(self) -> dict | None:
        """Apply ``mode`` to what the output holds now; return its current manifest, if any."""
        fs = self.handle.fs
        fs.invalidate_cache()
        manifest = load_manifest(self.handle)
        if self.mode == "error":
            if manifest is not None:
                raise OutputExistsError(
                    f"Output '{self.url}' already holds a published dkmeans result (run "
                    f"{manifest.get('run_id')}, {manifest.get('created_at')}); expected no "
                    f"{MANIFEST_NAME} with mode 'error'. Use mode 'overwrite' to replace it."
                )
            if fs.exists(self.handle.path(MANIFEST_NAME)):
                raise OutputExistsError(
                    f"Output '{self.url}' holds a {MANIFEST_NAME} not written by dkmeans (another "
                    "tool's output?); expected none with mode 'error'."
                )
        return manifest

    # -- staging ---------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state != "open":
            raise StorageError(
                f"The writer of '{self.url}' (run {self.run_id}) is {self._state}; expected an "
                "open writer."
            )

    def stage_bytes(self, relpath: str, data: bytes, *, rows: int | None = None) -> None:
        """Stage one file written by the client (a report, a JSON document, ...).

        Parameters
        ----------
        relpath : str
            Path under the output root, e.g. ``"report.html"``.
        data : bytes
        rows : int, optional
            Rows, for a Parquet file; recorded in the manifest.
        """
        self._require_open()
        relpath = _check_relpath(relpath)
        if isinstance(data, str):
            data = data.encode()
        check_no_secrets(data, f"{self.url}/{relpath}", self._secrets)
        path = self.handle.path(f"{self.staging}/{relpath}")
        try:
            if self.handle.is_local:
                os.makedirs(posixpath.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            else:
                self.handle.fs.pipe_file(path, data)
        except Exception as exc:
            self.discard()
            raise StorageError(f"Staging {self.handle.to_url(path)} failed: {exc}") from exc
        self._files[relpath] = {"path": relpath, "bytes": len(data), "rows": rows}
        logger.debug("Staged %s (%d bytes)", relpath, len(data))

    def stage_json(self, relpath: str, obj: Any) -> None:
        """Stage ``obj`` as JSON (NumPy values converted; non-finite floats become null)."""
        self.stage_bytes(relpath, dumps(obj))

    def stage_model(self, centers: np.ndarray, feature_names: Sequence[str], **model: Any) -> None:
        """Stage ``model/centroids.parquet`` and ``model/model.json``.

        Parameters
        ----------
        centers : ndarray of shape (n_clusters, n_features)
        feature_names : sequence of str, length n_features
        **model
            ``params``, ``preprocess``, ``inertia``, ``n_iter``, ``input_fingerprint``, as
            :func:`dkmeans.io.model_store.model_files` takes them.
        """
        from dkmeans.io.model_store import model_files

        for relpath, (data, rows) in model_files(centers, feature_names, **model).items():
            self.stage_bytes(relpath, data, rows=rows)

    def stage_labels(self, dataset: Dataset, labels, distances=None) -> list[PartInfo]:
        """Write one label part per dataset chunk, in Dask tasks, under the staging folder.

        Parameters
        ----------
        dataset : Dataset
            Gives the chunks and reads each chunk's id columns (in the tasks).
        labels : dask.array.Array or ndarray of shape (n_rows,), integer
            Cluster of every row; ``-1`` marks a row left out of the fit (written as null).
        distances : dask.array.Array or ndarray of shape (n_rows,), optional
            Distance of every row to its centre, written as ``distance`` (float32).

        Returns
        -------
        list of PartInfo
            One per chunk, in order. Computes ``labels`` and ``distances``.
        """
        self._require_open()
        lengths = tuple(c.n_rows for c in dataset.chunks)
        labels = _as_blocks(labels, lengths, "labels", integer=True)
        distances = None if distances is None else _as_blocks(distances, lengths, "distances")
        if not lengths:
            return []
        name = f"{WRITE_PREFIX}-{tokenize(self.run_id, labels.name, getattr(distances, 'name', None))}"
        # Unoptimised blocks: optimising labels and distances apart would fuse a copy of the
        # Parquet read into each, and the write pass would read every chunk twice.
        lblocks = labels.to_delayed(optimize_graph=False).ravel()
        dblocks = (distances.to_delayed(optimize_graph=False).ravel() if distances is not None
                   else [None] * len(lengths))
        write = dask.delayed(write_label_part, pure=False)
        tasks = [
            write(PartTask(self.handle, self.staging, i, dataset.id_source(i)), lblocks[i],
                  dblocks[i], dask_key_name=(name, i))
            for i in range(len(lengths))
        ]
        try:
            parts = _compute_all(tasks)
        except BaseException:
            self.discard()
            raise
        for p in parts:
            self._files[p.path] = {"path": p.path, "bytes": p.bytes, "rows": p.rows}
        logger.info("Staged %d label part(s), %d row(s), for %s", len(parts),
                    sum(p.rows for p in parts), self.url)
        return list(parts)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, *, input_fingerprint: str | None = None, config_hash: str | None = None,
                extra: dict | None = None) -> dict:
        """Move the staged files into place and write ``_SUCCESS`` last.

        Parameters
        ----------
        input_fingerprint : str, optional
            :attr:`Dataset.fingerprint` of the input.
        config_hash : str, optional
            Hash of the job configuration.
        extra : dict, optional
            Anything else to keep in the manifest.

        Returns
        -------
        dict
            The manifest written (see :func:`dkmeans.io.manifest.build_manifest`).

        Raises
        ------
        OutputExistsError
            ``mode="error"`` and a result was published meanwhile.
        StorageError
            Publishing failed; the previous output was restored when possible.
        """
        self._require_open()
        try:
            # one publisher at a time: the mode is checked again under the lock, so two runs
            # finishing together cannot both publish into an output that must not be replaced
            with publish_lock(self.handle, self.run_id):
                old = self.check_mode()
                manifest = build_manifest(run_id=self.run_id, files=self.staged_files,
                                          input_fingerprint=input_fingerprint,
                                          config_hash=config_hash, extra=extra)
                data = dumps(manifest)
                check_no_secrets(data, f"{self.url}/{MANIFEST_NAME}", self._secrets)
                commit.publish(self.handle, run_id=self.run_id, new_files=list(self._files),
                               manifest=data, old_manifest=old)
        except commit.PublishError as exc:
            if exc.restored:
                self.discard()
            else:
                self._state = "failed"
            raise
        except BaseException:
            self.discard()
            raise
        self._state = "published"
        return manifest

    def discard(self) -> None:
        """Delete this run's staging folder; the published output is untouched. Idempotent.

        After a publish whose rollback failed, the staging folder holds the only copy of the
        previous files: it is kept, and this does nothing.
        """
        if self._state in ("discarded", "published", "failed"):
            return
        self._state = "discarded"
        commit.remove_tree(self.handle, self.staging)
        if self.handle.is_local:
            try:
                os.rmdir(self.handle.path(commit.STAGING_DIR))
            except OSError:
                pass  # not empty (another run's staging) or already gone
        logger.info("Discarded the staged files of run %s for %s", self.run_id, self.url)

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._state == "open":
            if exc_type is None:
                logger.warning("Output writer for %s closed without publish: discarding run %s",
                               self.url, self.run_id)
            self.discard()

    def __repr__(self) -> str:
        return f"OutputWriter({self.url!r}, mode={self.mode!r}, run_id={self.run_id!r})"


def _as_blocks(x, lengths: tuple[int, ...], what: str, *, integer: bool = False) -> da.Array:
    """``x`` as a 1-d Dask array whose blocks are the dataset's chunks."""
    n = sum(lengths)
    if not isinstance(x, da.Array):
        x = np.asarray(x)
    if x.ndim != 1 or x.shape[0] != n:
        raise UserInputError(
            f"The '{what}' array must have shape ({n},), one value per dataset row; "
            f"got shape {x.shape}."
        )
    if integer and not np.issubdtype(x.dtype, np.integer):
        raise UserInputError(f"The '{what}' array must hold integers; got dtype {x.dtype}.")
    if not isinstance(x, da.Array):
        return da.from_array(x, chunks=(lengths or (0,),), name=False)
    if x.chunks[0] != lengths and lengths:
        logger.debug("Rechunking %s to the dataset's %d chunks", what, len(lengths))
        x = x.rechunk((lengths,))
    return x


def _compute_all(tasks: list) -> list:
    """Compute write tasks, waiting for every task to end (failed or not) before returning or
    raising, so that no straggler writes into the staging folder after it is discarded.

    Dask's schedulers raise on the first failed task while others still run; on a distributed
    cluster we wait on all futures, and for the local threaded scheduler we hand it a pool we
    can shut down (waiting for tasks in flight, cancelling queued ones).
    """
    try:
        from distributed import default_client, wait

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is None:
        configured = dask.config.get("scheduler", None)
        if configured not in (None, "threads", "threading"):
            return list(dask.compute(*tasks))
        workers = dask.config.get("num_workers", None) or os.cpu_count() or 1
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=WRITE_PREFIX)
        try:
            return list(dask.compute(*tasks, scheduler="threads", pool=pool))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    futures = client.compute(tasks)
    try:
        wait(futures)
        return client.gather(futures)
    finally:
        for f in futures:
            f.release()
