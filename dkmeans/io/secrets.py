"""A last guard against credentials landing in written files.

dkmeans never writes ``storage_options`` on purpose. This module checks the files the client
writes (JSON, model, manifest, caller's extra files) for the values of secret-looking storage
options and environment variables before they are staged, so that a caller who puts a
credential into, say, the model parameters gets an error instead of a leak. The error names the
option or variable, never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from dkmeans.errors import StorageError

#: Storage option names that hold credentials (s3fs's ``key`` is the access key id).
_SECRET_NAME = re.compile(r"(secret|token|password|passwd|credential|key|auth)", re.I)
_NOT_SECRET_NAME = re.compile(r"(region|endpoint|profile|kms_key_id|sse_customer_algorithm)", re.I)
#: Environment variable names that hold credentials (``GPG_KEY`` and the like are not).
_SECRET_ENV = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|API_KEY|PRIVATE_KEY)",
                         re.I)
#: Shorter values are not checked: they would match by chance.
MIN_SECRET_LENGTH = 8


def _is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET_NAME.search(name)


def _walk(options: Mapping, prefix: str = ""):
    for key, value in options.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _walk(value, name + ".")
        elif isinstance(value, str):
            yield name, value


def secret_values(storage_options: Mapping | None = None, *, environ: Mapping | None = None
                  ) -> dict[str, str]:
    """Secret-looking values to keep out of files, keyed by where they come from.

    Parameters
    ----------
    storage_options : mapping, optional
        Options (nested mappings included) whose keys look secret: ``key``, ``secret``,
        ``token``, ``password``, ``aws_secret_access_key``, ...
    environ : mapping, optional
        Environment to scan the same way; default ``os.environ``.

    Returns
    -------
    dict of str to str
        Name (``storage_options.secret`` or ``$AWS_SECRET_ACCESS_KEY``) to value; only values
        of at least :data:`MIN_SECRET_LENGTH` characters.
    """
    out = {}
    for name, value in _walk(storage_options or {}):
        if _is_secret_name(name.rsplit(".", 1)[-1]) and len(value) >= MIN_SECRET_LENGTH:
            out[f"storage_options.{name}"] = value
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_ENV.search(name) and len(value) >= MIN_SECRET_LENGTH:
            out[f"${name}"] = value
    return out


def check_no_secrets(data: bytes, where: str, secrets: Mapping[str, str]) -> None:
    """Raise :class:`StorageError` if ``data`` contains any of ``secrets``' values.

    The message names ``where`` and the secret's source, never the value.
    """
    for name, value in secrets.items():
        if value.encode() in data:
            raise StorageError(
                f"Refusing to write {where}: it contains the value of {name}, a credential. "
                "Remove it from what is being saved."
            )
