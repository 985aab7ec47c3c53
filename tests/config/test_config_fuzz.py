"""No input makes the loader fail with anything but a ConfigError.

A seeded, stdlib-only stand-in for property-based testing (hypothesis is not a dependency
yet): about two thousand corrupted texts, random values at random keys and random overrides.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from config_helpers import MINIMAL_JOB, edited
from dkmeans.config import JobConfig, load_any_config, load_config
from dkmeans.config.introspect import key_homes
from dkmeans.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
ENV = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example-secret-value"}
ALPHABET = list(" \t\n:-[]{},#&*!|>'\"%@`?$\\abcxyz0123456789.eE+") + ["${", "${X:-", "}", "~", "null", "\x00", "é"]


def _loads_or_config_error(text: str, overrides: tuple[str, ...] = ()) -> None:
    try:
        load_any_config(text if "\n" in text else text + "\n", overrides=overrides, environ=ENV)
    except ConfigError as exc:
        assert str(exc) and "Traceback" not in str(exc)


def _corrupt(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        i = rng.randrange(len(chars) + 1)
        if op < 0.4:
            chars.insert(i, rng.choice(ALPHABET))
        elif op < 0.7 and chars:
            del chars[min(i, len(chars) - 1)]
        elif chars:
            chars[min(i, len(chars) - 1)] = rng.choice(ALPHABET)
    return "".join(chars)


@pytest.mark.parametrize("seed", range(2))
def test_corrupted_example_files(seed: int) -> None:
    rng = random.Random(seed)
    texts = [path.read_text() for path in CONFIGS]
    for _ in range(200):
        _loads_or_config_error(_corrupt(rng.choice(texts), rng))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(11 if depth < 2 else 8)
    return [
        lambda: None, lambda: True, lambda: rng.randint(-3, 2**40), lambda: rng.uniform(-1e6, 1e6),
        lambda: float(rng.choice(["nan", "inf", "-inf"])), lambda: rng.choice(["", "auto", "4GiB", "k-means||", "x"]),
        lambda: "${" + rng.choice(["A", "A:-1", "", "1"]) + "}", lambda: "tls://h:1",
        lambda: [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
        lambda: {rng.choice(["a", "key", "url", "n_clusters"]): _random_value(rng, depth + 1)},
        lambda: {},
    ][choice]()


PATHS = [
    f"{home}.{key}" if home else key
    for key, homes in key_homes(JobConfig).items()
    for home in homes
]


@pytest.mark.parametrize("seed", range(2))
def test_random_values_at_real_keys(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(300):
        changes = {rng.choice(PATHS): _random_value(rng) for _ in range(rng.randint(1, 3))}
        try:
            text = yaml.safe_dump(edited(MINIMAL_JOB, changes))
        except (AttributeError, TypeError):  # a path ran through a scalar we put there
            continue
        _loads_or_config_error(text)


@pytest.mark.parametrize("seed", range(2))
def test_random_overrides(seed: int) -> None:
    rng = random.Random(200 + seed)
    base = yaml.safe_dump(MINIMAL_JOB)
    for _ in range(300):
        path = rng.choice(PATHS + ["", "model.", ".x", "input.storage_options.a.b", "model.n_clusters.x"])
        value = rng.choice(["", "1", "[2, 8]", "{a: 1}", "[", "'", "true", "${X}", "!!binary x", "1e400", "-"])
        override = f"{path}={value}" if rng.random() < 0.95 else path
        _loads_or_config_error(base, (override,))


def test_every_prefix_of_an_example() -> None:
    text = (CONFIGS[0]).read_text()
    for end in range(0, len(text), 29):
        _loads_or_config_error(text[:end] + "\n")


def test_valid_random_configs_round_trip() -> None:
    rng = random.Random(7)
    for _ in range(100):
        changes = {
            "model.n_clusters": rng.randint(1, 50),
            "model.max_iter": rng.randint(1, 1000),
            "model.tol": rng.choice([0.0, 1e-4, 0.5]),
            "input.dtype": rng.choice(["float32", "float64"]),
            "cluster.n_workers": rng.randint(1, 8),
        }
        cfg = load_config(yaml.safe_dump(edited(MINIMAL_JOB, changes)), environ={})
        again = JobConfig.model_validate(cfg.model_dump())
        assert again == cfg
