"""The ranking view (signals/rank.py): hand-computed ratios, ranks and capped weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tzero.signals.rank import Q10_Q90_SD, rank_stocks


def _fc(rows: list[tuple[str, float, float]], quantiles: bool = False) -> pd.DataFrame:
    """Two-step forecasts: (ts_code, cum_mean at step 2, std of each step)."""
    out = []
    for code, cum, sd in rows:
        for step in (1, 2):
            r = {"ts_code": code, "step": step, "cum_mean": cum, "std": sd}
            if quantiles:
                r.update(q10=cum - 1.28155 * sd * np.sqrt(2), q90=cum + 1.28155 * sd * np.sqrt(2))
            out.append(r)
    return pd.DataFrame(out)


def test_rank_orders_by_return_over_risk_and_weights_by_mean_variance() -> None:
    fc = _fc([("A", 0.02, 0.01), ("B", 0.03, 0.03), ("C", -0.01, 0.01)])
    got = rank_stocks(fc, holdings=["B", "C"], top=3, cap=1.0).set_index("ts_code")
    risk = np.sqrt(2) * np.array([0.01, 0.03, 0.01])               # root sum of step variances
    assert got.loc[["A", "B", "C"], "risk"].to_numpy() == pytest.approx(risk)
    assert list(got.index) == ["A", "B", "C"]                      # 1.41, 0.71, -0.71
    raw = np.array([0.02 / risk[0] ** 2, 0.03 / risk[1] ** 2, 0.0])
    assert got["weight"].to_numpy() == pytest.approx(raw / raw.sum())
    assert got.loc["C", "weight"] == 0 and bool(got.loc["B", "held"])
    assert got.loc["B", "t0_rank"] == 1 and got.loc["C", "t0_rank"] == 2   # B moves more
    assert pd.isna(got.loc["A", "t0_rank"])


def test_quantiles_give_the_risk_and_the_cap_leaves_cash() -> None:
    fc = _fc([("A", 0.02, 0.01), ("B", 0.01, 0.01)], quantiles=True)
    got = rank_stocks(fc, top=2, cap=0.3).set_index("ts_code")
    assert got.loc["A", "risk"] == pytest.approx(2 * 1.28155 * 0.01 * np.sqrt(2) / Q10_Q90_SD,
                                                 rel=1e-4)
    assert got["weight"].to_numpy() == pytest.approx([0.3, 0.3])   # both capped: 40% in cash
    assert rank_stocks(fc.iloc[:0]).empty
    with pytest.raises(ValueError, match="top"):
        rank_stocks(fc, top=0)


def test_ranked_position_change_scales_by_risk_percentile_within_the_cap() -> None:
    from tzero.signals.policy import POSITION_SHARE, ranked_position_change

    assert ranked_position_change(0.2, 0.5) == pytest.approx(0.2)       # the median keeps it
    assert ranked_position_change(-0.2, 0.0) == pytest.approx(-0.1)     # quietest: half, sign kept
    assert ranked_position_change(0.3, 1.0) == pytest.approx(max(POSITION_SHARE.values()))
    assert ranked_position_change(0.0, 1.0) == 0.0
