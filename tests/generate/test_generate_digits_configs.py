"""generate_digits, and generated data matching what the example configs expect."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dkmeans.config import load_config
from dkmeans.errors import DkmeansError, OutputExistsError
from dkmeans.generate import generate_blobs, generate_digits
from dkmeans.io import read_parquet_dataset

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_digits_table(tmp_path):
    from sklearn.datasets import load_digits

    out = tmp_path / "digits"
    summary = generate_digits(str(out))
    assert summary["files"] == 1 and summary["rows"] == 1797
    assert sorted(os.listdir(out)) == ["part-00000.parquet"]
    table = pq.read_table(out)
    bunch = load_digits(as_frame=True)
    assert table.column_names == ["image_id", *bunch.data.columns, "digit"]
    assert table.column_names[1:3] == ["pixel_0_0", "pixel_0_1"]
    assert table.column_names[-2] == "pixel_7_7"
    assert table.schema.field("image_id").type == pa.int64()
    assert table.schema.field("digit").type == pa.int64()
    assert all(table.schema.field(c).type == pa.float64() for c in bunch.data.columns)
    frame = pd.read_parquet(out)
    np.testing.assert_array_equal(frame[list(bunch.data.columns)].to_numpy(), load_digits().data)
    np.testing.assert_array_equal(frame["digit"], load_digits().target)
    np.testing.assert_array_equal(frame["image_id"], np.arange(1797))
    with pytest.raises(OutputExistsError):
        generate_digits(str(out))
    generate_digits(str(out), overwrite=True)
    assert pq.read_table(out).equals(table)


def test_digits_without_scikit_learn_says_so_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import raises ImportError
    with pytest.raises(DkmeansError, match="needs scikit-learn.*pip install scikit-learn"):
        generate_digits(str(tmp_path / "digits"))
    assert not (tmp_path / "digits").exists()


def _default_features(url: str, cfg) -> list[str]:
    """What the runner takes by default: numeric columns but ids and the evaluate label."""
    schema = pq.read_schema(next(Path(url).glob("*.parquet")))
    skip = set(cfg.input.id_columns) | {cfg.evaluate.label_column}
    return [f.name for f in schema
            if f.name not in skip and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]


def _check_against_config(url: str, cfg, *, n_rows: int, n_features: int) -> None:
    schema = pq.read_schema(next(Path(url).glob("*.parquet")))
    for column in [*cfg.input.id_columns, cfg.evaluate.label_column]:
        assert column in schema.names
        assert pa.types.is_integer(schema.field(column).type), column
    features = cfg.input.features or _default_features(url, cfg)
    assert len(features) == n_features
    assert all(np.dtype(schema.field(f).type.to_pandas_dtype()) == np.dtype(cfg.input.dtype)
               for f in features)
    dataset = read_parquet_dataset(url, features=features, id_columns=cfg.input.id_columns,
                                   dtype=cfg.input.dtype)
    assert dataset.features.shape == (n_rows, n_features)
    assert dataset.features.dtype == np.dtype(cfg.input.dtype)
    assert np.isfinite(dataset.features.compute(scheduler="sync")).all()


def test_blobs_fit_demo_yaml(tmp_path):
    url = str(tmp_path / "demo-blobs")
    generate_blobs(url, rows=3000, features=4, centers=8, rows_per_file=1000)
    cfg = load_config(CONFIGS / "demo.yaml", overrides=[f"input.url={url}"], environ={})
    assert cfg.input.id_columns == ["row_id"] and cfg.evaluate.label_column == "label"
    _check_against_config(url, cfg, n_rows=3000, n_features=4)
    assert _default_features(url, cfg) == ["x0", "x1", "x2", "x3"]


def test_digits_fit_digits_yaml(tmp_path):
    url = str(tmp_path / "digits")
    generate_digits(url)
    cfg = load_config(CONFIGS / "digits.yaml", overrides=[f"input.url={url}"], environ={})
    assert cfg.input.id_columns == ["image_id"] and cfg.evaluate.label_column == "digit"
    _check_against_config(url, cfg, n_rows=1797, n_features=64)
