"""The ``cluster`` section: a LocalCluster, or the address of a running scheduler."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from .base import Int, NonEmptyStr, RuleError, Section, changed
from .units import parse_duration, parse_size

__all__ = ["LOCAL_CLUSTER_KEYS", "ClusterConfig", "TlsConfig"]


def _duration(value: object) -> object:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return parse_duration(value)
    return value


class TlsConfig(Section):
    """Client certificates for a ``tls://`` scheduler (distributed's ``Security``).

    Attributes
    ----------
    ca_file : str
        Certificate authority bundle that signed the scheduler's certificate.
    cert : str
        Client certificate (may also hold the private key).
    key : str, optional
        Client private key, when not inside ``cert``.
    """

    ca_file: NonEmptyStr
    cert: NonEmptyStr
    key: NonEmptyStr | None = None


LOCAL_CLUSTER_KEYS = (
    "n_workers",
    "threads_per_worker",
    "memory_limit",
    "dashboard_address",
    "processes",
)
_ADDRESS = re.compile(r"(tcp|tls)://[^\s/]+")


def _memory_limit(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value != "auto":
        parse_size(value)  # raises with the expected forms
    return value


class ClusterConfig(Section):
    """Where the computation runs: a LocalCluster, or an existing scheduler.

    Give ``address`` (and optionally ``tls``) to use an existing scheduler, or any of the
    local keys to shape a LocalCluster; not both (a local key left at its default is
    tolerated next to ``address``). With neither, a LocalCluster with the defaults below is
    started.

    Attributes
    ----------
    address : str, optional
        ``tcp://host:8786`` or ``tls://host:8786`` of a running scheduler.
    tls : TlsConfig, optional
        Client certificates; requires a ``tls://`` address.
    timeout : float, default 30
        Seconds to wait for the scheduler (or the LocalCluster) before failing; also how long
        a job goes on trying to reach a scheduler it lost before it fails. Accepts ``"30s"``,
        ``"2m"``.
    n_workers : int, default 2
    threads_per_worker : int, default 1
    memory_limit : str, default "auto"
        Per worker: ``"auto"`` or a size such as ``"4GiB"``.
    dashboard_address : str or None, default "127.0.0.1:8787"
        Loopback only unless changed; ``null`` disables the dashboard.
    processes : bool, default True
        Workers as processes (``False``: threads in the job's process).
    """

    address: str | None = None
    tls: TlsConfig | None = None
    timeout: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 30.0
    n_workers: Int = Field(default=2, ge=1)
    threads_per_worker: Int = Field(default=1, ge=1)
    memory_limit: Annotated[str, BeforeValidator(_memory_limit)] = "auto"
    dashboard_address: str | None = "127.0.0.1:8787"
    processes: bool = True

    @field_validator("address")
    @classmethod
    def _address_form(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.fullmatch(value):
            raise ValueError(
                f"expected a scheduler address such as 'tcp://scheduler:8786' or "
                f"'tls://scheduler:8786'; got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _local_or_remote(self) -> ClusterConfig:
        local = [key for key in LOCAL_CLUSTER_KEYS if changed(self, key)]
        if self.address is not None and local:
            raise RuleError(
                f"address connects to an existing scheduler, so {', '.join(local)} "
                "(which shape a local cluster) cannot be set with it; keep one or the other",
                "address",
                *local,
            )
        if self.tls is not None and self.address is None:
            raise RuleError("tls needs the address of a tls:// scheduler", "tls", "address")
        if self.tls is not None and not str(self.address).startswith("tls://"):
            raise RuleError(
                f"tls is set but the address {self.address!r} is not tls://", "tls", "address"
            )
        return self

    @property
    def is_local(self) -> bool:
        """Whether the job starts its own LocalCluster (no ``address``)."""
        return self.address is None

    @property
    def memory_limit_bytes(self) -> int | None:
        """``memory_limit`` in bytes, ``None`` for ``"auto"``."""
        return None if self.memory_limit == "auto" else parse_size(self.memory_limit)
