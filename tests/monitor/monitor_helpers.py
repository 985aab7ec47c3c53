"""Test helpers: a tiny PNG decoder (zlib + struct, no imaging library), headless Chromium,
a fake TTY, and a full ReportData built from synthetic blobs."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import zlib

import numpy as np

CHROMIUM = "/usr/bin/chromium"


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal."""

    encoding = "utf-8"

    def isatty(self):
        return True


def read_png(path):
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG to an array of shape (h, w, channels)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=start + 1).astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 2:  # up
            cur = (line + prev) & 255
        elif kind == 1:  # sub: a running sum per channel
            cur = line.reshape(-1, bpp).cumsum(axis=0).reshape(-1) & 255
        else:
            cur = _sequential_unfilter(kind, line.tolist(), prev.tolist(), bpp)
        out[y] = cur
        prev = np.asarray(cur, dtype=np.int64)
    return out.reshape(height, width, bpp)


def _sequential_unfilter(kind, line, prev, bpp):
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 3:  # average
            line[i] = (line[i] + ((a + b) >> 1)) & 255
            continue
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        line[i] = (line[i] + pred) & 255
    return np.asarray(line, dtype=np.int64)


def screenshot(html_path, png_path, *, profile_dir, width=1200, height=3000, timeout=90):
    """Render ``html_path`` with headless Chromium; returns its stderr (console logging on)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile_dir}",
           "--enable-logging=stderr", "--v=0", f"--screenshot={png_path}",
           f"--window-size={width},{height}", f"file://{os.path.abspath(html_path)}"]
    env = dict(os.environ, HOME=str(profile_dir))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)
    assert os.path.exists(png_path), f"no screenshot; chromium said:\n{proc.stderr[-3000:]}"
    return proc.stderr


def console_messages(stderr):
    """Chromium's console lines (``...:CONSOLE:...] "message", source: ...``)."""
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line or "Uncaught" in line or "console error" in line.lower()]


def have_chromium():
    return os.path.exists(CHROMIUM) and shutil.which(CHROMIUM) is not None


def blobs(n=1500, k=4, d=5, seed=3):
    """Well separated Gaussian blobs with features on very different scales."""
    rng = np.random.default_rng(seed)
    scales = np.array([1.0, 10.0, 0.1, 1.0, 100.0])[:d]
    centres = rng.normal(scale=6, size=(k, d)) * scales
    y = rng.integers(0, k, n)
    X = centres[y] + rng.normal(size=(n, d)) * scales
    return X, y


def full_report_data(**overrides):
    """A ReportData with every section filled in (a k-range job evaluated against classes)."""
    from dkmeans import KMeans
    from dkmeans.monitor.report import ReportData

    X, y = blobs()
    k = 4
    # random init with restarts: a few curves of several iterations, the best highlighted
    km = KMeans(k, init="random", n_init=3, random_state=2).fit(X / X.std(axis=0))
    labels = np.asarray(km.labels_)
    centres = np.array([X[labels == i].mean(axis=0) for i in range(k)])
    history = list(km.history_)
    k_selection = [dict(k=kk, inertia=float(5000 / kk ** 1.5), silhouette=0.45 + 0.2 * (kk == k)
                        - 0.01 * kk, davies_bouldin=1.0 - 0.3 * (kk == k) + 0.02 * kk)
                   for kk in range(2, 8)]
    data = dict(
        name="blobs-demo", n_rows=len(X), n_features=X.shape[1], n_clusters=k,
        n_iter=km.n_iter_, inertia=km.inertia_,
        feature_names=["age", "income", "tenure", "visits", "spend"],
        phase_seconds={"read": 0.8, "init": 1.3, "lloyd": 4.2, "write-labels": 0.9},
        n_skipped=12, history=history, cluster_sizes=np.bincount(labels, minlength=k),
        centers=centres, sample=X, sample_labels=labels,
        true_labels=np.array(["bronze", "gold", "new", "silver"])[y], k_selection=k_selection,
        evaluation={"ari": 0.98, "nmi": 0.97, "accuracy": 0.99},
        input_url="s3://bucket/customers/*.parquet",
        output_url="s3://analyst:hunter2secret@bucket/out/run-7",
        algorithm="KMeans (k-means||, Lloyd)", converged=True, run_id="run-7",
        performance_report_url="s3://bucket/out/run-7/performance-report.html")
    data.update(overrides)
    return ReportData(**data)
