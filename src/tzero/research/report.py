"""The research report: every variant's verdict and numbers, with equity and drawdown charts.

:func:`run_to_dict` turns a :class:`~tzero.research.run.ResearchRun` into
plain JSON (NaN → null); :func:`render_html` writes one self-contained HTML page
(ECharts inlined from the copy vendored at install, nothing loaded from the
internet): a table per strategy (kept / watch / blocked and why), then per
series the out-of-sample equity curve (cumulative return) and drawdown of every
variant.

Numbers have fixed decimals (:mod:`tzero.fmt`); each row's one annual figure is
:func:`tzero.backtest.gates.annual_return` (``kind "annual"``), printed exactly
as the gate's reason quotes it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from tzero.backtest.gates import ANNUAL_RETURN, GateConfig, annual_return_text, json_safe
from tzero.fmt import count, num, pct

ECHARTS = Path(__file__).resolve().parents[1] / "service" / "static" / "vendor" / "echarts.min.js"

#: (key, header, format) of the table columns per strategy. Formats: ``annual`` the one
#: annual figure (:func:`tzero.backtest.gates.annual_return_text`), ``ret`` a signed
#: percentage, ``pct`` a percentage, ``num`` 2 decimals, ``int`` a count (all fixed decimals).
T0_COLUMNS = [("round_trips", "round trips", "int"),
              (ANNUAL_RETURN, "return/yr after costs (cost basis −)", "annual"),
              ("total_return", "excess vs hold", "ret"), ("max_drawdown", "max DD", "pct"),
              ("profit_factor", "PF", "num"), ("win_rate", "win", "pct"), ("sharpe", "Sharpe", "num"),
              ("sortino", "Sortino", "num"), ("psr", "PSR", "num"), ("dsr", "DSR", "num"),
              ("fees", "fees CNY", "int"), ("turnover", "turnover/day", "pct"), ("n_days", "OOS days", "int")]
DAILY_COLUMNS = [("n_trades", "orders", "int"), (ANNUAL_RETURN, "excess vs hold /yr", "annual"),
                 ("max_drawdown", "max DD", "pct"), ("profit_factor", "PF", "num"), ("win_rate", "win", "pct"),
                 ("sharpe", "Sharpe", "num"), ("sortino", "Sortino", "num"), ("psr", "PSR", "num"),
                 ("dsr", "DSR", "num"), ("fees", "fees CNY", "int"), ("n_days", "OOS days", "int")]
TOPK_COLUMNS = [(ANNUAL_RETURN, "return/yr after costs", "annual"),
                ("excess_return", "excess vs CSI 300", "ret"),
                ("max_drawdown", "max DD", "pct"), ("profit_factor", "PF", "num"), ("win_rate", "win", "pct"),
                ("sharpe", "Sharpe", "num"), ("sortino", "Sortino", "num"), ("psr", "PSR", "num"),
                ("dsr", "DSR", "num"), ("n_trades", "orders", "int"), ("fees", "fees CNY", "int"),
                ("turnover", "turnover/day", "pct"), ("n_days", "OOS days", "int")]


def _series(s: pd.Series | None) -> dict | None:
    if s is None or len(s) == 0:
        return None
    s = s.sort_index()
    return {"dates": [str(pd.Timestamp(d).date()) for d in s.index], "values": [round(float(x), 6) for x in s]}


def run_to_dict(run) -> dict:
    """Plain-data form of a research run (what ``research.json`` holds)."""
    rows = []
    for r in run.rows:
        rows.append({
            "strategy": r["strategy"], "series": r["series"], "variant": r["variant"],
            "model": r["model"], "params": r["params"], "status": r["verdict"].status,
            "reasons": list(r["verdict"].reasons), "n_trials": r["n_trials"],
            "oos_metrics": r["oos_metrics"], "is_metrics": r.get("is_metrics"),
            "equity": _series(r.get("equity")), "benchmark_equity": _series(r.get("benchmark_equity")),
        })
    cfg = GateConfig()
    return json_safe({"run_id": run.run_id, "created_at": run.created_at.isoformat(timespec="seconds"),
                   "settings": run.settings, "seconds": run.seconds, "skipped": run.skipped,
                   "failures": list(getattr(run, "failures", [])),
                   "gates": {"min_trades": cfg.min_trades, "min_oos_return": cfg.min_oos_return,
                             "min_dsr": cfg.min_dsr, "max_decay": cfg.max_decay},
                   "rows": rows, "compare": compare_summary(run.compare)})


def compare_summary(res: dict | None) -> dict | None:
    """The report's view of a ``tzero compare`` result: run, range and one line per row."""
    if not res:
        return None
    st = res["settings"]
    rows = []
    for r in res["rows"]:
        m = r["metrics"]
        rows.append({"name": r["name"], "members": r["members"], "rank_ic": m.get("rank_ic"),
                     "rank_icir": m.get("rank_icir"), "direction_accuracy": m.get("direction_accuracy"),
                     # the gate's figure (what the verdict's reason quotes), not a second annualisation
                     "excess": (r.get("gate") or {}).get(ANNUAL_RETURN),
                     "dsr": (r.get("gate") or {}).get("dsr"),
                     "timing": ((r.get("timing") or {}).get("metrics") or {}).get("annual_return"),
                     "status": r["verdict"]["status"], "reasons": r["verdict"]["reasons"]})
    return {"run_id": res["run_id"], "universe": res["universe"], "start": st["start"],
            "end": st["end"], "refit": st["refit"], "code_version": res["code_version"],
            "rows": rows}


