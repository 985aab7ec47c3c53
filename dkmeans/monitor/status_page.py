"""The ``/dkmeans`` page served by the scheduler plugin: each job's phase, progress and
inertia curve, as static HTML with inline SVG that reloads itself every few seconds."""

from __future__ import annotations

import html

from dkmeans.monitor.plots import fmt_num, line_chart
from dkmeans.monitor.progress import format_elapsed

_PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#111827;
background:#f9fafb}h1{font-size:20px;margin:0 0 16px}.job{background:#fff;border:1px solid #e5e7eb;
border-radius:8px;padding:16px;margin-bottom:16px}.row{display:flex;gap:24px;flex-wrap:wrap}
.kv{font-size:13px;color:#6b7280}.kv b{display:block;font-size:18px;color:#111827}
.bar{height:8px;background:#e5e7eb;border-radius:4px;overflow:hidden;width:320px;margin:8px 0}
.bar i{display:block;height:100%;background:#4e79a7}.failed{color:#b91c1c}.ok{color:#15803d}
"""


def render_status_page(jobs, *, refresh=2):
    """The ``/dkmeans`` page: one card per job with its progress and inertia curve.

    Parameters
    ----------
    jobs : list of dict
        :meth:`dkmeans.monitor.scheduler_plugin.DkmeansSchedulerPlugin.snapshot`.
    refresh : int, default 2
        Seconds between automatic reloads (``<meta http-equiv="refresh">``).

    Returns
    -------
    str
    """
    cards = [_job_card(job) for job in jobs] or ["<p>No dkmeans job has reported yet.</p>"]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="{int(refresh)}"><title>dkmeans jobs</title>'
            f'<style>{_PAGE_CSS}</style></head><body><h1>dkmeans jobs</h1>'
            + "".join(cards) + "</body></html>")


def _job_card(job):
    esc = html.escape
    status = job["status"]
    cls = {"failed": "failed", "ok": "ok"}.get(status, "")
    progress = ""
    if job["total"]:
        frac = min(1.0, (job["iteration"] or 0) / job["total"])
        progress = f'<div class="bar"><i style="width:{100 * frac:.1f}%"></i></div>'
    of = f" / {job['total']}" if job["total"] else ""
    facts = [("phase", job["phase"] or "–"), ("iteration", f"{job['iteration']}{of}"),
             ("inertia", fmt_num(job["inertia"], 6)),
             ("centre shift", fmt_num(job["center_shift"])),
             ("elapsed", format_elapsed(job["elapsed"])), ("status", status)]
    kv = "".join(f'<div class="kv">{esc(k)}<b>{esc(str(v))}</b></div>' for k, v in facts)
    series = [{"label": name, "x": [p[0] for p in pts], "y": [p[1] for p in pts]}
              for name, pts in sorted(job["curves"].items())]
    chart = line_chart(series, x_label="iteration", y_label="inertia", title="inertia",
                       log_y="auto", width=640, height=260) if series else ""
    phases = ", ".join(f"{esc(p)} {s:.1f} s" for p, s in job["phases"].items())
    error = f'<p class="failed">{esc(str(job["error"]))}</p>' if job.get("error") else ""
    return (f'<div class="job"><h2 class="{cls}">{esc(job["name"])} '
            f'<small class="kv">run {esc(job["run_id"])}</small></h2>'
            f'<div class="row">{kv}</div>{progress}{error}'
            f'<p class="kv">{("phases done: " + phases) if phases else ""}</p>{chart}</div>')
