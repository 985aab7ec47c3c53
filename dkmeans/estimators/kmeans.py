"""``KMeans``: full Lloyd k-means with k-means|| initialisation and the scikit-learn API."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from dkmeans.dist.backend import make_backend
from dkmeans.dist.init import kmeans_parallel, kmeans_plusplus_init, random_init
from dkmeans.dist.lloyd import data_moments, final_inertia, final_pass, lloyd
from dkmeans.estimators._base import ClusterEstimator, check_float, check_init, check_int
from dkmeans.estimators._predict import PredictMixin
from dkmeans.estimators._validation import (
    check_array,
    check_magnitude,
    check_feature_names,
    check_sample_weight,
)
from dkmeans.kernels.random import resolve_seed, stream_key

logger = logging.getLogger(__name__)



class KMeans(PredictMixin, ClusterEstimator):
    """K-means clustering by Lloyd's algorithm, on NumPy or Dask arrays.

    Each iteration is one pass over the data: every chunk computes its per-cluster sums,
    counts and inertia in one compiled loop, a fixed-order tree reduction combines them and the
    new centres are computed on the client. Initialisation defaults to k-means|| (Bahmani et
    al. 2012), whose candidates are reclustered several times so one pass buys the robustness
    of restarts. Random draws are keyed by global row index: a fixed ``random_state`` gives the
    same centres whatever the chunking or number of workers.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {'k-means||', 'k-means++', 'random'} or ndarray of shape (n_clusters, n_features), \
