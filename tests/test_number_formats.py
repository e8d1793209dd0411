"""Issue 12 items 11–12: one annual figure per row, and fixed decimals in every report and table.

Hand-made research rows (the numbers of the issue: a T+0 variant whose arithmetic
cost-basis rate is −24.69 %/yr while its compounded annual return is −21.93 %/yr)
go through the gates, the CLI tables, the research report and the demo report.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from tzero import fmt
from tzero.backtest.gates import annual_return, annual_return_text, judge

#: A number in scientific notation (``8.531e-05``, ``1E+06``), not a CSS colour (``#e4e4e4``).
SCI = re.compile(r"(?<![#\w.])\d+(?:\.\d+)?[eE][+-]?\d+")
#: A gate reason's annual figure.
REASON_FIGURE = re.compile(r"([+-]\d+\.\d{2}%)/yr")


@pytest.mark.parametrize(("call", "text"), [
    (lambda: fmt.pct(-0.2469, 2, sign=True), "-24.69%"),
    (lambda: fmt.pct(0.001, 2), "0.10%"),
    (lambda: fmt.pct(-0.00001, 2, sign=True), "+0.00%"),       # no "-0.00%"
    (lambda: fmt.pct(0.35, 0), "35%"),
    (lambda: fmt.num(0.2, 3), "0.200"),
    (lambda: fmt.num(0.04545, 3), "0.045"),
    (lambda: fmt.num(8.531e-05, 6), "0.000085"),
    (lambda: fmt.num(1.5, 2, sign=True), "+1.50"),
    (lambda: fmt.count(12345.4), "12,345"),
    (lambda: fmt.pct(float("nan")), fmt.MISSING),
    (lambda: fmt.num(None), fmt.MISSING),
    (lambda: fmt.count(float("inf")), fmt.MISSING),
])
def test_fmt_fixed_decimals(call, text) -> None:
    assert call() == text


def _rows() -> list[dict]:
    """One variant per strategy (and a passing one): different arithmetic and compounded rates."""
    base = {"n_trades": 400, "dsr": 0.99, "sharpe": 1.1, "psr": 0.97, "n_trials": 24,
            "max_drawdown": -0.05, "profit_factor": 1.3, "win_rate": 0.55, "sortino": 1.4,
            "fees": 12345.6, "turnover": 0.04545, "n_days": 300, "total_return": 0.1,
            "excess_return": 8.531e-05}
    rows = []
    for strategy, ann, extra in (
            ("t0", -0.2193, {"round_trips": 120, "cost_basis_reduction_annual": -0.2469}),
            ("daily", -0.031, {}), ("topk", 0.012, {}), ("topk", 0.15, {})):
        m = {**base, "annual_return": ann, **extra}
        rows.append({"strategy": strategy, "series": "600036.SH", "variant": f"{strategy}-{ann}",
                     "model": "lstm", "params": {}, "n_trials": 24, "oos_metrics": m,
                     "is_metrics": {"sharpe": 1.2}, "verdict": judge(m, {"sharpe": 1.2}),
                     "equity": pd.Series([0.0, 0.01, -0.004],
                                         index=pd.bdate_range("2023-01-02", periods=3))})
    return rows


def _compare_result() -> dict:
    gate = {"annual_return": -0.0421, "n_trades": 500, "dsr": 0.5, "sharpe": 0.2, "n_trials": 7}
    metrics = {"rank_ic": 0.0123, "rank_icir": 0.1, "ic": 8.531e-05, "direction_accuracy": 0.5123,
               "mse": 8.531e-05, "crps": 0.0297, "k50d5_excess_ew_annual": -0.0469,
               "k30d3_excess_ew_annual": 0.0012, "k50d5_excess_csi300_annual": 0.02,
               "k50d5_max_drawdown": -0.1, "k50d5_sharpe": 0.3, "k50d5_turnover": 0.04545}
    v = judge(gate)
    return {"run_id": "c1", "universe": "CSI_300", "code_version": "abc",
            "settings": {"start": "2019-01-02", "end": "2023-02-22", "refit": "none",
                         "n_sessions": 1000},
            "rows": [{"name": "tcn", "members": "all", "metrics": metrics, "book": "k50d5",
                      "gate": gate, "timing": {"metrics": {"annual_return": 0.0101}},
                      "verdict": {"status": v.status, "reasons": list(v.reasons)},
                      "fit_seconds": 12.3, "predict_ms": 0.04545}]}


def _text(table) -> str:
    c = Console(record=True, width=400, color_system=None)
    c.print(table)
    return c.export_text()


def test_reason_figure_equals_the_column_for_every_row() -> None:
    from tzero.cli_research import _verdict_table

    rows = _rows()
    for r in rows:
        figures = {m for x in r["verdict"].reasons for m in REASON_FIGURE.findall(x)}
        assert figures == {annual_return_text(r["oos_metrics"])}, r["verdict"].reasons
    # the −24.69 % arithmetic rate is gone from the table; the one figure is the gate's
    out = _text(_verdict_table("t", rows))
    assert "-21.93%" in out and "-24.69%" not in out
    for line, r in zip([x for x in out.splitlines() if "600036.SH" in x], rows, strict=True):
        cells = [c.strip() for c in line.split("│")]
        assert cells[5] == annual_return_text(r["oos_metrics"])          # return/yr column
        assert all(f in cells[12] for f in REASON_FIGURE.findall(cells[12]))
        assert set(REASON_FIGURE.findall(line)) == {cells[5]}
    assert not SCI.search(out)
    assert annual_return(rows[0]["oos_metrics"]) == pytest.approx(-0.2193)


def test_research_report_one_figure_and_fixed_decimals() -> None:
    from tzero.research.report import render_html, run_to_dict
    from tzero.research.run import ResearchRun

    run = ResearchRun("r-test", datetime(2026, 12, 2), rows=_rows(),
                      settings={"seed": 42, "commission_rate": 0.00005, "min_commission": 5.0,
                                "slippage_bps": 5.0},
                      compare=_compare_result())
    page = render_html(run_to_dict(run))
    body = re.sub(r"<script>.*?</script>", "", page, flags=re.S)     # the vendored ECharts code
    assert not SCI.search(body), SCI.findall(body)[:5]
    assert "commission 0.005% per order" in body
    for r in _rows():
        row = next(x.split("</tr>")[0] for x in body.split("<tr class=")[1:]
                   if f"<b>{r['variant']}</b>" in x)
        cells = re.findall(r"<td>([^<]*)</td>", row)
        assert annual_return_text(r["oos_metrics"]) in cells
        assert set(REASON_FIGURE.findall(row)) == {annual_return_text(r["oos_metrics"])}
    assert "-24.69%" not in body
    # the comparison: its excess column is the gate's figure, the one its reason quotes
    assert "<td>-4.21%</td>" in body and "-4.69%" not in body
    assert "OOS return -4.21%/yr after costs" in body
    assert "cumulative return (%)" in page and "drawdown (%)" in page


def test_compare_table_reads_the_gate_figure() -> None:
    from tzero.cli_compare import compare_table

    out = _text(compare_table(_compare_result()))
    assert "-4.21%" in out and "-4.69%" not in out and "OOS return -4.21%/yr" in out
    assert not SCI.search(out)
    assert "51.2%" in out and "0.085" in out                           # dir acc, MSE ×1000


def test_demo_report_has_fixed_decimals(tmp_path) -> None:
    from tzero.report import write_report
    from tzero.signals.signal import build_signal

    fc = pd.DataFrame([{"ts_code": "600036.SH", "as_of": pd.Timestamp("2023-02-24"), "step": k,
                        "mean": -0.00223, "cum_mean": (1 - 0.00223) ** k - 1, "std": 0.02,
                        "prob_up": 0.35, "prob_down": 0.65, "regime": None, "regime_prob": np.nan,
                        "deviation": -0.034} for k in range(1, 6)])
    sig = build_signal("600036.SH", pd.Timestamp("2023-02-24"), {"arima": fc}, {"arima": "v1"})
    metrics = {"600036.SH": {"n": 22, "accuracy": 0.2, "f1": 0.04545, "mse": 8.531e-05,
                             "naive_momentum_accuracy": 0.5, "naive_momentum_f1": 0.6667,
                             "naive_zero_mse": 1.2e-4}}
    html = write_report(tmp_path / "r.html", [sig], {}, metrics, {"as_of": "2023-02-24"}).read_text()
    assert not SCI.search(html), SCI.findall(html)
    for text in ("<td>20.0%</td>", "<td>0.045</td>", "<td>0.853</td>", "<td>1.200</td>",
                 "<td>-1.11%</td>", "<td>down</td>", "buy-first *", "MSE (%²)"):
        assert text in html, text
    assert "buy-first although the forecast is down" in html
