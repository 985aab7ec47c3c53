"""Mini-batch k-means (Sculley 2010) on rows held in memory: scikit-learn's update and bookkeeping.

One step, as in scikit-learn's ``_mini_batch_step``:

1. assign the batch's rows to the nearest centre and sum them per centre (the partial sums of a
   Lloyd pass, :func:`~dkmeans.kernels.partials.chunk_partials`, so a batch spread over several
   chunks is the combine of their partials);
2. move every centre that got weight to the running weighted mean of all rows it has ever been
   given: ``c <- (c * n_c + sum_batch) / (n_c + w_batch)``; ``n_c`` is the centre's total weight
   so far, so the learning rate of each row is ``w / n_c`` (Sculley's per-centre ``1/count``);
3. every ``10 * k`` rows (or at once while a centre has no weight) centres whose count is below
   ``reassignment_ratio * max(counts)`` jump to rows of the batch chosen at random, and their
   count is reset to the smallest count kept, so they are not reassigned again at once.

Early stopping follows scikit-learn's ``_mini_batch_convergence``: an exponentially weighted
average (EWA) of the per-row batch inertia, stopping after ``max_no_improvement`` steps without a
new minimum, or when the squared centre change of a step is at most ``tol``.

Everything works in centred coordinates (rows and centres minus ``shift``), like the Lloyd
kernels. Random choices are keyed (:mod:`dkmeans.kernels.random`) by the step number, so a state
and a seed fully determine what happens next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dkmeans.kernels.partials import chunk_partials
from dkmeans.kernels.random import keyed_uniform, stream_key

#: Stream numbers of the keyed draws (disjoint from those of the Lloyd/k-means|| drivers).
STREAM_BATCH = 1 << 40          # + step: rows of a sampled batch
STREAM_REASSIGN = 2 << 40       # + step: batch rows that reassigned centres jump to
STREAM_CHUNK_ORDER = 3 << 40    # + pass: order of chunks in a streaming epoch
STREAM_SHUFFLE = 4 << 40        # + pass: order of rows inside each chunk in a streaming epoch
STREAM_INIT = 5 << 40           # rows of the initialisation sample


@dataclass
class MiniBatchState:
    """Everything a mini-batch fit needs to go on where it stopped (what ``partial_fit`` keeps).

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features), float64
        Centres, centred on ``shift``.
    counts : ndarray of shape (n_clusters,), float64
        Total sample weight each centre has been given (scikit-learn's ``_counts``).
    shift : ndarray of shape (n_features,), float64
        The point the coordinates are centred on (mean of the initialisation sample).
    seed : int
        Seed of every keyed draw.
    n_steps : int
        Steps done so far; keys the next step's draws.
    n_since_reassign : int
        Rows seen since the last reassignment check.
    n_passes : int
        Streaming epochs (or ``partial_fit`` blocks) started; keys their shuffles.
    """

    centers: np.ndarray
    counts: np.ndarray
    shift: np.ndarray
    seed: int
    n_steps: int = 0
    n_since_reassign: int = 0
    n_passes: int = 0

    @classmethod
    def start(cls, centers, shift, seed):
        """A fresh state from uncentred initial centres of shape (k, d)."""
        shift = np.asarray(shift, dtype=np.float64)
        centers = np.asarray(centers, dtype=np.float64) - shift
        return cls(centers, np.zeros(centers.shape[0]), shift, int(seed))


@dataclass(frozen=True)
class StepOutcome:
    """What one step did: ``inertia`` of the batch before the update (weighted), the summed
    squared ``center_shift``, rows in the batch and centres reassigned."""

    inertia: float
    center_shift: float
    n_rows: int
    n_reassigned: int


def batch_partials(X, centers, shift, sample_weight=None):
    """Per-centre sums, weights and inertia of one batch (or one chunk's share of it).

    Parameters
    ----------
    X : ndarray of shape (b, d), float32 or float64
        Uncentred rows.
    centers : ndarray of shape (k, d)
        Centred centres.
    shift : ndarray of shape (d,)
    sample_weight : ndarray of shape (b,), optional

    Returns
    -------
    Partials
        With one group and no far rows; combine shares with ``combine_partials``.
    """
    return chunk_partials(X, np.asarray(centers)[None], shift, sample_weight, n_far=0)


def minibatch_update(centers, counts, sums, batch_counts):
    """scikit-learn's per-centre update: running weighted means with learning rate ``w / n_c``.

    Parameters
    ----------
    centers : ndarray of shape (k, d), float64
    counts : ndarray of shape (k,), float64
        Weight each centre had before the batch.
    sums : ndarray of shape (k, d), float64
        Weighted sums of the batch rows assigned to each centre (same coordinates as centres).
    batch_counts : ndarray of shape (k,), float64
        Weight of the batch rows assigned to each centre.

    Returns
    -------
    centers : ndarray of shape (k, d), float64
        New array; centres given no weight keep their position.
    counts : ndarray of shape (k,), float64
    """
    hit = batch_counts > 0
    new_counts = counts + batch_counts
    new = np.array(centers, dtype=np.float64, copy=True)
    # undo the count scaling, add the batch, rescale by the new count (as scikit-learn does)
    rate = 1.0 / new_counts[hit]
    new[hit] = (centers[hit] * counts[hit, None] + sums[hit]) * rate[:, None]
    return new, new_counts


def reassignment_due(counts, n_since, batch_rows):
    """scikit-learn's ``_random_reassign``: check for starved centres every ``10 * k`` rows,
    or at once while a centre has no weight.

    Returns
    -------
    due : bool
    n_since : int
        Updated count of rows since the last check.
    """
    n_since += batch_rows
    if (counts == 0).any() or n_since >= 10 * counts.shape[0]:
        return True, 0
    return False, n_since


def reassignment_mask(counts, reassignment_ratio, batch_rows):
    """Centres to reassign: count below ``reassignment_ratio * max(counts)``, at most half a batch
    of them (the lowest counts).

    Returns
    -------
    ndarray of shape (k,), bool
    """
    mask = counts < reassignment_ratio * counts.max()
    if mask.sum() > 0.5 * batch_rows:
        mask[np.argsort(counts, kind="stable")[int(0.5 * batch_rows):]] = False
    return mask


def reassign_positions(seed, step, batch_rows, n):
    """``n`` distinct positions in a batch of ``batch_rows``, uniformly, keyed by the step."""
    draws = keyed_uniform(stream_key(seed, STREAM_REASSIGN + step), 0, batch_rows)
    return np.argsort(draws, kind="stable")[:n]


def apply_step(state, sums, batch_counts, inertia, batch_rows, *, due, reassignment_ratio,
               fetch_rows):
    """Update ``state`` in place with one batch's reduced partial sums.

    Parameters
    ----------
    state : MiniBatchState
    sums : ndarray of shape (k, d)
    batch_counts : ndarray of shape (k,)
    inertia : float
    batch_rows : int
    due : bool
        From :func:`reassignment_due`, evaluated before the step (as scikit-learn does).
    reassignment_ratio : float
    fetch_rows : callable
        ``fetch_rows(positions) -> ndarray (m, d)``: uncentred batch rows at those positions.

    Returns
    -------
    StepOutcome
    """
    old = state.centers
    centers, counts = minibatch_update(old, state.counts, sums, batch_counts)
    n_reassigned = 0
    if due and reassignment_ratio > 0:
        mask = reassignment_mask(counts, reassignment_ratio, batch_rows)
        n_reassigned = int(mask.sum())
        if n_reassigned:
            positions = reassign_positions(state.seed, state.n_steps, batch_rows, n_reassigned)
            centers[mask] = np.asarray(fetch_rows(positions), dtype=np.float64) - state.shift
            if (~mask).any():  # never too small, or they would be reassigned again at once
                counts[mask] = counts[~mask].min()
    moved = float(((centers - old) ** 2).sum())
    state.centers, state.counts = centers, counts
    state.n_steps += 1
    return StepOutcome(float(inertia), moved, int(batch_rows), n_reassigned)


def step_on_rows(state, X, sample_weight=None, *, reassignment_ratio):
    """One complete step on a batch held in memory (scikit-learn's ``_mini_batch_step``).

    Parameters
    ----------
    state : MiniBatchState
        Updated in place.
    X : ndarray of shape (b, d)
        Uncentred batch.
    sample_weight : ndarray of shape (b,), optional
    reassignment_ratio : float

    Returns
    -------
    StepOutcome
    """
    b = X.shape[0]
    due, state.n_since_reassign = reassignment_due(state.counts, state.n_since_reassign, b)
    p = batch_partials(X, state.centers, state.shift, sample_weight)
    return apply_step(state, p.sums[0], p.counts[0], p.inertia[0], b, due=due,
                      reassignment_ratio=reassignment_ratio, fetch_rows=lambda pos: X[pos])


@dataclass
class EarlyStopping:
    """scikit-learn's ``_mini_batch_convergence``: EWA of the batch inertia and centre change.

    Parameters
    ----------
    batch_size : int
    n_samples : int
        Rows in the data (sets the EWA's smoothing ``alpha = 2 * batch_size / (n + 1)``).
    tol : float
        Absolute bound on a step's summed squared centre change; 0 disables.
    max_no_improvement : int or None
        Steps without a new EWA minimum before stopping; None disables.
    """

    batch_size: int
    n_samples: int
    tol: float
    max_no_improvement: int | None
    n_updates: int = 0
    ewa_inertia: float | None = None
    ewa_inertia_min: float | None = None
    no_improvement: int = 0

    def update(self, outcome):
        """Record one step; True when the fit should stop.

        Parameters
        ----------
        outcome : StepOutcome
        """
        self.n_updates += 1
        batch_inertia = outcome.inertia / max(outcome.n_rows, 1)
        if self.n_updates == 1:  # the first batch's inertia is the initialisation's
            return False
        if self.ewa_inertia is None:
            self.ewa_inertia = batch_inertia
        else:
            alpha = min(self.batch_size * 2.0 / (self.n_samples + 1), 1.0)
            self.ewa_inertia = self.ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if self.tol > 0.0 and outcome.center_shift <= self.tol:
            return True
        if self.ewa_inertia_min is None or self.ewa_inertia < self.ewa_inertia_min:
            self.no_improvement = 0
            self.ewa_inertia_min = self.ewa_inertia
        else:
            self.no_improvement += 1
        return self.max_no_improvement is not None and \
            self.no_improvement >= self.max_no_improvement


def batch_indices(seed, step, n_rows, batch_size):
    """Global row indices of a sampled batch: ``batch_size`` uniform draws with replacement.

    Returns
    -------
    ndarray of shape (batch_size,), int64
    """
    u = keyed_uniform(stream_key(seed, STREAM_BATCH + step), 0, batch_size)
    return np.minimum((u * n_rows).astype(np.int64), n_rows - 1)


def sample_indices(seed, n_rows, size, stream=STREAM_INIT):
    """``size`` distinct row indices chosen uniformly (all rows when ``size >= n_rows``), in
    the order drawn; costs O(size) unless ``size`` is a large part of ``n_rows``.

    Returns
    -------
    ndarray of shape (min(size, n_rows),), int64
    """
    if size >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    key = stream_key(seed, stream)
    if size * 4 >= n_rows:
        return np.argsort(keyed_uniform(key, 0, n_rows), kind="stable")[:size].astype(np.int64)
    drawn = np.empty(0, dtype=np.int64)
    start = 0
    while True:  # draws with replacement, duplicates dropped; rarely more than one round
        more = 2 * size
        u = keyed_uniform(key, start, more)
        start += more
        drawn = np.concatenate([drawn, np.minimum((u * n_rows).astype(np.int64), n_rows - 1)])
        _, first = np.unique(drawn, return_index=True)
        if len(first) >= size:
            return drawn[np.sort(first)[:size]]


def shuffled_rows(seed, n_pass, row_offset, n_rows):
    """A keyed permutation of a chunk's rows for one streaming pass.

    Returns
    -------
    ndarray of shape (n_rows,), int64
    """
    u = keyed_uniform(stream_key(seed, STREAM_SHUFFLE + n_pass), row_offset, n_rows)
    return np.argsort(u)  # draws are distinct 53-bit values: no ties to break


def chunk_order(seed, n_pass, n_chunks):
    """A keyed random order of the chunks for one streaming pass, shape (n_chunks,)."""
    u = keyed_uniform(stream_key(seed, STREAM_CHUNK_ORDER + n_pass), 0, n_chunks)
    return np.argsort(u, kind="stable")


def step_bounds(n_rows, n_steps):
    """Row bounds of each step's share of a chunk split into ``n_steps`` near-equal slices.

    Returns
    -------
    ndarray of shape (n_steps + 1,), int64
        Step ``j`` takes rows ``bounds[j]:bounds[j + 1]``.
    """
    return (np.arange(n_steps + 1, dtype=np.int64) * n_rows) // n_steps
