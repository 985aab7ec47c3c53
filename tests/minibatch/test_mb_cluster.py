"""MiniBatchKMeans on real multi-process LocalClusters: determinism and bounded streaming memory."""

import threading

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from mb_helpers import blobs, parquet_array, write_parquet

from dkmeans import MiniBatchKMeans

CHUNK_ROWS = 32_768
N_CHUNKS = 24
STREAM_CHUNKS = 2


@pytest.fixture(scope="module")
def one_worker():
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0", memory_limit="1GiB")
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def data():
    return blobs(N_CHUNKS * CHUNK_ROWS, 8, 6, seed=3)


@pytest.fixture(scope="module")
def parquet_folder(data, tmp_path_factory):
    return write_parquet(tmp_path_factory.mktemp("mb-parquet"), data, CHUNK_ROWS)


def _fit_both_ways(cluster, data, folder):
    with Client(cluster):
        persisted = da.from_array(data[:12_000], chunks=(3_000, 8)).persist()
        sampled = MiniBatchKMeans(6, random_state=7, max_iter=1, max_no_improvement=None,
                                  compute_labels=False).fit(persisted)
        del persisted
        streamed = MiniBatchKMeans(6, random_state=7, max_iter=1, stream_chunks=STREAM_CHUNKS,
                                   max_no_improvement=None).fit(parquet_array(folder))
        return sampled.cluster_centers_, streamed.cluster_centers_, streamed.inertia_


def test_one_and_two_workers_give_bitwise_same_centres(one_worker, dask_cluster, data,
                                                       parquet_folder):
    one = _fit_both_ways(one_worker, data, parquet_folder)
    two = _fit_both_ways(dask_cluster, data, parquet_folder)
    np.testing.assert_array_equal(one[0], two[0])  # batches sampled where chunks live
    np.testing.assert_array_equal(one[1], two[1])  # streamed from Parquet
    assert one[2] == two[2]


class _MemorySampler(threading.Thread):
    """Polls the scheduler for the bytes each worker holds, keeping the maximum."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.peak, self.done = client, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            held = self.client.run_on_scheduler(
                lambda dask_scheduler: [w.nbytes for w in dask_scheduler.workers.values()])
            self.peak = max([self.peak, *held])
            self.done.wait(0.01)


def test_streaming_from_parquet_holds_a_few_chunks(one_worker, parquet_folder, data):
    chunk_bytes = CHUNK_ROWS * data.shape[1] * 4
    bound = 3 * STREAM_CHUNKS * chunk_bytes  # group running + group read ahead + one raw read
    assert data.nbytes >= 4 * bound
    with Client(one_worker) as client:
        sampler = _MemorySampler(client)
        sampler.start()
        with get_task_stream(client) as stream:
            mb = MiniBatchKMeans(6, random_state=0, max_iter=2, max_no_improvement=None,
                                 stream_chunks=STREAM_CHUNKS, batch_size=2048,
                                 compute_labels=False).fit(parquet_array(parquet_folder))
        sampler.done.set()
        sampler.join()
        spilled = client.run(lambda dask_worker: len(dask_worker.data.slow))
        peak_rss = client.run(_peak_rss_mib)
    assert 0 < sampler.peak <= bound, (sampler.peak, bound)
    assert set(spilled.values()) == {0}
    assert all(rss < 1024 for rss in peak_rss.values())  # the 1 GiB limit held
    assert mb.n_iter_ == 2 and mb.n_steps_ == 2 * N_CHUNKS * CHUNK_ROWS // 2048
    prefixes = {t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in stream.data}
    prefixes = {p.rsplit("-", 1)[0] for p in prefixes}
    assert {"dkmeans-minibatch-read-partials", "dkmeans-minibatch-group-partials"} <= prefixes
    reads = [t for t in stream.data if str(t["key"]).startswith("('dkmeans-read-parquet")]
    # every chunk read once for the initialisation sample, then once per epoch
    assert len(reads) == 3 * N_CHUNKS


def _peak_rss_mib():
    # VmHWM, the peak of this process image alone: getrusage's ru_maxrss survives exec, so a
    # worker spawned (fork + exec) from a large test process would report the parent's size
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/self/status")
