"""``make bench``: every benchmark in one run, printed as tables and saved as JSON.

Peers run in the same process and session, so ratios are comparable even when absolute
times drift on shared machines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from pathlib import Path


@contextlib.contextmanager
def _local_cluster():
    """The Dask rows' cluster: 2 worker processes x 1 thread on loopback."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", memory_limit="6GiB") as cluster, \
            Client(cluster, direct_to_workers=True) as client:
        # as the job runner's own local cluster: calls go to the workers, not via the scheduler
        yield client


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None,
                        help="sections to run: engine, minibatch, io, out-of-core")
    parser.add_argument("--out", default="bench/results/latest.json")
    args = parser.parse_args(argv)
    wanted = set(args.only or ["engine", "minibatch", "io"])
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version()}}

    if "engine" in wanted:
        from bench import engine

        print("== Lloyd iteration (ms per iteration, float32, same initial centres) ==")
        engine.run(results, start_cluster=_local_cluster)
    for section, module_name, func in (("minibatch", "bench.minibatch", "run"),
                                       ("io", "bench.io", "run"),
                                       ("out-of-core", "bench.minibatch", "run_out_of_core")):
        if section not in wanted:
            continue
        try:
            module = __import__(module_name, fromlist=[func])
        except ImportError:
            print(f"== {section}: not available ==")
            continue
        print(f"== {section} ==")
        getattr(module, func)(results)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
