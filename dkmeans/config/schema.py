"""The job schema: what a data engineer writes in a YAML job file.

Two kinds of job share most sections:

- :class:`JobConfig` fits a model: ``name``, ``input``, ``preprocess``, ``model``,
  ``evaluate``, ``cluster``, ``output``, ``report``, ``checkpoint``.
- :class:`PredictConfig` labels new data with the model of a finished fit job: the same
  sections but ``preprocess``, ``model`` and ``checkpoint`` (they come with the saved
  model), plus ``predict: {model_url: ...}``.

Every section rejects unknown keys; only ``storage_options`` accepts anything (it is
handed to fsspec unchanged). Load files with :func:`dkmeans.config.load_config`, which
adds ``${VAR}`` interpolation, ``--set`` overrides and readable errors.

Example
-------
A fit job (only ``name``, ``input.url``, ``model.n_clusters`` or ``model.k_range`` and
``output.url`` are required)::

    name: customer-segments
    input:
      url: s3://lake/customers/2026-11-22/
      features: [recency, frequency, monetary]
      id_columns: [customer_id]
      storage_options: {endpoint_url: "${S3_ENDPOINT}"}
    preprocess: {scale: standard}
    model: {algorithm: lloyd, n_clusters: 8, init: "k-means||", random_state: 42}
    cluster: {n_workers: 2, threads_per_worker: 1, memory_limit: 4GiB}
    output: {url: s3://lake/segments/2026-11-22/, mode: overwrite, distance: true}

>>> cfg = JobConfig.model_validate({
...     "name": "customer-segments",
...     "input": {"url": "data/customers/", "id_columns": ["customer_id"]},
...     "model": {"n_clusters": 8, "random_state": 42},
...     "output": {"url": "out/segments/"},
... })
>>> cfg.model.init, cfg.cluster.n_workers, cfg.input.chunk_bytes
('k-means||', 2, 134217728)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, PrivateAttr, model_validator

from .base import RuleError, Section
from .secrets import collect_secrets, mask_secrets, redact_obj, redact_text
from .sections import (
    CheckpointConfig,
    ClusterConfig,
    EvaluateConfig,
    InputConfig,
    ModelConfig,
    OutputConfig,
    PredictSection,
    PreprocessConfig,
    ReportConfig,
)

__all__ = ["JobConfig", "PredictConfig"]

JobName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class _JobBase(Section):
    """Behaviour common to fit and predict jobs.

    Subclasses declare ``name``, ``input``, ``evaluate``, ``cluster``, ``output`` and
    ``report`` themselves, so that each lists its sections in the order a job file reads.
    """

    if TYPE_CHECKING:  # declared by the subclasses, in reading order
        name: str
        input: InputConfig
        evaluate: EvaluateConfig | None
        output: OutputConfig

    #: Top-level keys that belong to the other kind of job, with the hint to show.
    wrong_kind_hints: ClassVar[dict[str, str]] = {}

    _secrets: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """Read an empty section (``preprocess:`` with every entry commented out) as ``{}``."""
        if isinstance(data, dict):
            empty = [
                key
                for key, field in cls.model_fields.items()
                if data.get(key, ...) is None and field.annotation is not None
                and isinstance(field.annotation, type)
                and issubclass(field.annotation, Section)
            ]
            if empty:
                data = {**data, **{key: {} for key in empty}}
        return data

    @model_validator(mode="after")
    def _distinct_urls(self) -> _JobBase:
        if _same_url(self.input.url, self.output.url):
            raise RuleError(
                "input and output are the same place; the output would overwrite its own input",
                "input.url",
                "output.url",
            )
        return self

    @model_validator(mode="after")
    def _label_not_a_feature(self) -> _JobBase:
        label = self.evaluate.label_column if self.evaluate else None
        if label is not None and label in (self.input.features or ()):
            raise RuleError(
                f"the label column {label!r} is also a feature; the known classes must not "
                "be clustered on",
                "evaluate.label_column",
                "input.features",
            )
        return self

    def remember_secrets(self, values: frozenset[str]) -> None:
        """Record secret values that reached the config by interpolation.

        The loader calls this with the values of secret-looking environment variables
        (``${AWS_SECRET_ACCESS_KEY}``), so they are redacted even where they were
        interpolated into a key that does not look secret.
        """
        self._secrets = frozenset(values)

    def secret_values(self) -> frozenset[str]:
        """Every secret value this config holds, for redacting free text (log lines, errors).

        Returns
        -------
        frozenset of str
            Values under secret keys, passwords inside URLs, and secret environment
            variables interpolated into the config.
        """
        return self._secrets | frozenset(collect_secrets(self.model_dump(mode="json")))

    def __repr__(self) -> str:
        return redact_text(super().__repr__(), self._secrets)

    def __str__(self) -> str:
        return redact_text(super().__str__(), self._secrets)

    def public_dict(self) -> dict[str, Any]:
        """The config as plain JSON-able data with every secret masked as ``"***"``.

        This is the form to log, and to write into manifests, ``metrics.json``,
        ``model.json`` and reports.
        """
        return redact_obj(mask_secrets(self.model_dump(mode="json")), self.secret_values())


class JobConfig(_JobBase):
    """A fit job: read features, cluster them, publish labels, model, metrics and report.

    Attributes
    ----------
    name : str
        Letters, digits, ``_``, ``.`` and ``-`` (up to 100, starting with a letter or a
        digit); used in logs, task names and lock files.
    input : InputConfig
    preprocess : PreprocessConfig
    model : ModelConfig
    evaluate : EvaluateConfig or None
    cluster : ClusterConfig
    output : OutputConfig
    report : ReportConfig
    checkpoint : CheckpointConfig
    """

    name: JobName
    input: InputConfig
    preprocess: PreprocessConfig = PreprocessConfig()
    model: ModelConfig
    evaluate: EvaluateConfig | None = None
    cluster: ClusterConfig = ClusterConfig()
    output: OutputConfig
    report: ReportConfig = ReportConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    wrong_kind_hints: ClassVar[dict[str, str]] = {
        "predict": "'predict' belongs to a predict job; run it with `dkmeans predict`",
    }


class PredictConfig(_JobBase):
    """A predict job: label new data with the model of a finished fit job.

    The scaler, the features and the centroids come from the saved model, so a predict
    job has no ``preprocess``, ``model`` or ``checkpoint`` section. ``input.features``,
    when given, must name the model's features (checked when the model is read).

    Attributes
    ----------
    name, input, evaluate, cluster, output, report
        As in :class:`JobConfig`.
    predict : PredictSection
        ``model_url``: the output of the fit job whose model is applied.
    """

    name: JobName
    input: InputConfig
    predict: PredictSection
    evaluate: EvaluateConfig | None = None
    cluster: ClusterConfig = ClusterConfig()
    output: OutputConfig
    report: ReportConfig = ReportConfig()

    wrong_kind_hints: ClassVar[dict[str, str]] = {
        key: f"a predict job takes its {key} from the saved model at predict.model_url; "
        f"remove '{key}'"
        for key in ("model", "preprocess", "checkpoint")
    }

    @model_validator(mode="after")
    def _model_not_overwritten(self) -> PredictConfig:
        if _same_url(self.predict.model_url, self.output.url):
            raise RuleError(
                "output.url is the model's own folder; the labels would replace the model",
                "output.url",
                "predict.model_url",
            )
        return self