default 'k-means||'
        'k-means++' runs on all rows of in-memory data, and on a uniform sample of at most
        100,000 rows of a Dask array.
    n_init : 'auto' or int, default 'auto'
        Restarts, run side by side in the same passes; the lowest inertia wins. 'auto' is 10
        for 'random' and 1 otherwise (as in scikit-learn).
    max_iter : int, default 300
    tol : float, default 1e-4
        Relative tolerance: iterations stop when the total squared centre shift is at most
        ``tol`` times the mean feature variance.
    random_state : int, numpy Generator or RandomState, default None
    algorithm : {'lloyd', 'elkan'}, default 'lloyd'
        Accepted for scikit-learn compatibility; both run Lloyd's algorithm, which reaches
        the same centres as Elkan's (Elkan's is an exact speed-up of it).
    oversampling_factor : float, default 2.0
        k-means|| samples ``oversampling_factor * n_clusters`` rows per round on average
        (at least 16, so that a small ``n_clusters`` still draws enough candidates).
    init_rounds : int, default 2
        k-means|| sampling rounds.
    n_threads : int, optional
        Threads for in-memory input; default all CPUs. Dask input uses the current Dask
        client if there is one, the local threaded scheduler otherwise.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        In the input's dtype (float32 stays float32).
    labels_ : ndarray of shape (n_samples,), int32, or a Dask array for Dask input
    inertia_ : float
        Sum of weighted squared distances of rows to their centre.
    n_iter_ : int
        Iterations of the retained restart.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when the input had string column names.
    history_ : list of IterationRecord
        Per-iteration inertia, centre shift and timing of every restart.

    Examples
    --------
    >>> import numpy as np
    >>> from dkmeans import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    """

    def __init__(self, n_clusters=8, *, init="k-means||", n_init="auto", max_iter=300,
                 tol=1e-4, random_state=None, algorithm="lloyd", oversampling_factor=2.0,
                 init_rounds=2, n_threads=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.algorithm = algorithm
        self.oversampling_factor = oversampling_factor
        self.init_rounds = init_rounds
        self.n_threads = n_threads

    # -- parameters ---------------------------------------------------------------------------
    def _validated_params(self, n_features):
        owner = type(self).__name__
        k = check_int("n_clusters", self.n_clusters, owner, low=1)
        max_iter = check_int("max_iter", self.max_iter, owner, low=1)
        tol = check_float("tol", self.tol, owner, low=0.0)
        oversampling = check_float("oversampling_factor", self.oversampling_factor, owner,
                                   low=0.0, low_open=True)
        rounds = check_int("init_rounds", self.init_rounds, owner, low=1)
        if self.algorithm not in ("lloyd", "elkan"):
            raise ValueError(f"The 'algorithm' parameter of {owner} must be a str among "
                             f"{{'lloyd', 'elkan'}}. Got {self.algorithm!r} instead.")
        init, n_init = check_init(self, k, n_features, random_restarts=10)
        n_threads = None if self.n_threads is None else check_int(
            "n_threads", self.n_threads, owner, low=1)
        return dict(k=k, max_iter=max_iter, tol=tol, oversampling=oversampling,
                    rounds=rounds, init=init, n_init=n_init, n_threads=n_threads)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, *, on_iteration=None, checkpoint=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like, DataFrame, Dask array or Dask DataFrame of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
        on_iteration : callable, optional
            Called with an :class:`~dkmeans.results.IterationRecord` after each iteration.
        checkpoint : object with ``load() -> dict | None`` and ``save(state: dict)``, optional
            Lloyd state is saved after every iteration; if ``load`` returns a state saved by a
            fit with the same parameters on the same data, the fit resumes from it and ends
            with bitwise the same result as an uninterrupted fit.

        Returns
        -------
        self
        """
        X, names = check_array(X, estimator_name=type(self).__name__)
        params = self._validated_params(X.shape[1])
        if X.shape[0] < params["k"]:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={params['k']}.")
        weights = check_sample_weight(sample_weight, X)
        seed = resolve_seed(self.random_state)
        backend = make_backend(X, weights, n_threads=params["n_threads"])
        try:
            moments = data_moments(backend)
            if moments.n_nonfinite:
                raise ValueError(f"Input X contains NaN or infinity: {moments.n_nonfinite} row(s), "
                                 f"the first at row {moments.first_nonfinite}.")
            check_magnitude(moments, X.dtype)
            if weights is not None and not moments.weight_sum > 0:
                raise ValueError("Sample weights must contain at least one non-zero number.")
            shift = moments.mean
            tol = params["tol"] * float(np.mean(moments.variance))

            state = _usable_checkpoint(checkpoint, shift, params, seed)
            if state is None:
                state = dict(iteration=0, n_iter=None, converged=None, history=[],
                             centers=self._initial_centers(backend, params, seed, shift) - shift)
            else:
                logger.info("resuming from the checkpoint of iteration %d", state["iteration"])
            history = list(state["history"])
            callback = history.append if on_iteration is None else (
                lambda r: (history.append(r), on_iteration(r)))
            on_state = None if checkpoint is None else (
                lambda it, c, n, cv, wxn: checkpoint.save(dict(
                    kind="kmeans-lloyd", iteration=it, centers=c.copy(), n_iter=n.copy(),
                    converged=cv.copy(), history=list(history), shift=shift, seed=seed,
                    params=_checkpoint_params(params), sum_wxn=wxn)))
            centers, n_iter, _ = lloyd(backend, state["centers"], shift=shift, tol=tol,
                                       max_iter=params["max_iter"], on_iteration=callback,
                                       start_iteration=state["iteration"], n_iter=state["n_iter"],
                                       converged=state["converged"], on_state=on_state,
                                       sum_wxn=state.get("sum_wxn"))
            labels = distances = None
            if centers.shape[0] > 1:
                inertias = final_inertia(backend, centers, shift=shift)
            else:  # one restart: labels, distances and inertia from the same final pass
                inertia, labels, distances = final_pass(backend, centers, shift=shift)
                inertias = np.array([inertia])
            best = int(np.argmin(inertias))
            best_centers = centers[best] + shift

            check_feature_names(self, names, reset=True)
            self.n_features_in_ = X.shape[1]
            self.cluster_centers_ = best_centers.astype(X.dtype)
            self._shift = shift
            self.inertia_ = float(inertias[best])
            self.n_iter_ = int(n_iter[best])
            self.history_ = history
            self.labels_ = labels if labels is not None else self._labels_for(backend, X)
        finally:  # the direct-pass actors go even when the fit raises
            backend.close()
        # each row's distance to its centre when the final pass produced it (for the job
        # runner's distance column), else None
        self._distances = distances
        self._check_distinct_clusters()
        return self

    def _initial_centers(self, backend, params, seed, shift):
        """Starting centres of every restart, shape (n_init, k, d), uncentred."""
        init, k = params["init"], params["k"]
        if not isinstance(init, str):
            return init[None].copy()
        starts = []
        for run in range(params["n_init"]):
            run_seed = seed if run == 0 else int(stream_key(seed, 50_000 + run) >> np.uint64(1))
            if init == "k-means||":
                starts.append(kmeans_parallel(backend, k, seed=run_seed, shift=shift,
                                              oversampling_factor=params["oversampling"],
                                              rounds=params["rounds"]))
            elif init == "k-means++":
                starts.append(kmeans_plusplus_init(backend, k, seed=run_seed, shift=shift))
            else:
                starts.append(random_init(backend, k, seed=run_seed))
        return np.stack(starts)

    def _check_distinct_clusters(self):
        distinct = len(np.unique(self.cluster_centers_, axis=0))
        if distinct < self.cluster_centers_.shape[0]:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                f"({self.cluster_centers_.shape[0]}). Possibly due to duplicate points in X.",
                ConvergenceWarning, stacklevel=3)


def _checkpoint_params(params):
    """The parameters that must match for a checkpoint to be resumed."""
    init = params["init"]
    return dict(k=params["k"], tol=params["tol"], n_init=params["n_init"],
                oversampling=params["oversampling"], rounds=params["rounds"],
                init=init if isinstance(init, str) else np.asarray(init).tolist())


def _usable_checkpoint(checkpoint, shift, params, seed):
    """The saved Lloyd state if it belongs to this fit (same data mean, parameters, seed)."""
    if checkpoint is None:
        return None
    state = checkpoint.load()
    if not state or state.get("kind") != "kmeans-lloyd":
        return None
    same = (np.array_equal(np.asarray(state["shift"]), shift) and state.get("seed") == seed
            and state.get("params") == _checkpoint_params(params))
    if not same:
        logger.warning("ignoring a checkpoint saved by a different fit")
        return None
    return state


class ConvergenceWarning(UserWarning):
    """The fit found fewer distinct clusters than asked for, or did not converge."""
