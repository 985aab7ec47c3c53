"""``--set dotted.key=value`` overrides."""

from __future__ import annotations

import pytest

from config_helpers import job_yaml
from dkmeans.config import load_config
from dkmeans.config.overrides import apply_overrides, parse_override
from dkmeans.config.schema import JobConfig
from dkmeans.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "path", "value"),
    [
        ("model.n_clusters=12", ("model", "n_clusters"), 12),
        ("model.k_range=[2,8]", ("model", "k_range"), [2, 8]),
        ("output.distance=true", ("output", "distance"), True),
        ("model.tol=1e-6", ("model", "tol"), 1e-6),
        ("model.random_state=null", ("model", "random_state"), None),
        ("model.random_state=", ("model", "random_state"), None),
        ("input.url=s3://lake/2026-11-22/", ("input", "url"), "s3://lake/2026-11-22/"),
        ("name=2026-11-22", ("name",), "2026-11-22"),  # dates stay text
        ("name='007'", ("name",), "007"),
        ("model.init=k-means||", ("model", "init"), "k-means||"),
        ("cluster={address: 'tcp://s:8786'}", ("cluster",), {"address": "tcp://s:8786"}),
        (" model . n_clusters =3", ("model", "n_clusters"), 3),
        ("input.filters=[[a, '==', 'x=y']]", ("input", "filters"), [["a", "==", "x=y"]]),
    ],
)
def test_parse_override(override: str, path: tuple[str, ...], value: object) -> None:
    assert parse_override(override) == (path, value)


def test_overrides_apply_in_order_and_win() -> None:
    cfg = load_config(
        job_yaml({"model.n_clusters": 8}),
        overrides=["model.n_clusters=3", "model.n_clusters=5", "model.random_state=9"],
        environ={},
    )
    assert (cfg.model.n_clusters, cfg.model.random_state) == (5, 9)


def test_switch_from_n_clusters_to_k_range() -> None:
    cfg = load_config(job_yaml(), overrides=["model.n_clusters=null", "model.k_range=[2, 6]"], environ={})
    assert cfg.model.k_values == [2, 3, 4, 5, 6]


def test_override_creates_missing_sections() -> None:
    cfg = load_config(job_yaml(), overrides=["evaluate.label_column=label", "cluster.n_workers=4"], environ={})
    assert cfg.evaluate is not None and cfg.evaluate.label_column == "label"
    assert cfg.cluster.n_workers == 4


def test_override_replaces_a_whole_section() -> None:
    text = job_yaml({"cluster": {"n_workers": 4, "memory_limit": "2GiB"}})
    with pytest.raises(ConfigError, match="cluster.address, cluster.n_workers, cluster.memory_limit"):
        load_config(text, overrides=["cluster.address=tcp://s:8786"], environ={})
    cfg = load_config(text, overrides=["cluster={address: 'tcp://s:8786'}"], environ={})
    assert cfg.cluster.address == "tcp://s:8786" and not cfg.cluster.is_local


def test_anything_goes_below_storage_options() -> None:
    cfg = load_config(
        job_yaml(),
        overrides=["input.storage_options.client_kwargs.region_name=eu-west-1", "output.storage_options.anon=true"],
        environ={},
    )
    assert cfg.input.storage_options == {"client_kwargs": {"region_name": "eu-west-1"}}
    assert cfg.output.storage_options == {"anon": True}


def test_override_values_are_not_interpolated() -> None:
    cfg = load_config(job_yaml(), overrides=["input.url=${NOT_EXPANDED}"], environ={})
    assert cfg.input.url == "${NOT_EXPANDED}"


def test_apply_overrides_leaves_its_input_alone() -> None:
    data = {"model": {"n_clusters": 3}}
    result, overridden = apply_overrides(data, ["model.n_clusters=4"], schema=JobConfig)
    assert data == {"model": {"n_clusters": 3}}
    assert result == {"model": {"n_clusters": 4}}
    assert overridden == {("model", "n_clusters")}


def test_override_through_a_scalar_in_the_file() -> None:
    with pytest.raises(ConfigError, match="'preprocess' holds str"):
        load_config(job_yaml({"preprocess": "standard"}), overrides=["preprocess.scale=none"], environ={})


def test_a_single_string_is_one_override() -> None:
    assert load_config(job_yaml(), overrides="model.n_clusters=4", environ={}).model.n_clusters == 4  # type: ignore[arg-type]
