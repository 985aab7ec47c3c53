"""Log formats (text and JSON lines), the logging observer, and that secrets stay out."""

import io
import json
import logging
import re

import pytest

from dkmeans.monitor.logs import LoggingObserver, configure_logging, reset_logging
from dkmeans.results import IterationRecord


@pytest.fixture
def capture():
    """Configure dkmeans logging into a buffer; undo it afterwards."""
    streams = []

    def setup(fmt):
        stream = io.StringIO()
        configure_logging(fmt, "INFO", stream=stream)
        streams.append(stream)
        return stream

    yield setup
    reset_logging()
    logging.getLogger("dkmeans").setLevel(logging.NOTSET)


def _drive(observer, *, error=None):
    observer.on_job_start({"name": "customers", "run_id": "r-1",
                           "dashboard_link": "http://127.0.0.1:8787/status",
                           "config": {"input": {"storage_options": {"secret": "***"}}}})
    observer.on_phase_start("lloyd", total=3)
    for it, inertia in enumerate([30.0, 20.0, 19.5], start=1):
        observer.on_iteration(IterationRecord("lloyd", it, inertia, 1.0 / it, it == 2, 0.01))
    observer.on_phase_end("lloyd", 0.25)
    observer.on_job_end({"inertia": 19.5, "n_iter": 3, "centers": [[1, 2]]}, error)


def test_text_lines_are_timestamped_and_tell_the_story(capture):
    stream = capture("text")
    _drive(LoggingObserver())
    lines = stream.getvalue().splitlines()
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|ERROR) +dkmeans\.job: ")
    assert lines and all(stamp.match(line) for line in lines), lines
    text = "\n".join(lines)
    assert "dashboard: http://127.0.0.1:8787/status" in text
    assert "phase lloyd started (up to 3 iterations)" in text
    assert "lloyd iteration 2/3: inertia 20, shift 0.5, empty 1" in text
    assert "phase lloyd finished in 0.25 s" in text
    assert "job finished: inertia=19.5, n_iter=3" in text
    assert "centers" not in text  # only scalar summary entries


def test_json_lines_carry_fields(capture):
    stream = capture("json")
    _drive(LoggingObserver())
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert records[0]["event"] == "job_start"
    assert records[0]["dashboard_link"] == "http://127.0.0.1:8787/status"
    iterations = [r for r in records if r.get("event") == "iteration"]
    assert [r["iteration"] for r in iterations] == [1, 2, 3]
    assert iterations[1]["inertia"] == 20.0 and iterations[1]["n_empty"] == 1
    assert iterations[0]["total"] == 3 and iterations[0]["phase"] == "lloyd"
    end = records[-1]
    assert end["event"] == "job_end" and end["status"] == "ok"
    assert end["summary"] == {"inertia": 19.5, "n_iter": 3}


def test_failed_job_is_an_error_line(capture):
    stream = capture("json")
    _drive(LoggingObserver(), error=RuntimeError("disk full"))
    end = json.loads(stream.getvalue().splitlines()[-1])
    assert end["level"] == "ERROR" and end["status"] == "failed"
    assert "RuntimeError: disk full" in end["message"]


def test_every_n_keeps_first_every_nth_and_last(capture):
    stream = capture("json")
    obs = LoggingObserver(every=4)
    obs.on_phase_start("minibatch")
    for it in range(1, 11):
        obs.on_iteration(IterationRecord("minibatch", it, 100.0 - it, 0.1, 0, 0.001))
    obs.on_phase_end("minibatch", 1.0)
    logged = [json.loads(line).get("iteration") for line in stream.getvalue().splitlines()]
    assert [i for i in logged if i is not None] == [1, 4, 8, 10]


def test_secrets_never_reach_the_log(capture):
    stream = capture("json")
    log = logging.getLogger("dkmeans.test")
    log.info("reading s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/data",
             extra={"storage_options": {"key": "AKIAEXAMPLE", "secret": "wJalrXUtnFEMI"},
                    "url": "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/data"})
    out = stream.getvalue()
    assert "wJalrXUtnFEMI" not in out
    record = json.loads(out)
    assert record["storage_options"]["secret"] == "***"


def test_configure_twice_does_not_duplicate_and_rejects_unknown_formats(capture):
    capture("text")
    stream = capture("text")
    logging.getLogger("dkmeans.test").info("once")
    assert stream.getvalue().count("once") == 1
    with pytest.raises(ValueError, match="'fmt' parameter"):
        configure_logging("xml")


def test_non_finite_and_numpy_values_stay_valid_json(capture):
    import numpy as np

    stream = capture("json")
    logging.getLogger("dkmeans.test").info("x", extra={"a": np.float32(1.5), "b": float("nan"),
                                                       "c": np.int64(3)})
    record = json.loads(stream.getvalue())
    assert record["a"] == 1.5 and record["b"] == "nan" and record["c"] == 3
