"""The terminal progress line: drawn in place on a TTY, silent otherwise."""

import io

from monitor_helpers import FakeTTY

from dkmeans.monitor.progress import TerminalProgress, format_elapsed
from dkmeans.results import IterationRecord


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_redraws_one_line_with_carriage_returns():
    stream, clock = FakeTTY(), Clock()
    progress = TerminalProgress(stream, width=100, min_interval=0, clock=clock)
    progress.on_job_start({"name": "demo"})
    progress.on_phase_start("lloyd", total=10)
    clock.now += 7
    progress.on_iteration(IterationRecord("lloyd", 5, 1234.5678, 0.0031, 2, 0.1))
    out = stream.getvalue()
    assert out.startswith("dkmeans job demo\n")
    live = out.split("\n")[-1]
    assert live.startswith("\r[lloyd] starting")
    last = live.split("\r")[-1]
    assert "iteration 5/10" in last and "inertia 1234.6" in last and "shift 0.0031" in last
    assert "empty 2" in last and "0:00:07" in last and "█" * 10 + "░" * 10 in last
    assert "\n" not in live  # still on the same line


def test_shorter_line_covers_the_longer_one_and_phase_end_leaves_a_line():
    stream = FakeTTY()
    progress = TerminalProgress(stream, width=120, min_interval=0, clock=Clock())
    progress.on_phase_start("lloyd", total=300)
    progress.on_iteration(IterationRecord("lloyd", 1, 123456789.0, 12.5, 3, 0.1))
    long_len = len(stream.getvalue().split("\r")[-1])
    progress.on_phase_start("write-labels")
    redraw = stream.getvalue().split("\r")[-1]
    assert len(redraw) >= long_len  # padded with spaces
    progress.on_phase_end("write-labels", 2.5)
    out = stream.getvalue()
    assert out.endswith("\n")
    assert out.split("\r")[-1].rstrip(" \n") == "[write-labels] done in 2.5 s"
    progress.on_job_end({}, None)
    lines = stream.getvalue().split("\n")
    assert lines[-2].startswith("dkmeans job finished in 0:00:00")


def test_throttles_redraws_between_phase_boundaries():
    stream, clock = FakeTTY(), Clock()
    progress = TerminalProgress(stream, width=100, min_interval=0.5, clock=clock)
    progress.on_phase_start("minibatch", total=1000)
    for step in range(1, 101):
        clock.now += 0.01
        progress.on_iteration(IterationRecord("minibatch", step, 10.0, 0.1, 0, 0.01))
    # one draw at phase start, then at most one per 0.5 s over 1 s of steps
    assert stream.getvalue().count("\r") <= 3


def test_silent_when_not_a_terminal_and_ascii_bar_without_utf8():
    plain = io.StringIO()
    progress = TerminalProgress(plain, min_interval=0)
    progress.on_phase_start("lloyd", total=2)
    progress.on_iteration(IterationRecord("lloyd", 1, 1.0, 0.1))
    progress.on_job_end({}, RuntimeError("x"))
    assert plain.getvalue() == ""

    class AsciiTTY(FakeTTY):
        encoding = "ascii"

    stream = AsciiTTY()
    progress = TerminalProgress(stream, width=100, min_interval=0, clock=Clock())
    progress.on_phase_start("lloyd", total=2)
    progress.on_iteration(IterationRecord("lloyd", 1, 1.0, 0.1))
    assert "[##########..........]" in stream.getvalue()


def test_records_without_phase_hooks_and_failure_line():
    stream = FakeTTY()
    progress = TerminalProgress(stream, width=100, min_interval=0, clock=Clock())
    progress.on_iteration(IterationRecord("lloyd", 1, 5.0, 0.1))
    assert "[lloyd] iteration 1 " in stream.getvalue()
    progress.on_job_end({}, ValueError("bad input"))
    assert "dkmeans job failed in 0:00:00: ValueError: bad input\n" in stream.getvalue()
    assert format_elapsed(3725) == "1:02:05"
