"""Small frozen records that flow out of the drivers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class IterationRecord:
    """What one iteration of a fit did; handed to ``on_iteration`` callbacks.

    Attributes
    ----------
    phase : str
        ``"lloyd"``, ``"minibatch"`` or ``"init"``.
    iteration : int
        1-based iteration (or step) number within the phase.
    inertia : float
        Sum of weighted squared distances to the centres the iteration assigned to.
    center_shift : float
        Sum over centres of the squared distance each centre moved.
    n_empty : int
        Number of empty clusters relocated in this iteration.
    seconds : float
        Wall-clock seconds the iteration took.
    run : int
        Index of the restart (``n_init``) the record belongs to.
    """

    phase: str
    iteration: int
    inertia: float
    center_shift: float
    n_empty: int = 0
    seconds: float = 0.0
    run: int = 0


@dataclass(frozen=True)
class FitResult:
    """The outcome of one fit, in the caller's (uncentred) coordinates.

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features)
    inertia : float
    n_iter : int
    converged : bool
    history : tuple of IterationRecord
    """

    centers: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    history: tuple = field(default_factory=tuple)
