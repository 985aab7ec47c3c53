"""The one orchestrator: config → cluster → read → preprocess → fit → write → report.

``run_job`` is what ``dkmeans run`` calls. Nothing is published unless every step succeeded:
all output is staged by an :class:`~dkmeans.io.OutputWriter` and published at the end.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
import uuid

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

from dkmeans import fitting
from dkmeans.checkpoints import CheckpointStore
from dkmeans.cluster import connect, scheduler_guard
from dkmeans.config import RUNTIME_ONLY_SECTIONS, config_hash
from dkmeans.errors import InputDataError, OutputExistsError, StorageError, UserInputError
from dkmeans.io import OutputWriter, read_parquet_dataset
from dkmeans.monitor.hooks import ObserverGroup
from dkmeans.preprocess import Scaler, prepare_features

logger = logging.getLogger(__name__)


class PhaseClock:
    """Times the job's phases and tells the observers when each starts and ends."""

    def __init__(self, observer):
        self.observer = observer
        self.seconds = {}

    @contextlib.contextmanager
    def phase(self, name, *, total=None):
        from dkmeans.monitor.events import phase_span

        self.observer.on_phase_start(name, total=total)
        started = time.perf_counter()
        with phase_span(name):
            yield
        elapsed = time.perf_counter() - started
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
        self.observer.on_phase_end(name, elapsed)


def read_input(cfg):
    """Open the input (metadata only); the known-classes column, if any, is read alongside.

    Returns
    -------
    dataset : dkmeans.io.Dataset
    features : dask.array.Array of shape (n, d)
    truth : dask.array.Array of shape (n,) or None
    feature_names : list of str, length d
    """
    label = cfg.evaluate.label_column if cfg.evaluate else None
    features = cfg.input.features
    columns = None if features is None else list(features) + ([label] if label else [])

    def open_dataset(columns):
        return read_parquet_dataset(cfg.input.url, features=columns,
                                    id_columns=cfg.input.id_columns,
                                    storage_options=cfg.input.storage_options,
                                    filters=cfg.input.filters, dtype=cfg.input.dtype,
                                    target_chunk_bytes=cfg.input.chunk_bytes)

    dataset = open_dataset(columns)
    names = list(dataset.feature_names)
    if label and label not in names:
        # not a default (numeric) feature: ask for it by name, which explains what is wrong
        dataset = open_dataset(names + [label])
        names = list(dataset.feature_names)
    if dataset.n_rows == 0:
        raise InputDataError(f"input.url: {cfg.input.url} holds no rows to cluster "
                             f"({len(dataset.files)} file(s) read).")
    if not label:
        return dataset, dataset.features, None, names
    keep = [i for i, name in enumerate(names) if name != label]
    return (dataset, dataset.features[:, keep], dataset.features[:, names.index(label)],
            [names[i] for i in keep])


def _persisted(array):
    """``array.persist()``, waiting until it is in memory (so the read is timed as "read")."""
    array = array.persist()
    try:
        from distributed import futures_of, get_client, wait

        get_client()
        wait(futures_of(array))
    except ValueError:  # no distributed client: the threaded scheduler persisted it already
        pass
    return array


def check_input_values(cfg, dataset, moments, feature_names):
    """Apply ``input.nan_policy`` to what the moments pass found; returns rows skipped."""
    if not moments.n_nonfinite:
        return 0
    if cfg.input.nan_policy == "skip":
        logger.warning("skipping %d row(s) holding NaN or infinity (input.nan_policy: skip)",
                       moments.n_nonfinite)
        return int(moments.n_nonfinite)
    bad = [f"{feature_names[i]} ({int(c)})"
           for i, c in enumerate(moments.nonfinite_per_feature) if c]
    chunk = int(np.searchsorted([c.row_offset for c in dataset.chunks],
                                moments.first_nonfinite, side="right") - 1)
    raise InputDataError(
        f"input: {moments.n_nonfinite} row(s) hold NaN, null or infinite values in column(s) "
        f"{', '.join(bad)}; the first is in {dataset.source_of_chunk(chunk)}. Clean the data "
        "or set input.nan_policy: skip to write such rows with a null label.")


def check_writable(url, storage_options):
    """Write and remove a probe file under the output, so an unwritable output fails early.

    Leaves nothing behind (``dkmeans validate`` writes nothing): on local disk the folders it
    had to create for the probe are removed again; an object store has no folders.
    """
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    staging = f"{root.rstrip('/')}/_staging"
    probe = f"{staging}/probe-{uuid.uuid4().hex[:8]}"
    created = _missing_local_folders(fs, staging)
    try:
        fs.makedirs(staging, exist_ok=True)
        fs.pipe(probe, b"ok")
        fs.rm(probe)
    except Exception as exc:
        if _refused(exc):
            raise UserInputError(f"output.url: {url} is not writable ({exc})") from exc
        # throttling, dropped connections: the store failed, not the config (after retries)
        raise StorageError(f"output.url: writing a probe file under {url} failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    finally:
        for folder in created:  # deepest first; rmdir removes only empty folders
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _refused(exc):
    """Whether a failed write means the output is not writable (a config matter)."""
    refusals = (PermissionError, FileNotFoundError, FileExistsError, NotADirectoryError,
                IsADirectoryError)
    return isinstance(exc, refusals) or (
        isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS))


def _missing_local_folders(fs, path):
    """The local folders that creating ``path`` creates, deepest first ([] for object stores)."""
    if not isinstance(fs, LocalFileSystem):
        return []
    missing, path = [], os.path.abspath(path)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def _dashboard_link(cfg, client):
    """The dashboard's address, or None when the job runs without one."""
    if cfg.cluster.address or cfg.cluster.dashboard_address:
        return getattr(client, "dashboard_link", None)
    return None


