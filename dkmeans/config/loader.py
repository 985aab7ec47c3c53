"""Load a job file in four stages: parse, interpolate, override, validate.

Each stage is its own function in its own module, and each fails with a
:class:`~dkmeans.errors.ConfigError` that names the file and the culprit key:

1. :func:`~dkmeans.config.parse.parse_yaml`: safe YAML, one mapping; syntax errors give
   line and column.
2. :func:`~dkmeans.config.interpolate.interpolate`: ``${VAR}`` / ``${VAR:-default}``;
   an unset variable is named with the key that used it.
3. :func:`~dkmeans.config.overrides.apply_overrides`: ``--set model.n_clusters=12``.
4. :func:`~dkmeans.config.validation.validate_config`: the pydantic schema, with one
   readable line per problem.

Examples
--------
>>> cfg = load_config('''
... name: demo
... input: {url: data/demo-blobs/}
... model:
...   n_clusters: ${K:-8}
... output: {url: out/demo/}
... ''', overrides=["model.random_state=42"], environ={})
>>> cfg.model.n_clusters, cfg.model.random_state
(8, 42)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import cast

from ..errors import ConfigError
from .interpolate import interpolate
from .overrides import apply_overrides
from .parse import parse_yaml, read_source
from .schema import JobConfig, PredictConfig
from .secrets import collect_secrets, redact_text
from .validation import validate_config

__all__ = ["load_any_config", "load_config", "load_predict_config"]

logger = logging.getLogger(__name__)

Schema = type[JobConfig] | type[PredictConfig]


def _load(
    path_or_text: str | os.PathLike[str],
    schema: Schema | None,
    overrides: Sequence[str],
    environ: Mapping[str, str] | None,
) -> JobConfig | PredictConfig:
    text, source = read_source(path_or_text)
    parsed = parse_yaml(text, source=source)
    if schema is None:  # load_any_config: a predict job says so with its predict section
        schema = PredictConfig if "predict" in parsed.data else JobConfig
    data, secrets = interpolate(
        parsed.data,
        os.environ if environ is None else environ,
        source=source,
        positions=parsed.positions,
    )
    try:
        data, overridden = apply_overrides(data, overrides, schema=schema, source=source)
        config = validate_config(
            data, schema, source=source, positions=parsed.positions, overridden=overridden
        )
    except ConfigError as exc:
        # a value that came from a secret (an env variable or a secret key) can land in a
        # message about the key it was wrongly given to: never quote it
        known = set(secrets) | collect_secrets(data) | collect_secrets(
            os.environ if environ is None else environ)
        message = redact_text(str(exc), known)
        if message != str(exc):
            raise ConfigError(message) from None
        raise
    config.remember_secrets(secrets)
    logger.debug(
        "loaded %s %r from %s with %d override(s)",
        schema.__name__,
        config.name,
        source or "text",
        len(overrides),
    )
    return config


def load_config(
    path_or_text: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> JobConfig:
    """Load and validate a fit job.

    Parameters
    ----------
    path_or_text : str or os.PathLike
        A path to a YAML file, or the YAML text itself (a ``str`` over several lines, or a
        one-line ``{...}`` mapping); any other one-line ``str`` is a path.
    overrides : sequence of str, default ()
        ``dotted.key=value`` settings applied after interpolation (``--set``).
    environ : mapping of str to str, optional
        Variables for ``${VAR}``; default ``os.environ``.

    Returns
    -------
    JobConfig

    Raises
    ------
    ConfigError
        For any mistake, naming the file, the key and (where known) the line.
    """
    return cast(JobConfig, _load(path_or_text, JobConfig, overrides, environ))


def load_predict_config(
    path_or_text: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> PredictConfig:
    """Load and validate a predict job (parameters as :func:`load_config`).

    Returns
    -------
    PredictConfig
    """
    return cast(PredictConfig, _load(path_or_text, PredictConfig, overrides, environ))


def load_any_config(
    path_or_text: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> JobConfig | PredictConfig:
    """Load a fit or a predict job, telling them apart by a top-level ``predict`` key.

    For ``dkmeans validate``, which accepts both (parameters as :func:`load_config`).

    Returns
    -------
    JobConfig or PredictConfig
    """
    return _load(path_or_text, None, overrides, environ)
