"""One yardstick for every strategy: performance of a daily return series (spec 003 §3).

Every backtest in tzero (T+0 variants, top-k portfolios) ends in a series of
daily decimal returns *after costs*; :func:`performance` turns it into the one
dict the gates (:mod:`tzero.backtest.gates`), reports and the app store read.

Conventions:

- A year has :data:`SESSIONS_PER_YEAR` = 242 A-share sessions.
- ``annual_return`` is geometric: ``prod(1 + r) ** (242 / n) - 1``.
- ``volatility`` and ``sharpe`` use the sample standard deviation (ddof=1);
  ``sharpe = mean / std * sqrt(242)`` with a risk-free rate of 0.
- ``sortino = mean / downside_deviation * sqrt(242)`` where the downside
  deviation is ``sqrt(mean(min(r, 0) ** 2))`` over all days (target 0).
- ``max_drawdown`` is the worst fall of the equity curve ``prod(1 + r)``
  (starting at 1) from its running peak, a negative decimal (−0.2 = −20 %).
- ``calmar = annual_return / |max_drawdown|``.
- ``profit_factor`` / ``win_rate``: over closed trades (the ``pnl`` column of
  ``trades``) when a trade list with ``pnl`` is given, else over days; the
  dict says which in ``profit_basis`` (``"trades"`` or ``"days"``).
- PSR / DSR: Bailey & López de Prado, "The Sharpe Ratio Efficient Frontier",
  J. of Risk 15(2), 2012 (PSR) and "The Deflated Sharpe Ratio", J. of Portfolio
  Management 40(5), 2014 (DSR). They work on the *per-period* (daily,
  non-annualised) Sharpe ratio with the sample skewness and (non-excess)
  kurtosis of the returns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

SESSIONS_PER_YEAR = 242
"""A-share sessions per year used to annualise (≈ 242–244 in 2015–2023)."""
EULER_GAMMA = 0.5772156649015329
"""Euler–Mascheroni constant γ (Bailey & López de Prado 2014, eq. for E[max SR])."""


def _clean(returns) -> np.ndarray:
    """Returns as a float array without NaN."""
    return np.asarray(pd.Series(returns, dtype=float).dropna(), dtype=float)


def annual_return(returns) -> float:
    """Geometric annualised return of daily decimal returns (NaN when empty)."""
    r = _clean(returns)
    if r.size == 0:
        return float("nan")
    growth = float(np.prod(1.0 + r))
    if growth <= 0:
        return -1.0
    return growth ** (SESSIONS_PER_YEAR / r.size) - 1.0


def volatility(returns) -> float:
    """Annualised standard deviation (ddof=1) of daily returns, decimal."""
    r = _clean(returns)
    return float(np.std(r, ddof=1) * math.sqrt(SESSIONS_PER_YEAR)) if r.size > 1 else float("nan")


def sharpe(returns) -> float:
    """Annualised Sharpe ratio (risk-free 0): ``mean / std(ddof=1) * sqrt(242)``.

    NaN with fewer than 2 days or zero variance.
    """
    r = _clean(returns)
    if r.size < 2:
        return float("nan")
    sd = np.std(r, ddof=1)
    return float(np.mean(r) / sd * math.sqrt(SESSIONS_PER_YEAR)) if sd > 0 else float("nan")


def sortino(returns) -> float:
    """Annualised Sortino ratio, target 0: ``mean / sqrt(mean(min(r,0)^2)) * sqrt(242)``."""
    r = _clean(returns)
    if r.size < 2:
        return float("nan")
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(np.mean(r) / dd * math.sqrt(SESSIONS_PER_YEAR)) if dd > 0 else float("nan")


def drawdown(returns) -> pd.Series:
    """Drawdown series (decimal, ≤ 0) of the equity curve ``prod(1 + r)`` started at 1."""
    s = pd.Series(returns, dtype=float).fillna(0.0)
    eq = (1.0 + s).cumprod()
    peak = np.maximum(eq.cummax(), 1.0)
    return eq / peak - 1.0


def max_drawdown(returns) -> float:
    """Worst drawdown of the equity curve, a negative decimal (0.0 when it never falls)."""
    d = drawdown(returns)
    return float(min(d.min(), 0.0)) if len(d) else float("nan")


def calmar(returns) -> float:
    """``annual_return / |max_drawdown|`` (NaN when there was no drawdown)."""
    mdd = max_drawdown(returns)
    return annual_return(returns) / abs(mdd) if mdd < 0 else float("nan")


def profit_factor(pnl) -> float:
    """Gross gains / gross losses of a P&L (or return) list; inf with no losses."""
    p = _clean(pnl)
    gains, losses = p[p > 0].sum(), -p[p < 0].sum()
    if losses == 0:
        return float("inf") if gains > 0 else float("nan")
    return float(gains / losses)


def win_rate(pnl) -> float:
    """Share of strictly positive entries among the non-zero ones (NaN when none)."""
    p = _clean(pnl)
    p = p[p != 0]
    return float((p > 0).mean()) if p.size else float("nan")


def excess_return(returns, benchmark) -> float:
    """Annualised return over a benchmark on their common dates: ``annual(r) - annual(b)``.

    Args:
        returns, benchmark: daily decimal returns indexed by session (Series).
    """
    r = pd.Series(returns, dtype=float)
    b = pd.Series(benchmark, dtype=float)
    both = pd.concat([r, b], axis=1, join="inner").dropna()
    if both.empty:
        return float("nan")
    return annual_return(both.iloc[:, 0]) - annual_return(both.iloc[:, 1])


def _moments(r: np.ndarray) -> tuple[float, float, float]:
    """Per-period SR, sample skewness and non-excess kurtosis (normal = 3)."""
    sd = np.std(r, ddof=1)
    sr = float(np.mean(r) / sd) if sd > 0 else float("nan")
    skew = float(stats.skew(r, bias=False)) if r.size > 2 else 0.0
    kurt = float(stats.kurtosis(r, fisher=False, bias=False)) if r.size > 3 else 3.0
    return sr, skew, kurt


def sharpe_std(sr: float, n: int, skew: float = 0.0, kurt: float = 3.0) -> float:
    """Standard error of a per-period Sharpe estimate (Bailey & López de Prado 2012, eq. 9).

    ``sqrt((1 - skew*SR + (kurt - 1)/4 * SR^2) / (n - 1))``.
    """
    v = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    return math.sqrt(max(v, 0.0) / (n - 1)) if n > 1 else float("nan")


def probabilistic_sharpe_ratio(returns, sr_benchmark: float = 0.0) -> float:
    """Probability that the true Sharpe ratio exceeds ``sr_benchmark`` (PSR).

    Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier":
    ``PSR = Φ((SR - SR*) * sqrt(n - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4·SR²))``
    with SR the per-period (non-annualised) Sharpe ratio of the ``n`` returns,
    γ3 their skewness and γ4 their (non-excess) kurtosis.

    Args:
        returns: daily decimal returns.
        sr_benchmark: the benchmark Sharpe ratio SR*, **per period** (daily,
            not annualised; divide an annual Sharpe by ``sqrt(242)``).

    Returns:
        A probability in [0, 1]; NaN with fewer than 3 returns or zero variance.
    """
    r = _clean(returns)
    if r.size < 3:
        return float("nan")
    sr, skew, kurt = _moments(r)
    if not math.isfinite(sr):
        return float("nan")
    se = sharpe_std(sr, r.size, skew, kurt)
    if not se > 0:
        return float("nan")
    return float(stats.norm.cdf((sr - sr_benchmark) / se))


def expected_max_sharpe(n_trials: int, var_trials: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` unskilled trials (SR₀ of the DSR).

    Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", eq. 2:
    ``SR₀ = sqrt(V)·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))`` with γ the
    Euler–Mascheroni constant, N the number of independent trials and V the
    variance of the trials' Sharpe ratios (same units as the returned value).

    Args:
        n_trials: number of trials (variants) tried, N ≥ 1. One trial: SR₀ = 0.
        var_trials: variance of the trials' Sharpe ratios (≥ 0).

    Raises:
        ValueError: ``n_trials < 1`` or a negative variance.
    """
    if n_trials < 1 or var_trials < 0:
        raise ValueError(f"expected_max_sharpe needs n_trials >= 1 and var_trials >= 0; "
                         f"got n_trials={n_trials}, var_trials={var_trials}")
    if n_trials == 1 or var_trials == 0:
        return 0.0
    z1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(var_trials) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def deflated_sharpe_ratio(returns, n_trials: int, var_trial_srs: float | None = None) -> float:
    """Deflated Sharpe ratio: PSR against the expected best of ``n_trials`` lucky trials.

    Bailey & López de Prado (2014): ``DSR = PSR(SR₀)`` with
    ``SR₀ = expected_max_sharpe(n_trials, V)``.

    Args:
        returns: daily decimal returns of the selected strategy.
        n_trials: how many variants were tried to find it (≥ 1).
        var_trial_srs: variance V of the trials' **per-period** Sharpe ratios.
            ``None``: the sampling variance of a Sharpe estimate of this length
            under the null, ``1 / (n - 1)`` (each trial's SR is noise around 0).

    Returns:
        A probability in [0, 1] (NaN as for :func:`probabilistic_sharpe_ratio`).
        With ``n_trials == 1`` it equals ``probabilistic_sharpe_ratio(returns, 0)``.

    Raises:
        ValueError: ``n_trials < 1`` or a negative variance.
    """
    r = _clean(returns)
    if var_trial_srs is None:
        var_trial_srs = 1.0 / (r.size - 1) if r.size > 1 else 0.0
    sr0 = expected_max_sharpe(n_trials, var_trial_srs)
    return probabilistic_sharpe_ratio(r, sr0)


