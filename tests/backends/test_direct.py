"""Passes sent straight to the workers (actors), past the scheduler, and back to tasks."""

import os
import signal
import time

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream, wait

from dkmeans import KMeans
from dkmeans.dist import backend as backend_module
from dkmeans.dist import direct as direct_module
from dkmeans.dist.backend import DaskBackend
from dkmeans.dist.direct import DirectPasses, DirectState, DirectUnavailable, StateLost
from dkmeans.dist.graph import sum_parts
from dkmeans.dist.lloyd import lloyd
from dkmeans.dist.placement import place_chunks

K, D = 4, 3


def _blobs(n=4_000, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=8.0, size=(K, D))
    return centers[rng.integers(0, K, n)] + rng.normal(size=(n, D))


def _persisted(X, chunks):
    X = da.from_array(X, chunks=(chunks, X.shape[1])).persist()
    wait(X)
    return X


def _fit(backend, X, max_iter=6):
    shift = X.mean(0)
    centers, n_iter, _ = lloyd(backend, X[None, :K] - shift, shift=shift, tol=0.0,
                               max_iter=max_iter)
    return centers, n_iter


def _lloyd_tasks(stream):
    return [t for t in stream.data if t["key"][0].startswith("dkmeans-lloyd-partials")]


def test_after_a_short_task_pass_the_phase_goes_straight_to_the_workers(client):
    X = _blobs()
    Xd = _persisted(X, 500)
    warm_up = DaskBackend(Xd)  # the workers compile (or load) the kernels
    _fit(warm_up, X, max_iter=2)
    warm_up.close()
    _wait_for_no_actors(client)
    backend = DaskBackend(Xd)
    with get_task_stream(client) as stream:
        centers, n_iter = _fit(backend, X, max_iter=6)
    assert n_iter[0] >= 3
    groups = len(backend._placement.groups)
    # the first pass ran as tasks (one per worker thread), the five others as actor calls
    assert len(_lloyd_tasks(stream)) == groups
    actors = client.run(lambda dask_worker: len(dask_worker.state.actors))
    assert sorted(actors.values()) == [1, 1]
    backend.close()
    _wait_for_no_actors(client)


def _wait_for_no_actors(client, seconds=10):
    deadline = time.monotonic() + seconds
    while sum(client.run(lambda dask_worker: len(dask_worker.state.actors)).values()):
        assert time.monotonic() < deadline, "the actors outlived close()"
        time.sleep(0.05)


def test_direct_and_task_passes_give_bitwise_the_same_centres(client, monkeypatch):
    X = _blobs(seed=1).astype(np.float32)
    Xd = _persisted(X, 700)  # uneven last chunk
    direct, _ = _fit(DaskBackend(Xd), X)
    monkeypatch.setattr(backend_module, "DIRECT_PASS_SECONDS", 0.0)
    backend = DaskBackend(Xd)
    with get_task_stream(client) as stream:
        tasks, n_iter = _fit(backend, X)
    assert backend._direct is None
    assert len(_lloyd_tasks(stream)) == n_iter[0] * len(backend._placement.groups)
    np.testing.assert_array_equal(direct, tasks)


def test_weighted_direct_passes_match_task_passes(client, monkeypatch):
    X = _blobs(seed=2)
    w = np.random.default_rng(2).uniform(0.1, 3.0, len(X))
    Xd, wd = _persisted(X, 500), da.from_array(w, chunks=500).persist()
    wait(wd)
    direct = KMeans(K, init=X[:K], max_iter=5, tol=0).fit(Xd, sample_weight=wd)
    monkeypatch.setattr(backend_module, "DIRECT_PASS_SECONDS", 0.0)
    tasks = KMeans(K, init=X[:K], max_iter=5, tol=0).fit(Xd, sample_weight=wd)
    np.testing.assert_array_equal(direct.cluster_centers_, tasks.cluster_centers_)
    assert direct.inertia_ == tasks.inertia_


def _count_rows(x, w, offset, fail_with):
    if fail_with is not None:
        raise fail_with
    return np.array([len(x)])


@pytest.mark.parametrize("error", [ValueError("bad chunk"), OSError("disk gone")])
def test_an_error_raised_in_a_direct_pass_reaches_the_caller(client, error):
    backend = DaskBackend(_persisted(_blobs(), 500))
    assert backend.reduce(_count_rows, sum_parts, args=(None,), phase="count",
                          result_nbytes=8)[0] == 4_000
    assert backend.reduce(_count_rows, sum_parts, args=(None,), phase="count",
                          result_nbytes=8)[0] == 4_000
    assert backend._direct
    # an OSError also sends the pass back to tasks, which raise it again
    with pytest.raises(type(error), match=str(error)):
        backend.reduce(_count_rows, sum_parts, args=(error,), phase="count", result_nbytes=8)


