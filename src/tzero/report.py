"""The demo report: signals table, LSTM holdout metrics against the naive
baselines, and a chart per symbol of predicted vs actual close on the holdout.

Written as one self-contained HTML file (charts are PNGs embedded as base64),
so it opens offline with no asset from the internet. Numbers have fixed decimals
(:mod:`tzero.fmt`): returns and accuracies as percentages, F1 with 3 decimals,
MSE in squared percentage points (%², ×10⁴ of the decimal MSE), never ``8.5e-05``.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tzero.fmt import count, num, pct  # noqa: E402
from tzero.signals.direction import RULE  # noqa: E402
from tzero.signals.signal import Signal  # noqa: E402

#: Decimal MSE → squared percentage points (%²): 8.531e-05 → 0.853.
MSE_TO_PCT2 = 1e4


def holdout_chart(code: str, holdout: pd.DataFrame) -> str:
    """PNG (base64) of the predicted vs actual close ``horizon`` sessions after each holdout date."""
    fig, ax = plt.subplots(figsize=(7.5, 2.8), dpi=100)
    # x = the session the forecast is for (t+5), so both lines are about the same close
    t = pd.to_datetime(holdout.get("target_time", holdout["trade_time"]))
    ax.plot(t, holdout["actual_close"], color="#c0392b", lw=1.6, label="actual close")
    ax.plot(t, holdout["pred_close"], color="#2e86de", lw=1.4, ls="--", label="LSTM forecast made 5 sessions earlier")
    ax.set_title(f"{code}: holdout, predicted vs actual", fontsize=10)
    ax.set_ylabel("close (CNY, qfq)", fontsize=8)
    ax.set_xlabel("session the forecast is for (t+5)", fontsize=8)
    ax.legend(fontsize=8, loc="best")
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _mse(v) -> str:
    """A decimal MSE in squared percentage points with 3 fixed decimals."""
    return num(None if v is None else float(v) * MSE_TO_PCT2, 3)


def write_report(path: Path, signals: list[Signal], holdouts: dict[str, pd.DataFrame],
                 metrics: dict[str, dict], meta: dict) -> Path:
    """Write the HTML report and return its path.

    Args:
        signals: the unified signals.
        holdouts: ts_code → LSTM holdout frame (``trade_time, pred_close, actual_close``).
        metrics: ts_code → LSTM holdout metrics (with ``naive_*`` baselines).
        meta: run facts shown at the top (as_of, timings, versions).
    """
    rows = "".join(
        f"<tr><td>{s.ts_code}</td><td>{s.as_of}</td><td>{s.regime or '—'}</td><td>{s.t0_intensity}</td>"
        f"<td>{s.t0_plan}{' *' if s.plan_reason else ''}</td><td>{s.direction}</td>"
        f"<td>{pct(s.expected_return, 2, sign=True)}</td><td>±{pct(s.expected_volatility, 2)}</td>"
        f"<td>{pct(s.prob_up, 0)}</td><td>{num(s.confidence, 2)}</td>"
        f"<td>{html.escape(s.explanation)}</td></tr>"
        for s in signals)
    mrows = "".join(
        f"<tr><td>{c}</td><td>{count(m.get('n'))}</td><td>{pct(m.get('accuracy'), 1)}</td>"
        f"<td>{num(m.get('f1'), 3)}</td><td>{pct(m.get('naive_momentum_accuracy'), 1)}</td>"
        f"<td>{num(m.get('naive_momentum_f1'), 3)}</td><td>{_mse(m.get('mse'))}</td>"
        f"<td>{_mse(m.get('naive_zero_mse'))}</td></tr>"
        for c, m in sorted(metrics.items()))
    charts = "".join(f"<div><img alt='{c} holdout chart' src='data:image/png;base64,{holdout_chart(c, h)}'></div>"
                     for c, h in sorted(holdouts.items()) if not h.empty)
    facts = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in meta.items())
    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tzero demo report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px}}th{{background:#f3f3f3}}</style></head><body>
<h1>tzero demo report</h1><ul>{facts}</ul>
<h2>Unified signals</h2><p>Direction: {html.escape(RULE)}. A plan marked * goes against
the forecast's direction; its explanation says why.</p>
<table><tr><th>ts_code</th><th>as_of</th><th>regime</th><th>T+0</th><th>plan</th><th>direction</th>
<th>E[r] 5d</th><th>vol 5d</th><th>P(up)</th><th>confidence</th><th>explanation</th></tr>{rows}</table>
<h2>LSTM holdout (last ~3 months, out of sample) against naive baselines</h2>
<p>Direction: LSTM vs momentum (sign of the last 5-session return). MSE of the 5 daily returns: LSTM vs the zero forecast.
A model that does not beat the baselines is shown as it is.</p>
<table><tr><th>ts_code</th><th>n</th><th>accuracy</th><th>F1</th><th>momentum acc.</th><th>momentum F1</th>
<th>MSE (%²)</th><th>zero MSE (%²)</th></tr>{mrows}</table>
<h2>Predicted vs actual close on the holdout</h2>{charts}</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path
