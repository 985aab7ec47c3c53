"""A one-line live progress display for an interactive terminal.

The runner uses :class:`TerminalProgress` only when ``sys.stderr.isatty()``; otherwise the
plain log lines of :class:`dkmeans.monitor.logs.LoggingObserver` tell the same story. The
line is redrawn in place with a carriage return (no curses, no extra dependency) and padded
with spaces so a shorter line fully covers a longer one. A finished phase leaves one summary
line behind, so the scroll-back reads like a log::

    [init] done in 1.2 s
    [lloyd] iteration 12/300 [###.................] inertia 1.2345e+05 shift 3.1e-04  0:00:07

Examples
--------
>>> import io
>>> class FakeTTY(io.StringIO):
...     def isatty(self):
...         return True
>>> stream = FakeTTY()
>>> progress = TerminalProgress(stream, width=60, min_interval=0)
>>> progress.on_phase_start("lloyd", total=10)
>>> "[lloyd]" in stream.getvalue()
True
"""

from __future__ import annotations

import shutil
import sys
import time

from dkmeans.monitor.hooks import JobObserver

__all__ = ["TerminalProgress", "format_elapsed"]


def format_elapsed(seconds):
    """``h:mm:ss`` for a duration in seconds (``0:00:07``)."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"


class TerminalProgress(JobObserver):
    """Phase, iteration/total, inertia, shift and elapsed time on one redrawn line.

    Parameters
    ----------
    stream : file-like, default ``sys.stderr``
        Written only if ``stream.isatty()`` is true (otherwise every hook is a no-op).
    width : int, optional
        Line width; default the terminal's width (80 when unknown).
    min_interval : float, default 0.1
        Minimum seconds between two redraws of the same phase (a fast mini-batch phase would
        otherwise spend its time writing to the terminal). Phase boundaries always draw.
    clock : callable, default ``time.monotonic``
        Injected for tests.
    """

    def __init__(self, stream=None, *, width=None, min_interval=0.1, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.min_interval = float(min_interval)
        self.clock = clock
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        encoding = (getattr(self.stream, "encoding", None) or "").lower()
        self._bar_chars = ("█", "░") if encoding.startswith("utf") else ("#", ".")
        self._job_started = None
        self._phase = None
        self._total = None
        self._phase_started = None
        self._record = None
        self._last_draw = float("-inf")
        self._drawn = 0  # length of what is on the current line

    # -- hooks --------------------------------------------------------------------------------
    def on_job_start(self, info):
        self._job_started = self.clock()
        info = info if isinstance(info, dict) else {}
        name, link = info.get("name"), info.get("monitor_page") or info.get("dashboard_link")
        if name or link:
            self._finish_line(f"dkmeans job {name or ''}" + (f"  dashboard: {link}" if link
                                                              else ""))

    def on_phase_start(self, phase, *, total=None):
        self._phase, self._total, self._record = phase, total, None
        self._phase_started = self.clock()
        if self._job_started is None:
            self._job_started = self._phase_started
        self._draw(force=True)

    def on_iteration(self, record):
        if record.phase != self._phase:
            # a record without a phase hook (fit(on_iteration=...) used directly)
            self._phase, self._total = record.phase, None
            self._phase_started = self.clock()
            if self._job_started is None:
                self._job_started = self._phase_started
        self._record = record
        self._draw(force=False)

    def on_phase_end(self, phase, seconds):
        rec = self._record
        detail = ""
        if rec is not None and rec.phase == phase:
            detail = f", {rec.iteration} iterations, inertia {rec.inertia:.6g}"
        self._finish_line(f"[{phase}] done in {_seconds(seconds)}{detail}")
        self._phase = self._record = None

    def on_job_end(self, summary, error=None):
        elapsed = self.clock() - self._job_started if self._job_started is not None else None
        took = f" in {format_elapsed(elapsed)}" if elapsed is not None else ""
        if error is not None:
            self._finish_line(f"dkmeans job failed{took}: {type(error).__name__}: {error}")
        else:
            self._finish_line(f"dkmeans job finished{took}")

    # -- drawing ------------------------------------------------------------------------------
    def render(self):
        """The current status line, without the carriage return or padding.

        Returns
        -------
        str
        """
        phase = self._phase or "-"
        parts = [f"[{phase}]"]
        rec = self._record
        if rec is not None:
            of = f"/{self._total}" if self._total else ""
            run = f" run {rec.run}" if rec.run else ""
            parts.append(f"iteration {rec.iteration}{of}{run}")
            if self._total:
                parts.append(self._bar(rec.iteration / self._total))
            parts.append(f"inertia {rec.inertia:.5g}")
            parts.append(f"shift {rec.center_shift:.2g}")
            if rec.n_empty:
                parts.append(f"empty {rec.n_empty}")
        else:
            parts.append("starting")
        started = self._job_started if self._job_started is not None else self._phase_started
        if started is not None:
            parts.append(" " + format_elapsed(self.clock() - started))
        return " ".join(parts)

    def _bar(self, fraction, cells=20):
        full = min(cells, max(0, round(fraction * cells)))
        return "[" + self._bar_chars[0] * full + self._bar_chars[1] * (cells - full) + "]"

    def _line_width(self):
        if self.width:
            return int(self.width)
        return shutil.get_terminal_size((80, 24)).columns

    def _draw(self, *, force):
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        text = self.render()[: max(10, self._line_width() - 1)]
        self._write("\r" + text + " " * max(0, self._drawn - len(text)))
        self._drawn = len(text)

    def _finish_line(self, text):
        """Replace the live line by ``text`` and move to a new line."""
        if not self.enabled:
            return
        text = text[: max(10, self._line_width() - 1)]
        prefix = "\r" if self._drawn else ""
        self._write(prefix + text + " " * max(0, self._drawn - len(text)) + "\n")
        self._drawn = 0
        self._last_draw = float("-inf")

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # closed or broken terminal: stop drawing
            self.enabled = False


def _seconds(seconds):
    return f"{seconds:.1f} s" if seconds < 60 else format_elapsed(seconds)
