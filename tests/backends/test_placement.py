"""Grouping a persisted array's chunks into one task per worker thread."""

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import futures_of, wait
from hypothesis import given
from hypothesis import strategies as st

from dkmeans.dist import backend as backend_module
from dkmeans.dist.backend import DaskBackend
from dkmeans.dist.graph import sum_parts
from dkmeans.dist.lloyd import _lloyd_chunk
from dkmeans.dist.placement import (
    IMBALANCE_TOLERANCE,
    place_chunks,
    split_by_rows,
    spread_plan,
)
from dkmeans.kernels.blas import single_threaded_blas
from dkmeans.kernels.partials import combine_partials


@given(rows=st.lists(st.integers(1, 1000), min_size=1, max_size=40), data=st.data())
def test_split_by_rows_gives_consecutive_nonempty_runs_covering_every_chunk(rows, data):
    chunks = sorted(data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1)))
    n_groups = data.draw(st.integers(1, len(chunks)))
    groups = split_by_rows(chunks, rows, n_groups)
    assert len(groups) == n_groups
    assert all(groups)
    assert [i for g in groups for i in g] == chunks


def test_split_by_rows_balances_equal_chunks():
    groups = split_by_rows(list(range(8)), [100] * 8, 2)
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7]]
    groups = split_by_rows(list(range(7)), [100] * 7, 3)
    assert sorted(len(g) for g in groups) == [2, 2, 3]


def _where(x, w, offset):
    from distributed import get_worker

    worker = get_worker()
    return [(offset, worker.get_current_task(), worker.address)]


def _blobs(n=6000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, (5, d))
    return centers[rng.integers(0, 5, n)] + rng.standard_normal((n, d))


def _holder(client, X, ref):
    """The worker holding what a chunk's task reads: the array's key or a spread copy."""
    if hasattr(ref, "key"):
        return client.who_has([ref])[ref.key][0]
    return client.who_has(X)[ref][0]


def test_groups_follow_the_workers_that_hold_the_chunks(client):
    X = da.from_array(_blobs(), chunks=(500, 4)).persist()
    placement = place_chunks(client, X)
    assert sorted(i for g in placement.groups for i in g) == list(range(12))
    for group in placement.groups:
        assert len({_holder(client, X, placement.x_refs[i]) for i in group}) == 1
    # one thread per worker here: one group per worker reading chunks
    readers = {_holder(client, X, ref) for ref in placement.x_refs}
    assert len(placement.groups) == len(readers)


def test_lazy_array_has_no_groups(client):
    X = da.from_array(_blobs(), chunks=(500, 4))
    assert place_chunks(client, X) is None


def test_a_pass_runs_one_task_per_worker_thread_where_the_data_lives(client):
    X = da.from_array(_blobs(), chunks=(500, 4)).persist()
    backend = DaskBackend(X)
    seen = backend.reduce(_where, sum_parts, phase="where", result_nbytes=64)
    assert sorted(offset for offset, _, _ in seen) == backend.row_offsets
    tasks = {task for _, task, _ in seen}
    placement = backend._placement
    # one thread per worker here: one task per worker, not one per chunk
    assert len(tasks) == len(placement.groups) <= 2
    for offset, _, address in seen:
        chunk = backend.row_offsets.index(offset)
        assert _holder(client, X, placement.x_refs[chunk]) == address


def _loads(chunk_rows, owners, threads):
    rows = {address: 0 for address in threads}
    for size, owner in zip(chunk_rows, owners):
        rows[owner] += size
    return {address: rows[address] / threads[address] for address in threads}


def test_spread_plan_evens_three_chunks_against_one():
    owners = spread_plan([250] * 4, ["a", "a", "a", "b"], {"a": 1, "b": 1})
    assert sorted(owners) == ["a", "a", "b", "b"]
    assert owners[3] == "b"  # what is already in place stays


def test_spread_plan_reaches_workers_holding_nothing_and_counts_threads():
    owners = spread_plan([100] * 8, ["a"] * 8, {"a": 1, "b": 3})
    assert _loads([100] * 8, owners, {"a": 1, "b": 3}) == {"a": 200, "b": 200}


def test_spread_plan_leaves_nearly_even_placements_alone():
    holders = ["a", "a", "b", "b", "b"]
    rows = [110, 110, 70, 70, 70]
    share = sum(rows) / 2
    assert max(_loads(rows, holders, {"a": 1, "b": 1}).values()) <= IMBALANCE_TOLERANCE * share
    assert spread_plan(rows, holders, {"a": 1, "b": 1}) == holders


@given(rows=st.lists(st.integers(1, 1000), min_size=1, max_size=30), data=st.data())
def test_spread_plan_never_makes_the_busiest_thread_busier(rows, data):
    threads = {w: data.draw(st.integers(1, 4)) for w in "abc"}
    holders = [data.draw(st.sampled_from("abc")) for _ in rows]
    owners = spread_plan(rows, holders, threads)
    assert len(owners) == len(rows) and set(owners) <= set(threads)
    before = max(_loads(rows, holders, threads).values())
    assert max(_loads(rows, owners, threads).values()) <= before


