"""One yardstick for every model's universe scores (spec 003 §3, 统一尺度).

Whatever a model is — a per-stock ARIMA, a pooled Transformer, a baseline —
``tzero compare`` reduces it to the same three wide frames on the same
sessions and members, and this module measures them the same way:

- ``scores`` ``[session × ts_code]``: the ranking known after each close
  (higher = more attractive);
- ``expected`` (optional): the forecast cumulative return over the model's
  horizon ``h`` (decimal), for direction accuracy and MSE;
- ``quantiles`` (optional): ``{0.1: frame, …}`` of that return, for CRPS.

Measures (:func:`measure`):

- **IC, ICIR, Rank IC, Rank ICIR** of the scores against the tradeable label
  ``close[t+2]/close[t+1] − 1`` (:func:`tzero.backtest.xs_eval.cross_sectional_ic`,
  Qlib's definition; IRs not annualised);
- **direction accuracy** ``mean(sign(expected) == sign(r_h))`` and **MSE**
  ``mean((expected − r_h)²)`` against the realised ``h``-session return
  ``r_h = close[t+h]/close[t] − 1`` over every (stock, session) pair with both;
  the ``zero`` forecast's MSE is the naive bar;
- **CRPS** from the quantiles (:func:`tzero.training.metrics.quantile_crps`,
  the pinball-loss approximation; lower is better);
- **TopkDropout books** :data:`BOOKS` (50/5 and 30/3, Qlib's
  ``TopkDropoutStrategy``) under A-share rules and costs
  (:func:`tzero.backtest.topk.simulate_topk`): annual return after costs,
  excess over the CSI 300 price index (``000300.SH``) and over the members'
  equal-weight total return (the like-for-like benchmark of an equal-weight
  book), max drawdown, Sharpe, turnover, trades, fees;
- **PSR and DSR** (Bailey & López de Prado 2012, 2014) of the daily excess
  return over the equal-weight benchmark, the DSR deflated by every model and
  variant the comparison tried (``n_trials``).

Returns are decimals on hfq closes; money is CNY; a year is
:data:`tzero.backtest.metrics.SESSIONS_PER_YEAR` sessions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tzero.backtest import metrics
from tzero.backtest.costs import CostModel
from tzero.backtest.topk import TopkConfig, simulate_topk
from tzero.backtest.xs_eval import cross_sectional_ic, equal_weight_returns
from tzero.training.metrics import quantile_crps


@dataclass(frozen=True)
class Book:
    """A TopkDropout setting: hold ``topk`` names, swap at most ``n_drop`` a day."""

    name: str
    topk: int
    n_drop: int


BOOKS = (Book("k50d5", 50, 5), Book("k30d3", 30, 3))
"""The books every model is judged by (Qlib's 50/5 default and a tighter 30/3)."""
GATE_BOOK = "k50d5"
"""The book whose after-cost excess return the gates judge (the first of :data:`BOOKS`)."""


def horizon_returns(close: pd.DataFrame, h: int) -> pd.DataFrame:
    """Realised ``h``-session return from t's close: ``close[t+h] / close[t] − 1``.

    Args:
        close: hfq closes ``[session × ts_code]``, CNY; NaN = no bar.
        h: sessions ahead (≥ 1).

    Returns:
        Decimal returns, same shape; NaN where either close is missing and on
        the last ``h`` sessions.
    """
    return close.shift(-h) / close - 1.0


def forecast_metrics(expected: pd.DataFrame | None, realised: pd.DataFrame,
                     quantiles: dict[float, pd.DataFrame] | None = None) -> dict:
    """Direction accuracy, MSE and CRPS of a return forecast over every (session, stock).

    Args:
        expected: ``[session × ts_code]`` forecast cumulative returns (decimal), or None.
        realised: :func:`horizon_returns` on the same grid (reindexed to ``expected``).
        quantiles: ``{level: frame}`` forecast quantiles of the same return, or None.

    Returns:
        ``direction_accuracy`` (share of pairs with a non-zero forecast and a
        non-zero realised return whose sign the forecast got right; None for
        the ``zero`` forecast), ``mse``, ``crps`` and ``n_forecasts``;
        None where there is no forecast.
    """
    out: dict = {"direction_accuracy": None, "mse": None, "crps": None, "n_forecasts": 0}
    if expected is None:
        return out
    y = realised.reindex(index=expected.index, columns=expected.columns).to_numpy(float)
    f = expected.to_numpy(float)
    ok = np.isfinite(f) & np.isfinite(y)
    if not ok.any():
        return out
    fy, yy = f[ok], y[ok]
    moved = (yy != 0) & (fy != 0)
    out["n_forecasts"] = int(ok.sum())
    out["mse"] = float(np.mean((fy - yy) ** 2))
    if moved.any():
        out["direction_accuracy"] = float(np.mean(np.sign(fy[moved]) == np.sign(yy[moved])))
    if quantiles:
        levels = sorted(quantiles)
        q = np.stack([quantiles[lv].reindex(index=expected.index, columns=expected.columns)
                      .to_numpy(float) for lv in levels], axis=-1)
        qok = ok & np.isfinite(q).all(axis=-1)
        if qok.any():
            out["crps"] = quantile_crps(q[qok], y[qok], levels)
    return out


def index_returns(bars: pd.DataFrame, code: str = "000300.SH") -> pd.Series | None:
    """Daily close-to-close returns of an index from long Bars (None when absent)."""
    b = bars.loc[bars["ts_code"] == code]
    if b.empty:
        return None
    c = pd.Series(b["close"].to_numpy(float),
                  index=pd.DatetimeIndex(pd.to_datetime(b["trade_time"])).normalize()).sort_index()
    return (c / c.shift(1) - 1.0).dropna()


@dataclass
class BookRun:
    """One simulated book: daily returns after costs, its benchmarks, trades."""

    returns: pd.Series
    ew: pd.Series
    index: pd.Series | None
    trades: pd.DataFrame
    turnover: pd.Series
    fees: float

    @property
    def excess(self) -> pd.Series:
        """Daily excess over the members' equal-weight return (decimal)."""
        return (self.returns - self.ew.reindex(self.returns.index)).dropna()


def run_book(scores: pd.DataFrame, bars: pd.DataFrame, close: pd.DataFrame,
             members: pd.DataFrame, book: Book, costs: CostModel,
             index_ret: pd.Series | None) -> BookRun:
    """Simulate one TopkDropout book on member scores (decide at t's close, fill at t+1's open).

    Args:
        scores: ``[session × ts_code]`` scores already restricted to members.
        bars: daily Bars, unadjusted with ``adj_factor``, reaching a session past the scores.
        close: hfq closes ``[session × ts_code]`` of ``bars``.
        members: bool ``[session × ts_code]`` members (decision day).
        book: the setting. costs: the cost model. index_ret: CSI 300 daily returns.

    Raises:
        ValueError: as :func:`simulate_topk`.
    """
    b = bars[pd.to_datetime(bars["trade_time"]) >= scores.index[0]]
    res = simulate_topk(scores, b, membership=None,
                        config=TopkConfig(topk=book.topk, n_drop=book.n_drop, costs=costs))
    mem = members.reindex(index=close.index, columns=close.columns, fill_value=False)
    ew = equal_weight_returns(close, mem).reindex(res.returns.index)
    idx = index_ret.reindex(res.returns.index) if index_ret is not None else None
    return BookRun(res.returns, ew, idx, res.trades, res.turnover, float(res.fees.sum()))


def book_metrics(run: BookRun, n_trials: int = 1, trial_sharpes=None) -> dict:
    """The numbers of one book: absolute, excess (vs equal weight and CSI 300), PSR/DSR.

    The gate reads ``annual_return`` = the **excess** over the equal-weight
    benchmark after costs (a long-only book that does not beat holding the
    universe earns nothing for the model), ``n_trades`` (fills), ``sharpe``
    and ``dsr`` of that excess, over ``n_trials`` trials.

    Returns:
        Flat dict of decimals (fees in CNY); NaN where undefined.
    """
    ex = run.excess
    perf = metrics.performance(ex, trades=run.trades, n_trials=n_trials,
                               trial_sharpes=trial_sharpes)
    n = metrics.SESSIONS_PER_YEAR
    r = run.returns.dropna()
    ex_idx = ((run.returns - run.index).dropna() if run.index is not None
              else pd.Series(dtype=float))
    return {"return_annual": metrics.annual_return(r),
            "excess_ew_annual": float(ex.mean() * n) if len(ex) else float("nan"),
            "excess_csi300_annual": float(ex_idx.mean() * n) if len(ex_idx) else float("nan"),
            "max_drawdown": metrics.max_drawdown(r), "sharpe": metrics.sharpe(r),
            "excess_sharpe": perf["sharpe"], "psr": perf["psr"],
            "turnover": float(run.turnover.mean()) if len(run.turnover) else float("nan"),
            "n_trades": int(len(run.trades)), "fees_cny": run.fees, "n_sessions": int(len(r)),
            # what gates.judge reads (the DSR only means something over the run's trials)
            "annual_return": perf["annual_return"], "n_trials": int(n_trials),
            "dsr": perf["dsr"]}


def measure(scores: pd.DataFrame | None, *, labels: pd.DataFrame, realised: pd.DataFrame,
            bars: pd.DataFrame, close: pd.DataFrame, members: pd.DataFrame,
            costs: CostModel, index_ret: pd.Series | None, expected: pd.DataFrame | None = None,
            quantiles: dict[float, pd.DataFrame] | None = None,
            books: tuple[Book, ...] = BOOKS) -> tuple[dict, dict]:
    """Every yardstick number of one model on the given sessions and members.

    Args:
        scores: ``[session × ts_code]`` ranking scores (None: forecast metrics only,
            e.g. the ``zero`` baseline).
        labels: :func:`tzero.backtest.xs_eval.tradeable_labels` of ``close``.
        realised: :func:`horizon_returns` at the model's horizon.
        bars, close: daily Bars (unadjusted + ``adj_factor``) and their hfq closes.
        members: bool ``[session × ts_code]``: the evaluated sessions and members.
        costs: A-share cost model. index_ret: CSI 300 daily returns (or None).
        expected, quantiles: the return forecast (see :func:`forecast_metrics`).
        books: the TopkDropout books.

    Returns:
        ``(metrics, series)``: ``metrics`` is a flat dict (``ic … rank_icir``,
        ``direction_accuracy``, ``mse``, ``crps`` and per book ``{book}_{key}``
        of :func:`book_metrics` except the DSR, which is deflated over the
        whole run's trials by :func:`gate_inputs`); ``series``
        holds ``daily_ic`` (DataFrame ic/rank_ic by session), per book a
        :class:`BookRun` (``book_{name}``) for curves, and the first book as
        ``gate`` / ``gate_book`` (what the gates and the robustness matrix read).
    """
    mask = members.to_numpy(bool)
    out: dict = {}
    series: dict = {}
    if expected is not None:
        expected = expected.reindex(index=members.index, columns=members.columns).where(mask)
    out.update(forecast_metrics(expected, realised, quantiles))
    if scores is None:
        out.update(ic=None, icir=None, rank_ic=None, rank_icir=None, n_dates=0)
        return out, series
    s = scores.reindex(index=members.index, columns=members.columns).where(mask)
    ic = cross_sectional_ic(s, labels)
    out.update({k: ic[k] for k in ("ic", "icir", "rank_ic", "rank_icir", "n_dates")})
    series["daily_ic"] = ic["daily"]
    for i, bk in enumerate(books):
        run = run_book(s, bars, close, members, bk, costs, index_ret)
        series[f"book_{bk.name}"] = run
        if i == 0:
            series["gate"], series["gate_book"] = run, bk
        m = book_metrics(run)
        out.update({f"{bk.name}_{k}": v for k, v in m.items()
                    if k not in ("annual_return", "n_trials", "dsr")})
    return out, series


def sample_books(n_stocks: int) -> tuple[Book, ...]:
    """The book of a sample of ``n_stocks``: hold a sixth of it, swap a tenth of that a day."""
    k = max(2, n_stocks // 6)
    d = max(1, k // 10)
    return (Book(f"k{k}d{d}", k, d),)


def gate_inputs(series: dict, n_trials: int, trial_sharpes=None) -> dict | None:
    """What :func:`tzero.backtest.gates.judge` reads, from the first (gate) book, deflated
    by ``n_trials`` trials whose excess Sharpes are ``trial_sharpes``."""
    run = series.get("gate")
    if run is None:
        return None
    return book_metrics(run, n_trials=n_trials, trial_sharpes=trial_sharpes)


def finite_or_none(x) -> float | None:
    """A float, or None for NaN/inf/None (JSON-safe)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