def test_a_long_task_pass_keeps_its_phase_on_tasks(client, monkeypatch):
    monkeypatch.setattr(backend_module, "DIRECT_PASS_SECONDS", 1e-6)
    backend = DaskBackend(_persisted(_blobs(), 500))
    for _ in range(3):
        backend.reduce(_count_rows, sum_parts, args=(None,), phase="count", result_nbytes=8)
    assert backend._direct is None


@pytest.fixture
def own_cluster():
    """Two worker processes this test may kill (the nanny starts a new one)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", memory_limit="1GiB") as cluster, \
            Client(cluster) as c:
        yield c


def test_a_worker_lost_between_direct_passes_sends_the_fit_back_to_tasks(own_cluster, caplog):
    X = _blobs(n=20_000, seed=3)
    X += np.random.default_rng(3).normal(scale=4.0, size=X.shape)  # slow convergence
    Xd = _persisted(X, 2_500)
    reference = KMeans(K, init=X[:K], max_iter=12, tol=0).fit(Xd)
    victim = next(iter(own_cluster.run(os.getpid).values()))

    def kill_at_third(record):
        if record.iteration == 3:
            os.kill(victim, signal.SIGKILL)

    with caplog.at_level("INFO", logger="dkmeans.dist.direct"):
        model = KMeans(K, init=X[:K], max_iter=12, tol=0).fit(Xd, on_iteration=kill_at_third)
    assert "direct pass abandoned" in caplog.text
    assert model.n_iter_ == reference.n_iter_ > 3
    np.testing.assert_array_equal(model.cluster_centers_, reference.cluster_centers_)
    np.testing.assert_array_equal(model.labels_.compute(), reference.labels_.compute())


def test_no_actor_is_started_on_a_worker_that_left(client):
    Xd = _persisted(_blobs(), 500)
    placement = place_chunks(client, Xd)
    left = placement._replace(workers=["tcp://127.0.0.1:9"] * len(placement.workers))
    with pytest.raises(DirectUnavailable, match="left since the chunks were placed"):
        DirectPasses(client, left, Xd, None, DaskBackend(Xd).row_offsets)


def _where_each_chunk_ran(direct, stateful=None):
    """Per chunk, whether the actor ran the pass on its worker's event loop or a thread
    (``stateful``: as a stateful pass of that estimated work per chunk)."""
    def where(x, w, offset):
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return "thread"
        return "event loop"

    if stateful is None:
        return direct.run(where, ())
    state, parts = direct.run_with_state(lambda x, w, offset, state: (state, where(x, w, offset)),
                                         (), chunk_work=stateful)
    state.release()
    return parts


def test_a_worker_with_one_thread_runs_short_passes_on_its_event_loop(client):
    # no switch to the worker's actor thread and back: milliseconds a Lloyd iteration
    X = _blobs(seed=3)
    backend = DaskBackend(_persisted(X, 500))
    _fit(backend, X, max_iter=3)
    assert backend._direct
    assert _where_each_chunk_ran(backend._direct) == ["event loop"] * backend.n_chunks
    # a k-means|| round's cost grows with its candidates: a long one keeps the loop free
    short, long = direct_module.LOOP_MULTIPLY_ADDS, 2 * direct_module.LOOP_MULTIPLY_ADDS
    assert _where_each_chunk_ran(backend._direct, short) == ["event loop"] * backend.n_chunks
    assert _where_each_chunk_ran(backend._direct, long) == ["thread"] * backend.n_chunks
    backend.close()


def test_a_worker_with_two_threads_runs_its_groups_side_by_side(monkeypatch):
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=":0", memory_limit="1GiB") as cluster, \
            Client(cluster):
        X = _blobs(seed=4)
        Xd = _persisted(X, 500)
        backend = DaskBackend(Xd)
        direct, _ = _fit(backend, X)
        assert backend._direct and len(backend._placement.groups) == 2
        assert _where_each_chunk_ran(backend._direct) == ["thread"] * backend.n_chunks
        monkeypatch.setattr(backend_module, "DIRECT_PASS_SECONDS", 0.0)
        tasks, _ = _fit(DaskBackend(Xd), X)
    np.testing.assert_array_equal(direct, tasks)


def _kmeans_parallel_tasks(stream):
    return [t for t in stream.data if t["key"][0].startswith("dkmeans-init-")]


def _init_on(backend):
    from dkmeans.dist.init import kmeans_parallel
    from dkmeans.dist.lloyd import data_moments

    shift = data_moments(backend).mean  # the first pass of a fit, run as tasks
    return kmeans_parallel(backend, K, seed=5, shift=shift)


def _states_held(client):
    return sum(client.run(lambda dask_worker: sum(
        len(getattr(actor, "states", ())) for actor in dask_worker.state.actors.values())
    ).values())


def test_kmeans_parallel_rounds_run_through_the_actors_and_match_tasks(client, monkeypatch):
    X = _blobs(seed=6).astype(np.float32)
    Xd = _persisted(X, 700)
    backend = DaskBackend(Xd)
    with get_task_stream(client) as stream:
        direct = _init_on(backend)
    assert backend._direct
    assert _kmeans_parallel_tasks(stream) == []  # the first centre and the rounds: actor calls
    deadline = time.monotonic() + 10
    while _states_held(client):  # released without waiting: gone once the actors get to it
        assert time.monotonic() < deadline, "the rounds' states outlived k-means||"
        time.sleep(0.05)
    backend.close()
    _wait_for_no_actors(client)
    local = _init_on(backend_module.LocalBackend(X, chunk_rows=700))
    monkeypatch.setattr(backend_module, "DIRECT_PASS_SECONDS", 0.0)
    tasks_backend = DaskBackend(Xd)
    with get_task_stream(client) as stream:
        tasks = _init_on(tasks_backend)
    assert tasks_backend._direct is None and _kmeans_parallel_tasks(stream)
    np.testing.assert_array_equal(direct, tasks)
    np.testing.assert_array_equal(direct, local)


def test_rows_are_taken_through_the_actors(client):
    X = _blobs(seed=7)
    backend = DaskBackend(_persisted(X, 700))
    assert backend.reduce(_count_rows, sum_parts, args=(None,), phase="count",
                          result_nbytes=8)[0] == len(X)  # a short task pass
    index = np.array([3_999, 0, 701, 701, 2_100])
    np.testing.assert_array_equal(backend.take_rows(index), X[index])
    assert backend._direct
    backend.close()


def _count_and_remember(x, w, offset, state, state_owned=False):
    seen = 0 if state is None else state
    return seen + len(x), np.array([seen])


def test_a_state_whose_actors_are_gone_is_reported_lost(client):
    backend = DaskBackend(_persisted(_blobs(), 500))
    backend.reduce(_count_rows, sum_parts, args=(None,), phase="count", result_nbytes=8)
    state, seen = backend.reduce_with_state(_count_and_remember, sum_parts, None,
                                            chained_state=True)
    assert isinstance(state, DirectState) and seen[0] == 0
    state2, seen = backend.reduce_with_state(_count_and_remember, sum_parts, state,
                                             chained_state=True)
    assert seen[0] == 4_000  # each chunk read back the state it left
    backend.release(state)
    backend._abandon_direct()  # as when a worker holding an actor leaves
    with pytest.raises(StateLost):
        backend.reduce_with_state(_count_and_remember, sum_parts, state2, chained_state=True)
    # a new chain runs as tasks, its state as futures
    state3, seen = backend.reduce_with_state(_count_and_remember, sum_parts, None,
                                             chained_state=True)
    assert not isinstance(state3, DirectState) and seen[0] == 0
    backend.release(state3)


def test_a_worker_lost_during_kmeans_parallel_starts_it_again_as_tasks(own_cluster, caplog):
    X = _blobs(n=20_000, seed=8)
    Xd = _persisted(X, 2_500)
    reference = _init_on(backend_module.LocalBackend(X, chunk_rows=2_500))
    warm_up = DaskBackend(Xd)  # the new workers load the kernels: the passes after are short
    np.testing.assert_array_equal(_init_on(warm_up), reference)
    warm_up.close()
    victims = list(own_cluster.run(os.getpid).values())[:1]
    backend = DaskBackend(Xd)
    release = backend.release

    def kill_at_first_direct_state(state):
        # between two rounds, as the first round's state is let go
        if isinstance(state, DirectState) and victims:
            os.kill(victims.pop(), signal.SIGKILL)
        release(state)

    backend.release = kill_at_first_direct_state
    with caplog.at_level("INFO", logger="dkmeans.dist"):
        centers = _init_on(backend)
    assert "k-means|| starts again as task passes" in caplog.text, backend._task_pass_seconds
    assert backend._direct is False
    np.testing.assert_array_equal(centers, reference)


def test_a_fit_that_raises_lets_its_actors_go(client):
    X = _blobs(seed=9)
    Xd = _persisted(X, 500)

    def stop_at_fourth(record):
        if record.iteration == 4:
            raise KeyboardInterrupt  # as when a scheduled job is stopped mid-fit

    with pytest.raises(KeyboardInterrupt) as stopped:
        KMeans(K, init=X[:K], max_iter=10, tol=0).fit(Xd, on_iteration=stop_at_fourth)
    # the traceback keeps the fit's frames (and its backend) alive, as a caller's handler may
    _wait_for_no_actors(client, seconds=3)
    assert stopped.traceback
