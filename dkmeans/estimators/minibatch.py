"""``MiniBatchKMeans``: mini-batch k-means (Sculley 2010) with the scikit-learn API, on NumPy or
Dask arrays, including data larger than the cluster's memory (streaming)."""

from __future__ import annotations

import logging
import math
import time
import warnings

import dask.array as da
import numpy as np

from dkmeans.dist.backend import make_backend
from dkmeans.dist.lloyd import final_inertia
from dkmeans.dist.minibatch import (
    MiniBatchConfig,
    StreamRows,
    init_on_sample,
    minibatch_fit,
    open_rows,
)
from dkmeans.dist.minibatch_chunks import LocalExecutor, check_finite_rows, make_executor
from dkmeans.estimators._base import ClusterEstimator, check_float, check_init, check_int
from dkmeans.estimators._predict import PredictMixin
from dkmeans.estimators._validation import (
    check_array,
    check_feature_names,
    check_n_features,
    check_sample_weight,
)
from dkmeans.kernels.minibatch import MiniBatchState, step_on_rows
from dkmeans.kernels.random import resolve_seed
from dkmeans.results import IterationRecord

logger = logging.getLogger(__name__)


class MiniBatchKMeans(PredictMixin, ClusterEstimator):
    """Mini-batch k-means (Sculley 2010): scikit-learn's update on batches drawn across chunks.

    Each step assigns a batch of rows to the nearest centre and moves every centre to the running
    weighted mean of all rows it has been given (per-centre counts, learning rate
    ``weight / count``); starved centres jump to random batch rows; the fit stops early when an
    exponentially weighted average of the batch inertia stops improving. The initial centres are
    computed on a sample of ``init_size`` rows, so initialisation costs no pass over the data
    held in memory (streaming reads it once for the sample, see below).

    How batches are drawn depends on the input:

    - NumPy: ``batch_size`` rows drawn with replacement each step, in this process.
    - Dask array in memory (persisted): the same draws; every chunk sums its drawn rows where it
      lives and only the partial sums are combined on the client. That is one scheduler round
      trip per step (tens of milliseconds): prefer a large ``batch_size``, or
      ``streaming=True``, which runs many steps per task.
    - Dask array not in memory (e.g. read from Parquet): streaming. An epoch reads each chunk once
      in a random order, ``stream_chunks`` chunks at a time; their rows are shuffled where read
      and one task runs the group's steps, each batch taking rows from every chunk of the group.
      Cluster memory holds two groups at most. ``max_iter`` then counts epochs. Files are often
      written sorted or partitioned by a key, so that a chunk holds a few clusters only;
      therefore the sample that seeds the centres is drawn from every chunk (one more read of
      the data, group by group), and no centre is reassigned and early stopping does not end
      the fit before every chunk has been read once.

    Random draws are keyed by the seed and the step number: a fixed ``random_state`` gives
    bitwise-identical centres on rerun and for any number of workers.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {'k-means||', 'k-means++', 'random'} or ndarray of shape (n_clusters, n_features), \
default 'k-means||'
        Computed on the initialisation sample.
    max_iter : int, default 100
        Maximum number of passes over the data (epochs); sampled fits run at most
        ``max_iter * n_samples // batch_size`` steps, as scikit-learn does.
    batch_size : int, default 1024
    verbose : int, default 0
        Log every step's batch inertia at INFO level when positive.
    compute_labels : bool, default True
        After fitting, compute ``labels_`` and ``inertia_`` on the whole data (one more pass);
        otherwise ``inertia_`` is the smoothed batch inertia scaled to the data.
    random_state : int, numpy Generator or RandomState, default None
    tol : float, default 0.0
        Stop when a step moves the centres by at most ``tol`` times the mean feature variance
        (summed squared change; variance of the initialisation sample). 0 disables.
    max_no_improvement : int or None, default 10
        Stop after this many steps without improvement of the smoothed batch inertia.
    init_size : int, optional
        Rows of the initialisation sample; default ``3 * batch_size`` (at least
        ``3 * n_clusters``). Streaming draws it from every chunk in proportion to its rows;
        with an array ``init`` (the sample then only sets the centring point and ``tol``),
        from the first group of chunks read.
    n_init : 'auto' or int, default 'auto'
        Initialisations tried on the sample (each scored on another ``init_size`` rows); the
        best is kept. 'auto' is 3 for 'random' and 1 otherwise, as in scikit-learn.
    reassignment_ratio : float, default 0.01
        Centres whose total weight is below this fraction of the largest move to random rows
        of the batch. When streaming, only from the second epoch on.
    streaming : {'auto', True, False}, default 'auto'
        'auto' streams a Dask array whose chunks are not in memory. False on such an array
        loads it whole into cluster memory, then samples batches from it.
    stream_chunks : int, default 4
        Chunks read per group when streaming (memory: about two groups).
    oversampling_factor : float, default 2.0
    init_rounds : int, default 2
        k-means|| settings, as in :class:`~dkmeans.KMeans`.
    n_threads : int, optional
        Threads for the final labelling pass on in-memory input.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,), int32, or a Dask array for Dask input
        Only with ``compute_labels``.
    inertia_ : float
    n_iter_ : int
        Passes over the data started (``ceil(rows processed / n_samples)``).
    n_steps_ : int
        Mini-batch steps (cumulative over ``partial_fit`` calls).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when the input had string column names.

    Notes
    -----
    Unlike scikit-learn, which samples rows with probability proportional to their weight, rows
    are drawn uniformly and weights enter the update (as in scikit-learn's ``partial_fit``).
    ``partial_fit`` on a block larger than ``batch_size`` makes one pass over it in batches
    (scikit-learn makes one step with the whole block as the batch); on a block no larger than a
    batch it is scikit-learn's single step. Its state (centres, per-centre counts, step counter,
    seed) lives in the estimator: pickling it checkpoints the fit.

    Examples
    --------
    >>> import numpy as np
    >>> from dkmeans import MiniBatchKMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = MiniBatchKMeans(n_clusters=2, batch_size=6, random_state=0).fit(X)
    >>> sorted(np.round(km.cluster_centers_).tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    """

    def __init__(self, n_clusters=8, *, init="k-means||", max_iter=100, batch_size=1024,
                 verbose=0, compute_labels=True, random_state=None, tol=0.0,
                 max_no_improvement=10, init_size=None, n_init="auto", reassignment_ratio=0.01,
                 streaming="auto", stream_chunks=4, oversampling_factor=2.0, init_rounds=2,
                 n_threads=None):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.streaming = streaming
        self.stream_chunks = stream_chunks
        self.oversampling_factor = oversampling_factor
        self.init_rounds = init_rounds
        self.n_threads = n_threads

    # -- parameters ---------------------------------------------------------------------------
    def _validated_params(self, n_samples, n_features):
        owner = type(self).__name__
        k = check_int("n_clusters", self.n_clusters, owner, low=1)
        batch = check_int("batch_size", self.batch_size, owner, low=1)
        p = dict(
            k=k, batch=min(batch, n_samples),
            max_iter=check_int("max_iter", self.max_iter, owner, low=1),
            tol=check_float("tol", self.tol, owner, low=0.0),
            ratio=check_float("reassignment_ratio", self.reassignment_ratio, owner, low=0.0),
            stream_chunks=check_int("stream_chunks", self.stream_chunks, owner, low=1),
            oversampling=check_float("oversampling_factor", self.oversampling_factor, owner,
                                     low=0.0, low_open=True),
            rounds=check_int("init_rounds", self.init_rounds, owner, low=1),
            verbose=check_int("verbose", int(self.verbose) if isinstance(self.verbose, bool)
                              else self.verbose, owner, low=0))
        p["n_threads"] = None if self.n_threads is None else check_int(
            "n_threads", self.n_threads, owner, low=1)
        p["max_no_improvement"] = None if self.max_no_improvement is None else check_int(
            "max_no_improvement", self.max_no_improvement, owner, low=0)
        if not isinstance(self.compute_labels, (bool, np.bool_)):
            raise ValueError(f"The 'compute_labels' parameter of {owner} must be an instance of "
                             f"'bool'. Got {self.compute_labels!r} instead.")
        if not (self.streaming == "auto" or isinstance(self.streaming, (bool, np.bool_))):
            raise ValueError(f"The 'streaming' parameter of {owner} must be 'auto' or a bool. "
                             f"Got {self.streaming!r} instead.")
        p["init"], p["n_init"] = self._validated_init(k, n_features, owner)
        init_size = None if self.init_size is None else check_int("init_size", self.init_size,
                                                                  owner, low=1)
        if init_size is None:
            init_size = 3 * p["batch"] if 3 * p["batch"] >= k else 3 * k
        elif init_size < k:
            warnings.warn(f"init_size={init_size} should be larger than n_clusters={k}. "
                          "Setting it to min(3*n_clusters, n_samples)", RuntimeWarning,
                          stacklevel=3)
            init_size = 3 * k
        p["init_size"] = min(init_size, n_samples)
        # several restarts are seeded on init_size rows and compared on as many others
        p["sample_size"] = p["init_size"] * (2 if p["n_init"] > 1 else 1)
        # a named init seeds the centres from the sample; given centres need only its mean
        p["sample_seeds_centers"] = isinstance(p["init"], str)
        return p

    def _validated_init(self, k, n_features, owner):
        return check_init(self, k, n_features, random_restarts=3)

    def _config(self, p):
        return MiniBatchConfig(batch_size=p["batch"], max_iter=p["max_iter"],
                               reassignment_ratio=p["ratio"], tol=p["tol"],
                               max_no_improvement=p["max_no_improvement"])

    def _make_state(self, p, seed):
        def make(sample, sample_w):
            n_fit = min(p["init_size"], sample.shape[0])
            centers, shift = init_on_sample(
                sample, sample_w, p["k"], init=p["init"], n_init=p["n_init"], seed=seed,
                oversampling_factor=p["oversampling"], init_rounds=p["rounds"], n_fit=n_fit)
            return MiniBatchState.start(centers, shift, seed)
        return make

    def _step_callback(self, p, on_iteration):
        last = {"time": time.perf_counter(), "outcome": None}

        def on_step(step, outcome):
            now = time.perf_counter()
            last["outcome"] = outcome
            if p["verbose"]:
                logger.info("Minibatch step %d: mean batch inertia %.6g, %d reassigned", step,
                            outcome.inertia / max(outcome.n_rows, 1), outcome.n_reassigned)
            if on_iteration is not None:
                on_iteration(IterationRecord("minibatch", step, outcome.inertia,
                                             outcome.center_shift, outcome.n_reassigned,
                                             now - last["time"], 0))
            last["time"] = now
        return on_step, last

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, *, on_iteration=None):
        """Compute the centres from mini-batches of ``X``.

        Parameters
        ----------
        X : array-like, DataFrame, Dask array or Dask DataFrame of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
        on_iteration : callable, optional
            Called with an :class:`~dkmeans.results.IterationRecord` (phase ``"minibatch"``)
            for every step; when streaming, a group's records arrive together when its task
            returns.

        Returns
        -------
        self
        """
        X, names = check_array(X, estimator_name=type(self).__name__)
        n = X.shape[0]
        p = self._validated_params(n, X.shape[1])
        if n < p["k"]:
            raise ValueError(f"n_samples={n} should be >= n_clusters={p['k']}.")
        weights = check_sample_weight(sample_weight, X)
        seed = resolve_seed(self.random_state)
        rows = open_rows(X, weights, streaming=self.streaming, stream_chunks=p["stream_chunks"])
        try:
            on_step, last = self._step_callback(p, on_iteration)
            result = minibatch_fit(rows, self._config(p), seed=seed, init_size=p["sample_size"],
                                   make_state=self._make_state(p, seed),
                                   seeds_centers=p["sample_seeds_centers"], on_step=on_step)
            X, weights = rows.X, rows.w
        finally:
            rows.close()
        check_feature_names(self, names, reset=True)
        self.n_features_in_ = X.shape[1]
        self._publish(result.state, X.dtype)
        self.n_steps_ = result.n_steps
        self.n_iter_ = int(math.ceil(result.n_rows / n))
        if self.compute_labels:
            self.labels_, self.inertia_ = self._labels_inertia(X, weights)
        else:
            self.__dict__.pop("labels_", None)
            monitor, outcome = result.monitor, last["outcome"]
            per_row = monitor.ewa_inertia if monitor is not None and \
                monitor.ewa_inertia is not None else outcome.inertia / max(outcome.n_rows, 1)
            total_w = n if weights is None else float(weights.sum())
            self.inertia_ = float(per_row * total_w)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the centres with one block of rows (one pass over it in mini-batches).

        The first call initialises the centres on a sample of the block.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        owner = type(self).__name__
        fitted = hasattr(self, "_state")
        X, names = check_array(X, estimator_name=owner)
        if fitted:
            check_feature_names(self, names, reset=False)
            check_n_features(self, X)
        weights = check_sample_weight(sample_weight, X)
        p = self._validated_params(X.shape[0], X.shape[1])
        if isinstance(X, da.Array):
            rows = StreamRows(X, weights, make_executor(True), stream_chunks=p["stream_chunks"])
        else:
            check_finite_rows(X)
            rows = StreamRows(X, weights, LocalExecutor())
        try:
            n = rows.n_rows
            state = self._state if fitted else self._first_state(rows, p, n)
            before = state.n_steps
            on_step, _ = self._step_callback(p, None)
            if rows.in_memory and n <= p["batch"]:  # scikit-learn's step: the block is the batch
                on_step(before + 1, step_on_rows(state, X, weights,
                                                 reassignment_ratio=p["ratio"]))
            else:
                state = rows.run(state, self._config(p), tol=0.0, early_stop=False,
                                 max_passes=1, on_step=on_step).state
            X, weights = rows.X, rows.w
        finally:
            rows.close()
        if not fitted:
            check_feature_names(self, names, reset=True)
            self.n_features_in_ = X.shape[1]
        self._publish(state, X.dtype)
        self.n_steps_ = getattr(self, "n_steps_", 0) + state.n_steps - before
        if self.compute_labels:
            self.labels_, self.inertia_ = self._labels_inertia(X, weights)
        return self

    def _first_state(self, rows, p, n):
        if n < p["k"]:
            raise ValueError(f"n_samples={n} should be >= n_clusters={p['k']}.")
        seed = resolve_seed(self.random_state)
        sample, sample_w = rows.init_sample(seed, p["sample_size"],
                                            seeds_centers=p["sample_seeds_centers"])
        return self._make_state(p, seed)(sample, sample_w)

    def _publish(self, state, dtype):
        self._state = state
        self._shift = state.shift
        self._counts = state.counts
        self.cluster_centers_ = (state.centers + state.shift).astype(dtype)

    def _labels_inertia(self, X, weights):
        """Labels (lazy for Dask input, as ``predict`` computes them) and the inertia of the
        fitted centres (one pass)."""
        backend = make_backend(X, weights, n_threads=self.n_threads)
        centers = (self.cluster_centers_.astype(np.float64) - self._shift)[None]
        inertia = float(final_inertia(backend, centers, shift=self._shift)[0])
        if not np.isfinite(inertia):
            raise ValueError("Input X contains NaN or infinity.")
        return self._labels_for(backend, X), inertia
