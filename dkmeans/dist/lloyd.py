"""The Lloyd driver: one pass and one compute per iteration, on any backend.

Each iteration sends the current centres into the graph once (as one key), every chunk
returns its partial sums, a fixed tree combines them, and the client finalises the new centres.
Several restarts (``n_groups``) iterate side by side in the same pass until each converges.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from dkmeans.kernels.moments import chunk_moments, combine_moments
from dkmeans.kernels.partials import chunk_partials, combine_partials, finalize_centers
from dkmeans.results import IterationRecord

logger = logging.getLogger(__name__)


def _moments_chunk(x, w, offset):
    return chunk_moments(x, offset, w)


def _lloyd_chunk(x, w, offset, centers, shift, lean=False):
    return chunk_partials(x, centers, shift, w, row_offset=offset, lean=lean)


def _partials_nbytes(centers, lean):
    """About the size of one chunk's :class:`Partials`: the sums, plus the far rows if full."""
    return centers.nbytes * (1 if lean else 2)


def data_moments(backend):
    """One pass: per-feature mean and variance, and the count of non-finite rows.

    Returns
    -------
    Moments
    """
    return backend.reduce(_moments_chunk, combine_moments, phase="moments",
                          result_nbytes=32 * backend.n_features)


def lloyd(backend, centers, *, shift, tol, max_iter, on_iteration=None, run_offset=0,
          start_iteration=0, n_iter=None, converged=None, on_state=None, sum_wxn=None):
    """Lloyd iterations from given centres until each restart converges.

    Convergence follows scikit-learn: a restart stops when its centres no longer move
    (labels unchanged, hence identical sums) or when the total squared centre shift is at most
    ``tol`` (already scaled by the mean feature variance).

    Parameters
    ----------
    backend : LocalBackend or DaskBackend
    centers : ndarray of shape (n_groups, k, d)
        Starting centres in centred coordinates.
    shift : ndarray of shape (d,)
        The data mean.
    tol : float
        Absolute tolerance on the total squared centre shift.
    max_iter : int
    on_iteration : callable, optional
        Called with an :class:`IterationRecord` after every iteration of every restart.
    run_offset : int
        Added to the restart index in the records.
    start_iteration : int, default 0
        Iterations already done (when resuming from a checkpoint).
    n_iter, converged : ndarray of shape (n_groups,), optional
        Their values at ``start_iteration`` when resuming.
    on_state : callable, optional
        ``on_state(iteration, centers, n_iter, converged, sum_wxn)`` after every iteration,
        with the exact (centred, float64) state a resumed run continues from bit for bit.
    sum_wxn : float, optional
        ``sum(w * |x - shift|^2)`` when resuming (else measured by the first iteration).

    Notes
    -----
    The first iteration runs the full kernel, which also measures ``sum_wxn``, the part of
    the inertia that no centre changes; later iterations run the lean kernel (no per-row
    ``|x - shift|^2``, no far rows) and add it. An iteration that leaves a cluster empty is
    run again with the full kernel on the same centres, to find the rows to relocate.

    Returns
    -------
    centers : ndarray of shape (n_groups, k, d), centred
    n_iter : ndarray of shape (n_groups,), int
    converged : ndarray of shape (n_groups,), bool
    """
    centers = np.array(centers, dtype=np.float64)
    n_groups = centers.shape[0]
    n_iter = np.zeros(n_groups, dtype=np.int64) if n_iter is None else np.array(n_iter)
    converged = np.zeros(n_groups, dtype=bool) if converged is None else np.array(converged)
    active = np.flatnonzero(~converged)
    for iteration in range(start_iteration + 1, max_iter + 1):
        if len(active) == 0:
            break
        started = time.perf_counter()
        current = centers[active]
        lean = sum_wxn is not None
        # the one synchronisation of the iteration: the new centres need every chunk's sums
        partials = backend.reduce(_lloyd_chunk, combine_partials,
                                  args=(current, shift, lean), phase="lloyd",
                                  result_nbytes=_partials_nbytes(current, lean))
        if lean and (partials.counts <= 0).any():
            # rare: an empty cluster needs the rows farthest from their centres
            partials = backend.reduce(_lloyd_chunk, combine_partials,
                                      args=(current, shift, False), phase="lloyd-relocate",
                                      result_nbytes=_partials_nbytes(current, False))
            lean = False
        if lean:
            inertia = partials.inertia + sum_wxn
        else:
            inertia = partials.inertia
            sum_wxn = partials.sum_wxn
        new, moved, n_empty = finalize_centers(partials, current)
        seconds = time.perf_counter() - started
        centers[active] = new
        n_iter[active] = iteration
        done = np.zeros(len(active), dtype=bool)
        for pos, group in enumerate(active):
            record = IterationRecord("lloyd", iteration, float(inertia[pos]),
                                     float(moved[pos]), int(n_empty[pos]), seconds,
                                     int(group) + run_offset)
            logger.debug("lloyd run %d iteration %d: inertia %.6g, shift %.3g",
                         record.run, iteration, record.inertia, record.center_shift)
            if on_iteration is not None:
                on_iteration(record)
            done[pos] = moved[pos] <= tol
        converged[active[done]] = True
        active = active[~done]
        if on_state is not None:
            on_state(iteration, centers, n_iter, converged, sum_wxn)
    return centers, n_iter, converged


def _assign_chunk(x, w, offset, centers, shift):
    return chunk_partials(x, centers, shift, w, row_offset=offset, n_far=0)


def _final_chunk(x, w, offset, state, centers, shift):
    partials, labels, min_d2 = chunk_partials(x, centers, shift, w, row_offset=offset,
                                              n_far=0, return_labels=True)
    return (labels[0], np.sqrt(min_d2[0]).astype(np.float32)), partials


def _labels_of(state):
    return state[0]


def _distances_of(state):
    return state[1]


def final_pass(backend, centers, *, shift):
    """One pass: inertia of one set of centres, and every row's label and distance.

    On a Dask backend these stay with their chunks (futures on the workers), so using the
    labels later costs no pass; in memory they come back as arrays.

    Parameters
    ----------
    centers : ndarray of shape (1, k, d), centred

    Returns
    -------
    inertia : float
    labels : dask.array.Array or ndarray of shape (n,), int32
    distances : dask.array.Array or ndarray of shape (n,), float32
        Euclidean distance of each row to its centre.
    """
    state, partials = backend.reduce_with_state(_final_chunk, combine_partials, None,
                                                args=(centers, shift), phase="labels")
    labels = backend.state_rows(state, _labels_of, dtype=np.int32, phase="labels-state")
    distances = backend.state_rows(state, _distances_of, dtype=np.float32,
                                   phase="distances-state")
    return float(partials.inertia[0]), labels, distances


def final_inertia(backend, centers, *, shift):
    """One pass: the inertia of every restart's centres (the final E-step's cost).

    Parameters
    ----------
    centers : ndarray of shape (n_groups, k, d), centred

    Returns
    -------
    ndarray of shape (n_groups,), float64
    """
    partials = backend.reduce(_assign_chunk, combine_partials, args=(centers, shift),
                              phase="inertia", result_nbytes=_partials_nbytes(centers, True))
    return partials.inertia
