"""A stable fingerprint of a job config, to recognise reruns of the same job.

The hash is the SHA-256 of the config's canonical JSON (keys sorted, no whitespace,
defaults filled in) with secrets masked: rotating a credential does not make a new job,
and the hash itself can be published in manifests. Two files that differ only in
formatting, comments, key order or spelled-out defaults give the same hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from .schema import JobConfig, PredictConfig

__all__ = ["RUNTIME_ONLY_SECTIONS", "canonical_json", "config_hash"]

RUNTIME_ONLY_SECTIONS = ("cluster", "report")
"""Sections that change how a job runs but not its result (results do not depend on the
number of workers); pass as ``exclude`` to match a checkpoint across cluster changes."""

_VERSION = "dkmeans-config-1"


def canonical_json(config: JobConfig | PredictConfig, *, exclude: Iterable[str] = ()) -> str:
    """The config as canonical JSON, secrets masked.

    Parameters
    ----------
    config : JobConfig or PredictConfig
    exclude : iterable of str, default ()
        Top-level sections to leave out.

    Returns
    -------
    str
    """
    data = config.public_dict()
    for section in exclude:
        data.pop(section, None)
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def config_hash(config: JobConfig | PredictConfig, *, exclude: Iterable[str] = ()) -> str:
    """SHA-256 (hex) of :func:`canonical_json`, prefixed by a format version.

    Parameters
    ----------
    config : JobConfig or PredictConfig
    exclude : iterable of str, default ()
        Top-level sections to leave out, e.g. :data:`RUNTIME_ONLY_SECTIONS`.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    text = _VERSION + "\n" + canonical_json(config, exclude=exclude)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