def _observers(extra, client):
    from dkmeans.monitor.standard import standard_observers

    return ObserverGroup([standard_observers(client=client), *extra])


@contextlib.contextmanager
def _performance_report(enabled, writer):
    """Record Dask's performance report of the block and stage it with the output."""
    if not enabled:
        yield
        return
    import tempfile
    from pathlib import Path

    from distributed import performance_report

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "performance-report.html"
        with performance_report(filename=str(path)):
            yield
        writer.stage_bytes("performance-report.html", path.read_bytes())


def run_job(cfg, *, client=None, observers=()):
    """Run a clustering job end to end and publish its output.

    Parameters
    ----------
    cfg : dkmeans.config.JobConfig
    client : distributed.Client, optional
        Use this client instead of the one ``cfg.cluster`` describes.
    observers : sequence of JobObserver
        Extra observers, called after the default ones (logging, events, progress).

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    # mistakes in the output or the input fail here, in a second, before any cluster starts
    job_hash = config_hash(cfg)
    check_writable(cfg.output.url, cfg.output.storage_options)
    writer = OutputWriter(cfg.output.url, storage_options=cfg.output.storage_options,
                          mode=cfg.output.mode)
    opened = read_input(cfg)
    fitting.check_enough_rows(cfg, opened[0].n_rows)
    cluster = contextlib.nullcontext(client) if client is not None else connect(cfg.cluster)
    with cluster as client:
        from dkmeans.monitor.scheduler_plugin import register_scheduler_plugin

        observer = _observers(observers, client)
        observer.on_job_start({"name": cfg.name, "config": cfg.public_dict(),
                               "dashboard_link": _dashboard_link(cfg, client),
                               "monitor_page": register_scheduler_plugin(client),
                               "run_id": writer.run_id})
        try:
            # scheduler_guard: observers and the caller hear "scheduler lost", not the
            # cancelled future that told us
            with scheduler_guard(client), writer:
                with _performance_report(cfg.report.performance, writer):
                    metrics, publish = _run(cfg, opened, writer, observer, job_hash)
                publish()
        except BaseException as exc:
            observer.on_job_end({"name": cfg.name, "status": "failed"}, exc)
            raise
        observer.on_job_end(metrics, None)
        return dict(metrics, dashboard_link=_dashboard_link(cfg, client))


def _run(cfg, opened, writer, observer, job_hash):
    clock = PhaseClock(observer)
    dataset, raw, truth, feature_names = opened
    with clock.phase("read"):
        streaming = cfg.model.algorithm == "minibatch"
        if not streaming:
            raw = _persisted(raw)
    with clock.phase("scan"):
        moments = fitting.scan(raw)
        n_skipped = check_input_values(cfg, dataset, moments, feature_names)
    scaler = Scaler.fit(cfg.preprocess.scale, moments)
    fitting.check_magnitude(cfg, moments, scaler, feature_names, raw.dtype)
    X, weights = prepare_features(raw, scaler, skip_nonfinite=n_skipped > 0)
    if not streaming and X is not raw:
        X = X.persist()
        weights = weights.persist() if weights is not None else None
    fitting.check_enough_rows(cfg, dataset.n_rows - n_skipped)

    checkpoint = None
    if cfg.checkpoint.enabled:
        # keyed without the cluster section: a rerun on a replacement cluster (a scheduler
        # at a new address after the old one was lost) resumes
        key = f"{config_hash(cfg, exclude=RUNTIME_ONLY_SECTIONS)[:16]}-{dataset.fingerprint[:16]}"
        checkpoint = CheckpointStore(cfg.output.url, key, cfg.output.storage_options)
    result = fitting.fit(cfg, X, weights, clock=clock, observer=observer,
                         checkpoint=checkpoint)
    model = result.model
    fitting.check_finite_fit(cfg, model, moments, scaler, feature_names, raw.dtype)

    with clock.phase("write-labels"):
        labels, distances = fitting.assignment(model, X, weights)
        writer.stage_labels(dataset, labels, distances if cfg.output.distance else None)
        sizes = fitting.cluster_counts(labels, model.cluster_centers_.shape[0])
    evaluation = None
    if truth is not None:
        with clock.phase("evaluate"):
            evaluation = fitting.evaluate(labels, truth)

    metrics = fitting.metrics(cfg, dataset, model, result, sizes=sizes, n_skipped=n_skipped,
                              evaluation=evaluation, phase_seconds=clock.seconds,
                              run_id=writer.run_id, job_hash=job_hash)
    with clock.phase("write-model"):
        writer.stage_model(model.cluster_centers_, feature_names,
                           **fitting.model_description(cfg, dataset, model, scaler))
        if result.k_selection is not None:
            writer.stage_json("selection.json", {"rule": "highest silhouette",
                                                 "chosen_k": result.chosen_k,
                                                 "candidates": result.k_selection})
        if cfg.report.html:
            from dkmeans.report_builder import build_report

            writer.stage_bytes("report.html", build_report(
                cfg, X, weights, truth, model, result, metrics, scaler, feature_names
            ).encode())
        writer.stage_json("metrics.json", metrics)

    def publish():
        with clock.phase("publish"):
            try:
                writer.publish(input_fingerprint=dataset.fingerprint, config_hash=job_hash)
            except OutputExistsError:
                # another run published first (mode: error): resuming could not change that
                if checkpoint is not None:
                    checkpoint.clear()
                raise
        if checkpoint is not None:
            checkpoint.clear()
        logger.info("published %s: %d rows, k=%d, inertia %.6g", cfg.output.url,
                    dataset.n_rows, model.cluster_centers_.shape[0], model.inertia_)
        metrics["phase_seconds"] = dict(clock.seconds)

    # publishing waits until the performance report (if any) is staged too
    return metrics, publish
