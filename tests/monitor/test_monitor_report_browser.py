"""The report opened in a real browser: Debian's headless Chromium takes a screenshot, which
must not be blank and must show the charts' colours; the console must stay empty.

Skipped only when /usr/bin/chromium is absent (CI installs it: ``apt-get install chromium``).
Set ``DKMEANS_SCREENSHOT`` to a path to keep the screenshot.
"""

import os
import shutil

import numpy as np
import pytest
from monitor_helpers import (
    console_messages,
    full_report_data,
    have_chromium,
    read_png,
    screenshot,
)

from dkmeans.monitor.plots import palette
from dkmeans.monitor.report import render_report

pytestmark = pytest.mark.skipif(not have_chromium(),
                                reason="/usr/bin/chromium is absent (apt-get install chromium)")


def _hex(color):
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])


def test_report_renders_in_headless_chromium(tmp_path):
    html_path = tmp_path / "report.html"
    html_path.write_text(render_report(full_report_data()), encoding="utf-8")
    png_path = tmp_path / "report.png"
    stderr = screenshot(html_path, png_path, profile_dir=tmp_path / "profile")
    if os.environ.get("DKMEANS_SCREENSHOT"):
        shutil.copyfile(png_path, os.environ["DKMEANS_SCREENSHOT"])

    assert console_messages(stderr) == []

    image = read_png(png_path)[..., :3].astype(np.int64)
    assert image.shape[:2] == (3000, 1200)
    assert image.std() > 20, "the screenshot is (nearly) blank"
    # content runs down the page, not just a header: rows that differ from the background
    background = np.median(image.reshape(-1, 3), axis=0)
    busy_rows = (np.abs(image - background).sum(axis=2) > 60).any(axis=1)
    assert busy_rows[:2500].mean() > 0.4
    # every cluster colour is painted (scatter points, bars, swatches)
    for color in palette(4):
        close = (np.abs(image - _hex(color)).sum(axis=2) <= 12).sum()
        assert close > 500, f"colour {color} barely appears ({close} pixels)"