def test_unevenly_held_chunks_are_spread_once_and_give_the_same_result(client):
    data = _blobs(seed=2)
    workers = sorted(client.scheduler_info()["workers"])
    pieces = [client.scatter(data[i * 1500:(i + 1) * 1500], workers=[workers[0]])
              for i in range(4)]
    X = client.persist(da.concatenate([da.from_delayed(p, shape=(1500, 4), dtype=data.dtype)
                                       for p in pieces]), workers=[workers[0]])
    wait(futures_of(X))
    assert {holders[0] for holders in client.who_has(X).values()} == {workers[0]}
    shift = data.mean(0)
    centers = (data[:5] - shift)[None]
    backend = DaskBackend(X, split_every=3)
    grouped = backend.reduce(_lloyd_chunk, combine_partials, args=(centers, shift, False),
                             phase="lloyd", result_nbytes=1024)
    placement = backend._placement
    assert len(placement.spread) == 2
    assert {_holder(client, X, ref) for ref in placement.spread} == {workers[1]}
    seen = backend.reduce(_where, sum_parts, phase="where", result_nbytes=64)
    assert {address for _, _, address in seen} == set(workers)
    _assert_per_chunk_tree_result(grouped, data, 1500, centers, shift)


@pytest.mark.parametrize("result_nbytes", [1024, 1 << 40])
def test_grouped_pass_gives_the_per_chunk_tree_result_bit_for_bit(client, result_nbytes):
    data = _blobs(seed=1)
    X = da.from_array(data, chunks=(500, 4)).persist()
    shift = data.mean(0)
    centers = (data[:5] - shift)[None]
    backend = DaskBackend(X, split_every=3)
    grouped = backend.reduce(_lloyd_chunk, combine_partials, args=(centers, shift, False),
                             phase="lloyd", result_nbytes=result_nbytes)
    _assert_per_chunk_tree_result(grouped, data, 500, centers, shift)


def _assert_per_chunk_tree_result(grouped, data, chunk_rows, centers, shift):
    """``grouped`` is bitwise the Lloyd pass of one task per chunk of ``chunk_rows`` rows."""
    lazy = DaskBackend(da.from_array(data, chunks=(chunk_rows, data.shape[1])), split_every=3)
    graph, final = lazy.reduce_graph(_lloyd_chunk, combine_partials,
                                     args=(centers, shift, False), phase="lloyd")
    per_chunk = _local_reference(graph, final)
    for name in ("sums", "counts", "inertia", "far_index", "far_rows"):
        np.testing.assert_array_equal(getattr(grouped, name), getattr(per_chunk, name))


def _local_reference(graph, final):
    """The per-chunk tree computed here, with BLAS on one thread per chunk as on the workers
    (and in every backend): OpenBLAS called from several threads at once decides per call
    whether to use its own threads, and its products then round differently."""
    with single_threaded_blas():
        return dask.threaded.get(graph, final)


def _combine_where(parts):
    from distributed import get_worker

    try:
        get_worker()
        on_worker = True
    except ValueError:
        on_worker = False
    return {"n": sum(p["n"] for p in parts), "on_worker": on_worker}


def _one(x, w, offset):
    return {"n": len(x), "on_worker": True}


def test_large_results_are_combined_on_the_workers_small_ones_by_the_client(client):
    X = da.from_array(_blobs(), chunks=(500, 4)).persist()
    backend = DaskBackend(X)
    small = backend.reduce(_one, _combine_where, phase="small", result_nbytes=8)
    large = backend.reduce(_one, _combine_where, phase="large",
                           result_nbytes=backend_module.CLIENT_COMBINE_BYTES)
    unknown = backend.reduce(_one, _combine_where, phase="unknown")
    assert small == {"n": 6000, "on_worker": False}
    assert large == {"n": 6000, "on_worker": True}
    assert unknown == {"n": 6000, "on_worker": True}


def _count_rounds(x, w, offset, state):
    rounds = 0 if state is None else state + 1
    return rounds, {"rows": len(x), "rounds": rounds}


def _sum_counts(parts):
    return {"rows": sum(p["rows"] for p in parts), "rounds": max(p["rounds"] for p in parts)}


def test_grouped_passes_with_state_keep_it_with_the_chunk_and_match_per_chunk_tasks(client):
    from dkmeans.dist.init import kmeans_parallel

    data = _blobs(seed=3)
    X = da.from_array(data, chunks=(500, 4)).persist()
    backend = DaskBackend(X)
    states, combined = backend.reduce_with_state(_count_rounds, _sum_counts, None, phase="r0")
    states, combined = backend.reduce_with_state(_count_rounds, _sum_counts, states,
                                                 phase="r1")
    assert combined == {"rows": 6000, "rounds": 1}
    placement = backend._placement
    held = client.who_has(states)
    for i, state in enumerate(states):
        assert held[state.key][0] == _holder(client, X, placement.x_refs[i])
    backend.release(states)
    # k-means|| through grouped tasks equals k-means|| through one task per chunk, bit for bit
    shift = data.mean(0)
    grouped = kmeans_parallel(backend, 5, seed=4, shift=shift)
    per_chunk = kmeans_parallel(DaskBackend(da.from_array(data, chunks=(500, 4))), 5, seed=4,
                                shift=shift)
    np.testing.assert_array_equal(grouped, per_chunk)


def test_a_spread_copy_that_arrived_off_a_cache_line_is_realigned():
    from dkmeans.dist.placement import CACHE_LINE, _aligned

    rows = np.arange(300 * 7, dtype=np.float32).reshape(300, 7)
    received = np.frombuffer(b"\0" + rows.tobytes(), dtype=np.uint8)[1:]  # an odd address
    off = received.view(np.float32).reshape(300, 7)
    assert off.ctypes.data % CACHE_LINE and not off.flags.aligned
    copy = _aligned(off)
    assert copy.ctypes.data % CACHE_LINE == 0 and copy.flags.c_contiguous
    np.testing.assert_array_equal(copy, rows)
    assert _aligned(copy) is copy  # nothing copied where nothing is gained
    assert _aligned(rows) is rows  # NumPy's own allocation