def _compare_html(c: dict) -> str:
    """The comparison section of the report (the page ``/compare`` has its curves)."""
    head = ("<tr><th>model</th><th>members</th><th>Rank IC</th><th>Rank ICIR</th><th>dir acc</th>"
            "<th>top-k excess/yr (gate)</th><th>DSR</th><th>timing excess/yr</th><th>verdict</th>"
            "<th>why</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(r['name'])}</td><td>{html.escape(r['members'])}</td>"
        f"<td>{num(r['rank_ic'], 4)}</td><td>{num(r['rank_icir'], 3)}</td>"
        f"<td>{pct(r['direction_accuracy'], 1)}</td><td>{pct(r['excess'], 2, sign=True)}</td>"
        f"<td>{num(r['dsr'], 2)}</td><td>{pct(r['timing'], 2, sign=True)}</td>"
        f"<td><span class='pill {r['status']}'>{r['status']}</span></td>"
        f"<td class='why'>{html.escape('; '.join(r['reasons']))}</td></tr>" for r in c["rows"])
    return (f"<h2>One yardstick: every model <small class='muted'>tzero compare {html.escape(c['run_id'])}"
            f" · {html.escape(c['universe'])} {c['start']}..{c['end']} · refit {c['refit']} · "
            f"{html.escape(c['code_version'])}</small></h2>"
            "<p class='muted'>Out of sample on one walk-forward split; the curves, robustness "
            "matrix and A/B views are on the service's <code>/compare</code> page.</p>"
            f"<table>{head}{body}</table>")


def _fmt(v, kind: str) -> str:
    """One table cell in fixed decimals (``annual`` is handled by :func:`_cell`)."""
    if kind == "ret":
        return pct(v, 2, sign=True)
    if kind == "pct":
        return pct(v, 2)
    if kind == "int":
        return count(v)
    return num(v, 2)


def _cell(m: dict, key: str, kind: str) -> str:
    """The cell of metric ``key``: the one annual figure through the gate's own text."""
    return annual_return_text(m) if kind == "annual" else _fmt(m.get(key), kind)


