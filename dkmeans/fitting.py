"""The model steps of a job: scan the data, fit one k or choose k, assign, evaluate, describe.

Each step takes Dask arrays and returns small concrete values; the runner sequences them.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass

import numpy as np

from dkmeans import evaluation
from dkmeans.assign import assign, cluster_sizes
from dkmeans.dist.backend import DaskBackend
from dkmeans.dist.init import uniform_rows
from dkmeans.dist.lloyd import data_moments
from dkmeans.errors import InputDataError

logger = logging.getLogger(__name__)

#: Rows sampled for the silhouette and Davies–Bouldin scores of a k-range job.
SCORE_SAMPLE_ROWS = 2000


@dataclass
class FitOutcome:
    """A fitted model and, for a k-range job, the scores of every k tried."""

    model: object
    seconds: float
    k_selection: list | None = None
    chosen_k: int | None = None


def scan(features):
    """The moments pass: per-feature mean/variance and NaN/inf counts (one read)."""
    return data_moments(DaskBackend(features))


def check_enough_rows(cfg, n_usable):
    """Refuse a k larger than the rows there are to cluster."""
    k_max = max(cfg.model.k_values)
    if n_usable < k_max:
        key = "model.k_range" if cfg.model.k_range else "model.n_clusters"
        raise InputDataError(f"{key}: k={k_max} is larger than the {n_usable} usable row(s) of "
                             f"the input {cfg.input.url}.")


#: Headroom below the dtype's largest value for dot products of rows with centres (the
#: typical size is an estimate, not a bound).
_HEADROOM = 64.0


def _magnitudes(moments, scaler):
    """Typical size per feature after scaling: ``|mean| + 8 std`` (float64, shape (d,))."""
    mean, std = moments.mean, np.sqrt(moments.variance)
    if scaler.kind != "none":
        mean, std = (mean - scaler.mean) / scaler.scale, std / scaler.scale
    return np.abs(mean) + 8.0 * std


def check_magnitude(cfg, moments, scaler, feature_names, dtype):
    """Refuse values whose squared distances would overflow the feature dtype.

    The distance kernel takes the dot products of rows with centres in the feature dtype
    (float32 by default: its largest value is about 3.4e38, so values near 1e19 already
    overflow). Without this check such data give an infinite inertia and meaningless labels.
    """
    size = _magnitudes(moments, scaler)
    limit = float(np.finfo(dtype).max) / _HEADROOM
    if float(np.sum(size**2)) <= limit:
        return
    raise InputDataError(_overflow_message(cfg, size, feature_names, dtype))


def _overflow_message(cfg, size, feature_names, dtype):
    worst = int(np.argmax(size))
    return (f"input: values of column {feature_names[worst]} (about {size[worst]:.3g}) are too "
            f"large: their squared distances overflow {np.dtype(dtype).name} in {cfg.input.url}. "
            "Set input.dtype: float64 or preprocess.scale: standard, or rescale the column.")


def check_finite_fit(cfg, model, moments, scaler, feature_names, dtype):
    """Refuse to publish a fit whose centres or inertia are not finite (an overflow)."""
    if np.isfinite(model.inertia_) and np.isfinite(model.cluster_centers_).all():
        return
    raise InputDataError(_overflow_message(cfg, _magnitudes(moments, scaler), feature_names,
                                           dtype))


def make_estimator(cfg, k):
    """The estimator the config asks for, with ``n_clusters=k``."""
    m = cfg.model
    common = dict(init=m.init, n_init=m.n_init, max_iter=m.max_iter, random_state=m.random_state)
    if m.algorithm == "minibatch":
        from dkmeans import MiniBatchKMeans

        params = dict(common, batch_size=m.batch_size, max_no_improvement=m.max_no_improvement,
                      reassignment_ratio=m.reassignment_ratio, init_size=m.init_size)
        accepted = inspect.signature(MiniBatchKMeans).parameters
        return MiniBatchKMeans(k, **{p: v for p, v in params.items() if p in accepted})
    from dkmeans import KMeans

    return KMeans(k, tol=m.tol, oversampling_factor=m.oversampling_factor,
                  init_rounds=m.init_rounds, **common)


def _fit_one(estimator, X, weights, observer, checkpoint):
    kwargs = {}
    accepted = inspect.signature(estimator.fit).parameters
    if "on_iteration" in accepted:
        kwargs["on_iteration"] = observer.on_iteration
    if checkpoint is not None and "checkpoint" in accepted:
        kwargs["checkpoint"] = checkpoint
    return estimator.fit(X, sample_weight=weights, **kwargs)


def fit(cfg, X, weights, *, clock, observer, checkpoint=None):
    """Fit ``model.n_clusters``, or every k of ``model.k_range`` and keep the best.

    Returns
    -------
    FitOutcome
    """
    started = time.perf_counter()
    if not cfg.model.k_range:
        with clock.phase("fit", total=cfg.model.max_iter):
            model = _fit_one(make_estimator(cfg, cfg.model.n_clusters), X, weights, observer,
                             checkpoint)
        return FitOutcome(model, time.perf_counter() - started)

    sample = _score_sample(X, weights, cfg.model.random_state)
    rows, models = [], {}
    for k in cfg.model.k_values:
        with clock.phase(f"fit-k{k}", total=cfg.model.max_iter):
            model = _fit_one(make_estimator(cfg, k), X, weights, observer, None)
        labels = model.predict(sample)
        rows.append({"k": k, "inertia": float(model.inertia_), "n_iter": int(model.n_iter_),
                     "silhouette": evaluation.silhouette(sample, labels),
                     "davies_bouldin": evaluation.davies_bouldin(sample, labels)})
        models[k] = model
        logger.info("k=%d: inertia %.6g, silhouette %.4f, Davies-Bouldin %.4f", k,
                    rows[-1]["inertia"], rows[-1]["silhouette"], rows[-1]["davies_bouldin"])
    chosen = evaluation.choose_k(rows)
    logger.info("chose k=%d (highest silhouette on a %d-row sample)", chosen, len(sample))
    return FitOutcome(models[chosen], time.perf_counter() - started, rows, chosen)


def _score_sample(X, weights, seed):
    backend = DaskBackend(X, weights)
    rows, _ = uniform_rows(backend, min(SCORE_SAMPLE_ROWS, backend.n_rows),
                           seed=0 if seed is None else seed, stream=60_000)
    return rows


def _skipped_labels(labels, weights):
    return np.where(weights > 0, labels, -1).astype(np.int32)


def _skipped_distances(distances, weights):
    return np.where(weights > 0, distances, np.nan).astype(np.float32)


def assignment(model, X, weights):
    """Labels (int32, -1 for skipped rows) and distances (float32) of every row, persisted.

    A Lloyd fit on Dask input kept them with their chunks in its final pass, so this costs no
    pass over the data; otherwise (mini-batch, several restarts, a loaded model) one
    assignment pass runs.

    Returns
    -------
    labels : dask.array.Array of shape (n,), int32
    distances : dask.array.Array of shape (n,), float32
    """
    import dask
    import dask.array as da

    labels, distances = getattr(model, "labels_", None), getattr(model, "_distances", None)
    if not isinstance(labels, da.Array) or distances is None:
        labels, distances = assign(X, model.cluster_centers_, model._reference_point())
    if weights is not None:
        labels = da.map_blocks(_skipped_labels, labels, weights, dtype=np.int32,
                               token="dkmeans-skipped-labels")
        distances = da.map_blocks(_skipped_distances, distances, weights, dtype=np.float32,
                                  token="dkmeans-skipped-distances")
    return dask.persist(labels, distances)  # one round trip for both


def cluster_counts(labels, k):
    """Rows per cluster, list of int."""
    return [int(s) for s in cluster_sizes(labels, k).compute()]


def _pairs_block(labels, truth):
    return np.array([evaluation.contingency_chunk(labels, truth)], dtype=object)


def evaluate(labels, truth):
    """ARI, NMI and majority-matched accuracy against known classes (one pass)."""
    import dask

    parts = labels.map_blocks(_pairs_block, truth, dtype=object, token="dkmeans-evaluate")
    blocks = dask.compute(*parts.to_delayed().ravel())
    pairs = evaluation.combine_contingency(b[0] for b in blocks)
    scores = evaluation.external_scores(pairs)
    logger.info("against the known classes: ARI %.4f, NMI %.4f, accuracy %.4f",
                scores["adjusted_rand"], scores["normalized_mutual_info"], scores["accuracy"])
    return scores


def model_description(cfg, dataset, model, scaler):
    """What ``model/model.json`` records besides the centres."""
    return dict(algorithm=cfg.model.algorithm, params=cfg.model.model_dump(mode="json"),
                preprocess=scaler.to_dict(), input_fingerprint=dataset.fingerprint,
                inertia=float(model.inertia_), n_iter=int(model.n_iter_), dtype=cfg.input.dtype)


def metrics(cfg, dataset, model, result, *, sizes, n_skipped, evaluation, phase_seconds,
            run_id, job_hash):
    """The content of ``metrics.json``."""
    from dkmeans import __version__

    history = getattr(model, "history_", [])
    return {
        "name": cfg.name, "run_id": run_id, "dkmeans_version": __version__,
        "config_hash": job_hash, "input_fingerprint": dataset.fingerprint,
        "rows": int(dataset.n_rows), "rows_skipped": int(n_skipped),
        "features": int(model.n_features_in_), "n_clusters": int(model.cluster_centers_.shape[0]),
        "algorithm": cfg.model.algorithm, "n_iter": int(model.n_iter_),
        "inertia": float(model.inertia_), "cluster_sizes": sizes,
        "iterations": [{"iteration": r.iteration, "inertia": r.inertia,
                        "center_shift": r.center_shift, "n_empty": r.n_empty,
                        "seconds": r.seconds, "run": r.run} for r in history],
        "k_selection": result.k_selection, "chosen_k": result.chosen_k,
        "evaluation": evaluation, "fit_seconds": result.seconds,
        "phase_seconds": dict(phase_seconds),
    }
