"""The Dask cluster a job runs on: a LocalCluster from the config, or an existing scheduler.

A job on an existing scheduler fails with one clear error when the cluster does: a
:class:`ClusterConnectError` when the scheduler cannot be reached, a
:class:`SchedulerLostError` when it goes away during the job. Distributed cancels the
client's work at once when it loses the scheduler, and gives up reconnecting after the
client's ``timeout`` (``cluster.timeout``), so no call waits longer than that.
"""

from __future__ import annotations

import contextlib
import logging
import os

from dkmeans.errors import ConfigError, DkmeansError

logger = logging.getLogger(__name__)


class ClusterError(DkmeansError):
    """The Dask cluster failed the job at run time; the message says what and where."""


class ClusterConnectError(ClusterError):
    """The scheduler named in ``cluster.address`` could not be reached in time."""


class SchedulerLostError(ClusterError):
    """The scheduler went away while the job ran; nothing was published."""


def client_security(cluster_cfg):
    """The ``distributed.Security`` for ``cluster.address``, or None for a ``tcp://`` one.

    A ``tls://`` address without a ``tls`` section uses Dask's own TLS settings
    (``distributed.comm.tls``), as distributed does.

    Raises
    ------
    ConfigError
        A certificate file is missing, or a ``tls://`` address has no certificates at all.
    """
    from distributed.security import Security

    address, tls = cluster_cfg.address, cluster_cfg.tls
    if tls is None and not str(address).startswith("tls://"):
        return None
    if tls is None:
        security = Security(require_encryption=True)
        if security.get_connection_args("client")["ssl_context"] is None:
            raise ConfigError(
                f"cluster.tls: the address {address} asks for TLS, but no client "
                "certificates are given; set cluster.tls (ca_file, cert and key), or Dask's "
                "distributed.comm.tls options")
        return security
    for key in ("ca_file", "cert", "key"):
        path = getattr(tls, key)
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"cluster.tls.{key}: no such file: {path}")
    return Security(tls_ca_file=tls.ca_file, tls_client_cert=tls.cert, tls_client_key=tls.key,
                    require_encryption=True)


@contextlib.contextmanager
def scheduler_guard(client, address=None):
    """Raise :class:`SchedulerLostError` for an error the block raised because the scheduler
    went away; other errors pass unchanged.

    Parameters
    ----------
    client : distributed.Client
    address : str, optional
        The address to name in the error; default the client's scheduler address.
    """
    address = address or client.scheduler.address
    try:
        yield
    except ClusterError:
        raise
    except Exception as exc:
        # distributed cancels every future of a client that lost its scheduler, and its
        # other calls fail one way or another; what they share is the client's status
        if client.status == "running":
            raise
        raise SchedulerLostError(
            f"the Dask scheduler at {address} was lost during the job; rerun the job when a "
            "scheduler is up again (it resumes from the fit's last checkpoint, if one was "
            "saved)") from exc


def _close(client):
    """Close ``client``; quietly when its scheduler is gone."""
    if client.status == "running":
        client.close()
        return
    # closing stops distributed's reconnect loop, which it logs as errors with tracebacks;
    # SchedulerLostError already says what happened
    noisy = logging.getLogger("distributed.client")
    level = noisy.level
    noisy.setLevel(logging.CRITICAL)
    try:
        client.close()
    except Exception as exc:  # noqa: BLE001 - the connection is dead either way
        logger.debug("closing the client of a lost scheduler: %s", exc)
    finally:
        noisy.setLevel(level)


@contextlib.contextmanager
def _existing_scheduler(cluster_cfg):
    from distributed import Client

    address = cluster_cfg.address
    security = client_security(cluster_cfg)
    try:
        client = Client(address, timeout=cluster_cfg.timeout, security=security,
                        set_as_default=True)
    except (OSError, TimeoutError) as exc:
        raise ClusterConnectError(
            f"cluster.address: could not connect to the Dask scheduler at {address}: "
            f"{exc}") from exc
    try:
        with scheduler_guard(client, address):
            logger.info("connected to the Dask scheduler at %s (%d workers)",
                        address, len(client.scheduler_info()["workers"]))
            yield client
    finally:
        _close(client)


@contextlib.contextmanager
def connect(cluster_cfg):
    """Yield a ``distributed.Client`` for the job's ``cluster`` section, made the default.

    Parameters
    ----------
    cluster_cfg : dkmeans.config.ClusterConfig
        ``address`` (with optional ``tls`` and ``timeout``) for an existing scheduler, else the
        LocalCluster keys ``n_workers``, ``threads_per_worker``, ``memory_limit``,
        ``dashboard_address`` and ``processes``.

    Raises
    ------
    ConfigError
        ``cluster.tls`` names a missing file, or a ``tls://`` address has no certificates.
    ClusterConnectError
        The scheduler refused the connection or did not answer within ``timeout`` seconds.
    SchedulerLostError
        The scheduler went away while the block ran.
    """
    if cluster_cfg.address:
        with _existing_scheduler(cluster_cfg) as client:
            yield client
        return
    from distributed import Client, LocalCluster

    from dkmeans.shutdown_logs import QuietWorkerShutdown

    dashboard = cluster_cfg.dashboard_address
    # worker processes talk over TCP on loopback only; threads use the in-process transport,
    # which takes no host at all
    network = {"host": "127.0.0.1"} if cluster_cfg.processes else {}
    if not dashboard:
        # no dashboard, but the scheduler serves its HTTP routes (health, metrics) anyway, by
        # default on port 8787 of every interface: keep them on a free loopback port
        network["scheduler_kwargs"] = {"dashboard_address": "127.0.0.1:0"}
    with LocalCluster(n_workers=cluster_cfg.n_workers,
                      threads_per_worker=cluster_cfg.threads_per_worker,
                      memory_limit=cluster_cfg.memory_limit, processes=cluster_cfg.processes,
                      dashboard_address=dashboard if dashboard else None, **network,
                      ) as cluster, \
            Client(cluster, set_as_default=True, direct_to_workers=True) as client:
        # direct_to_workers: the workers are on this machine, so results and the direct
        # passes' actor calls skip the scheduler hop (about 1 ms a call)
        client.register_plugin(QuietWorkerShutdown())
        logger.info("started a local Dask cluster: %d worker(s) x %d thread(s)",
                    cluster_cfg.n_workers, cluster_cfg.threads_per_worker)
        yield client
