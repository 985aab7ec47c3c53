"""scikit-learn's estimator checks, run on :class:`dkmeans.KMeans`, one test id per check.

scikit-learn is a test-only dependency: these tests are the contract that dkmeans' own
validation (``dkmeans/estimators/_validation.py``) keeps to scikit-learn's conventions.
"""

from functools import partial

import pytest

pytest.importorskip("sklearn")

from sklearn.cluster import KMeans as SklearnKMeans  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from dkmeans import KMeans  # noqa: E402

#: The only checks dkmeans' KMeans is allowed to fail: those scikit-learn's KMeans fails too
#: (scikit-learn lists them in its own ``PER_ESTIMATOR_XFAIL_CHECKS``).
#: ``check_sample_weight_equivalence_on_sparse_data`` fails for scikit-learn as well but is
#: not generated here, as dkmeans declares no sparse support.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples: the random "
        "initialisation draws differ between the weighted and the repeated data, as in "
        "scikit-learn's KMeans. From the same initial centres the two fits agree "
        "(test_api_conventions.py::test_weights_equal_repeated_rows_from_fixed_init)."
    ),
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks([KMeans()], expected_failed_checks=_expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# scikit-learn generates its clustering checks only for subclasses of its ClusterMixin,
# which dkmeans cannot be without importing scikit-learn; run them by hand.
CLUSTERING_CHECKS = [
    estimator_checks.check_clusterer_compute_labels_predict,
    estimator_checks.check_clustering,
    partial(estimator_checks.check_clustering, readonly_memmap=True),
]


@pytest.mark.parametrize(
    "check", CLUSTERING_CHECKS,
    ids=["check_clusterer_compute_labels_predict", "check_clustering",
         "check_clustering(readonly_memmap=True)"])
def test_sklearn_clustering_checks(check):
    check("KMeans", KMeans())


@pytest.mark.parametrize("check_name", sorted(EXPECTED_FAILED_CHECKS))
def test_expected_failures_also_fail_for_sklearn_kmeans(check_name):
    # keeps the list honest: a check may be listed only if scikit-learn's KMeans fails it too
    check = getattr(estimator_checks, check_name)
    with pytest.raises(AssertionError, match="sample_weight"):
        check("KMeans", SklearnKMeans())
