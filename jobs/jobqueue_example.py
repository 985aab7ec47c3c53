"""Run a dkmeans job on an HPC cluster: SLURM jobs start the Dask workers (dask-jobqueue).

Run it on a login node (or in a small SLURM job of its own), with dkmeans and dask-jobqueue
installed in an environment the compute nodes see too::

    pip install dask-jobqueue
    python jobs/jobqueue_example.py configs/demo.yaml --jobs 4 --queue normal \\
        --account my-project --cores 8 --memory 32GiB --walltime 02:00:00

This script submits ``--jobs`` SLURM jobs, each running one Dask worker process per
``--processes`` with ``--cores / --processes`` threads, waits for the workers, runs the job with
:func:`dkmeans.runner.run_job` on them (the config's ``cluster`` section is not used) and stops
the workers. The input and output must be reachable from the compute nodes: a shared file
system or ``s3://``. Edit the ``SLURMCluster(...)`` arguments to your site (``interface`` for
InfiniBand, ``local_directory`` for node-local scratch, ``job_extra_directives``...).

Exit codes, as ``dkmeans run``: 0 done, 2 config or input error, 1 failure at run time.
"""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger("dkmeans.jobqueue_example")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="dkmeans job config (YAML)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, as `dkmeans run --set` (repeatable)")
    p.add_argument("--jobs", type=int, default=2, help="SLURM jobs to submit (default 2)")
    p.add_argument("--queue", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--cores", type=int, default=8, help="cores per SLURM job (default 8)")
    p.add_argument("--processes", type=int, default=1,
                   help="Dask worker processes per SLURM job (default 1)")
    p.add_argument("--memory", default="32GiB",
                   help="memory per SLURM job, shared by its worker processes (default 32GiB)")
    p.add_argument("--walltime", default="02:00:00", help="per SLURM job (default 02:00:00)")
    p.add_argument("--wait-timeout", type=float, default=1800,
                   help="seconds to wait for the first worker to start (default 1800)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from dkmeans.config import load_config
    from dkmeans.errors import UserInputError

    try:  # before submitting anything: a typo should not wait in the SLURM queue
        config = load_config(args.config, overrides=args.overrides)
    except UserInputError as exc:
        logger.error("%s", exc)
        return 2

    from dask_jobqueue import SLURMCluster  # not a dkmeans dependency: pip install dask-jobqueue
    from distributed import Client

    from dkmeans.runner import run_job

    cluster = SLURMCluster(
        queue=args.queue,
        account=args.account,
        cores=args.cores,
        processes=args.processes,
        memory=args.memory,  # each worker's memory limit is memory / processes
        walltime=args.walltime,
        job_name=f"dkmeans-{config.name}",
        log_directory="logs/slurm",
    )
    try:
        logger.info("SLURM job script:\n%s", cluster.job_script())
        cluster.scale(jobs=args.jobs)
        with Client(cluster) as client:
            logger.info("Dashboard: %s", client.dashboard_link)
            client.wait_for_workers(1, timeout=args.wait_timeout)
            metrics = run_job(config, client=client)
        logger.info("Job %s done: %s", config.name, metrics)
        return 0
    except UserInputError as exc:
        logger.error("%s", exc)
        return 2
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
