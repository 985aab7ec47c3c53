"""A table of config mistakes: each one is a ConfigError that names the culprit key.

Each case is written to a file and loaded as ``dkmeans run`` would load it; the message
must name every expected fragment (the key, what was got, the line where useful), name
the file, and carry no traceback or pydantic internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from config_helpers import DELETE, MINIMAL_PREDICT, job_yaml
from dkmeans.config import JobConfig, PredictConfig, load_any_config, load_config, load_predict_config
from dkmeans.errors import ConfigError, UserInputError


@dataclass
class Mistake:
    id: str
    expect: list[str]
    changes: dict[str, Any] | None = None
    text: str | None = None
    overrides: tuple[str, ...] = ()
    environ: dict[str, str] = field(default_factory=dict)
    predict: bool = False

    def yaml(self) -> str:
        if self.text is not None:
            return self.text
        return job_yaml(self.changes, base=MINIMAL_PREDICT) if self.predict else job_yaml(self.changes)


VALID = job_yaml()  # name / input.url / model.n_clusters / output.url on lines 1-7

MISTAKES = [
    # --- YAML itself -------------------------------------------------------------------
    Mistake("syntax-unclosed-flow", ["YAML error", "line 3", "column 1"], text="name: x\ninput: [a, b\n"),
    Mistake("syntax-tab-indent", ["YAML error", "line 2", "column 1"], text="name: x\n\tinput: 1\n"),
    Mistake("syntax-bad-indent", ["YAML error", "line 4, column 3"], text="name: x\ninput:\n    url: a\n  features: [b]\n"),
    Mistake("duplicate-key", ["duplicate key 'model'", "line 8", "first given at line 4"],
            text=VALID + "model: {n_clusters: 3}\n"),
    Mistake("two-documents", ["YAML error", "single document"], text=VALID + "---\nname: y\n"),
    Mistake("empty-file", ["empty"], text=""),
    Mistake("comments-only", ["empty"], text="# a job\n# nothing yet\n"),
    Mistake("top-level-list", ["top level must be a mapping", "got a list"], text="- name: x\n- input: y\n"),
    Mistake("top-level-scalar", ["top level must be a mapping", "got text"], text="just some words\nand more\n"),
    Mistake("python-tag", ["YAML error", "line 2", "constructor"],
            text="name: x\ninput: !!python/object/apply:os.system ['echo hi']\n"),
    Mistake("unquoted-var-in-flow", ["line 2", 'quote values that use ${VAR}'],
            text="name: x\ninput: {url: ${DATA}}\n"),
    Mistake("non-text-key", ["keys must be text", "line 8"], text=VALID + "1: one\n"),
    # --- unknown keys --------------------------------------------------------------------
    Mistake("unknown-key-did-you-mean", ["model.n_cluster", "unknown key", "did you mean 'n_clusters'?", "line"],
            changes={"model.n_cluster": 3}),
    Mistake("unknown-top-level", ["modle", "did you mean 'model'?"], changes={"modle": {"x": 1}}),
    Mistake("key-in-wrong-section", ["model.memory_limit", "'memory_limit' belongs in 'cluster'"],
            changes={"model.memory_limit": "4GiB"}),
    Mistake("unknown-tls-key", ["cluster.tls.keyfile", "did you mean 'key'?"],
            changes={"cluster": {"address": "tls://s:8786", "tls": {"ca_file": "a", "cert": "b", "keyfile": "c"}}}),
    Mistake("predict-section-in-fit-job", ["predict", "dkmeans predict"], changes={"predict": {"model_url": "x"}}),
    # --- types and values ----------------------------------------------------------------
    Mistake("wrong-type-int", ["model.n_clusters", "expected a valid integer", "got 'eight'", "line 5, column 3"],
            changes={"model.n_clusters": "eight"}),
    Mistake("boolean-as-number", ["model.n_clusters", "boolean"], changes={"model.n_clusters": True}),
    Mistake("fractional-int", ["model.max_iter", "got 2.5"], changes={"model.max_iter": 2.5}),
    Mistake("bad-enum-algorithm", ["model.algorithm", "'lloyd', 'minibatch'", "got 'loyd'", "did you mean 'lloyd'?"],
            changes={"model.algorithm": "loyd"}),
    Mistake("bad-enum-init", ["model.init", "did you mean 'k-means++'?"], changes={"model.init": "kmeans++"}),
    Mistake("bad-nan-policy", ["input.nan_policy", "got 'skp'", "did you mean 'skip'?"],
            changes={"input.nan_policy": "skp"}),
    Mistake("bad-dtype", ["input.dtype", "'float32', 'float64'", "got 'float16'"], changes={"input.dtype": "float16"}),
    Mistake("bad-output-mode", ["output.mode", "got 'append'"], changes={"output.mode": "append"}),
    Mistake("bool-expected", ["output.distance", "boolean", "got 'sometimes'"], changes={"output.distance": "sometimes"}),
    Mistake("section-is-scalar", ["preprocess", "expected a section", "got 'standard'"],
            changes={"preprocess": "standard"}),
    Mistake("name-is-number", ["name", "quote it"], changes={"name": 2026}),
    Mistake("name-not-identifier", ["name", "got 'my job!'"], changes={"name": "my job!"}),
    # --- required keys -------------------------------------------------------------------
    Mistake("missing-name", ["name: required key is missing"], changes={"name": DELETE}),
    Mistake("missing-input-url", ["input.url: required key is missing"], changes={"input.url": DELETE}),
    Mistake("missing-output", ["output: required key is missing"], changes={"output": DELETE}),
    Mistake("evaluate-without-label", ["evaluate.label_column", "required"], changes={"evaluate": {}}),
    # --- k -------------------------------------------------------------------------------
    Mistake("both-n-clusters-and-k-range", ["model.n_clusters", "model.k_range", "both are set"],
            changes={"model.k_range": [2, 6]}),
    Mistake("neither-n-clusters-nor-k-range", ["model.n_clusters", "model.k_range", "neither is set"],
            changes={"model.n_clusters": DELETE}),
    Mistake("k-range-reversed", ["model.k_range", "2 <= low < high", "got [8, 2]"],
            changes={"model.n_clusters": DELETE, "model.k_range": [8, 2]}),
    Mistake("k-range-starts-at-1", ["model.k_range", "got [1, 5]"],
            changes={"model.n_clusters": DELETE, "model.k_range": [1, 5]}),
    Mistake("k-range-three-items", ["model.k_range"], changes={"model.n_clusters": DELETE, "model.k_range": [2, 4, 6]}),
    Mistake("n-clusters-zero", ["model.n_clusters", "greater than or equal to 1", "got 0"],
            changes={"model.n_clusters": 0}),
    # --- numeric ranges ------------------------------------------------------------------
    Mistake("negative-max-iter", ["model.max_iter", "greater than or equal to 1", "got -1"],
            changes={"model.max_iter": -1}),
    Mistake("negative-tol", ["model.tol", "greater than or equal to 0", "got -0.1"], changes={"model.tol": -0.1}),
    Mistake("nan-tol", ["model.tol", "finite"], changes={"model.tol": float("nan")}),
    Mistake("n-init-zero", ["model.n_init", "'auto' or a whole number", "got 0"], changes={"model.n_init": 0}),
    Mistake("negative-random-state", ["model.random_state", "got -5"], changes={"model.random_state": -5}),
    Mistake("minibatch-key-with-lloyd", ["model.batch_size", "only with algorithm: minibatch"],
            changes={"model.batch_size": 100}),
    Mistake("kmeans-parallel-key-with-kmeans++", ["model.oversampling_factor", "init: k-means||"],
            changes={"model.init": "k-means++", "model.oversampling_factor": 3.0}),
    # --- sizes, durations, cluster -------------------------------------------------------
    Mistake("bad-size-memory-limit", ["cluster.memory_limit", "'4GiB'", "got '4 parsecs'"],
            changes={"cluster.memory_limit": "4 parsecs"}),
    Mistake("bad-size-chunk-bytes", ["input.chunk_bytes", "got 'lots'"], changes={"input.chunk_bytes": "lots"}),
    Mistake("zero-chunk-bytes", ["input.chunk_bytes", "greater than 0"], changes={"input.chunk_bytes": "0MiB"}),
    Mistake("bad-duration", ["cluster.timeout", "got 'soon'"], changes={"cluster.timeout": "soon"}),
    Mistake("address-and-n-workers", ["cluster.address", "cluster.n_workers", "one or the other"],
            changes={"cluster": {"address": "tcp://sched:8786", "n_workers": 3}}),
    Mistake("address-wrong-scheme", ["cluster.address", "got 'http://sched:8786'"],
            changes={"cluster.address": "http://sched:8786"}),
    Mistake("tls-with-tcp-address", ["cluster.tls", "not tls://"],
            changes={"cluster": {"address": "tcp://s:8786", "tls": {"ca_file": "a", "cert": "b"}}}),
    Mistake("tls-without-address", ["cluster.tls", "cluster.address"],
            changes={"cluster.tls": {"ca_file": "a", "cert": "b"}}),
    Mistake("negative-workers", ["cluster.n_workers", "got 0"], changes={"cluster.n_workers": 0}),
    # --- input rules ---------------------------------------------------------------------
    Mistake("features-empty", ["input.features", "at least 1"], changes={"input.features": []}),
    Mistake("features-repeated", ["input.features", "unique", "'a'"], changes={"input.features": ["a", "b", "a"]}),
    Mistake("feature-is-id-column", ["input.features", "input.id_columns", "'id'"],
            changes={"input.features": ["id", "x"], "input.id_columns": ["id"]}),
    Mistake("label-is-feature", ["evaluate.label_column", "input.features", "'y'"],
            changes={"input.features": ["x", "y"], "evaluate": {"label_column": "y"}}),
    Mistake("bad-filters", ["input.filters", "[column, op, value]"], changes={"input.filters": [["a", "~", 1]]}),
    Mistake("storage-options-not-mapping", ["input.storage_options", "expected a section (a mapping of keys)", "got ['anon', True]"],
            changes={"input.storage_options": ["anon", True]}),
    Mistake("storage-options-inf", ["input.storage_options", "finite"],
            changes={"input.storage_options": {"timeout": float("inf")}}),
    Mistake("input-is-output", ["input.url", "output.url", "same place"], changes={"output.url": "data/x"}),
    # --- environment ---------------------------------------------------------------------
    Mistake("unset-variable", ["input.url", "'DATA_DIR'", "not set", "line 3"],
            changes={"input.url": "${DATA_DIR}/x/"}),
    Mistake("unset-variable-in-list", ["input.features[1]", "'SECOND'"],
            changes={"input.features": ["a", "${SECOND}"]}),
    Mistake("malformed-reference", ["input.url", "'${1BAD}'", "not a variable reference"],
            changes={"input.url": "${1BAD}/x"}),
    Mistake("unterminated-reference", ["input.url", "not closed"], changes={"input.url": "${DATA/x"}),
    # --- overrides -----------------------------------------------------------------------
    Mistake("override-unknown-path", ["--set", "'model.n_cluster' is not a key", "did you mean 'model.n_clusters'?"],
            overrides=("model.n_cluster=3",)),
    Mistake("override-unknown-section", ["'modle' is not a key", "did you mean 'model'?"], overrides=("modle.x=1",)),
    Mistake("override-without-equals", ["--set 'model.n_clusters'", "dotted.key=value"],
            overrides=("model.n_clusters",)),
    Mistake("override-through-value", ["'model.n_clusters' is a value, not a section"],
            overrides=("model.n_clusters.x=1",)),
    Mistake("override-bad-yaml", ["--set 'model.k_range=[2,8'", "not valid YAML"], overrides=("model.k_range=[2,8",)),
    Mistake("override-bad-value", ["model.n_clusters", "got 'abc'", "from --set"], overrides=("model.n_clusters=abc",)),
    Mistake("override-breaks-rule", ["model.n_clusters", "model.k_range", "both are set"],
            overrides=("model.k_range=[2, 8]",)),
    # --- predict jobs ----------------------------------------------------------------------
    Mistake("predict-with-model-section", ["model", "predict.model_url"], predict=True,
            changes={"model": {"n_clusters": 3}}),
    Mistake("predict-missing-model-url", ["predict.model_url", "required"], predict=True,
            changes={"predict.model_url": DELETE}),
    Mistake("predict-overwrites-model", ["output.url", "predict.model_url"], predict=True,
            changes={"output.url": "out/x"}),
]


@pytest.mark.parametrize("case", MISTAKES, ids=[m.id for m in MISTAKES])
def test_mistake_is_a_config_error_naming_the_culprit(case: Mistake, write_config) -> None:
    path = write_config(case.yaml())
    load = load_predict_config if case.predict else load_config
    with pytest.raises(ConfigError) as info:
        load(path, overrides=case.overrides, environ=case.environ)
    message = str(info.value)
    for fragment in case.expect:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert message.startswith(path + ": ")
    assert info.value.source == path
    for leak in ("Traceback", "pydantic", "input_value", "For further information", "Value error,"):
        assert leak not in message
    # no chained pydantic or YAML exception to print a traceback (or a secret) from
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_the_table_is_large() -> None:
    assert len(MISTAKES) >= 40
    assert len({m.id for m in MISTAKES}) == len(MISTAKES)


def test_config_error_is_a_user_input_error() -> None:
    with pytest.raises(UserInputError):
        load_config("name: x\n", environ={})


def test_several_problems_are_listed_one_per_line(write_config) -> None:
    path = write_config(job_yaml({"model.n_clusters": 0, "model.init": "kmeans++", "cluster.n_workers": -1}))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    lines = str(info.value).splitlines()
    assert "3 problems" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "model.n_clusters",
        "model.init",
        "cluster.n_workers",
    ]


def test_missing_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_folder_instead_of_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="folder"):
        load_config(tmp_path)


def test_binary_file(tmp_path) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_huge_file_is_refused(tmp_path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(path)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    text = "\n".join(lines) + "\nname: x\n"
    with pytest.raises(ConfigError, match="more than"):
        load_config(text, environ={})


@pytest.mark.parametrize("depth", [60, 5000])
def test_deep_nesting_is_a_config_error(depth: int) -> None:
    text = "name: x\ninput: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(ConfigError, match="line 2, column 57: nested deeper than 50 levels"):
        load_config(text, environ={})


def test_secret_value_is_not_shown_in_errors() -> None:
    text = job_yaml({"cluster": {"address": "tls://s:8786", "tls": {"ca_file": "a", "cert": "b", "key": 12345678}}})
    with pytest.raises(ConfigError) as info:
        load_config(text, environ={})
    assert "cluster.tls.key" in str(info.value)
    assert "12345678" not in str(info.value)


def test_load_any_config_tells_kinds_apart() -> None:
    assert isinstance(load_any_config(job_yaml(), environ={}), JobConfig)
    predict_text = job_yaml(base=MINIMAL_PREDICT)
    assert isinstance(load_any_config(predict_text, environ={}), PredictConfig)
    with pytest.raises(ConfigError, match="predict: required key is missing"):
        load_predict_config(job_yaml(), environ={})
