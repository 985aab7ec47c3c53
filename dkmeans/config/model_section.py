"""The ``model`` section: which k-means, which k, and how it is fitted."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from .base import Float, Int, RuleError, Section, changed

__all__ = ["KMEANS_PARALLEL_ONLY", "MINIBATCH_ONLY", "ModelConfig"]

MINIBATCH_ONLY = ("batch_size", "max_no_improvement", "reassignment_ratio", "init_size")
KMEANS_PARALLEL_ONLY = ("oversampling_factor", "init_rounds")


def _n_init(value: object) -> object:
    if value == "auto":
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"expected 'auto' or a whole number of at least 1; got {value!r}")


class ModelConfig(Section):
    """The clustering model and how it is fitted.

    Exactly one of ``n_clusters`` and ``k_range`` is given. Keys that only one algorithm or
    one init uses are refused when changed from their default for the other (``batch_size``
    with ``lloyd``, ``oversampling_factor`` with ``k-means++``): dkmeans never accepts a
    setting it would ignore.

    Attributes
    ----------
    algorithm : {"lloyd", "minibatch"}, default "lloyd"
        Full-pass Lloyd iterations, or mini-batch k-means (Sculley 2010).
    n_clusters : int, optional
        k, at least 1.
    k_range : [int, int], optional
        Fit every k from ``low`` to ``high`` inclusive (2 <= low < high) and choose one.
    init : {"k-means||", "k-means++", "random"}, default "k-means||"
        k-means|| is Bahmani et al. 2012's parallel k-means++.
    n_init : int or "auto", default "auto"
        Restarts, keeping the lowest inertia; ``auto`` is 1 for k-means|| and k-means++,
        10 for random (scikit-learn's rule), see :meth:`resolved_n_init`.
    max_iter : int, default 300
        Lloyd iterations, or mini-batch epochs over the data.
    tol : float, default 1e-4
        Convergence when the total squared centre shift is at most tol times the mean
        feature variance (scikit-learn's semantics); 0 means only strict convergence.
    random_state : int, optional
        Seed in [0, 2**32 - 1]; with it, results do not depend on workers or chunking.
    oversampling_factor : float, default 2.0
        k-means|| samples oversampling_factor * k candidates per round.
    init_rounds : int, default 2
        k-means|| sampling rounds.
    batch_size : int, default 1024
        Mini-batch: rows per batch.
    max_no_improvement : int or None, default 10
        Mini-batch: stop after this many batches without improvement of the smoothed
        inertia; ``None`` disables early stopping.
    reassignment_ratio : float, default 0.01
        Mini-batch: centres whose count falls below this fraction of the largest are
        reassigned.
    init_size : int, optional
        Mini-batch: rows sampled to initialise (default: 3 * batch_size, at least 3 * k).
    """

    algorithm: Literal["lloyd", "minibatch"] = "lloyd"
    n_clusters: Int | None = Field(default=None, ge=1)
    k_range: tuple[Int, Int] | None = None
    init: Literal["k-means||", "k-means++", "random"] = "k-means||"
    n_init: Annotated[int | Literal["auto"], BeforeValidator(_n_init)] = "auto"
    max_iter: Int = Field(default=300, ge=1)
    tol: Float = Field(default=1e-4, ge=0)
    random_state: Int | None = Field(default=None, ge=0, le=2**32 - 1)
    oversampling_factor: Float = Field(default=2.0, gt=0)
    init_rounds: Int = Field(default=2, ge=1)
    batch_size: Int = Field(default=1024, ge=1)
    max_no_improvement: Int | None = Field(default=10, ge=0)
    reassignment_ratio: Float = Field(default=0.01, ge=0)
    init_size: Int | None = Field(default=None, ge=1)

    @field_validator("k_range")
    @classmethod
    def _k_range_ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 2 <= value[0] < value[1]:
            raise ValueError(
                f"expected [low, high] with 2 <= low < high; got {list(value)}"
            )
        return value

    @model_validator(mode="after")
    def _one_k(self) -> ModelConfig:
        if (self.n_clusters is None) == (self.k_range is None):
            state = "both are set" if self.n_clusters is not None else "neither is set"
            raise RuleError(
                f"give exactly one of n_clusters (one k) and k_range ([low, high] to choose k); "
                f"{state}",
                "n_clusters",
                "k_range",
            )
        return self

    @model_validator(mode="after")
    def _no_ignored_keys(self) -> ModelConfig:
        unused: list[tuple[str, str]] = []
        if self.algorithm != "minibatch":
            unused += [(key, "algorithm: minibatch") for key in MINIBATCH_ONLY]
        if self.init != "k-means||":
            unused += [(key, "init: k-means||") for key in KMEANS_PARALLEL_ONLY]
        culprits = [(key, need) for key, need in unused if changed(self, key)]
        if culprits:
            keys = [key for key, _ in culprits]
            needs = sorted({need for _, need in culprits})
            verb = "applies" if len(keys) == 1 else "apply"
            raise RuleError(
                f"{', '.join(keys)} {verb} only with {' / '.join(needs)} "
                f"(algorithm is {self.algorithm!r}, init is {self.init!r}); remove "
                f"{'it' if len(keys) == 1 else 'them'}",
                *keys,
            )
        return self

    @property
    def k_values(self) -> list[int]:
        """The values of k to fit: ``[n_clusters]`` or every k in ``k_range`` inclusive."""
        if self.k_range is not None:
            low, high = self.k_range
            return list(range(low, high + 1))
        assert self.n_clusters is not None  # guaranteed by validation
        return [self.n_clusters]

    def resolved_n_init(self) -> int:
        """``n_init`` with ``"auto"`` resolved: 10 for ``init: random``, else 1."""
        if self.n_init == "auto":
            return 10 if self.init == "random" else 1
        return self.n_init
