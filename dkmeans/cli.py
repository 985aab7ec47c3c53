"""``dkmeans``: the command line. No logic lives here: it parses, calls, and maps errors to
exit codes (0 done, 2 config or input error and nothing written, 1 failure at run time and
nothing published)."""

from __future__ import annotations

import json
import logging
import sys

import click

from dkmeans import __version__
from dkmeans.cluster import ClusterError
from dkmeans.errors import DkmeansError, StorageError, UserInputError

logger = logging.getLogger("dkmeans")

EXIT_OK, EXIT_FAILURE, EXIT_USER_ERROR = 0, 1, 2


def _setup_logging(log_format):
    from dkmeans.monitor.logs import configure_logging

    import distributed  # noqa: F401 - its import sets its loggers' levels; override after

    configure_logging(log_format)
    # Python warnings (a library's "port 8787 is already in use") become log records too, so
    # --log-format json writes nothing but JSON lines
    logging.captureWarnings(True)
    # the cluster's own chatter (workers starting and closing) is noise in a job's log
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("bokeh").setLevel(logging.ERROR)


def _load(config, overrides):
    from dkmeans.config import load_any_config

    return load_any_config(config, overrides=list(overrides))


def _fail(exc, secrets, *, user_error):
    from dkmeans.config import redact_text

    message = redact_text(str(exc), secrets)
    if user_error:
        click.echo(f"error: {message}", err=True)
        return EXIT_USER_ERROR
    logger.error("job failed: %s: %s", type(exc).__name__, message)
    click.echo(f"error: the job failed and nothing was published: {message}", err=True)
    return EXIT_FAILURE


def _guarded(action, config, overrides):
    """Load the config, run ``action(cfg)``, and turn exceptions into exit codes."""
    secrets = ()
    try:
        cfg = _load(config, overrides)
        secrets = cfg.secret_values()
        return action(cfg) or EXIT_OK
    except UserInputError as exc:
        return _fail(exc, secrets, user_error=True)
    except KeyboardInterrupt:
        click.echo("error: interrupted; nothing was published", err=True)
        return 130
    except (ClusterError, StorageError) as exc:
        # the message says what failed and where (a storage error: the URL, after the S3
        # client's retries); the traceback shows only Dask's or the client's insides
        logger.debug("%s", _traceback(exc, secrets))
        return _fail(exc, secrets, user_error=False)
    except Exception as exc:  # noqa: BLE001 - every runtime failure maps to exit code 1
        # a runtime failure is for an operator to debug: keep the traceback, minus secrets
        sys.stderr.write(_traceback(exc, secrets))
        return _fail(exc, secrets, user_error=False)


def _traceback(exc, secrets):
    import traceback

    from dkmeans.config import redact_text

    return redact_text("".join(traceback.format_exception(exc)), secrets)


def _print_outputs(cfg, metrics):
    root = cfg.output.url.rstrip("/")
    lines = [f"done: {metrics['rows']:,} rows in {metrics['n_clusters']} clusters "
             f"({metrics['n_iter']} iterations, inertia {metrics['inertia']:.6g})",
             f"  labels:    {root}/labels/",
             f"  model:     {root}/model/",
             f"  metrics:   {root}/metrics.json"]
    if cfg.report.html:
        lines.append(f"  report:    {root}/report.html")
    if cfg.report.performance:
        lines.append(f"  profile:   {root}/performance-report.html")
    if metrics.get("dashboard_link"):
        lines.append(f"  dashboard: {metrics['dashboard_link']} (while the job ran)")
    click.echo("\n".join(lines))


_set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                           help="Override a config key, e.g. --set model.n_clusters=12.")
_log_option = click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                           show_default=True, help="Plain log lines or JSON lines.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dkmeans")
def main():
    """k-means clustering of Parquet data on a Dask cluster."""


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@_set_option
@_log_option
def run(config, overrides, log_format):
    """Fit the job in CONFIG and publish labels, model, metrics and report."""
    _setup_logging(log_format)

    def action(cfg):
        if hasattr(cfg, "predict"):
            from dkmeans.jobs import predict_job

            predict_job(cfg)
        else:
            from dkmeans.runner import run_job

            metrics = run_job(cfg)
            _print_outputs(cfg, metrics)
    sys.exit(_guarded(action, config, overrides))


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@_set_option
@_log_option
def predict(config, overrides, log_format):
    """Label new data with a saved model (a config with a predict section)."""
    _setup_logging(log_format)

    def action(cfg):
        from dkmeans.errors import ConfigError
        from dkmeans.jobs import predict_job

        if not hasattr(cfg, "predict"):
            raise ConfigError("predict: this config has no 'predict' section (model_url); "
                              "use 'dkmeans run' for a fit job.", source=config)
        metrics = predict_job(cfg)
        click.echo(f"done: {metrics['rows']:,} rows labelled; output at {cfg.output.url}")
    sys.exit(_guarded(action, config, overrides))


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@_set_option
@_log_option
def validate(config, overrides, log_format):
    """Check CONFIG, its input (reachable, columns) and output (writable) without fitting."""
    _setup_logging(log_format)

    def action(cfg):
        from dkmeans.jobs import validate_job

        found = validate_job(cfg)
        click.echo(f"ok: {found['rows']:,} rows in {found['files']} file(s), "
                   f"{len(found['features'])} feature(s): {', '.join(found['features'][:8])}"
                   f"{' ...' if len(found['features']) > 8 else ''}; output writable")
    sys.exit(_guarded(action, config, overrides))


@main.group()
def generate():
    """Write sample datasets as Parquet (for demos and benchmarks)."""


@generate.command("blobs")
@click.option("--rows", type=click.IntRange(min=1), required=True)
@click.option("--features", type=click.IntRange(min=1), required=True)
@click.option("--centers", type=click.IntRange(min=1), required=True)
@click.option("--out", "url", required=True, help="Folder or s3:// prefix to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cluster-std", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--rows-per-file", type=click.IntRange(min=1), default=250_000,
              show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset.")
@click.option("--storage-options", default="{}", help="JSON dict passed to fsspec.")
def generate_blobs_command(rows, features, centers, url, seed, cluster_std, rows_per_file,
                           overwrite, storage_options):
    """Gaussian blobs: row_id, x0..x{d-1}, label."""
    from dkmeans.generate import generate_blobs

    def action():
        summary = generate_blobs(url, rows=rows, features=features, centers=centers, seed=seed,
                                 cluster_std=cluster_std, rows_per_file=rows_per_file,
                                 overwrite=overwrite,
                                 storage_options=json.loads(storage_options))
        click.echo(f"wrote {summary.get('rows', rows):,} rows to {url}")
    sys.exit(_simple(action))


@generate.command("digits")
@click.option("--out", "url", required=True)
@click.option("--overwrite", is_flag=True)
def generate_digits_command(url, overwrite):
    """scikit-learn's 8x8 digits: image_id, pixel_0_0..pixel_7_7, digit."""
    from dkmeans.generate import generate_digits

    sys.exit(_simple(lambda: (generate_digits(url, overwrite=overwrite),
                              click.echo(f"wrote the digits to {url}"))))


def _simple(action):
    try:
        action()
        return EXIT_OK
    except (DkmeansError, ValueError, FileExistsError) as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    main()
