"""The schema's defaults, normalisations and helpers, and the config hash."""

from __future__ import annotations

import pytest

from config_helpers import MINIMAL_JOB, edited, job_yaml
from dkmeans.config import (
    RUNTIME_ONLY_SECTIONS,
    JobConfig,
    config_hash,
    load_config,
    parse_duration,
    parse_size,
)


def test_defaults_of_a_minimal_job() -> None:
    cfg = JobConfig.model_validate(MINIMAL_JOB)
    assert cfg.input.features is None and cfg.input.id_columns == [] and cfg.input.storage_options == {}
    assert (cfg.input.nan_policy, cfg.input.dtype, cfg.input.chunk_bytes) == ("error", "float32", 128 * 2**20)
    assert cfg.preprocess.scale == "none"
    m = cfg.model
    assert (m.algorithm, m.init, m.n_init, m.max_iter, m.tol, m.random_state) == ("lloyd", "k-means||", "auto", 300, 1e-4, None)
    assert (m.oversampling_factor, m.init_rounds) == (2.0, 2)
    assert (m.batch_size, m.max_no_improvement, m.reassignment_ratio, m.init_size) == (1024, 10, 0.01, None)
    assert cfg.evaluate is None
    c = cfg.cluster
    assert c.is_local and (c.n_workers, c.threads_per_worker, c.memory_limit, c.processes) == (2, 1, "auto", True)
    assert c.dashboard_address == "127.0.0.1:8787" and c.timeout == 30.0 and c.memory_limit_bytes is None
    assert (cfg.output.mode, cfg.output.distance) == ("error", False)
    assert (cfg.report.html, cfg.report.performance) == (True, False)
    assert cfg.checkpoint.enabled is True


def test_empty_sections_read_as_defaults() -> None:
    cfg = load_config(job_yaml() + "preprocess:\ncluster:\nreport:\nevaluate:\n", environ={})
    assert cfg.preprocess.scale == "none" and cfg.cluster.n_workers == 2 and cfg.evaluate is None


def test_config_is_frozen() -> None:
    cfg = JobConfig.model_validate(MINIMAL_JOB)
    with pytest.raises(Exception):
        cfg.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("init", "n_init", "expected"),
    [("k-means||", "auto", 1), ("k-means++", "auto", 1), ("random", "auto", 10), ("random", 3, 3), ("k-means||", "5", 5)],
)
def test_resolved_n_init(init: str, n_init: object, expected: int) -> None:
    cfg = JobConfig.model_validate(edited(MINIMAL_JOB, {"model.init": init, "model.n_init": n_init}))
    assert cfg.model.resolved_n_init() == expected


def test_k_values() -> None:
    assert JobConfig.model_validate(MINIMAL_JOB).model.k_values == [8]
    cfg = JobConfig.model_validate(edited(MINIMAL_JOB, {"model": {"k_range": [3, 5]}}))
    assert cfg.model.k_range == (3, 5) and cfg.model.k_values == [3, 4, 5]


def test_minibatch_keys_with_minibatch() -> None:
    cfg = JobConfig.model_validate(
        edited(MINIMAL_JOB, {"model.algorithm": "minibatch", "model.batch_size": 256, "model.max_no_improvement": None})
    )
    assert cfg.model.batch_size == 256 and cfg.model.max_no_improvement is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([["country", "==", "DE"]], [[("country", "==", "DE")]]),
        ([["a", ">", 1], ["b", "in", [1, 2]]], [[("a", ">", 1), ("b", "in", [1, 2])]]),
        ([[["a", "=", 1]], [["b", "!=", 2]]], [[("a", "=", 1)], [("b", "!=", 2)]]),
    ],
)
def test_filters_are_normalised_to_dnf(filters: list, expected: list) -> None:
    cfg = JobConfig.model_validate(edited(MINIMAL_JOB, {"input.filters": filters}))
    assert cfg.input.filters == expected


