"""The Dask cluster a job runs on: a LocalCluster from the config, or an existing scheduler."""

from __future__ import annotations

import contextlib
import logging

from dkmeans.errors import DkmeansError

logger = logging.getLogger(__name__)


class ClusterConnectError(DkmeansError):
    """The scheduler named in ``cluster.address`` could not be reached in time."""


def _security(tls):
    from distributed.security import Security

    return Security(tls_ca_file=tls.ca_file, tls_client_cert=tls.cert, tls_client_key=tls.key,
                    require_encryption=True)


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
    ClusterConnectError
        The scheduler did not answer within ``timeout`` seconds.
    """
    from distributed import Client, LocalCluster

    if cluster_cfg.address:
        security = _security(cluster_cfg.tls) if cluster_cfg.tls else None
        try:
            client = Client(cluster_cfg.address, timeout=cluster_cfg.timeout, security=security,
                            set_as_default=True)
        except (OSError, TimeoutError) as exc:
            raise ClusterConnectError(
                f"cluster.address: could not reach the Dask scheduler at "
                f"{cluster_cfg.address} within {cluster_cfg.timeout:g} s ({exc})") from exc
        with client:
            logger.info("connected to the Dask scheduler at %s (%d workers)",
                        cluster_cfg.address, len(client.scheduler_info()["workers"]))
            yield client
        return
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
                      ) as cluster, Client(cluster, set_as_default=True) as client:
        logger.info("started a local Dask cluster: %d worker(s) x %d thread(s)",
                    cluster_cfg.n_workers, cluster_cfg.threads_per_worker)
        yield client
