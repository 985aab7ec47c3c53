"""The two jobs besides fitting: ``predict`` (label new data with a saved model) and ``validate``
(check a config against its input and output without fitting)."""

from __future__ import annotations

import contextlib
import logging

from dkmeans.cluster import client_security, connect
from dkmeans.config import config_hash
from dkmeans.errors import InputDataError
from dkmeans.fitting import assignment, check_enough_rows, cluster_counts, scan
from dkmeans.io import OutputWriter, load_model, read_parquet_dataset
from dkmeans.preprocess import Scaler, prepare_features
from dkmeans.runner import check_input_values, check_writable, read_input

logger = logging.getLogger(__name__)


def predict_job(cfg, *, client=None):
    """Label the input with the model published at ``predict.model_url``; publish the labels.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    cluster = contextlib.nullcontext(client) if client is not None else connect(cfg.cluster)
    with cluster:
        model = load_model(cfg.predict.model_url, cfg.predict.storage_options)
        names = [str(n) for n in model.feature_names_in_]
        job_hash = config_hash(cfg)
        with OutputWriter(cfg.output.url, storage_options=cfg.output.storage_options,
                          mode=cfg.output.mode) as writer:
            dataset = read_parquet_dataset(
                cfg.input.url, features=names, id_columns=cfg.input.id_columns,
                storage_options=cfg.input.storage_options, filters=cfg.input.filters,
                dtype=cfg.input.dtype, target_chunk_bytes=cfg.input.chunk_bytes)
            if dataset.n_rows == 0:
                raise InputDataError(f"input.url: {cfg.input.url} holds no rows to label.")
            moments = scan(dataset.features)
            n_skipped = check_input_values(cfg, dataset, moments, names)
            scaler = Scaler.from_dict(model.preprocess_)
            X, weights = prepare_features(dataset.features, scaler,
                                          skip_nonfinite=n_skipped > 0)
            labels, distances = assignment(model, X, weights)
            writer.stage_labels(dataset, labels, distances if cfg.output.distance else None)
            k = model.cluster_centers_.shape[0]
            sizes = cluster_counts(labels, k)
            metrics = {"name": cfg.name, "run_id": writer.run_id, "config_hash": job_hash,
                       "model_url": cfg.predict.model_url, "rows": int(dataset.n_rows),
                       "rows_skipped": n_skipped, "n_clusters": int(k),
                       "cluster_sizes": sizes, "input_fingerprint": dataset.fingerprint}
            writer.stage_json("metrics.json", metrics)
            writer.publish(input_fingerprint=dataset.fingerprint, config_hash=job_hash)
        logger.info("published labels of %d rows to %s", dataset.n_rows, cfg.output.url)
        return metrics


def validate_job(cfg):
    """Check the input (listing, schema, columns, row count) and that the output is writable.

    Reads only Parquet metadata and writes only a probe file that it removes. The cluster is
    not contacted, but ``cluster.tls`` is checked (files present, certificates for a
    ``tls://`` address) as a run would check it.

    Returns
    -------
    dict
        What was found: files, rows, features, chunks.
    """
    if hasattr(cfg, "predict"):
        model = load_model(cfg.predict.model_url, cfg.predict.storage_options)
        dataset = read_parquet_dataset(
            cfg.input.url, features=[str(n) for n in model.feature_names_in_],
            id_columns=cfg.input.id_columns, storage_options=cfg.input.storage_options,
            filters=cfg.input.filters, dtype=cfg.input.dtype)
        features = dataset.feature_names
    else:
        dataset, _, _, features = read_input(cfg)
        check_enough_rows(cfg, dataset.n_rows)
    check_writable(cfg.output.url, cfg.output.storage_options)
    if cfg.cluster.address:
        client_security(cfg.cluster)
    OutputWriter(cfg.output.url, storage_options=cfg.output.storage_options,
                 mode=cfg.output.mode)
    return {"files": len(dataset.files), "rows": int(dataset.n_rows),
            "features": list(features), "chunks": len(dataset.chunks),
            "output": cfg.output.url}
