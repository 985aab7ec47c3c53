"""``MiniBatchKMeans``: quality against full Lloyd, determinism, partial_fit, API conventions."""

import pickle
import warnings

import dask.array as da
import numpy as np
import pytest
from mb_helpers import ReadCounter, blobs, counted_array
from sklearn.cluster import kmeans_plusplus

from dkmeans import KMeans, MiniBatchKMeans

# (rows, features, centres): scaled-down datasets S and M of the engine issue
SHAPES = {"S": (100_000, 32, 16), "M": (200_000, 16, 8)}
CHUNK_ROWS = 10_000


@pytest.fixture(scope="module", params=sorted(SHAPES))
def dataset(request):
    n, d, k = SHAPES[request.param]
    X = blobs(n, d, k, seed=1)
    init, _ = kmeans_plusplus(X[:20_000], k, random_state=0)
    lloyd = KMeans(k, init=init).fit(X)
    return X, init, lloyd


def test_numpy_within_one_percent_of_lloyd_in_three_reads(dataset):
    X, init, lloyd = dataset
    mb = MiniBatchKMeans(init.shape[0], init=init, max_iter=2, random_state=0).fit(X)
    ratio = mb.inertia_ / lloyd.inertia_
    assert abs(ratio - 1) <= 0.01, ratio
    # rows sampled by the steps, plus the final pass that computes labels_ and inertia_
    reads = mb.n_steps_ * mb.batch_size / X.shape[0] + 1
    assert reads <= 3 and mb.n_iter_ <= 2


def test_streaming_within_one_percent_of_lloyd_in_three_reads(dataset):
    X, init, lloyd = dataset
    counter = ReadCounter()
    dX = counted_array(X, CHUNK_ROWS, counter)
    mb = MiniBatchKMeans(init.shape[0], init=init, max_iter=2, random_state=0).fit(dX)
    ratio = mb.inertia_ / lloyd.inertia_
    assert abs(ratio - 1) <= 0.01, ratio
    assert len(counter.reads) <= 3 * dX.numblocks[0]  # init sample, epochs and final pass
    assert isinstance(mb.labels_, da.Array)
    np.testing.assert_array_equal(mb.labels_.compute(), mb.predict(X))


def test_streaming_epoch_reads_each_chunk_once():
    X = blobs(60_000, 4, 5)
    counter = ReadCounter()
    dX = counted_array(X, 5_000, counter)
    mb = MiniBatchKMeans(5, max_iter=2, max_no_improvement=None, compute_labels=False,
                         stream_chunks=3, batch_size=500, random_state=0).fit(dX)
    n_chunks = dX.numblocks[0]
    # the sample that seeds the centres reads every chunk once, then each epoch does
    assert sorted(counter.reads) == sorted(list(range(n_chunks)) * 3)
    first, second = counter.reads[n_chunks:2 * n_chunks], counter.reads[2 * n_chunks:]
    assert first != second  # a new random chunk order every epoch
    assert mb.n_iter_ == 2 and mb.n_steps_ == 2 * 60_000 // 500
    assert not hasattr(mb, "labels_")


def test_same_seed_same_centres_bitwise():
    X = blobs(30_000, 8, 6)
    a = MiniBatchKMeans(6, random_state=3).fit(X)
    b = MiniBatchKMeans(6, random_state=3).fit(X)
    c = MiniBatchKMeans(6, random_state=4).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert not np.array_equal(a.cluster_centers_, c.cluster_centers_)


def test_numpy_and_persisted_dask_draw_the_same_batches():
    X = blobs(40_000, 6, 5).astype(np.float64)
    a = MiniBatchKMeans(5, random_state=1, max_iter=3).fit(X)
    b = MiniBatchKMeans(5, random_state=1, max_iter=3).fit(
        da.from_array(X, chunks=(7_000, 6)).persist())
    assert a.n_steps_ == b.n_steps_
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-9)


