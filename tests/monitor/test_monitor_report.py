"""The HTML report: its pieces (ticks, PCA, class matching), its sections, self-containment,
and the performance-report wrapper without a cluster."""

import re
from html.parser import HTMLParser

import numpy as np
import pytest
from monitor_helpers import full_report_data

from dkmeans.monitor.performance import performance_report_url, write_performance_report
from dkmeans.monitor.plots import bar_chart, fmt_num, line_chart, nice_ticks, palette
from dkmeans.monitor.projection import fit_pca_2d, match_classes
from dkmeans.monitor.report import ReportData, render_report, write_report

SECTIONS = ("summary", "evaluation", "phases", "convergence", "projection", "k-selection",
            "profiles")


class _Outline(HTMLParser):
    """Section ids, number of <svg> per section, and any external reference."""

    def __init__(self):
        super().__init__()
        self.sections, self.current, self.external = {}, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.current = attrs.get("id")
            self.sections[self.current] = 0
        elif tag == "svg" and self.current:
            self.sections[self.current] += 1
        for key in ("src", "href"):
            if attrs.get(key):
                self.external.append(attrs[key])
        if tag in ("script", "link", "img", "iframe"):
            self.external.append(tag)


def outline(html):
    parser = _Outline()
    parser.feed(html)
    return parser


def test_number_formatting_and_ticks():
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0.31, 0.49, n=4) == pytest.approx([0.35, 0.4, 0.45])
    assert fmt_num(None) == "–" and fmt_num(2_500_000) == "2.5M" and fmt_num(-0.5) == "-0.5"
    assert len(set(palette(25))) == 25


def test_pca_matches_numpy_and_is_sign_stable():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)) @ np.array([[3, 1, 0], [0, 1, 0], [0, 0, 0.1]])
    proj = fit_pca_2d(X, standardize=False)
    Z = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    np.testing.assert_allclose(np.abs(proj.components), np.abs(vt[:2]), atol=1e-12)
    np.testing.assert_allclose(proj.explained, (s ** 2 / (s ** 2).sum())[:2])
    flipped = fit_pca_2d(-X, standardize=False)  # same axes, same signs
    np.testing.assert_allclose(flipped.components, proj.components, atol=1e-12)
    one = fit_pca_2d(X[:, :1])
    assert one.transform(X[:, :1]).shape == (500, 2) and one.explained[1] == 0


def test_classes_take_the_colour_of_their_best_cluster():
    labels = np.array([2, 2, 2, 0, 0, 1, 1, 1, 1, 1])
    classes = np.array(["a", "a", "b", "c", "c", "d", "d", "d", "d", "e"])
    names, color, index = match_classes(labels, classes, 3)
    mapping = dict(zip(names.tolist(), color.tolist()))
    assert mapping["d"] == 1 and mapping["a"] == 2 and mapping["c"] == 0
    assert len(set(mapping.values())) == 5  # leftover classes get new colours
    assert (names[index] == classes).all()


def test_full_report_has_every_section_with_its_charts():
    html = render_report(full_report_data())
    parts = outline(html)
    assert tuple(parts.sections) == SECTIONS
    assert parts.sections["convergence"] == 2  # inertia curve, cluster sizes
    assert parts.sections["projection"] == 2  # found, known classes
    assert parts.sections["k-selection"] == 2  # elbow, silhouette
    assert "chosen k = 4" in html
    for name in ("income", "tenure", "Adjusted Rand index", "write-labels", "bronze"):
        assert name in html


def test_report_is_self_contained_and_masks_credentials():
    html = render_report(full_report_data())
    assert outline(html).external == []
    beside = render_report(full_report_data(performance_report_url="performance-report.html"))
    assert outline(beside).external == ["performance-report.html"]  # a relative link only
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", html)
    assert "hunter2secret" not in html and "s3://analyst:***@bucket/out/run-7" in html


def test_minimal_report_shows_only_what_it_has():
    data = ReportData(name="tiny <job>", n_rows=6, n_features=2, n_clusters=2, n_iter=2,
                      inertia=16.0)
    html = render_report(data)
    assert tuple(outline(html).sections) == ("summary",)
    assert "tiny &lt;job&gt;" in html


def test_large_sample_is_subsampled_and_nonfinite_rows_dropped():
    data = full_report_data()
    sample = np.vstack([data.sample] * 4)
    sample[0] = np.nan
    data.sample, data.sample_labels = sample, np.tile(data.sample_labels, 4)
    data.true_labels = np.tile(data.true_labels, 4)
    html = render_report(data, max_points=1000)
    assert "1,000 sampled rows" in html or "999 sampled rows" in html


def test_chart_edge_cases():
    assert "no data" in line_chart([{"label": "x", "x": [], "y": []}])
    assert "<rect" in bar_chart([0, 0, 5])
    svg = line_chart([{"label": "k", "x": [2, 3], "y": [1.0, float("nan")]}], marker_x=2,
                     marker_label="chosen")
    assert "chosen" in svg


def test_performance_report_without_client_is_a_recorded_no_op(tmp_path):
    target = tmp_path / "out" / "perf.html"
    with write_performance_report(str(target)) as report:
        pass
    assert not report.written and "no Dask client" in report.error and not target.exists()
    with write_performance_report(str(target), enabled=False) as report:
        pass
    assert report.error == "disabled"
    assert performance_report_url("s3://b/out/") == "s3://b/out/performance-report.html"


def test_write_report_creates_local_directories_and_writes_through_fsspec(tmp_path):
    import fsspec

    data = ReportData(name="w", n_rows=1, n_features=1, n_clusters=1, n_iter=1, inertia=0.0)
    local = tmp_path / "a" / "b" / "report.html"
    assert write_report(data, str(local)) == str(local)
    assert local.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    write_report(data, "memory://dkmeans-report-test/out/report.html")
    with fsspec.open("memory://dkmeans-report-test/out/report.html", "r") as f:
        assert "<h1>w</h1>" in f.read()
