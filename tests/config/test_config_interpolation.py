"""``${VAR}`` interpolation: substitution, defaults, escapes, and what it refuses."""

from __future__ import annotations

import pytest

from config_helpers import job_yaml
from dkmeans.config import load_config
from dkmeans.config.interpolate import interpolate, interpolate_string
from dkmeans.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("plain", {}, "plain"),
        ("${A}", {"A": "1"}, "1"),
        ("s3://${BUCKET}/x/${DAY}/", {"BUCKET": "lake", "DAY": "2026-11-22"}, "s3://lake/x/2026-11-22/"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),  # as a shell: unset or empty
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("${A:-http://h:9000/p}", {}, "http://h:9000/p"),  # ':' and '/' in defaults
        ("${A}", {"A": ""}, ""),  # set but empty, no default: empty
        ("$${A}", {"A": "1"}, "${A}"),  # escape
        ("$$${A}", {"A": "1"}, "$${A}"),  # "$" then the escape "$${"
        ("cost $5 and $HOME", {"HOME": "/root"}, "cost $5 and $HOME"),  # only ${...} is special
        ("${A}${B}", {"A": "x", "B": "y"}, "xy"),
        ("${A}", {"A": "${B}"}, "${B}"),  # substituted values are not scanned again
    ],
)
def test_interpolate_string(text: str, environ: dict[str, str], expected: str) -> None:
    assert interpolate_string(text, environ)[0] == expected


@pytest.mark.parametrize("text", ["${}", "${1A}", "${A B}", "${A-x}", "${A", "x ${A:-b"])
def test_malformed_references_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        interpolate_string(text, {"A": "1"})


def test_numbers_and_booleans_come_from_text() -> None:
    text = job_yaml({"model.n_clusters": "${K}", "model.tol": "${TOL:-1e-3}", "output.distance": "${DIST:-true}"})
    cfg = load_config(text, environ={"K": "12"})
    assert cfg.model.n_clusters == 12
    assert cfg.model.tol == pytest.approx(1e-3)
    assert cfg.output.distance is True


def test_interpolation_reaches_nested_values_but_not_keys() -> None:
    text = job_yaml(
        {
            "input.storage_options": {"client_kwargs": {"region_name": "${REGION}"}, "${KEY}": "v"},
            "input.features": ["${F1}", "b"],
        }
    )
    cfg = load_config(text, environ={"REGION": "eu-west-1", "F1": "a", "KEY": "nope"})
    assert cfg.input.storage_options == {"client_kwargs": {"region_name": "eu-west-1"}, "${KEY}": "v"}
    assert cfg.input.features == ["a", "b"]


def test_unset_variable_names_variable_key_and_line(write_config) -> None:
    path = write_config(job_yaml({"output.url": "s3://${BUCKET}/out/"}))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "'BUCKET'" in message and "output.url" in message and "line 7" in message


def test_environ_defaults_to_os_environ(monkeypatch) -> None:
    monkeypatch.setenv("DKMEANS_TEST_K", "5")
    assert load_config(job_yaml({"model.n_clusters": "${DKMEANS_TEST_K}"})).model.n_clusters == 5


def test_interpolate_returns_a_copy_and_secret_values() -> None:
    data = {"a": {"key": "${AWS_ACCESS_KEY_ID}", "url": "${AWS_SECRET_ACCESS_KEY}@x", "plain": "${USER_NAME}"}}
    env = {"AWS_ACCESS_KEY_ID": "AKIA123", "AWS_SECRET_ACCESS_KEY": "sekrit-value", "USER_NAME": "bob"}
    result, secrets = interpolate(data, env)
    assert data["a"]["key"] == "${AWS_ACCESS_KEY_ID}"  # input untouched
    assert result["a"] == {"key": "AKIA123", "url": "sekrit-value@x", "plain": "bob"}
    assert secrets == {"AKIA123", "sekrit-value"}


def test_yaml_aliases_are_interpolated_independently() -> None:
    text = """
name: x
input:
  url: data/x/
  storage_options: &s3 {key: "${K}", endpoint_url: "${E:-http://minio:9000}"}
model: {n_clusters: 2}
output:
  url: out/x/
  storage_options: *s3
"""
    cfg = load_config(text, environ={"K": "AKIA"})
    assert cfg.input.storage_options == cfg.output.storage_options == {
        "key": "AKIA",
        "endpoint_url": "http://minio:9000",
    }