def test_attributes_dtype_and_consistency():
    X = blobs(20_000, 5, 4)
    mb = MiniBatchKMeans(4, random_state=0).fit(X)
    assert mb.cluster_centers_.dtype == np.float32 and mb.labels_.dtype == np.int32
    assert mb.n_features_in_ == 5 and mb.n_steps_ >= 1 and mb.n_iter_ >= 1
    np.testing.assert_array_equal(mb.labels_, mb.predict(X))
    assert mb.score(X) == pytest.approx(-mb.inertia_, rel=1e-5)
    assert mb.transform(X).shape == (20_000, 4)
    np.testing.assert_array_equal(mb.fit_predict(X), mb.labels_)
    estimate = MiniBatchKMeans(4, random_state=0, compute_labels=False).fit(X).inertia_
    assert estimate == pytest.approx(mb.inertia_, rel=0.1)  # smoothed batch inertia


def test_unit_weights_equal_no_weights():
    X = blobs(10_000, 4, 3)
    a = MiniBatchKMeans(3, random_state=0).fit(X)
    b = MiniBatchKMeans(3, random_state=0).fit(X, sample_weight=np.ones(10_000))
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_partial_fit_on_successive_blocks_keeps_learning():
    X = blobs(60_000, 8, 6, seed=2)
    lloyd = KMeans(6, random_state=0).fit(X)
    blocks = np.array_split(X[np.random.default_rng(0).permutation(60_000)], 12)
    mb = MiniBatchKMeans(6, random_state=0)
    for block in blocks[:6]:
        mb.partial_fit(block)
    checkpoint = pickle.dumps(mb)  # the state a job runner would save
    steps = mb.n_steps_
    for block in blocks[6:]:
        mb.partial_fit(block)
    assert mb.n_steps_ == 12 * steps // 6
    assert mb._counts.sum() == pytest.approx(60_000)  # every row counted once
    assert mb.score(X) >= -1.01 * lloyd.inertia_
    resumed = pickle.loads(checkpoint)
    for block in blocks[6:]:
        resumed.partial_fit(block)
    np.testing.assert_array_equal(resumed.cluster_centers_, mb.cluster_centers_)


def test_partial_fit_block_within_a_batch_is_sklearn_step():
    X = blobs(500, 3, 4)
    init = X[:4].astype(np.float64)
    mb = MiniBatchKMeans(4, init=init, batch_size=1024, reassignment_ratio=0.0)
    mb.partial_fit(X)
    labels = ((X[:, None, :] - init[None]) ** 2).sum(-1).argmin(1)
    expected = np.stack([X[labels == j].mean(0) for j in range(4)])  # counts start at zero
    np.testing.assert_allclose(mb.cluster_centers_, expected, rtol=1e-5)
    assert mb.n_steps_ == 1 and mb.labels_.shape == (500,)


def test_partial_fit_on_dask_blocks():
    X = blobs(40_000, 4, 4)
    mb = MiniBatchKMeans(4, random_state=0, batch_size=512)
    for block in np.array_split(X, 4):
        mb.partial_fit(da.from_array(block, chunks=(2_500, 4)) * 1)
    assert mb.n_steps_ >= 4 * 10_000 // 512 - 4
    assert mb.score(X) >= -1.02 * KMeans(4, random_state=0).fit(X).inertia_


def test_errors_name_the_problem():
    X = blobs(100, 3, 2)
    with pytest.raises(ValueError, match="n_samples=100 should be >= n_clusters=200"):
        MiniBatchKMeans(200).fit(X)
    with pytest.raises(ValueError, match="'batch_size' parameter of MiniBatchKMeans"):
        MiniBatchKMeans(2, batch_size=0).fit(X)
    with pytest.raises(ValueError, match="'reassignment_ratio'"):
        MiniBatchKMeans(2, reassignment_ratio=-1.0).fit(X)
    with pytest.raises(ValueError, match="'streaming'"):
        MiniBatchKMeans(2, streaming="yes").fit(X)
    bad = X.copy()
    bad[17, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity: 1 row.*row 17"):
        MiniBatchKMeans(2).fit(bad)
    with pytest.raises(ValueError, match="NaN or infinity"):
        MiniBatchKMeans(2).fit(da.from_array(bad, chunks=(30, 3)) * 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="init_size=1 should be larger"):
            MiniBatchKMeans(2, init_size=1).fit(X)
