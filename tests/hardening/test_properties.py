"""Property-based tests (hypothesis): the config loader fails only with ConfigError whatever
it is given; the Lloyd kernels combine associatively, keep centres inside the data's bounding
box, and never let the inertia grow from one iteration to the next."""

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dkmeans.config import load_any_config
from dkmeans.dist.backend import LocalBackend
from dkmeans.dist.lloyd import lloyd
from dkmeans.errors import ConfigError
from dkmeans.kernels.partials import chunk_partials, combine_partials, finalize_centers

FAST = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------
# the config loader

ENV = {"AWS_SECRET_ACCESS_KEY": "property-secret-value", "K": "3"}
TOKENS = list(" \t\n:-[]{},#&*!|>'\"%@`?$\\~.eE+0129xyz") + [
    "${", "${K:-", "}", "null", "true", "n_clusters", "input", "url", "model", "output",
    "!!python/object:os.system", "\x00", "é", "\ufeff"]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)
BASE = "name: p\ninput: {url: data/}\nmodel: {n_clusters: 3}\noutput: {url: out/}\n"
KEYS = st.sampled_from(["name", "input", "input.url", "input.features", "model",
                        "model.n_clusters", "model.k_range", "model.init", "cluster",
                        "cluster.address", "output.mode", "preprocess.scale", "x", "",
                        "input.storage_options.key", "model.n_clusters.x", "."])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


def _only_config_errors(text, overrides=()):
    try:
        load_any_config(text if text.endswith("\n") else text + "\n", overrides=list(overrides),
                        environ=ENV)
    except ConfigError as exc:
        assert str(exc) and ENV["AWS_SECRET_ACCESS_KEY"] not in str(exc)


@FAST
@given(text=YAMLISH)
def test_any_text_loads_or_is_a_config_error(text):
    _only_config_errors(text)


@FAST
@given(prefix=YAMLISH, suffix=YAMLISH)
def test_a_valid_job_with_noise_around_it_loads_or_is_a_config_error(prefix, suffix):
    _only_config_errors(prefix + BASE + suffix)


@FAST
@given(changes=st.dictionaries(KEYS, VALUES, max_size=3))
def test_any_values_at_any_keys_load_or_are_a_config_error(changes):
    data = yaml.safe_load(BASE)
    for dotted, value in changes.items():
        node, *path = data, *dotted.split(".")
        for part in path[:-1]:
            if not isinstance(node, dict):
                break
            node = node.setdefault(part, {})
        if isinstance(node, dict):
            node[path[-1]] = value
    _only_config_errors(yaml.safe_dump(data, allow_unicode=True))


@FAST
@given(overrides=st.lists(st.tuples(KEYS, YAMLISH).map("=".join) | YAMLISH, max_size=3))
def test_any_overrides_load_or_are_a_config_error(overrides):
    _only_config_errors(BASE, overrides)


# ------------------------------------------------------------------------------------------
# the kernels


@st.composite
def chunked_data(draw, *, max_rows=40):
    """Rows (some duplicated), start centres taken from the rows, split into three chunks."""
    d = draw(st.integers(1, 4))
    k = draw(st.integers(1, 5))
    n = draw(st.integers(max(k, 3), max_rows))
    values = arrays(np.float64, (n, d), elements=st.floats(-1e3, 1e3, width=32))
    X = draw(values)
    if draw(st.booleans()):  # heavy duplication: fewer distinct points than k, empty clusters
        X = X[np.arange(n) % draw(st.integers(1, 3))]
    rows = draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
    return X, X[rows].copy(), cuts


def _parts(X, centers, cuts):
    shift = X.mean(axis=0)
    bounds = [0, *cuts, len(X)]
    return shift, [chunk_partials(X[a:b], (centers - shift)[None], shift, row_offset=a)
                   for a, b in zip(bounds[:-1], bounds[1:])]


@FAST
@given(data=chunked_data())
def test_combine_partials_is_associative(data):
    X, centers, cuts = data
    _, (a, b, c) = _parts(X, centers, cuts)
    flat = combine_partials([a, b, c])
    for grouped in (combine_partials([combine_partials([a, b]), c]),
                    combine_partials([a, combine_partials([b, c])])):
        np.testing.assert_array_equal(grouped.counts, flat.counts)  # sums of whole weights
        np.testing.assert_array_equal(grouped.far_index, flat.far_index)
        np.testing.assert_array_equal(grouped.far_label, flat.far_label)
        np.testing.assert_array_equal(grouped.far_rows, flat.far_rows)
        np.testing.assert_allclose(grouped.sums, flat.sums, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(grouped.inertia, flat.inertia, rtol=1e-12, atol=1e-9)
        assert grouped.n_rows == flat.n_rows == len(X)


@FAST
@given(data=chunked_data())
def test_new_centres_stay_inside_the_bounding_box(data):
    X, centers, cuts = data
    shift, parts = _parts(X, centers, cuts)
    new, _, _ = finalize_centers(combine_partials(parts), (centers - shift)[None])
    low, high = X.min(axis=0), X.max(axis=0)
    slack = 1e-9 * (1 + np.abs(X).max())
    assert np.all(new[0] + shift >= low - slack) and np.all(new[0] + shift <= high + slack)


@FAST
@given(data=chunked_data(max_rows=80), chunk_rows=st.integers(1, 30))
def test_lloyd_inertia_never_increases(data, chunk_rows):
    X, centers, _ = data
    shift = X.mean(axis=0)
    records = []
    lloyd(LocalBackend(X, chunk_rows=chunk_rows, n_threads=1), (centers - shift)[None],
          shift=shift, tol=0.0, max_iter=12, on_iteration=records.append)
    inertia = np.array([r.inertia for r in records])
    scale = 1e-9 * (1.0 + inertia.max(initial=0.0))
    assert np.all(np.diff(inertia) <= scale), inertia

