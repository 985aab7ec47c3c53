"""scikit-learn's estimator checks, run on :class:`dkmeans.KMeans` and
:class:`dkmeans.MiniBatchKMeans`, one test id per estimator and check.

scikit-learn is a test-only dependency: these tests are the contract that dkmeans' own
validation (``dkmeans/estimators/_validation.py``) keeps to scikit-learn's conventions.
"""

from functools import partial

import pytest

pytest.importorskip("sklearn")

from sklearn import cluster as sklearn_cluster  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from dkmeans import KMeans, MiniBatchKMeans  # noqa: E402

#: The only checks each estimator is allowed to fail: those its scikit-learn counterpart
#: fails too (scikit-learn lists them in its own ``PER_ESTIMATOR_XFAIL_CHECKS``).
#: ``check_sample_weight_equivalence_on_sparse_data`` fails for scikit-learn as well but is
#: not generated here, as dkmeans declares no sparse support.
EXPECTED_FAILED_CHECKS = {
    "KMeans": {
        "check_sample_weight_equivalence_on_dense_data": (
            "sample_weight is not equivalent to removing/repeating samples: the random "
            "initialisation draws differ between the weighted and the repeated data, as in "
            "scikit-learn's KMeans. From the same initial centres the two fits agree "
            "(test_api_conventions.py::test_weights_equal_repeated_rows_from_fixed_init)."
        ),
    },
    "MiniBatchKMeans": {
        "check_sample_weight_equivalence_on_dense_data": (
            "sample_weight is not equivalent to removing/repeating samples: mini-batches "
            "drawn from the weighted and from the repeated data differ, as in scikit-learn's "
            "MiniBatchKMeans."
        ),
    },
}
ESTIMATORS = [KMeans, MiniBatchKMeans]


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


@parametrize_with_checks([cls() for cls in ESTIMATORS],
                         expected_failed_checks=_expected_failed_checks, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# scikit-learn generates its clustering checks only for subclasses of its ClusterMixin,
# which dkmeans cannot be without importing scikit-learn; run them by hand.
CLUSTERING_CHECKS = {
    "check_clusterer_compute_labels_predict":
        estimator_checks.check_clusterer_compute_labels_predict,
    "check_clustering": estimator_checks.check_clustering,
    "check_clustering(readonly_memmap=True)":
        partial(estimator_checks.check_clustering, readonly_memmap=True),
}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("check_name", sorted(CLUSTERING_CHECKS))
def test_sklearn_clustering_checks(cls, check_name):
    CLUSTERING_CHECKS[check_name](cls.__name__, cls())


@pytest.mark.parametrize("name,check_name", [
    (name, check) for name, checks in EXPECTED_FAILED_CHECKS.items() for check in sorted(checks)])
def test_expected_failures_also_fail_for_sklearn(name, check_name):
    # keeps the lists honest: a check may be listed only if scikit-learn's own estimator of
    # the same name fails it too
    check = getattr(estimator_checks, check_name)
    with pytest.raises(AssertionError, match="sample_weight"):
        check(name, getattr(sklearn_cluster, name)())
