"""``report.html``: one self-contained page that shows what a clustering job found.

Why inline SVG rather than bokeh: the page must open anywhere without a network, so the
choice was between embedding bokeh's JavaScript (``INLINE`` resources, over a megabyte, and
a blank page wherever scripts are blocked, e.g. many mail and document viewers) and drawing
the charts as SVG in Python (:mod:`dkmeans.monitor.plots`). The report is a summary to look
at, not a tool to explore, so static SVG wins: no script at all, a few hundred kilobytes,
identical in every browser, printable. Dask's ``performance_report`` (bokeh) stays the tool
for digging into the run itself.

Sections, each shown only when its data is given: summary, evaluation metrics, time per
phase, inertia curve, cluster sizes, 2-D projection (PCA of a sample) coloured by cluster
with the centres marked, side by side with the known classes, elbow and silhouette curves
for a k range, and per-cluster feature means in original units.

Examples
--------
>>> import numpy as np
>>> html = render_report(ReportData(name="demo", n_rows=6, n_features=2, n_clusters=2,
...                                 n_iter=2, inertia=16.0))
>>> html.startswith("<!DOCTYPE html>") and "demo" in html
True
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from html import escape

import numpy as np

from dkmeans.config.secrets import mask_url_credentials
from dkmeans.monitor.performance import ensure_local_parent, write_performance_report
from dkmeans.monitor.plots import bar_chart, fmt_num, line_chart, palette, scatter_chart
from dkmeans.monitor.projection import fit_pca_2d, match_classes
from dkmeans.monitor.report_style import CSS

__all__ = ["ReportData", "render_report", "write_report", "write_performance_report"]


@dataclass(kw_only=True)
class ReportData:
    """Everything the report shows; only the first six fields are required.

    Attributes
    ----------
    name : str
    n_rows : int
        Rows clustered (skipped rows excluded).
    n_features, n_clusters, n_iter : int
    inertia : float
    feature_names : list of str, optional
        Default ``x0, x1, ...``.
    phase_seconds : dict of str to float
        Wall-clock seconds per phase, in order.
    n_skipped : int
        Rows skipped (e.g. with missing values).
    history : list of IterationRecord
    cluster_sizes : array-like of shape (k,), optional
        Rows (or total weight) per cluster.
    centers : ndarray of shape (k, d), optional
        In original units (the caller undoes any scaling).
    sample : ndarray of shape (m, d), optional
        Rows for the 2-D picture, original units.
    sample_labels : ndarray of shape (m,), optional
        Cluster of each sampled row.
    true_labels : ndarray of shape (m,), optional
        Known class of each sampled row.
    k_selection : list of dict, optional
        One ``dict(k, inertia, silhouette, davies_bouldin)`` per tried k; the chosen k is
        ``n_clusters``.
    evaluation : dict, optional
        E.g. ``{"ari": 0.93, "nmi": 0.91, "accuracy": 0.97}``.
    input_url, output_url : str, optional
    algorithm : str, optional
        E.g. ``"KMeans (k-means||, Lloyd)"``.
    converged : bool, optional
    run_id : str, optional
    performance_report_url : str, optional
        Linked from the summary when a Dask performance report was saved.
    created : str, optional
        Timestamp shown in the header; default the time of rendering (UTC).
    """

    name: str
    n_rows: int
    n_features: int
    n_clusters: int
    n_iter: int
    inertia: float
    feature_names: list | None = None
    phase_seconds: dict = field(default_factory=dict)
    n_skipped: int = 0
    history: list = field(default_factory=list)
    cluster_sizes: object = None
    centers: object = None
    sample: object = None
    sample_labels: object = None
    true_labels: object = None
    k_selection: list | None = None
    evaluation: dict | None = None
    input_url: str | None = None
    output_url: str | None = None
    algorithm: str | None = None
    converged: bool | None = None
    run_id: str | None = None
    performance_report_url: str | None = None
    created: str | None = None


_EVAL_NAMES = {"ari": "Adjusted Rand index", "nmi": "Normalised mutual information",
               "adjusted_rand": "Adjusted Rand index",
               "normalized_mutual_info": "Normalised mutual information",
               "accuracy": "Accuracy (majority class per cluster)", "ami": "Adjusted mutual information",
               "homogeneity": "Homogeneity", "completeness": "Completeness",
               "v_measure": "V-measure"}


def render_report(data, *, max_points=3000, seed=0):
    """The report as one HTML string (inline CSS and SVG; no script, no external file).

    Parameters
    ----------
    data : ReportData
    max_points : int, default 3000
        At most this many sampled rows are drawn in each projection (a fixed-seed subsample).
    seed : int, default 0
        Seed of that subsample.

    Returns
    -------
    str
    """
    created = data.created or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    k = int(data.n_clusters)
    colors = palette(max(k, 1))
    sections = [_summary(data), _evaluation(data), _phases(data),
                _pair("convergence", "Convergence and cluster sizes",
                      _inertia_chart(data), _sizes_chart(data, colors)),
                _projection(data, max_points, seed), _k_selection(data), _profiles(data, colors)]
    body = "".join(s for s in sections if s)
    title = f"dkmeans report: {data.name}"
    sub = " · ".join(escape(str(x)) for x in (data.algorithm, data.run_id and
                                               f"run {data.run_id}", created) if x)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><style>{CSS}</style></head><body><main>'
            f'<header><div class="brand">dkmeans</div><h1>{escape(str(data.name))}</h1>'
            f'<p class="sub">{sub}</p></header>{body}'
            f'<footer>Generated by dkmeans. Self-contained: charts are inline SVG; '
            f'this file needs no network.</footer></main></body></html>')


def write_report(data, url, *, storage_options=None, **render_options):
    """Render the report and write it to ``url`` (local path or fsspec URL) in one piece.

    Parameters
    ----------
    data : ReportData
    url : str
        E.g. ``s3://bucket/out/report.html``; a local parent directory is created.
    storage_options : dict, optional
        Passed to ``fsspec.open`` untouched.
    **render_options
        Passed to :func:`render_report`.

    Returns
    -------
    str
        ``url``.
    """
    import fsspec

    html = render_report(data, **render_options)
    ensure_local_parent(str(url))
    with fsspec.open(str(url), "w", encoding="utf-8", **dict(storage_options or {})) as f:
        f.write(html)
    return str(url)


# -- sections ----------------------------------------------------------------------------------
def _section(sid, title, inner, note=""):
    note = f'<p class="note">{note}</p>' if note else ""
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{note}{inner}</section>'


def _card(inner, caption=""):
    cap = f'<figcaption>{caption}</figcaption>' if caption else ""
    return f'<figure class="card">{inner}{cap}</figure>'


def _pair(sid, title, left, right, note=""):
    cards = [c for c in (left, right) if c]
    if not cards:
        return ""
    return _section(sid, title, f'<div class="grid">{"".join(cards)}</div>', note)


def _stat(label, value, hint=""):
    hint = f'<span class="hint">{escape(hint)}</span>' if hint else ""
    return f'<div class="stat"><span>{escape(label)}</span><b>{escape(value)}</b>{hint}</div>'


def _summary(d):
    total = sum(float(v) for v in d.phase_seconds.values())
    conv = {True: "converged", False: "hit max_iter", None: ""}[d.converged]
    stats = [_stat("Rows", f"{int(d.n_rows):,}"), _stat("Features", str(d.n_features)),
             _stat("Clusters (k)", str(d.n_clusters)), _stat("Iterations", str(d.n_iter), conv),
             _stat("Inertia", fmt_num(d.inertia, 6)),
             _stat("Skipped rows", f"{int(d.n_skipped):,}",
                   f"{100 * d.n_skipped / max(1, d.n_rows + d.n_skipped):.2g}% of input"
                   if d.n_skipped else "")]
    if total:
        stats.append(_stat("Total time", _duration(total)))
    rows = []
    for label, url in (("Input", d.input_url), ("Output", d.output_url),
                       ("Dask performance report", d.performance_report_url)):
        if url:
            url = mask_url_credentials(str(url))
            text = f"<code>{escape(url)}</code>"
            if "://" not in url and not url.startswith("/"):  # a file beside this report
                text = f'<a href="{escape(url)}">{text}</a>'
            rows.append(f"<tr><th>{label}</th><td>{text}</td></tr>")
    table = f'<table class="kv">{"".join(rows)}</table>' if rows else ""
    return _section("summary", "Summary", f'<div class="stats">{"".join(stats)}</div>{table}')


def _evaluation(d):
    if not d.evaluation:
        return ""
    stats = [_stat(_EVAL_NAMES.get(str(key).lower(), str(key)), fmt_num(value, 4))
             for key, value in d.evaluation.items()]
    return _section("evaluation", "Evaluation against the known classes",
                    f'<div class="stats">{"".join(stats)}</div>',
                    "1 is a perfect match; adjusted Rand index is 0 for a random labelling.")


def _phases(d):
    if not d.phase_seconds:
        return ""
    total = sum(float(v) for v in d.phase_seconds.values()) or 1.0
    rows = "".join(
        f'<tr><th>{escape(str(p))}</th><td class="num">{_duration(float(s))}</td>'
        f'<td class="barcell"><i style="width:{100 * float(s) / total:.1f}%"></i></td>'
        f'<td class="num">{100 * float(s) / total:.0f}%</td></tr>'
        for p, s in d.phase_seconds.items())
    return _section("phases", "Time per phase", f'<table class="phases">{rows}</table>')


def _inertia_chart(d):
    if not d.history:
        return ""
    runs = {}
    for r in d.history:
        runs.setdefault((r.phase, r.run), []).append((r.iteration, r.inertia))
    finals = {key: pts[-1][1] for key, pts in runs.items()}
    best = min(finals, key=finals.get)
    series = []
    for key, pts in runs.items():
        step = max(1, len(pts) // 1000)  # thin long mini-batch curves
        pts = pts[::step] + ([pts[-1]] if (len(pts) - 1) % step else [])
        label = key[0] + (f" run {key[1]}" if len(runs) > 1 else "")
        faint = len(runs) > 1 and key != best
        series.append({"label": label + (" (best)" if key == best and len(runs) > 1 else ""),
                       "x": [p[0] for p in pts], "y": [p[1] for p in pts],
                       "color": "#9ca3af" if faint else "#4e79a7", "opacity": 0.6 if faint else 1,
                       "width": 1.5 if faint else 2.5})
    series.sort(key=lambda s: s["color"] == "#4e79a7")  # best drawn last, on top
    svg = line_chart(series, x_label="iteration", y_label="inertia", log_y="auto",
                     title="Inertia per iteration")
    best_note = " The restart kept is drawn in blue, the others in grey." if len(runs) > 1 else ""
    return _card(svg, "Inertia (sum of squared distances to the nearest centre) after each "
                      "iteration." + best_note)


def _sizes_chart(d, colors):
    if d.cluster_sizes is None:
        return ""
    sizes = np.asarray(d.cluster_sizes, dtype=float)
    svg = bar_chart(sizes, colors=colors, x_label="cluster", y_label="rows",
                    title="Rows per cluster")
    spread = f"largest/smallest = {sizes.max() / sizes.min():.3g}" if sizes.min() > 0 else (
        f"{int((sizes == 0).sum())} empty cluster(s)")
    return _card(svg, f"Rows per cluster ({spread}).")


def _projection(d, max_points, seed):
    if d.sample is None or d.sample_labels is None or len(d.sample) == 0:
        return ""
    sample = np.asarray(d.sample, dtype=float)
    labels = np.asarray(d.sample_labels).astype(np.int64).reshape(-1)
    keep = np.isfinite(sample).all(axis=1)
    true = None if d.true_labels is None else np.asarray(d.true_labels).reshape(-1)
    if len(sample) > max_points:
        pick = np.sort(np.random.default_rng(seed).choice(len(sample), max_points, replace=False))
        keep = np.zeros(len(sample), dtype=bool)
        keep[pick[np.isfinite(sample[pick]).all(axis=1)]] = True
    sample, labels = sample[keep], labels[keep]
    true = None if true is None else true[keep]
    proj = fit_pca_2d(sample)
    xy = proj.transform(sample)
    k = int(d.n_clusters)
    colors = palette(max(k, int(labels.max(initial=0)) + 1))
    centers = None if d.centers is None else proj.transform(np.asarray(d.centers, dtype=float))
    ax = (f"PC1 ({100 * proj.explained[0]:.0f}% of variance)",
          f"PC2 ({100 * proj.explained[1]:.0f}%)")
    found = scatter_chart(xy, labels, colors=colors, centers=centers, x_label=ax[0],
                          y_label=ax[1], title="Clusters found, PCA projection",
                          equal_aspect=True)
    legend = _legend([f"cluster {i}" for i in range(k)], colors,
                     extra='<span class="chip"><b class="x">✕</b>centre</span>'
                     if centers is not None else "")
    cards = [_card(found + legend, "Clusters found by dkmeans")]
    if true is not None:
        names, cidx, klass = match_classes(labels, true, k)
        colors2 = palette(max(len(colors), int(cidx.max(initial=0)) + 1))
        known = scatter_chart(xy, cidx[klass], colors=colors2, x_label=ax[0], y_label=ax[1],
                              title="Known classes, same projection", centers=centers,
                              center_groups=list(range(k)), equal_aspect=True)
        legend2 = _legend([str(n) for n in names], [colors2[i] for i in cidx])
        cards.append(_card(known + legend2, "Known classes, with the centres found (✕); "
                                            "each class takes the colour of the cluster it "
                                            "overlaps most."))
    note = (f"{len(sample):,} sampled rows projected on the first two principal components "
            f"of the standardised sample ({100 * proj.explained.sum():.0f}% of its variance)."
            " Centres are projected the same way.")
    return _section("projection", "Clusters in two dimensions",
                    f'<div class="grid">{"".join(cards)}</div>', note)


def _legend(labels, colors, limit=24, extra=""):
    chips = "".join(f'<span class="chip"><i style="background:{colors[i % len(colors)]}"></i>'
                    f'{escape(str(label))}</span>' for i, label in enumerate(labels[:limit]))
    more = f'<span class="chip">+{len(labels) - limit} more</span>' if len(labels) > limit else ""
    return f'<div class="legend">{chips}{more}{extra}</div>'


def _k_selection(d):
    if not d.k_selection:
        return ""
    rows = sorted(d.k_selection, key=lambda r: r["k"])
    ks = [int(r["k"]) for r in rows]
    chosen = int(d.n_clusters)
    tag = f"chosen k = {chosen}"

    def curve(key, label):
        vals = [r.get(key) for r in rows]
        vals = [np.nan if v is None else float(v) for v in vals]
        if not np.isfinite(vals).any():
            return ""
        return line_chart([{"label": label, "x": ks, "y": vals}], x_label="k", y_label=label,
                          title=f"{label} by number of clusters", marker_x=chosen,
                          marker_label=tag)

    elbow = curve("inertia", "inertia")
    sil = curve("silhouette", "silhouette")
    cards = [_card(elbow, "Elbow: inertia always falls as k grows; look for the bend.")
             if elbow else "",
             _card(sil, "Silhouette: higher is better (−1 to 1).") if sil else ""]
    head = "<tr><th>k</th><th>inertia</th><th>silhouette</th><th>Davies–Bouldin</th></tr>"
    body = "".join(
        f'<tr class="{"chosen" if int(r["k"]) == chosen else ""}"><td>{int(r["k"])}</td>'
        + "".join(f'<td class="num">{fmt_num(r.get(key), 5)}</td>'
                  for key in ("inertia", "silhouette", "davies_bouldin")) + "</tr>"
        for r in rows)
    table = f'<table class="data">{head}{body}</table>'
    return _section("k-selection", "Choosing k",
                    f'<div class="grid">{"".join(cards)}</div>{table}',
                    "Davies–Bouldin: lower is better.")


def _profiles(d, colors, max_features=40):
    if d.centers is None:
        return ""
    centers = np.asarray(d.centers, dtype=float)
    k, n_feat = centers.shape
    names = list(d.feature_names or [f"x{j}" for j in range(n_feat)])
    shown = min(n_feat, max_features)
    sizes = None if d.cluster_sizes is None else np.asarray(d.cluster_sizes, dtype=float)
    lo, hi = centers.min(axis=0), centers.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    head = "<tr><th>cluster</th>" + ("<th>rows</th><th>share</th>" if sizes is not None else "")
    head += "".join(f"<th>{escape(str(n))}</th>" for n in names[:shown]) + "</tr>"
    body = []
    for i in range(k):
        cells = [f'<td><i class="sw" style="background:{colors[i % len(colors)]}"></i>{i}</td>']
        if sizes is not None:
            cells.append(f'<td class="num">{sizes[i]:,.0f}</td><td class="num">'
                         f'{100 * sizes[i] / max(sizes.sum(), 1):.1f}%</td>')
        for j in range(shown):
            alpha = 0.06 + 0.5 * (centers[i, j] - lo[j]) / span[j]
            cells.append(f'<td class="num" style="background:rgba(78,121,167,{alpha:.2f})">'
                         f'{escape(fmt_num(centers[i, j], 4))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = ("Mean of each feature in each cluster, in the input's original units. Shading "
            "runs from the lowest to the highest mean within each column.")
    if shown < n_feat:
        note += f" The first {shown} of {n_feat} features are shown."
    table = f'<div class="scroll"><table class="data">{head}{"".join(body)}</table></div>'
    return _section("profiles", "Cluster profiles", table, note)


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"
