"""One pydantic model per section of a job config.

Every model rejects unknown keys; defaults are chosen so that a minimal job needs only
``name``, ``input.url``, ``model.n_clusters`` (or ``model.k_range``) and ``output.url``.
The ``model`` and ``cluster`` sections, which carry more rules, have modules of their own
and are re-exported here. The job-level models that assemble the sections live in
:mod:`dkmeans.config.schema`.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from .base import JsonDict, NonEmptyStr, RuleError, Section
from .cluster_section import ClusterConfig, TlsConfig
from .model_section import ModelConfig
from .units import parse_size

__all__ = [
    "CheckpointConfig",
    "ClusterConfig",
    "EvaluateConfig",
    "InputConfig",
    "ModelConfig",
    "OutputConfig",
    "PredictSection",
    "PreprocessConfig",
    "ReportConfig",
    "TlsConfig",
]

FILTER_OPS = ("=", "==", "!=", "<", ">", "<=", ">=", "in", "not in")


def _size(value: object) -> object:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return parse_size(value)
    return value


def _is_condition(item: object) -> bool:
    return (
        isinstance(item, (list, tuple))
        and len(item) == 3
        and isinstance(item[0], str)
        and item[1] in FILTER_OPS
    )


def _filters(value: object) -> object:
    """Normalise pyarrow-style filters to disjunctive normal form (a list of AND-groups)."""
    if value is None:
        return None
    expected = (
        "expected a list of [column, op, value] conditions (all must hold), or a list of such "
        f"lists (any list may hold), op one of {', '.join(FILTER_OPS)}"
    )
    if not isinstance(value, list) or not value:
        raise ValueError(f"{expected}; got {value!r}")
    if all(_is_condition(item) for item in value):
        groups = [value]
    elif all(isinstance(g, list) and g and all(_is_condition(c) for c in g) for g in value):
        groups = value
    else:
        raise ValueError(f"{expected}; got {value!r}")
    return [[tuple(condition) for condition in group] for group in groups]


def _unique(values: list[str] | None, what: str) -> list[str] | None:
    if values is not None:
        repeated = sorted(name for name, count in Counter(values).items() if count > 1)
        if repeated:
            raise ValueError(f"{what} must be unique; {repeated} repeated")
    return values


class InputConfig(Section):
    """Where the features come from.

    Attributes
    ----------
    url : str
        A Parquet file, folder, glob or ``s3://`` prefix (relative paths are relative to
        the working directory of the job, not to the config file).
    features : list of str, optional
        Feature columns. Default: every numeric column except ``id_columns`` and
        ``evaluate.label_column``.
    id_columns : list of str, default []
        Columns copied next to the label in the output.
    storage_options : dict, default {}
        Handed to fsspec unchanged (credentials, ``endpoint_url``, ...).
    nan_policy : {"error", "skip"}, default "error"
        ``error`` stops the job naming the count and the first offending file; ``skip``
        keeps the row out of the fit and writes it with a null label.
    filters : list, optional
        Row filters in pyarrow's form, normalised to a list of AND-groups of
        ``(column, op, value)``; rows matching any group are read.
    dtype : {"float32", "float64"}, default "float32"
        Floating type of the features during the fit.
    chunk_bytes : int, default 128 MiB
        Target size of one chunk of features in memory; accepts ``"128MiB"`` etc.
    """

    url: NonEmptyStr
    features: list[NonEmptyStr] | None = Field(default=None, min_length=1)
    id_columns: list[NonEmptyStr] = []
    storage_options: JsonDict = {}
    nan_policy: Literal["error", "skip"] = "error"
    filters: Annotated[list[list[tuple[str, str, Any]]] | None, BeforeValidator(_filters)] = None
    dtype: Literal["float32", "float64"] = "float32"
    chunk_bytes: Annotated[int, BeforeValidator(_size), Field(gt=0)] = 128 * 2**20

    @field_validator("features")
    @classmethod
    def _features_unique(cls, value: list[str] | None) -> list[str] | None:
        return _unique(value, "feature names")

    @field_validator("id_columns")
    @classmethod
    def _ids_unique(cls, value: list[str]) -> list[str]:
        return _unique(value, "id column names")

    @model_validator(mode="after")
    def _ids_not_features(self) -> InputConfig:
        both = sorted(set(self.features or ()) & set(self.id_columns))
        if both:
            raise RuleError(
                f"{both} listed both as features and as id columns; a column is one or the other",
                "features",
                "id_columns",
            )
        return self


class PreprocessConfig(Section):
    """What is done to the features before the fit (stored in the model for ``predict``).

    Attributes
    ----------
    scale : {"none", "standard"}, default "none"
        ``standard``: centre each feature and divide by its standard deviation, both
        computed in one distributed pass.
    """

    scale: Literal["none", "standard"] = "none"


class EvaluateConfig(Section):
    """Compare the clusters with known classes (ARI, NMI, accuracy after matching labels).

    Attributes
    ----------
    label_column : str
        Input column holding the known class; never used as a feature.
    """

    label_column: NonEmptyStr


class OutputConfig(Section):
    """Where labels, model, metrics and report are published.

    Attributes
    ----------
    url : str
        Output folder or ``s3://`` prefix; ``_SUCCESS`` is written there last.
    mode : {"error", "overwrite"}, default "error"
        ``error`` refuses to replace a published result; ``overwrite`` replaces it only once
        the new one is complete.
    distance : bool, default False
        Also write each row's distance to its centroid.
    storage_options : dict, default {}
        Handed to fsspec unchanged.
    """

    url: NonEmptyStr
    mode: Literal["error", "overwrite"] = "error"
    distance: bool = False
    storage_options: JsonDict = {}


class ReportConfig(Section):
    """Extra outputs next to the labels.

    Attributes
    ----------
    html : bool, default True
        ``report.html`` with plots of the fit.
    performance : bool, default False
        Dask's ``performance_report`` (an HTML file) of the whole job.
    """

    html: bool = True
    performance: bool = False


class CheckpointConfig(Section):
    """Saving fit state so a crashed job resumes.

    Attributes
    ----------
    enabled : bool, default True
        Save centroids (and mini-batch state) after each iteration under the output's
        staging area; a rerun of the same job on the same input resumes from the last one.
    """

    enabled: bool = True


class PredictSection(Section):
    """The model a predict job applies.

    Attributes
    ----------
    model_url : str
        The ``output.url`` of a finished fit job (the folder holding ``_SUCCESS`` and
        ``model/``); a result without ``_SUCCESS`` is refused.
    storage_options : dict, default {}
        Handed to fsspec unchanged when reading the model.
    """

    model_url: NonEmptyStr
    storage_options: JsonDict = {}
