"""Keep credentials out of logs, manifests, reports and error messages.

Two complementary tools:

- :func:`mask_secrets` works on structure: in a deep copy of nested dicts and lists, the
  value of every *secret-looking key* becomes ``"***"``, and passwords embedded in URLs
  (``s3://user:pw@host``, ``?X-Amz-Signature=...``) are masked wherever they appear.
- :func:`redact_text` works on free text (a log line, an exception message): every
  occurrence of a known secret value is replaced by ``"***"``. :func:`collect_secrets`
  finds those values in a config or an environment mapping.

Which keys are secret
---------------------
A key is split into lower-case words (``aws_secret_access_key`` -> ``aws secret access
key``, ``secretAccessKey`` -> ``secret access key``). It is secret when

- any word is one of ``secret``, ``token``, ``password``, ``passwd``, ``pwd``,
  ``passphrase``, ``credential(s)``, ``apikey``, ``auth``, ``authorization``, ``cookie``,
  ``signature``, ``privatekey``; or
- its last word is ``key``/``keys``, or it ends in ``key id`` (``key``, ``api_key``,
  ``access_key``, ``account_key``, ``aws_access_key_id``); or
- it is ``connection_string`` (Azure connection strings embed the account key).

So ``key``, ``secret``, ``token``, ``session_token``, ``password``, ``api_key``,
``access_key`` and ``aws_secret_access_key`` are masked, while ``id_columns``,
``key_columns`` or ``monkey`` are not: ``key`` must be the *last* word, and words match
whole, never as substrings. ``None`` values are left as ``None`` (nothing to hide, and
"not set" stays visible).

Examples
--------
>>> mask_secrets({"storage_options": {"key": "AKIA1", "secret": "s3cr3t", "anon": False},
...               "id_columns": ["customer_id"]})
{'storage_options': {'key': '***', 'secret': '***', 'anon': False}, 'id_columns': ['customer_id']}
>>> redact_text("auth failed for s3cr3t-value", {"s3cr3t-value"})
'auth failed for ***'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "collect_secrets",
    "is_secret_key",
    "mask_secrets",
    "mask_url_credentials",
    "redact_obj",
    "redact_text",
]

MASK = "***"

_SECRET_WORDS = frozenset(
    {
        "secret",
        "secrets",
        "token",
        "tokens",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "signature",
        "privatekey",
    }
)
_SECRET_LAST_WORDS = frozenset({"key", "keys"})
_SECRET_WHOLE_KEYS = frozenset({"connection_string", "connectionstring", "conn_str"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")
# scheme://user:password@host  -> the password part
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)(?=@)")
# ?name=value or &name=value in a URL query
_QUERY_PARAM = re.compile(r"(?P<head>[?&](?P<name>[^=&#\s]+)=)(?P<value>[^&#\s]*)")


def _words(key: str) -> list[str]:
    return _WORD.findall(_CAMEL.sub("_", key).lower())


def is_secret_key(key: object) -> bool:
    """Whether the value stored under ``key`` must be masked (see the module docstring).

    Parameters
    ----------
    key : object
        A mapping key or an environment variable name; anything but a ``str`` is not secret.

    Returns
    -------
    bool
    """
    if not isinstance(key, str):
        return False
    words = _words(key)
    if not words:
        return False
    if "_".join(words) in _SECRET_WHOLE_KEYS:
        return True
    if any(word in _SECRET_WORDS for word in words):
        return True
    return words[-1] in _SECRET_LAST_WORDS or words[-2:] == ["key", "id"]


def mask_url_credentials(text: str) -> str:
    """Mask a password in ``scheme://user:password@...`` and secret query parameters.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        ``text`` with the password part of URLs, and the values of query parameters whose
        names are secret keys (``token``, ``X-Amz-Signature``, ...), replaced by ``"***"``.
    """
    text = _URL_USERINFO.sub(lambda m: m.group("head") + MASK, text)

    def query(match: re.Match[str]) -> str:
        if is_secret_key(match.group("name")) and match.group("value"):
            return match.group("head") + MASK
        return match.group(0)

    return _QUERY_PARAM.sub(query, text)


def mask_secrets(obj: Any) -> Any:
    """Return a deep copy of ``obj`` with secret values replaced by ``"***"``.

    Parameters
    ----------
    obj : Any
        Nested dicts, lists and tuples of plain values (a config's JSON form, a manifest).

    Returns
    -------
    Any
        A copy of the same shape (tuples become lists): values under secret keys are
        ``"***"`` (whatever their type, except ``None``), URL credentials in strings are
        masked, everything else is copied unchanged. ``obj`` itself is not modified.
    """
    if isinstance(obj, Mapping):
        return {
            key: (MASK if is_secret_key(key) and value is not None else mask_secrets(value))
            for key, value in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [mask_secrets(item) for item in obj]
    if isinstance(obj, str):
        return mask_url_credentials(obj)
    return obj


def collect_secrets(obj: Any) -> set[str]:
    """Find the secret values held in ``obj``, to redact them from free text later.

    Parameters
    ----------
    obj : Any
        Nested dicts and lists (a config's JSON form) or a flat mapping such as
        ``os.environ``.

    Returns
    -------
    set of str
        Every non-empty scalar found under a secret key (numbers as their text), and the
        passwords embedded in URLs anywhere in ``obj``.
    """
    found: set[str] = set()
    _collect(obj, under_secret=False, found=found)
    return found


def _collect(obj: Any, *, under_secret: bool, found: set[str]) -> None:
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            _collect(value, under_secret=under_secret or is_secret_key(key), found=found)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _collect(item, under_secret=under_secret, found=found)
    elif isinstance(obj, str):
        if under_secret and obj:
            found.add(obj)
        found.update(m.group("pw") for m in _URL_USERINFO.finditer(obj))
        found.update(
            m.group("value")
            for m in _QUERY_PARAM.finditer(obj)
            if m.group("value") and is_secret_key(m.group("name"))
        )
    elif under_secret and isinstance(obj, (int, float)) and not isinstance(obj, bool):
        found.add(str(obj))


def redact_text(text: str, secrets: Iterable[str], *, min_length: int = 4) -> str:
    """Replace every occurrence of known secret values in ``text`` by ``"***"``.

    Parameters
    ----------
    text : str
        A log line, an error message, a report.
    secrets : iterable of str
        Secret values, e.g. from :func:`collect_secrets` or ``JobConfig.secret_values()``.
    min_length : int, default 4
        Values shorter than this are not searched for in free text: a two-letter
        "password" would otherwise blank out ordinary words. They are still masked by key
        in structured output (:func:`mask_secrets`).

    Returns
    -------
    str
        ``text`` with the secrets (longest first, so a secret that contains another is
        masked whole) and URL credentials masked.
    """
    for secret in sorted({s for s in secrets if len(s) >= min_length}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return mask_url_credentials(text)


def redact_obj(obj: Any, secrets: Iterable[str], *, min_length: int = 4) -> Any:
    """Apply :func:`redact_text` to every string in nested dicts and lists.

    Parameters
    ----------
    obj : Any
        Nested dicts, lists and plain values.
    secrets : iterable of str
        Secret values to remove.
    min_length : int, default 4
        As in :func:`redact_text`.

    Returns
    -------
    Any
        A copy of ``obj`` (tuples become lists).
    """
    values = frozenset(secrets)
    if isinstance(obj, Mapping):
        return {k: redact_obj(v, values, min_length=min_length) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v, values, min_length=min_length) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, values, min_length=min_length)
    return obj
