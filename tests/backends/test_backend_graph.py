"""Graph shape: bounded fan-in, readable task names, chunk invariance, backend agreement."""

import dask
import dask.array as da
import numpy as np
import pytest

from dkmeans.dist.backend import DaskBackend, LocalBackend
from dkmeans.dist.graph import tree_reduce_layer
from dkmeans.dist.lloyd import _lloyd_chunk, lloyd
from dkmeans.kernels.partials import combine_partials


def _blobs(n=4000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, (4, d))
    return centers[rng.integers(0, 4, n)] + rng.standard_normal((n, d))


@pytest.mark.parametrize("n_keys,split_every", [(1, 4), (5, 2), (33, 4), (64, 8)])
def test_tree_reduction_fan_in_is_bounded(n_keys, split_every):
    keys = [("x", i) for i in range(n_keys)]
    dsk, final = tree_reduce_layer(keys, sum, name="c", split_every=split_every)
    assert final in dsk
    for task in dsk.values():
        assert len(task[1]) <= split_every
    # every input feeds exactly one combine task
    used = [k for task in dsk.values() for k in task[1] if k in keys]
    assert sorted(used) == sorted(keys)


def test_lloyd_graph_has_readable_layers_and_bounded_deps():
    X = da.from_array(_blobs(), chunks=(100, 3))
    backend = DaskBackend(X, split_every=4)
    centers = np.zeros((1, 4, 3))
    graph, final = backend.reduce_graph(_lloyd_chunk, combine_partials,
                                        args=(centers, np.zeros(3)), phase="lloyd")
    prefixes = {key[0].rsplit("-", 1)[0] if isinstance(key, tuple) else key.rsplit("-", 1)[0]
                for key in graph.to_dict() if "dkmeans" in str(key)}
    assert prefixes == {"dkmeans-lloyd-args", "dkmeans-lloyd-partials", "dkmeans-lloyd-combine"}
    deps = dask.core.get_dependencies
    dsk = graph.to_dict()
    for key in dsk:
        if "combine" in str(key):
            assert len(deps(dsk, key)) <= 4
    # centres enter the graph once, as one key, not once per chunk
    args_keys = [k for k in dsk if "lloyd-args" in str(k)]
    assert len(args_keys) == 1


def test_dask_and_local_backends_agree_and_chunking_does_not_matter():
    X = _blobs()
    start = X[:4][None] - X.mean(0)
    shift = X.mean(0)
    results = []
    for backend in (LocalBackend(X, chunk_rows=1000),
                    DaskBackend(da.from_array(X, chunks=(333, 3))),
                    DaskBackend(da.from_array(X, chunks=(4000, 3)))):
        centers, n_iter, converged = lloyd(backend, start, shift=shift, tol=0.0, max_iter=100)
        results.append((centers, n_iter))
        assert converged[0]
    for centers, n_iter in results[1:]:
        np.testing.assert_allclose(centers, results[0][0], rtol=1e-12, atol=1e-12)
        assert n_iter[0] == results[0][1][0]


def test_inertia_never_increases():
    X = _blobs(seed=3)
    records = []
    lloyd(LocalBackend(X), X[:4][None] - X.mean(0), shift=X.mean(0), tol=0.0, max_iter=50,
          on_iteration=records.append)
    inertia = [r.inertia for r in records]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(inertia, inertia[1:]))


def test_tasks_run_on_a_cluster_under_their_names(client):
    X = da.from_array(_blobs(), chunks=(500, 3)).persist()
    backend = DaskBackend(X)
    lloyd(backend, np.zeros((1, 4, 3)) + np.arange(4)[None, :, None], shift=np.zeros(3),
          tol=0.0, max_iter=2)
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "dkmeans-lloyd-partials" in prefixes


def test_tasks_of_lazy_input_run_per_chunk_with_a_combine_tree(client):
    X = da.from_array(_blobs(), chunks=(500, 3))
    backend = DaskBackend(X)
    lloyd(backend, np.zeros((1, 4, 3)) + np.arange(4)[None, :, None], shift=np.zeros(3),
          tol=0.0, max_iter=2)
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "dkmeans-lloyd-combine" in prefixes
