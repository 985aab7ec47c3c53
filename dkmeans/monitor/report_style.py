"""The report's stylesheet, inlined into every ``report.html`` (no external file, no font)."""

CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--accent:#4e79a7}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 24px 40px}
header{margin-bottom:8px}
.brand{display:inline-block;font-weight:700;font-size:12px;letter-spacing:.08em;
text-transform:uppercase;color:#fff;background:var(--accent);border-radius:4px;padding:2px 8px}
h1{font-size:26px;margin:8px 0 2px}
.sub{color:var(--muted);margin:0}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 20px;
margin:18px 0}
h2{font-size:17px;margin:0 0 12px}
.note{color:var(--muted);margin:-6px 0 12px;font-size:13px}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(135px,1fr));gap:12px}
.stat{border:1px solid var(--line);border-radius:8px;padding:10px 14px;
background:#fbfbfc}
.stat span{display:block;color:var(--muted);font-size:12px}
.stat b{display:block;font-size:22px;font-variant-numeric:tabular-nums}
.stat .hint{font-size:11px;color:var(--muted)}
table{border-collapse:collapse}
table.kv{margin-top:14px}
table.kv th{text-align:left;color:var(--muted);font-weight:500;padding:3px 16px 3px 0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;
padding:1px 5px;border-radius:4px;word-break:break-all}
table.phases{width:100%}
table.phases th{text-align:left;font-weight:500;width:160px;padding:4px 0}
table.phases td{padding:4px 8px}
.barcell{width:60%}
.barcell i{display:block;height:10px;background:var(--accent);border-radius:3px;min-width:2px}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
figure.card{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px}
figure.card svg.chart{width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:12px;margin-top:6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;margin-top:6px;font-size:12px}
.chip{display:inline-flex;align-items:center;gap:5px}
.chip i{width:10px;height:10px;border-radius:50%;display:inline-block}
.chip b.x{font-size:12px;line-height:1}
.scroll{overflow-x:auto}
.scroll table.data th:first-child,.scroll table.data td:first-child{position:sticky;left:0;
z-index:1}
.scroll table.data td:first-child{background:#fff}
table.data{font-size:13px;margin-top:10px}
table.data th{background:#f3f4f6;font-weight:600;padding:6px 10px;text-align:right;
white-space:nowrap}
table.data th:first-child{text-align:left}
table.data td{padding:5px 10px;border-top:1px solid var(--line)}
table.data tr.chosen td{font-weight:700;background:#eef3f9}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:24px}
@media print{body{background:#fff}section{break-inside:avoid}}
"""
