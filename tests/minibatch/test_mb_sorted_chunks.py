"""Streaming over chunks that each hold a few clusters only, as files written sorted or
partitioned by a key do: the fit must still see, seed and keep every cluster.

One epoch over such chunks ends within about 2% of Lloyd's inertia here (each centre's running
mean took rows assigned against centres of different times); more epochs close the gap.
"""

import dask.array as da
import numpy as np
import pytest
from mb_helpers import ReadCounter, counted_array
from sklearn.datasets import make_blobs

from dkmeans import KMeans, MiniBatchKMeans
from dkmeans.dist.minibatch import StreamRows
from dkmeans.dist.minibatch_chunks import LocalExecutor

K, CHUNK_ROWS = 8, 2_500


@pytest.fixture(scope="module")
def sorted_blobs():
    """80k rows of 8 blobs, sorted by blob: 32 chunks, each holding one blob."""
    X, y = make_blobs(80_000, n_features=4, centers=K, random_state=3)
    order = np.argsort(y, kind="stable")
    X, y = X[order].astype(np.float32), y[order]
    lloyd = KMeans(K, random_state=0).fit(X)
    return X, y, lloyd


def _streamed(X):
    return da.from_array(X, chunks=(CHUNK_ROWS, X.shape[1]))


@pytest.mark.parametrize("seed", [0, 1])
def test_default_init_finds_every_cluster(sorted_blobs, seed):
    X, y, lloyd = sorted_blobs
    mb = MiniBatchKMeans(K, random_state=seed, streaming=True, max_iter=3).fit(_streamed(X))
    assert mb.inertia_ <= 1.03 * lloyd.inertia_, mb.inertia_ / lloyd.inertia_
    # one centre per blob (the blobs touch: Lloyd's own labels match them to 99.6%)
    labels = mb.predict(X)
    counts = [np.bincount(labels[y == b], minlength=K) for b in range(K)]
    assert len({int(c.argmax()) for c in counts}) == K
    assert min(c.max() / c.sum() for c in counts) >= 0.98


def test_good_centres_are_not_reassigned_before_every_chunk_was_read(sorted_blobs):
    """A centre whose blob sits in chunks not read yet has a count of 0; that is no reason
    to move it onto the blobs read so far."""
    X, _, lloyd = sorted_blobs
    fits = [MiniBatchKMeans(K, init=lloyd.cluster_centers_, streaming=True, max_iter=1,
                            reassignment_ratio=ratio, random_state=0).fit(_streamed(X))
            for ratio in (0.01, 0.0)]
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    assert fits[0].inertia_ <= 1.03 * lloyd.inertia_, fits[0].inertia_ / lloyd.inertia_


def test_more_epochs_close_the_gap(sorted_blobs):
    X, _, lloyd = sorted_blobs
    mb = MiniBatchKMeans(K, init=lloyd.cluster_centers_, streaming=True, max_iter=4,
                         max_no_improvement=None, random_state=0).fit(_streamed(X))
    assert mb.inertia_ <= 1.005 * lloyd.inertia_, mb.inertia_ / lloyd.inertia_


def test_early_stopping_waits_for_the_first_epoch(sorted_blobs):
    X, _, lloyd = sorted_blobs
    batch = 1024
    mb = MiniBatchKMeans(K, streaming=True, max_iter=5, max_no_improvement=1, batch_size=batch,
                         random_state=0).fit(_streamed(X))
    steps_per_epoch = X.shape[0] // batch
    assert mb.n_steps_ >= 0.9 * steps_per_epoch, (mb.n_steps_, steps_per_epoch)
    assert mb.inertia_ <= 1.03 * lloyd.inertia_


def test_seeding_sample_comes_from_every_chunk_in_proportion():
    # feature 0 holds the chunk's number; chunks of unequal lengths
    lengths = np.array([1_000, 3_000, 2_000, 4_000, 1_000, 5_000, 2_000, 2_000])
    chunk_of_row = np.repeat(np.arange(len(lengths)), lengths)
    X = np.column_stack([chunk_of_row, np.arange(len(chunk_of_row))]).astype(np.float64)
    dX = da.from_array(X, chunks=(tuple(lengths), (2,)))
    rows = StreamRows(dX, None, LocalExecutor(), stream_chunks=2)
    try:
        sample, weights = rows.init_sample(0, 2_000)
    finally:
        rows.close()
    assert weights is None
    counts = np.bincount(sample[:, 0].astype(int), minlength=len(lengths))
    np.testing.assert_array_equal(counts, -(-2_000 * lengths // lengths.sum()))
    assert len(np.unique(sample[:, 1])) == len(sample)  # distinct rows


def test_seeding_sample_does_not_depend_on_the_group_size():
    X, _ = make_blobs(30_000, n_features=3, centers=4, random_state=1)
    dX = da.from_array(X, chunks=(2_500, 3))
    samples = []
    for stream_chunks in (2, 3, 5):
        rows = StreamRows(dX, None, LocalExecutor(), stream_chunks=stream_chunks)
        try:
            samples.append(rows.init_sample(7, 1_000)[0])
        finally:
            rows.close()
    np.testing.assert_array_equal(samples[0], samples[1])
    np.testing.assert_array_equal(samples[0], samples[2])


def test_explicit_init_takes_its_sample_without_an_extra_read():
    X, _ = make_blobs(20_000, n_features=3, centers=4, random_state=0)
    counter = ReadCounter()
    dX = counted_array(X, 2_000, counter)
    MiniBatchKMeans(4, init=X[:4], max_iter=1, max_no_improvement=None, compute_labels=False,
                    stream_chunks=2, random_state=0).fit(dX)
    assert sorted(counter.reads) == list(range(10))  # one epoch, nothing more