def _trade_stats(trades: pd.DataFrame | None, r: pd.Series) -> dict:
    if trades is not None and "pnl" in trades.columns and trades["pnl"].notna().any():
        pnl = trades["pnl"].dropna()
        return {"profit_factor": profit_factor(pnl), "win_rate": win_rate(pnl),
                "profit_basis": "trades"}
    return {"profit_factor": profit_factor(r), "win_rate": win_rate(r), "profit_basis": "days"}


def performance(returns, *, benchmark=None, trades: pd.DataFrame | None = None,
                fees: float = 0.0, turnover=None, n_trials: int = 1,
                trial_sharpes=None) -> dict:
    """Every yardstick metric of one strategy's daily returns, as one flat dict.

    Args:
        returns: daily decimal returns after costs (Series indexed by session).
        benchmark: daily decimal benchmark returns (e.g. CSI 300), optional.
        trades: filled orders, one row each; a ``pnl`` column (CNY, realised on
            the closing fill, NaN on opening fills) makes ``profit_factor`` and
            ``win_rate`` trade-based. ``n_trades`` counts its rows.
        fees: total fees paid, CNY.
        turnover: daily traded value (buys + sells) / equity, decimal Series or
            scalar; the mean is reported.
        n_trials: variants tried in the search that produced this one (DSR's N).
        trial_sharpes: annualised Sharpe ratios of all trials; their variance
            (converted to per-period, floored at the null variance
            ``1/(n−1)`` of one trial's Sharpe estimate) is DSR's V. None: the
            null variance (see :func:`deflated_sharpe_ratio`).

    Returns:
        Dict with ``n_days, total_return, annual_return, volatility, sharpe,
        sortino, max_drawdown, calmar, profit_factor, win_rate, profit_basis,
        n_trades, fees, turnover, excess_return, benchmark_return, skew,
        kurtosis, psr, dsr, sr0, n_trials`` (decimals; ``fees`` in CNY;
        ``sr0`` = DSR's benchmark Sharpe, annualised). Undefined values are NaN.
    """
    r = pd.Series(returns, dtype=float).dropna()
    arr = r.to_numpy()
    _, skew, kurt = _moments(arr) if arr.size > 3 else (float("nan"), float("nan"), float("nan"))
    null_var = 1.0 / (arr.size - 1) if arr.size > 1 else 0.0
    if trial_sharpes is not None and len(trial_sharpes) > 1:
        srs = np.asarray(trial_sharpes, dtype=float)
        # annual -> per-period; floored at the null variance of one trial's SR
        # estimate: correlated trials (the same trades re-priced) must not
        # shrink the hurdle below what noise alone produces (Bailey & López de
        # Prado 2014 count effective, independent trials)
        var_trials = max(float(np.nanvar(srs, ddof=1)) / SESSIONS_PER_YEAR, null_var)
    else:
        var_trials = null_var
    sr0 = expected_max_sharpe(max(int(n_trials), 1), var_trials)
    out = {
        "n_days": int(arr.size),
        "total_return": float(np.prod(1.0 + arr) - 1.0) if arr.size else float("nan"),
        "annual_return": annual_return(arr),
        "volatility": volatility(arr),
        "sharpe": sharpe(arr),
        "sortino": sortino(arr),
        "max_drawdown": max_drawdown(arr),
        "calmar": calmar(arr),
        **_trade_stats(trades, r),
        "n_trades": int(len(trades)) if trades is not None else 0,
        "fees": float(fees),
        "turnover": float(np.nanmean(np.asarray(turnover, dtype=float)))
        if turnover is not None and np.size(turnover) else float("nan"),
        "excess_return": excess_return(r, benchmark) if benchmark is not None else float("nan"),
        "benchmark_return": annual_return(pd.Series(benchmark, dtype=float).reindex(r.index))
        if benchmark is not None else float("nan"),
        "skew": skew,
        "kurtosis": kurt,
        "psr": probabilistic_sharpe_ratio(arr, 0.0),
        "dsr": probabilistic_sharpe_ratio(arr, sr0),
        "sr0": sr0 * math.sqrt(SESSIONS_PER_YEAR),
        "n_trials": int(n_trials),
    }
    return out
