"""Gathers what ``report.html`` shows from a finished fit: a uniform sample of rows for the
2-D picture (with their clusters and known classes), centres in original units, and the
metrics. One small pass draws the sample; everything else is already known."""

from __future__ import annotations

import numpy as np

from dkmeans.dist.backend import DaskBackend
from dkmeans.dist.init import uniform_rows

#: Rows drawn for the projection picture.
REPORT_SAMPLE_ROWS = 3000


def _sample(X, weights, truth, seed):
    """Uniform sample of rows (skipped rows excluded) and, if known, their classes."""
    backend = DaskBackend(X, weights)
    rows, index = uniform_rows(backend, min(REPORT_SAMPLE_ROWS, backend.n_rows),
                               seed=seed, stream=70_000)
    order = np.argsort(index)
    rows, index = rows[order], index[order]
    classes = None
    if truth is not None:
        classes = np.asarray(truth[index].compute())
    return rows, classes


def build_report(cfg, X, weights, truth, model, result, metrics, scaler, feature_names):
    """The HTML of ``report.html`` for a finished fit job.

    Parameters
    ----------
    cfg : JobConfig
    X : dask.array.Array of shape (n, d)
        The features as fitted (after preprocessing).
    weights : dask.array.Array of shape (n,) or None
    truth : dask.array.Array of shape (n,) or None
        Known classes (``evaluate.label_column``).
    model : fitted KMeans or MiniBatchKMeans
    result : dkmeans.fitting.FitOutcome
    metrics : dict
        The content of ``metrics.json``.
    scaler : dkmeans.preprocess.Scaler
    feature_names : list of str

    Returns
    -------
    str
    """
    from dkmeans.monitor.report import ReportData, render_report

    seed = 0 if cfg.model.random_state is None else cfg.model.random_state
    sample, classes = _sample(X, weights, truth, seed)
    labels = np.asarray(model.predict(sample)) if len(sample) else None
    init = cfg.model.init
    data = ReportData(
        name=cfg.name, n_rows=metrics["rows"] - metrics["rows_skipped"],
        n_features=metrics["features"], n_clusters=metrics["n_clusters"],
        n_iter=metrics["n_iter"], inertia=metrics["inertia"], feature_names=list(feature_names),
        phase_seconds=dict(metrics["phase_seconds"]), n_skipped=metrics["rows_skipped"],
        history=list(getattr(model, "history_", [])), cluster_sizes=metrics["cluster_sizes"],
        centers=scaler.inverse(model.cluster_centers_), sample=scaler.inverse(sample),
        sample_labels=labels, true_labels=classes, k_selection=result.k_selection,
        evaluation=metrics.get("evaluation"), input_url=cfg.input.url,
        output_url=cfg.output.url, run_id=metrics["run_id"],
        algorithm=f"{'MiniBatchKMeans' if cfg.model.algorithm == 'minibatch' else 'KMeans'} "
                  f"({init}, {cfg.model.algorithm})",
        performance_report_url="performance-report.html" if cfg.report.performance else None,
    )
    return render_report(data)