def test_norway_stays_text_in_filters() -> None:
    cfg = load_config(job_yaml() .replace("  url: data/x/\n", "  url: data/x/\n  filters: [[country, '==', NO]]\n"), environ={})
    assert cfg.input.filters == [[("country", "==", "NO")]]


def test_sizes_and_durations_in_config() -> None:
    cfg = JobConfig.model_validate(
        edited(MINIMAL_JOB, {"input.chunk_bytes": "64 MiB", "cluster": {"memory_limit": "4GiB", "timeout": "2m"}})
    )
    assert cfg.input.chunk_bytes == 64 * 2**20
    assert cfg.cluster.memory_limit == "4GiB" and cfg.cluster.memory_limit_bytes == 4 * 2**30
    assert cfg.cluster.timeout == 120.0
    assert JobConfig.model_validate(edited(MINIMAL_JOB, {"cluster.memory_limit": 1000})).cluster.memory_limit == "1000"


def test_remote_cluster_with_tls() -> None:
    cfg = JobConfig.model_validate(
        edited(MINIMAL_JOB, {"cluster": {"address": "tls://s:8786", "tls": {"ca_file": "ca", "cert": "c"}, "timeout": 5}})
    )
    assert not cfg.cluster.is_local and cfg.cluster.tls is not None and cfg.cluster.tls.key is None
    assert cfg.cluster.timeout == 5.0


@pytest.mark.parametrize(
    ("text", "size"),
    [("128MiB", 128 * 2**20), ("4 GiB", 4 * 2**30), ("500MB", 500 * 10**6), ("1.5GB", 1_500_000_000),
     ("1024", 1024), (2048, 2048), ("10kB", 10_000), ("2G", 2 * 10**9), ("1 b", 1)],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "MiB", "4 parsecs", "-1GB", -5, True, None, 1.5, "1e3MB", "4 GiB extra"])
def test_parse_size_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_size(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), ("1.5 s", 1.5), ("10", 10.0), (7, 7.0), (0.25, 0.25)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-3s", "5 fortnights", True, float("inf"), -1])
def test_parse_duration_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_duration(bad)


# --- config_hash ------------------------------------------------------------------------

def test_hash_ignores_formatting_order_and_spelled_out_defaults() -> None:
    a = load_config(job_yaml(), environ={})
    b = load_config(
        "# a comment\noutput: {url: out/x/, mode: error}\nmodel:\n  max_iter: 300\n  n_clusters: 8\n"
        "input: {url: data/x/}\nname: demo\n",
        environ={},
    )
    assert config_hash(a) == config_hash(b)


def test_hash_changes_with_what_matters() -> None:
    base = config_hash(load_config(job_yaml(), environ={}))
    assert config_hash(load_config(job_yaml(), overrides=["model.n_clusters=9"], environ={})) != base
    assert config_hash(load_config(job_yaml(), overrides=["input.url=data/y/"], environ={})) != base


def test_hash_ignores_credentials() -> None:
    text = job_yaml({"input.storage_options": {"secret": "${SECRET}", "endpoint_url": "http://m:9000"}})
    one = load_config(text, environ={"SECRET": "first-secret"})
    two = load_config(text, environ={"SECRET": "rotated-secret"})
    assert config_hash(one) == config_hash(two)


def test_hash_can_leave_out_runtime_sections() -> None:
    a = load_config(job_yaml(), environ={})
    b = load_config(job_yaml(), overrides=["cluster.n_workers=8", "report.html=false"], environ={})
    assert config_hash(a) != config_hash(b)
    assert config_hash(a, exclude=RUNTIME_ONLY_SECTIONS) == config_hash(b, exclude=RUNTIME_ONLY_SECTIONS)


def test_hash_is_pinned() -> None:
    # Any change to the schema's fields or defaults changes every job's hash, so finished jobs
    # look new to their reruns and checkpoints no longer match. Update this value on purpose.
    cfg = JobConfig.model_validate(MINIMAL_JOB)
    assert config_hash(cfg) == "a25ff695ef7d8c3772adb5940b667778ad33ebae7bd666756b51422f254ec457"
