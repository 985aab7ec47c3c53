"""One handle on storage: a URL plus the fsspec options to reach it, safe to ship and to print.

``storage_options`` often hold credentials (``key``, ``secret``, ``token``, ``password``). They are
passed to :func:`fsspec.core.url_to_fs` unchanged and go nowhere else: a :class:`StorageHandle`
travels inside Dask tasks (pickled with its options, so workers can open the files), but its
``repr`` — which Dask and distributed print in task descriptions and in "Compute Failed" log
lines — shows only how many options there are, never their values. Task keys are built from
paths and tokens that never include the options.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from dkmeans.errors import StorageError

logger = logging.getLogger(__name__)

_GLOB_CHARS = re.compile(r"[*?\[]")


def has_glob(path: str) -> bool:
    """Whether ``path`` holds a glob pattern character (``*``, ``?`` or ``[``)."""
    return bool(_GLOB_CHARS.search(path))


def join(root: str, relpath: str) -> str:
    """Join a storage path and a ``/``-separated relative path."""
    relpath = relpath.lstrip("/")
    return f"{root.rstrip('/')}/{relpath}" if relpath else root.rstrip("/")


class StorageHandle:
    """A storage location (``url``) and the options that open it.

    Parameters
    ----------
    url : str
        Local path, ``file://`` or any fsspec URL such as ``s3://bucket/prefix``.
    storage_options : dict, optional
        Passed to :func:`fsspec.core.url_to_fs` unchanged. Never printed, logged or written.

    Attributes
    ----------
    url : str
        The URL as given.
    """

    __slots__ = ("url", "_options", "_fs", "_root")

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        if not isinstance(url, str) or not url:
            raise StorageError(f"A storage URL must be a non-empty string; got {url!r}.")
        self.url = url
        self._options = dict(storage_options or {})
        self._fs = None
        self._root = None

    def _open(self) -> None:
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **self._options)
        except Exception as exc:  # the options are not echoed: exc may quote them
            raise StorageError(
                f"Cannot open storage for '{self.url}': {type(exc).__name__} "
                f"(check the URL scheme and the {len(self._options)} storage option(s))."
            ) from None
        self._fs, self._root = fs, root.rstrip("/") or root

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem (created on first use, also on workers)."""
        if self._fs is None:
            self._open()
        return self._fs

    @property
    def root(self) -> str:
        """``url`` as a path of :attr:`fs` (protocol stripped, no trailing slash)."""
        if self._root is None:
            self._open()
        return self._root

    @property
    def is_local(self) -> bool:
        """Whether the storage is the local disk (renames are atomic and cheap there)."""
        return isinstance(self.fs, LocalFileSystem)

    @property
    def storage_options(self) -> dict[str, Any]:
        """A copy of the options; never log or print it."""
        return dict(self._options)

    def path(self, relpath: str = "") -> str:
        """The filesystem path of ``relpath`` under :attr:`root`."""
        return join(self.root, relpath)

    def to_url(self, path: str) -> str:
        """A filesystem path as a URL fit for messages (``s3://bucket/key``, or a local path)."""
        if self.is_local:
            return path
        return self.fs.unstrip_protocol(path)

    def __repr__(self) -> str:
        return f"StorageHandle({self.url!r}, storage_options=<{len(self._options)} hidden>)"

    __str__ = __repr__

    def __reduce__(self):
        return (StorageHandle, (self.url, self._options))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StorageHandle)
            and other.url == self.url
            and other._options == self._options
        )

    def __hash__(self) -> int:
        return hash(self.url)