def _table(rows: list[dict], cols) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = []
    for r in rows:
        m = r["oos_metrics"] or {}
        is_sr = (r.get("is_metrics") or {}).get("sharpe")
        cells = "".join(f"<td>{_cell(m, k, f)}</td>" for k, _, f in cols)
        body.append(f"<tr class='{r['status']}'><td>{html.escape(r['series'])}</td>"
                    f"<td><b>{html.escape(r['variant'])}</b><br><small>{html.escape(r['model'])}</small></td>"
                    f"<td><span class='pill {r['status']}'>{r['status']}</span></td>"
                    f"<td class='why'>{'<br>'.join(html.escape(x) for x in r['reasons'])}</td>"
                    f"{cells}<td>{_fmt(is_sr, 'num')}</td></tr>")
    return (f"<table><thead><tr><th>series</th><th>variant</th><th>status</th><th>why</th>{head}"
            f"<th>IS Sharpe</th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def _charts(rows: list[dict], strategy: str) -> tuple[str, list[dict]]:
    """Chart containers and their specs: one equity + one drawdown chart per series."""
    divs, specs = [], []
    for i, (series, g) in enumerate(_group(rows)):
        lines = []
        for r in g:
            if r["equity"]:
                lines.append({"name": r["variant"], "dates": r["equity"]["dates"],
                              "values": r["equity"]["values"], "status": r["status"]})
        bench = next((r["benchmark_equity"] for r in g if r.get("benchmark_equity")), None)
        if bench:
            lines.append({"name": "CSI 300 (benchmark)", "dates": bench["dates"],
                          "values": bench["values"], "status": "benchmark"})
        if not lines:
            continue
        cid = f"{strategy}-{i}"
        divs.append(f"<h3>{html.escape(series)}</h3><div class='chart' id='eq-{cid}'></div>"
                    f"<div class='chart small' id='dd-{cid}'></div>")
        specs.append({"id": cid, "lines": lines, "compound": strategy == "topk"})
    return "".join(divs), specs


def _group(rows: list[dict]):
    order: dict[str, list[dict]] = {}
    for r in rows:
        order.setdefault(r["series"], []).append(r)
    return order.items()


_JS = """
const specs = __SPECS__;
const COLORS = {kept: '#1a9a55', watch: '#d89a00', blocked: '#c0392b', benchmark: '#555'};
for (const s of specs) {
  const dates = [...new Set(s.lines.flatMap(l => l.dates))].sort();
  const idx = Object.fromEntries(dates.map((d, i) => [d, i]));
  const series = [], dd = [];
  for (const l of s.lines) {
    const v = new Array(dates.length).fill(null);
    l.dates.forEach((d, i) => { v[idx[d]] = l.values[i]; });
    const style = {width: l.status === 'benchmark' ? 2 : 1.2, type: l.status === 'blocked' ? 'dashed' : 'solid'};
    series.push({name: l.name, type: 'line', showSymbol: false, connectNulls: true, data: v,
                 lineStyle: style, color: undefined});
    let peak = s.compound ? 1 : 0; const d = v.map(x => { if (x === null) return null;
      const w = s.compound ? 1 + x : x; peak = Math.max(peak, w);
      return s.compound ? w / peak - 1 : w - peak; });
    dd.push({name: l.name, type: 'line', showSymbol: false, connectNulls: true, data: d, lineStyle: style});
  }
  const base = {tooltip: {trigger: 'axis', valueFormatter: x => x === null ? '—' : (x * 100).toFixed(2) + '%'},
    legend: {type: 'scroll', top: 0}, grid: {left: 70, right: 20, top: 40, bottom: 40},
    xAxis: {type: 'category', data: dates, name: 'session (date)', nameLocation: 'middle', nameGap: 24},
    yAxis: {type: 'value', nameLocation: 'middle', nameGap: 46, axisLabel: {formatter: x => (x * 100).toFixed(1) + '%'}}};
  echarts.init(document.getElementById('eq-' + s.id)).setOption({...base,
    yAxis: {...base.yAxis, name: 'cumulative return (%)'},
    title: {text: 'out-of-sample cumulative return', left: 'center', top: 18, textStyle: {fontSize: 12}}, series});
  echarts.init(document.getElementById('dd-' + s.id)).setOption({...base, legend: {show: false},
    yAxis: {...base.yAxis, name: 'drawdown (%)'},
    title: {text: 'drawdown', left: 'center', top: 0, textStyle: {fontSize: 12}}, series: dd});
}
"""

_CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI','Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 24px;font-size:12.5px}th,td{border-bottom:1px solid #e4e4e4;padding:4px 7px;text-align:right;vertical-align:top}
th{background:#f4f6f8;position:sticky;top:0}td:nth-child(-n+4){text-align:left}td.why{max-width:420px;font-size:12px;color:#444}
.pill{padding:1px 8px;border-radius:9px;color:#fff;font-size:12px}.pill.kept{background:#1a9a55}.pill.watch{background:#d89a00}
.pill.blocked{background:#c0392b}.chart{height:340px;max-width:1200px}.chart.small{height:200px}.muted{color:#777}
"""


def _costs_text(st: dict) -> str:
    """The run's cost settings in words with fixed decimals (no ``5e-05``)."""
    parts = []
    if st.get("commission_rate") is not None:
        parts.append(f"commission {pct(st['commission_rate'], 3)} per order")
    if st.get("min_commission") is not None:
        parts.append(f"at least {num(st['min_commission'], 2)} CNY")
    if st.get("slippage_bps") is not None:
        parts.append(f"slippage {num(st['slippage_bps'], 1)} bps")
    if st.get("seed") is not None:
        parts.append(f"seed {st['seed']}")
    rest = {k: v for k, v in st.items()
            if k not in ("commission_rate", "min_commission", "slippage_bps", "seed")}
    parts += [f"{k} {num(v, 4) if isinstance(v, float) else v}" for k, v in rest.items()]
    return ", ".join(parts) or "default"


def render_html(data: dict) -> str:
    """The self-contained report page of :func:`run_to_dict` output."""
    parts = []
    counts: dict[str, dict[str, int]] = {}
    for r in data["rows"]:
        counts.setdefault(r["strategy"], {"kept": 0, "watch": 0, "blocked": 0})[r["status"]] += 1
    g = data["gates"]
    parts.append(f"<h1>tzero research report <small class='muted'>{html.escape(data['run_id'])}</small></h1>"
                 f"<p>{html.escape(data['created_at'])} · every number is out of sample (walk-forward test parts); "
                 f"in-sample runs only feed the decay gate. Gates (fail = block, spec 003 §3): ≥ {g['min_trades']} "
                 f"OOS trades, OOS return after costs &gt; {pct(g['min_oos_return'], 2)}, "
                 f"DSR ≥ {num(g['min_dsr'], 2)}, "
                 f"Sharpe decay ≤ {pct(g['max_decay'], 0)}. DSR is deflated by the number of variants tried in "
                 f"each strategy (counted by the run). Costs: {html.escape(_costs_text(data['settings']))}.</p>")
    summary = " · ".join(f"<b>{s}</b>: {c['kept']} kept, {c['watch']} watch, {c['blocked']} blocked"
                         for s, c in counts.items())
    parts.append(f"<p>{summary}</p>")
    specs: list[dict] = []
    for strategy, title, cols in (("t0", "T+0 (做T) around a held position", T0_COLUMNS),
                                  ("daily", "Daily position timing around the holdings (served daily models)",
                                   DAILY_COLUMNS),
                                  ("topk", "Daily top-k rebalance, CSI 300", TOPK_COLUMNS)):
        rows = [r for r in data["rows"] if r["strategy"] == strategy]
        if not rows:
            continue
        parts.append(f"<h2>{title} <small class='muted'>{len(rows)} variants, "
                     f"{data['seconds'].get(strategy, 0):.0f} s</small></h2>")
        if strategy == "t0":
            parts.append("<p class='muted'>Returns are the T+0 P&amp;L after fees over the base position's "
                         "value: the excess over simply holding. Return/yr is that P&amp;L compounded to a "
                         "year as a share of the position (positive = the cost of the holding fell by "
                         "that much a year); it is the figure the return gate judges.</p>")
        parts.append(_table(rows, cols))
        divs, sp = _charts(rows, strategy)
        parts.append(divs)
        specs += sp
    if data.get("compare"):
        parts.append(_compare_html(data["compare"]))
    if data["skipped"]:
        items = "".join(f"<li>{html.escape(s['label'])}: {html.escape(s['reason'])}</li>" for s in data["skipped"])
        parts.append(f"<h2>Not researched</h2><ul>{items}</ul>")
    if data.get("failures"):
        items = "".join(f"<li>{html.escape(f['strategy'])} {html.escape(str(f['series']))} "
                        f"{html.escape(f['model'])} window {f['window']}: "
                        f"{html.escape(f['reason'])}</li>" for f in data["failures"])
        parts.append(f"<h2>Model fits that failed</h2><ul>{items}</ul>")
    js = ""
    if specs and ECHARTS.is_file():
        js = (f"<script>{ECHARTS.read_text(encoding='utf-8')}</script>"
              f"<script>{_JS.replace('__SPECS__', json.dumps(specs))}</script>")
    elif specs:
        parts.append("<p class='muted'>Charts need ECharts, vendored by <code>make install</code>; "
                     "it is missing, so only the tables are shown.</p>")
    return (f"<!doctype html><html lang='en'><meta charset='utf-8'><title>tzero research {data['run_id']}</title>"
            f"<style>{_CSS}</style><body>{''.join(parts)}{js}</body></html>")
