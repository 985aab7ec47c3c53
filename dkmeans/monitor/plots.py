"""Small static charts as inline SVG strings: lines, bars and scatter plots.

Used by the HTML report and the scheduler's ``/dkmeans`` page. Plain SVG needs no script, no
network and no plotting dependency, opens in any browser (and in viewers that block
JavaScript), prints well and stays small. Every chart is a function of plain arrays returning
a ``<svg>`` string with a ``<title>`` for screen readers; text inherits the page's font.

Examples
--------
>>> svg = line_chart([{"label": "inertia", "x": [1, 2, 3], "y": [9.0, 4.0, 3.5]}],
...                  x_label="iteration", y_label="inertia")
>>> svg.startswith("<svg") and "polyline" in svg
True
"""

from __future__ import annotations

import colorsys
import math
from html import escape

import numpy as np

#: Tableau 10: distinguishable, colour-blind friendlier than the old "category10".
TABLEAU10 = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
             "#ff9da7", "#9c755f", "#bab0ac")

_MARGIN = {"left": 64, "right": 16, "top": 16, "bottom": 44}
_AXIS = "#6b7280"
_GRID = "#e5e7eb"


def palette(n):
    """``n`` distinct colours: Tableau 10, then evenly spread hues (golden angle).

    Parameters
    ----------
    n : int

    Returns
    -------
    list of str
        ``#rrggbb`` colours.
    """
    colors = list(TABLEAU10[:n])
    for i in range(len(colors), n):
        hue = (i * 0.618033988749895) % 1.0
        r, g, b = colorsys.hls_to_rgb(hue, 0.5 + 0.12 * ((i // 10) % 2), 0.55)
        colors.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return colors


def fmt_num(value, digits=3):
    """Compact number text with about ``digits`` significant digits.

    Examples
    --------
    >>> [fmt_num(v) for v in (0, 8000, 0.25, 3.2, 123456, 4.5e6, 1.2e-7)]
    ['0', '8,000', '0.25', '3.2', '123k', '4.5M', '1.2e-07']
    >>> fmt_num(12345.678, 6)
    '12,345.7'
    """
    if value is None:
        return "–"
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1e15 or mag < 1e-3:
        return f"{value:.{digits}g}"
    for divisor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if mag >= divisor and mag >= 10 ** max(digits, 5):
            return f"{value / divisor:.{digits}g}{suffix}"
    decimals = max(0, digits - 1 - math.floor(math.log10(mag)))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def nice_ticks(lo, hi, n=5):
    """About ``n`` round tick values covering ``[lo, hi]``.

    Returns
    -------
    list of float
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + step * len(ticks)
    return ticks


def log_ticks(lo, hi):
    """Tick positions (in log10 units) at 1, 2, 5 times powers of ten within ``[lo, hi]``.

    Returns
    -------
    list of float
    """
    ticks = []
    for mults in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [math.log10(m) + e for e in range(math.floor(lo), math.ceil(hi) + 1)
                 for m in mults if lo <= math.log10(m) + e <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) > 8:  # many decades: every other decade
        ticks = [t for t in ticks if abs(t - round(t)) < 1e-9][::2] or ticks[::2]
    return ticks


class _Frame:
    """Data-to-pixel mapping of one chart: axes, grid and labels."""

    def __init__(self, width, height, xlim, ylim, *, pad=0.04):
        self.width, self.height = width, height
        self.x0, self.x1 = _MARGIN["left"], width - _MARGIN["right"]
        self.y0, self.y1 = height - _MARGIN["bottom"], _MARGIN["top"]
        self.xlim = _padded(*xlim, pad)
        self.ylim = _padded(*ylim, pad)

    def x(self, v):
        lo, hi = self.xlim
        return self.x0 + (np.asarray(v, dtype=float) - lo) / (hi - lo) * (self.x1 - self.x0)

    def y(self, v):
        lo, hi = self.ylim
        return self.y0 - (np.asarray(v, dtype=float) - lo) / (hi - lo) * (self.y0 - self.y1)

    def axes(self, x_label, y_label, *, x_ticks=None, y_ticks=None, x_tick_labels=None,
             integer_x=False, log_y=False):
        out = []
        yt = y_ticks if y_ticks is not None else (
            log_ticks(*self.ylim) if log_y else nice_ticks(*self.ylim))
        for t in yt:
            if self.ylim[0] <= t <= self.ylim[1]:
                py = float(self.y(t))
                label = fmt_num(10 ** t if log_y else t)
                out.append(f'<line x1="{self.x0}" x2="{self.x1}" y1="{py:.1f}" y2="{py:.1f}" '
                           f'stroke="{_GRID}"/>')
                out.append(f'<text x="{self.x0 - 6}" y="{py + 4:.1f}" text-anchor="end" '
                           f'font-size="11" fill="{_AXIS}">{escape(label)}</text>')
        xt = x_ticks if x_ticks is not None else nice_ticks(*self.xlim, n=6)
        if integer_x:
            xt = sorted({int(round(t)) for t in xt if abs(t - round(t)) < 1e-9})
        for i, t in enumerate(xt):
            if not self.xlim[0] <= t <= self.xlim[1]:
                continue
            px = float(self.x(t))
            label = x_tick_labels[i] if x_tick_labels is not None else fmt_num(t)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{self.y0}" y2="{self.y0 + 4}" '
                       f'stroke="{_AXIS}"/>')
            out.append(f'<text x="{px:.1f}" y="{self.y0 + 17}" text-anchor="middle" '
                       f'font-size="11" fill="{_AXIS}">{escape(str(label))}</text>')
        out.append(f'<line x1="{self.x0}" x2="{self.x1}" y1="{self.y0}" y2="{self.y0}" '
                   f'stroke="{_AXIS}"/>')
        out.append(f'<line x1="{self.x0}" x2="{self.x0}" y1="{self.y0}" y2="{self.y1}" '
                   f'stroke="{_AXIS}"/>')
        if x_label:
            out.append(f'<text x="{(self.x0 + self.x1) / 2:.1f}" y="{self.height - 6}" '
                       f'text-anchor="middle" font-size="12" fill="#374151">'
                       f'{escape(x_label)}</text>')
        if y_label:
            cy = (self.y0 + self.y1) / 2
            out.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" font-size="12" '
                       f'fill="#374151" transform="rotate(-90 14 {cy:.1f})">'
                       f'{escape(y_label)}</text>')
        return out


def _padded(lo, hi, pad):
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return 0.0, 1.0
    if hi <= lo:
        span = abs(lo) * 0.1 or 1.0
        return lo - span, hi + span
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _svg(width, height, title, body):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
            f'class="chart"><title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _legend(items, x, y):
    """Legend rows ``(label, colour, kind)`` from the top-right corner at ``(x, y)``."""
    out = []
    for i, (label, color, kind) in enumerate(items):
        cy = y + 14 * i
        if kind == "line":
            out.append(f'<line x1="{x - 118}" x2="{x - 102}" y1="{cy}" y2="{cy}" '
                       f'stroke="{color}" stroke-width="2.5"/>')
        else:
            out.append(f'<circle cx="{x - 110}" cy="{cy}" r="4.5" fill="{color}"/>')
        out.append(f'<text x="{x - 96}" y="{cy + 4}" font-size="11" fill="#374151">'
                   f'{escape(str(label))[:18]}</text>')
    return out


def line_chart(series, *, x_label="", y_label="", title=None, width=560, height=300,
               marker_x=None, marker_label=None, integer_x=True, points=True, log_y=False):
    """Lines through ``(x, y)`` points, e.g. inertia per iteration or per k.

    Parameters
    ----------
    series : list of dict
        Each ``{"label": str, "x": sequence, "y": sequence}``, optionally ``"color"``,
        ``"width"`` (stroke width) and ``"opacity"``. Non-finite y values are dropped.
    x_label, y_label, title : str
    width, height : int
        Pixels.
    marker_x : float, optional
        Draws a dashed vertical line there (e.g. the chosen k), labelled ``marker_label``.
    integer_x : bool, default True
        Only integer tick values on the x axis.
    points : bool, default True
        Dots on the points (off automatically past 60 points).
    log_y : bool or 'auto', default False
        Logarithmic y axis; ``'auto'`` uses one when all values are positive and span more
        than a factor of 10 (e.g. inertia falling fast, then settling).

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    colors = palette(len(series))
    clean = []
    for i, s in enumerate(series):
        x, y = np.asarray(s["x"], dtype=float), np.asarray(s["y"], dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        clean.append((s, x[keep], y[keep], s.get("color", colors[i])))
    xs = np.concatenate([c[1] for c in clean]) if clean else np.zeros(0)
    ys = np.concatenate([c[2] for c in clean]) if clean else np.zeros(0)
    title = title or y_label or "chart"
    if xs.size == 0:
        return _svg(width, height, title, [f'<text x="{width / 2}" y="{height / 2}" '
                                           f'text-anchor="middle" fill="{_AXIS}">no data</text>'])
    if log_y == "auto":
        log_y = bool(ys.min() > 0 and ys.max() / ys.min() > 10)
    if log_y:
        if ys.min() <= 0:
            raise ValueError("a logarithmic axis needs positive values")
        clean = [(s, x, np.log10(y), c) for s, x, y, c in clean]
        ys = np.log10(ys)
    frame = _Frame(width, height, (xs.min(), xs.max()), (ys.min(), ys.max()))
    body = frame.axes(x_label, y_label + (" (log scale)" if log_y else ""), integer_x=integer_x,
                      log_y=log_y)
    if marker_x is not None and frame.xlim[0] <= marker_x <= frame.xlim[1]:
        px = float(frame.x(marker_x))
        body.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{frame.y0}" y2="{frame.y1}" '
                    f'stroke="#111827" stroke-dasharray="4 3"/>')
        if marker_label:
            anchor = "end" if px > (frame.x0 + frame.x1) / 2 else "start"
            dx = -4 if anchor == "end" else 4
            body.append(f'<text x="{px + dx:.1f}" y="{frame.y1 + 11}" font-size="11" '
                        f'text-anchor="{anchor}" fill="#111827">{escape(marker_label)}</text>')
    for s, x, y, color in clean:
        if x.size == 0:
            continue
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(frame.x(x), frame.y(y)))
        opacity = s.get("opacity", 1.0)
        body.append(f'<polyline points="{coords}" fill="none" stroke="{color}" '
                    f'stroke-width="{s.get("width", 2)}" stroke-opacity="{opacity}" '
                    f'stroke-linejoin="round"/>')
        if points and x.size <= 60:
            for a, b, xv, yv in zip(frame.x(x), frame.y(y), x, y):
                big = marker_x is not None and xv == marker_x
                body.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{5 if big else 3}" '
                            f'fill="{"#111827" if big else color}" fill-opacity="{opacity}">'
                            f'<title>{escape(fmt_num(xv))}: '
                            f'{escape(fmt_num(10 ** yv if log_y else yv, 6))}</title>'
                            f'</circle>')
    labelled = [(s["label"], c, "line") for s, _, _, c in clean if s.get("label")]
    if len(labelled) > 1:
        body += _legend(labelled[:8], frame.x1, frame.y1 + 8)
    return _svg(width, height, title, body)


def bar_chart(values, *, labels=None, colors=None, x_label="", y_label="", title=None,
              width=560, height=300):
    """Vertical bars, e.g. rows per cluster.

    Parameters
    ----------
    values : sequence of float
    labels : sequence of str, optional
        Default ``0, 1, ...``.
    colors : sequence of str, optional
        Default :func:`palette`.

    Returns
    -------
    str
    """
    values = np.asarray(values, dtype=float)
    n = values.size
    labels = [str(i) for i in range(n)] if labels is None else [str(v) for v in labels]
    colors = list(colors) if colors is not None else palette(n)
    title = title or y_label or "bars"
    top = float(values.max()) if n else 1.0
    frame = _Frame(width, height, (-0.5, n - 0.5), (0.0, top * 1.08 or 1.0), pad=0.0)
    every = max(1, math.ceil(n / 30))
    ticks = list(range(0, n, every))
    body = frame.axes(x_label, y_label, x_ticks=ticks,
                      x_tick_labels=[labels[i] for i in ticks])
    slot = (frame.x1 - frame.x0) / max(n, 1)
    bar = max(1.0, slot * 0.72)
    for i, v in enumerate(values):
        cx, y = float(frame.x(i)), float(frame.y(v))
        body.append(f'<rect x="{cx - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                    f'height="{frame.y0 - y:.1f}" fill="{colors[i % len(colors)]}" rx="2">'
                    f'<title>{escape(labels[i])}: {escape(fmt_num(v, 6))}</title></rect>')
        if n <= 24:
            body.append(f'<text x="{cx:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                        f'font-size="10" fill="#374151">{escape(fmt_num(v))}</text>')
    return _svg(width, height, title, body)


def scatter_chart(points, groups, *, colors, centers=None, center_groups=None, x_label="",
                  y_label="", title=None, legend=None, width=560, height=420, radius=2.6,
                  equal_aspect=False):
    """Points coloured by group, with optional centroids drawn as outlined crosses.

    Parameters
    ----------
    points : ndarray of shape (m, 2)
    groups : ndarray of shape (m,), int
        Index into ``colors``.
    colors : sequence of str
    centers : ndarray of shape (k, 2), optional
    center_groups : sequence of int, optional
        Colour index of each centre; default ``0..k-1``.
    legend : sequence of str, optional
        Label of each colour index (first 12 shown).
    equal_aspect : bool, default False
        One unit is as long on both axes (widening the tighter range), as a projection
        should be drawn.

    Returns
    -------
    str
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    groups = np.asarray(groups, dtype=np.int64)
    title = title or "scatter"
    every = points
    if centers is not None:
        centers = np.asarray(centers, dtype=float).reshape(-1, 2)
        every = np.vstack([points, centers])
    if every.size == 0:
        return _svg(width, height, title, [])
    xlim = (every[:, 0].min(), every[:, 0].max())
    ylim = (every[:, 1].min(), every[:, 1].max())
    if equal_aspect:
        xlim, ylim = _equal_limits(xlim, ylim, width - _MARGIN["left"] - _MARGIN["right"],
                                   height - _MARGIN["top"] - _MARGIN["bottom"])
    frame = _Frame(width, height, xlim, ylim)
    body = frame.axes(x_label, y_label)
    px, py = frame.x(points[:, 0]), frame.y(points[:, 1])
    for g in np.unique(groups):  # one <g> per colour keeps the file small
        sel = groups == g
        body.append(f'<g fill="{colors[int(g) % len(colors)]}" fill-opacity="0.55">')
        body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{radius}"/>'
                 for a, b in zip(px[sel], py[sel])]
        body.append("</g>")
    if centers is not None:
        cg = range(len(centers)) if center_groups is None else center_groups
        for (a, b), g in zip(zip(frame.x(centers[:, 0]), frame.y(centers[:, 1])), cg):
            color = colors[int(g) % len(colors)]
            d = (f"M{a - 7:.1f},{b - 7:.1f}L{a + 7:.1f},{b + 7:.1f}"
                 f"M{a - 7:.1f},{b + 7:.1f}L{a + 7:.1f},{b - 7:.1f}")
            body.append(f'<path d="{d}" stroke="#ffffff" stroke-width="6" '
                        f'stroke-linecap="round"/>')
            body.append(f'<path d="{d}" stroke="#111827" stroke-width="3.2" '
                        f'stroke-linecap="round"/>')
            body.append(f'<path d="{d}" stroke="{color}" stroke-width="1.6" '
                        f'stroke-linecap="round"><title>centre {int(g)}</title></path>')
    if legend is not None:
        items = [(label, colors[i % len(colors)], "dot") for i, label in enumerate(legend)]
        body += _legend(items[:12], frame.x1, frame.y1 + 8)
    return _svg(width, height, title, body)


def _equal_limits(xlim, ylim, px_w, px_h):
    """Widen one range so both axes have the same data units per pixel."""
    (x0, x1), (y0, y1) = xlim, ylim
    xs, ys = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
    per_px = max(xs / px_w, ys / px_h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return ((cx - per_px * px_w / 2, cx + per_px * px_w / 2),
            (cy - per_px * px_h / 2, cy + per_px * px_h / 2))
