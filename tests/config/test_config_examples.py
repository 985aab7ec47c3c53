"""Every job in configs/ loads and validates, with the environment it documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkmeans.config import JobConfig, PredictConfig, config_hash, load_any_config, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
EXAMPLES = sorted(CONFIGS.glob("*.yaml"))
# What configs/s3.yaml needs (documented at its top); the others need nothing.
ENV = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example-secret-value"}


def test_the_documented_examples_exist() -> None:
    names = {path.name for path in EXAMPLES}
    assert {"demo.yaml", "s3.yaml", "minibatch.yaml", "select_k.yaml", "predict.yaml", "digits.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates(path: Path) -> None:
    cfg = load_any_config(path, environ=ENV)
    assert isinstance(cfg, PredictConfig if path.name == "predict.yaml" else JobConfig)
    assert len(config_hash(cfg)) == 64
    for secret in ENV.values():
        assert secret not in str(cfg.public_dict())


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_commented(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert lines[0].startswith(f"# {path.name}")
    assert sum("#" in line for line in lines) >= 5


def test_s3_example_needs_its_credentials() -> None:
    with pytest.raises(Exception, match="AWS_ACCESS_KEY_ID"):
        load_config(CONFIGS / "s3.yaml", environ={})


def test_s3_example_reads_its_environment() -> None:
    env = {**ENV, "S3_BUCKET": "b", "RUN_DATE": "2026-11-22", "S3_ENDPOINT": "http://moto:5000"}
    cfg = load_config(CONFIGS / "s3.yaml", environ=env)
    assert cfg.input.url == "s3://b/customers/2026-11-22/"
    assert cfg.output.url == "s3://b/segments/2026-11-22/"
    assert cfg.input.storage_options["endpoint_url"] == "http://moto:5000"
    assert cfg.output.storage_options == cfg.input.storage_options  # the YAML alias


def test_demo_example_matches_the_design() -> None:
    cfg = load_config(CONFIGS / "demo.yaml", environ={})
    assert cfg.input.url == "data/demo-blobs/"
    assert cfg.output.url == "out/demo/"
    assert cfg.cluster.is_local and cfg.cluster.n_workers == 2


def test_select_k_and_digits_examples() -> None:
    select = load_config(CONFIGS / "select_k.yaml", environ={})
    assert select.model.k_values == list(range(2, 13))
    digits = load_config(CONFIGS / "digits.yaml", environ={})
    assert digits.evaluate is not None and digits.evaluate.label_column == "digit"
    assert digits.input.url == "data/digits/" and digits.input.features is None
