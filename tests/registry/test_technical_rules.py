"""The spec-004 §3.8 RSI/MACD rules: one vectorised definition, pinned to the served one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tzero.features.indicators import macd, rsi
from tzero.registry.flow import HORIZON, technical_forecast, technical_history


def _reference(close: np.ndarray) -> tuple[int, float, float]:
    """The rule as it was served before :func:`technical_history` (bars up to t)."""
    r = rsi(close, 14)[-1]
    hist = macd(close)[2][-1]
    score = (1 if r < 30 else -1 if r > 70 else 0) + int(np.sign(hist))
    sigma = float(np.std(np.diff(close[-21:]) / close[-21:-1], ddof=1))
    mag = float(np.sign(score) * 0.5 * sigma * np.sqrt(HORIZON))
    p_up = float(np.clip(0.5 + 0.1 * score, 0.0, 1.0))
    return int(p_up > 0.5), mag, p_up


@pytest.fixture(scope="module")
def close(tdx_dir) -> np.ndarray:
    from tzero.data.tdx import read_day

    bars = read_day(tdx_dir / "vipdoc" / "sh" / "lday" / "sh600519.day")
    return bars["close"].to_numpy(float)


def test_served_rule_is_unchanged_at_every_cut(close):
    for t in range(35, len(close), 23):
        got = technical_forecast(pd.DataFrame({"close": close[:t]}))
        want = _reference(close[:t])
        assert got[0] == want[0] and got[2] == pytest.approx(want[2])
        assert got[1] == pytest.approx(want[1], rel=1e-9, abs=1e-15)


def test_history_uses_closes_up_to_t_only(close):
    full = technical_history(close)
    for t in (40, 300, len(close) // 2):
        part = technical_history(close[:t])
        pd.testing.assert_frame_equal(part, full.iloc[:t])
    assert full.iloc[:33].isna().all().all() and full.iloc[40:].notna().all().all()


def test_too_short_a_history_is_refused():
    from tzero.errors import ModelError

    with pytest.raises(ModelError, match="need 35"):
        technical_forecast(pd.DataFrame({"close": np.linspace(10, 11, 20)}))
