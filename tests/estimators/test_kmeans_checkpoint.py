"""A fit resumed from a checkpoint ends bitwise where an uninterrupted fit ends."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from dkmeans import KMeans


class MemoryCheckpoint:
    def __init__(self, stop_after=None):
        self.state = None
        self.stop_after = stop_after

    def load(self):
        return self.state

    def save(self, state):
        self.state = state
        if self.stop_after is not None and state["iteration"] >= self.stop_after:
            raise KeyboardInterrupt("simulated crash")


@pytest.fixture(scope="module")
def X():
    return make_blobs(5000, n_features=4, centers=12, cluster_std=3.0, random_state=0)[0]


def test_resume_gives_bitwise_the_same_result(X):
    whole = KMeans(12, random_state=3, tol=0).fit(X)
    assert whole.n_iter_ > 4
    checkpoint = MemoryCheckpoint(stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        KMeans(12, random_state=3, tol=0).fit(X, checkpoint=checkpoint)
    assert checkpoint.state["iteration"] == 3
    checkpoint.stop_after = None
    records = []
    resumed = KMeans(12, random_state=3, tol=0).fit(X, checkpoint=checkpoint,
                                                   on_iteration=records.append)
    assert records[0].iteration == 4  # nothing before the checkpoint was recomputed
    assert np.array_equal(resumed.cluster_centers_, whole.cluster_centers_)
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    assert resumed.n_iter_ == whole.n_iter_ and resumed.inertia_ == whole.inertia_
    assert len(resumed.history_) == len(whole.history_)


def test_checkpoint_of_another_fit_is_ignored(X):
    checkpoint = MemoryCheckpoint()
    KMeans(12, random_state=3, max_iter=2).fit(X, checkpoint=checkpoint)
    records = []
    KMeans(12, random_state=4).fit(X, checkpoint=checkpoint, on_iteration=records.append)
    assert records[0].iteration == 1
