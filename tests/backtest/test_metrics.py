"""The yardstick: hand-computed Sharpe/drawdown, PSR against the paper's formula, DSR."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from tzero.backtest import metrics as m

#: Five days: mean 0.006, deviations .004 -.026 .024 -.016 .014, sum of squares 0.00172.
R5 = pd.Series([0.01, -0.02, 0.03, -0.01, 0.02],
               index=pd.bdate_range("2021-03-01", periods=5))


def test_sharpe_vol_sortino_by_hand():
    sd = math.sqrt(0.00172 / 4)                      # sample std 0.020736
    assert m.volatility(R5) == pytest.approx(sd * math.sqrt(242))
    assert m.sharpe(R5) == pytest.approx(0.006 / sd * math.sqrt(242))   # ≈ 4.50
    down = math.sqrt((0.02 ** 2 + 0.01 ** 2) / 5)     # downside deviation over all 5 days
    assert m.sortino(R5) == pytest.approx(0.006 / down * math.sqrt(242))


def test_drawdown_return_calmar_by_hand():
    # equity 1.01, 0.9898, 1.019494, 1.00929906, 1.029485...: worst fall 1.01 -> 0.9898 = -2 %
    assert m.max_drawdown(R5) == pytest.approx(-0.02)
    growth = 1.01 * 0.98 * 1.03 * 0.99 * 1.02
    assert m.annual_return(R5) == pytest.approx(growth ** (242 / 5) - 1)
    assert m.calmar(R5) == pytest.approx(m.annual_return(R5) / 0.02)
    assert m.max_drawdown([0.01, 0.02]) == 0.0


def test_profit_factor_and_win_rate_by_days_and_by_trades():
    p = m.performance(R5)
    assert p["profit_basis"] == "days"
    assert p["profit_factor"] == pytest.approx(0.06 / 0.03)
    assert p["win_rate"] == pytest.approx(3 / 5)
    trades = pd.DataFrame({"pnl": [np.nan, 100.0, np.nan, -50.0, np.nan, 25.0]})
    p = m.performance(R5, trades=trades, fees=12.5)
    assert p["profit_basis"] == "trades"
    assert p["profit_factor"] == pytest.approx(125 / 50)
    assert p["win_rate"] == pytest.approx(2 / 3)
    assert p["n_trades"] == 6 and p["fees"] == 12.5


def test_psr_matches_the_paper_formula():
    rng = np.random.default_rng(0)
    r = rng.standard_t(5, 500) * 0.01 + 0.001
    n = len(r)
    sr = r.mean() / r.std(ddof=1)
    g3 = pd.Series(r).skew()                       # adjusted Fisher–Pearson, like bias=False
    g4 = pd.Series(r).kurt() + 3.0                 # non-excess
    expect = norm.cdf((sr - 0.02) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2))
    assert m.probabilistic_sharpe_ratio(r, 0.02) == pytest.approx(expect, rel=1e-12)


def test_psr_of_normal_case_uses_sqrt_n_minus_1():
    # Symmetric returns: skew 0; for two values ±x plus mean, kurtosis is data dependent, so
    # compare with the formula at skew 0 computed from the same moments.
    r = np.array([0.02, -0.01] * 50)
    sr = r.mean() / r.std(ddof=1)
    k = pd.Series(r).kurt() + 3.0
    z = sr * math.sqrt(99) / math.sqrt(1 + (k - 1) / 4 * sr ** 2)
    assert m.probabilistic_sharpe_ratio(r) == pytest.approx(norm.cdf(z))


def test_expected_max_sharpe_formula_and_edge_cases():
    g = m.EULER_GAMMA
    want = math.sqrt(0.04) * ((1 - g) * norm.ppf(1 - 1 / 10) + g * norm.ppf(1 - 1 / (10 * math.e)))
    assert m.expected_max_sharpe(10, 0.04) == pytest.approx(want)
    assert m.expected_max_sharpe(1, 0.04) == 0.0
    with pytest.raises(ValueError, match="n_trials"):
        m.expected_max_sharpe(0, 0.1)


def test_dsr_falls_with_more_trials_and_equals_psr_for_one():
    rng = np.random.default_rng(1)
    r = rng.normal(0.001, 0.01, 750)
    assert m.deflated_sharpe_ratio(r, 1, 0.001) == pytest.approx(m.probabilistic_sharpe_ratio(r, 0))
    dsrs = [m.deflated_sharpe_ratio(r, n, 0.001) for n in (1, 2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(dsrs, dsrs[1:], strict=False))


def test_performance_dict_with_benchmark_trials_and_turnover():
    rng = np.random.default_rng(2)
    idx = pd.bdate_range("2020-01-01", periods=300)
    r = pd.Series(rng.normal(0.0008, 0.01, 300), index=idx)
    b = pd.Series(rng.normal(0.0002, 0.01, 300), index=idx)
    p = m.performance(r, benchmark=b, turnover=pd.Series(0.1, index=idx), n_trials=24,
                      trial_sharpes=rng.normal(0.5, 0.5, 24))
    assert p["excess_return"] == pytest.approx(m.annual_return(r) - m.annual_return(b))
    assert p["turnover"] == pytest.approx(0.1)
    assert p["n_trials"] == 24 and p["sr0"] > 0 and p["dsr"] < p["psr"]
    for k in ("annual_return", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
              "profit_factor", "win_rate", "n_trades", "fees", "psr", "dsr"):
        assert k in p
    assert math.isnan(m.performance([])["sharpe"])
