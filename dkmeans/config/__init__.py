"""Job configuration: the schema, YAML loading, ``${ENV}`` interpolation, ``--set``
overrides, and keeping secrets out of what is logged.

>>> from dkmeans.config import load_config          # doctest: +SKIP
>>> cfg = load_config("configs/demo.yaml", overrides=["model.n_clusters=12"])  # doctest: +SKIP
"""

from .fingerprint import RUNTIME_ONLY_SECTIONS, canonical_json, config_hash
from .loader import load_any_config, load_config, load_predict_config
from .schema import JobConfig, PredictConfig
from .secrets import collect_secrets, is_secret_key, mask_secrets, redact_text
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
    TlsConfig,
)
from .units import parse_duration, parse_size

__all__ = [
    "RUNTIME_ONLY_SECTIONS",
    "CheckpointConfig",
    "ClusterConfig",
    "EvaluateConfig",
    "InputConfig",
    "JobConfig",
    "ModelConfig",
    "OutputConfig",
    "PredictConfig",
    "PredictSection",
    "PreprocessConfig",
    "ReportConfig",
    "TlsConfig",
    "canonical_json",
    "collect_secrets",
    "config_hash",
    "is_secret_key",
    "load_any_config",
    "load_config",
    "load_predict_config",
    "mask_secrets",
    "parse_duration",
    "parse_size",
    "redact_text",
]
