"""Secrets never reach what is logged or published: masking, redaction, public_dict."""

from __future__ import annotations

import json

import pytest

from config_helpers import job_yaml
from dkmeans.config import collect_secrets, is_secret_key, load_config, mask_secrets, redact_text
from dkmeans.config.secrets import MASK, mask_url_credentials

SECRET_KEYS = [
    "key", "secret", "aws_secret_access_key", "token", "session_token", "password", "api_key",
    "access_key", "aws_access_key_id", "AWS_SECRET_ACCESS_KEY", "secretAccessKey", "sas_token",
    "account_key", "connection_string", "credentials", "Authorization", "client_secret",
    "private_key", "X-Amz-Signature", "passphrase", "refresh_token",
]
PLAIN_KEYS = [
    "id_columns", "key_columns", "keyword", "monkey", "author", "tokenizer", "endpoint_url",
    "region_name", "url", "features", "name", "anon", "use_ssl", "client_kwargs", "label_column",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_plain_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_mask_secrets_is_a_deep_copy() -> None:
    data = {
        "storage_options": {"key": "AKIA", "secret": "s3cr3t", "client_kwargs": {"aws_session_token": "tok"}},
        "id_columns": ["customer_id"],
        "token": None,
        "credentials": {"user": "u", "password": "p"},
        "list": [{"password": 1234}],
    }
    masked = mask_secrets(data)
    assert masked == {
        "storage_options": {"key": MASK, "secret": MASK, "client_kwargs": {"aws_session_token": MASK}},
        "id_columns": ["customer_id"],
        "token": None,
        "credentials": MASK,
        "list": [{"password": MASK}],
    }
    assert data["storage_options"]["key"] == "AKIA"  # original untouched


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://bob:hunter22@db:5432/x", "postgresql://bob:***@db:5432/x"),
        ("https://h/p?X-Amz-Signature=abc&X-Amz-Date=1", "https://h/p?X-Amz-Signature=***&X-Amz-Date=1"),
        ("https://h/p?token=abc", "https://h/p?token=***"),
        ("s3://bucket/path/file.parquet", "s3://bucket/path/file.parquet"),
        ("tcp://scheduler:8786", "tcp://scheduler:8786"),
    ],
)
def test_url_credentials(text: str, expected: str) -> None:
    assert mask_url_credentials(text) == expected


def test_redact_text() -> None:
    assert redact_text("denied for AKIA123 with sekrit-value", ["AKIA123", "sekrit-value"]) == "denied for *** with ***"
    assert redact_text("abcdef contains abc", ["abc", "abcdef"], min_length=3) == "*** contains ***"
    assert redact_text("the word is fine", ["is", ""]) == "the word is fine"  # too short to search


def test_collect_secrets_from_config_and_environment() -> None:
    found = collect_secrets(
        {"storage_options": {"secret": "s3cr3t", "endpoint_url": "http://u:pw12@minio:9000", "port": 9000}}
    )
    assert found == {"s3cr3t", "pw12"}
    env = {"AWS_SECRET_ACCESS_KEY": "abc123", "AWS_ACCESS_KEY_ID": "AKIA", "HOME": "/root", "PATH": "/bin"}
    assert collect_secrets(env) == {"abc123", "AKIA"}


S3_JOB = job_yaml(
    {
        "input.id_columns": ["customer_id", "key_id_is_not_a_secret_name_here"],
        "input.storage_options": {
            "key": "${AWS_ACCESS_KEY_ID}",
            "secret": "${AWS_SECRET_ACCESS_KEY}",
            "endpoint_url": "${S3_ENDPOINT}",
            "client_kwargs": {"aws_session_token": "${AWS_SESSION_TOKEN}"},
        },
        "output.url": "s3://lake/out/?note=${AWS_SECRET_ACCESS_KEY}",
        "output.storage_options": {"password": "inline-password"},
        "cluster": {"address": "tls://s:8786", "tls": {"ca_file": "ca.pem", "cert": "c.pem", "key": "/k/client.key"}},
    }
)
ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-secret",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEBY-token",
    "S3_ENDPOINT": "http://minio:9000",
}


def test_public_dict_hides_every_secret() -> None:
    cfg = load_config(S3_JOB, environ=ENV)
    assert cfg.input.storage_options["secret"] == ENV["AWS_SECRET_ACCESS_KEY"]  # the job still has it
    public = cfg.public_dict()
    dumped = json.dumps(public)
    for value in (*ENV.values(), "inline-password", "/k/client.key"):
        if value != ENV["S3_ENDPOINT"]:
            assert value not in dumped, value
    assert public["input"]["storage_options"]["endpoint_url"] == "http://minio:9000"
    assert public["input"]["id_columns"] == ["customer_id", "key_id_is_not_a_secret_name_here"]
    # a secret interpolated into a key that does not look secret is still redacted
    assert public["output"]["url"] == "s3://lake/out/?note=***"


def test_secret_values_cover_interpolated_and_inline_secrets() -> None:
    cfg = load_config(S3_JOB, environ=ENV)
    values = cfg.secret_values()
    assert {ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"], ENV["AWS_SESSION_TOKEN"], "inline-password"} <= values
    assert "http://minio:9000" not in values
    message = f"403 Forbidden for key {ENV['AWS_ACCESS_KEY_ID']}"
    assert ENV["AWS_ACCESS_KEY_ID"] not in redact_text(message, values)


def test_repr_and_str_of_a_config_mask_secrets() -> None:
    cfg = load_config(S3_JOB, environ=ENV)
    for text in (repr(cfg), str(cfg)):
        assert ENV["AWS_SECRET_ACCESS_KEY"] not in text  # output.url holds it too
    for text in (repr(cfg), str(cfg), repr(cfg.input), repr(cfg.cluster.tls), repr(cfg.output)):
        for value in (ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SESSION_TOKEN"], "inline-password", "/k/client.key"):
            assert value not in text


def test_model_copy_keeps_the_remembered_secrets() -> None:
    cfg = load_config(S3_JOB, environ=ENV)
    copy = cfg.model_copy(update={"name": "other"})
    assert copy.public_dict()["output"]["url"] == "s3://lake/out/?note=***"
