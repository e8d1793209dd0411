"""Position timing around holdings for every row of the comparison (spec 003 §3, 做T 日线).

The top-k books ask whether a model ranks a universe; a holder asks whether
it times the shares already held. For every row with a return forecast
(every model, the RSI/MACD ``technical`` rules, the ``momentum`` baseline's
past return), each stock of the comparison's sample is a held base position
(:data:`tzero.research.daily.BASE_VALUE_CNY`) timed by the rule of
:mod:`tzero.research.daily` on the forecast's **z-score** against the same
stock's forecasts of the previous :data:`Z_WINDOW` sessions (data ≤ t only; a
scale-free rule, so a net whose expected returns are tiny but informative is
judged like one whose forecasts are large): after t's close, ``z < −x`` cuts
the position to ``1 − f`` of the base, ``z > +x`` restores it; the order
fills at t+1's open under the A-share rules and costs (limits,
suspensions, lots, fees, stamp duty; :func:`tzero.research.daily.simulate_timing`).
The book's daily return is its excess over simply holding. Judged by the
same gates as every row (DSR over every timing row tried).
"""

from __future__ import annotations

import pandas as pd

from tzero.backtest.costs import CostModel
from tzero.backtest.metrics import performance
from tzero.research.daily import DailyVariant, daily_market, simulate_book

TIMING_X = 1.0
"""z-score of the forecast beyond which the rule acts."""
Z_WINDOW = 60
"""Sessions of the stock's own forecasts the z-score is taken against."""
Z_MIN = 20
"""Fewest earlier forecasts before the rule acts."""
TIMING_F = 0.5
"""Share of the base sold when the forecast is bearish."""


def forecast_z(wide: pd.DataFrame) -> pd.DataFrame:
    """Each stock's forecast at t against its own previous :data:`Z_WINDOW` forecasts.

    ``z[t] = (f[t] − mean(f[t−W..t−1])) / std(f[t−W..t−1])`` (ddof=1, at least
    :data:`Z_MIN` earlier values; NaN otherwise or when the std is 0): uses
    forecasts made at or before t only.
    """
    prev = wide.shift(1).rolling(Z_WINDOW, min_periods=Z_MIN)
    sd = prev.std()
    return (wide - prev.mean()) / sd.where(sd > 0)


def timing_runs(expected: dict[str, pd.DataFrame], bars: pd.DataFrame, sample: list[str],
                days: pd.DatetimeIndex, costs: CostModel) -> dict[str, dict]:
    """Time the sample's holdings with each row's forecast over ``days``.

    Args:
        expected: row name → ``[session × ts_code]`` expected 5-session return (decimal),
            turned into :func:`forecast_z` here.
        bars: unadjusted daily Bars with ``adj_factor`` (hfq factor) of the sample.
        sample: the held stocks. days: the evaluated sessions. costs: the cost model.

    Returns:
        name → ``{"returns", "trades", "fees", "turnover"}`` of
        :func:`tzero.research.daily.simulate_book` (excess over holding).
    """
    codes = [c for c in sample if c in set(bars["ts_code"])]
    grid = pd.DatetimeIndex(sorted(pd.to_datetime(bars["trade_time"]).dt.normalize().unique()))
    grid = grid[(grid >= days[0]) & (grid <= days[-1])]
    market = daily_market(bars.loc[bars["ts_code"].isin(codes)], grid, codes)
    out = {}
    for name, wide in expected.items():
        w = forecast_z(wide.reindex(index=grid, columns=codes))
        fc = w.stack().rename(name).reset_index()
        fc.columns = ["trade_date", "ts_code", name]
        variant = DailyVariant(f"timing-{name}", name, {"x": TIMING_X, "f": TIMING_F})
        out[name] = simulate_book(fc, market, variant, costs, grid)
    return out


def timing_metrics(runs: dict[str, dict]) -> dict[str, dict]:
    """:func:`tzero.backtest.metrics.performance` of each timing book, DSR over all of them."""
    from tzero.backtest.metrics import sharpe

    srs = [sharpe(r["returns"]) for r in runs.values()]
    srs = [x for x in srs if pd.notna(x)]
    n = max(1, len(runs))
    return {name: performance(r["returns"], trades=r["trades"][["pnl"]] if len(r["trades"])
                              else pd.DataFrame({"pnl": []}), fees=r["fees"],
                              turnover=r["turnover"], n_trials=n,
                              trial_sharpes=srs if len(srs) > 1 else None)
            for name, r in runs.items()}
