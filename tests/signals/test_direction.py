"""The one direction rule (issue 12 item 9) and the plan's reason (item 10), on hand-made forecasts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tzero.signals import policy
from tzero.signals.direction import DEAD_BAND, RULE, direction, direction_label, why_neutral
from tzero.signals.intraday import build_intraday_signal
from tzero.signals.signal import build_signal

DAY = pd.Timestamp("2023-02-24")


@pytest.mark.parametrize(("prob_up", "er", "expected"), [
    (0.60, 0.010, 1),                 # both up
    (0.35, -0.0111, -1),              # both down (600036.SH as of 2023-02-24)
    (0.50, 0.0011, 0),                # no information: ARIMA white noise, log-normal E[R] > 0
    (0.60, -0.0031, 0),               # the LSTM's two heads disagree
    (0.40, 0.004, 0),                 # disagree the other way
    (0.5 + DEAD_BAND, 0.01, 0),       # on the band's edge: not beyond it
    (0.5 - DEAD_BAND, -0.01, 0),
    (0.5 + DEAD_BAND + 1e-4, 0.01, 1),
    (0.5 - DEAD_BAND - 1e-4, -0.01, -1),
    (0.70, 0.0, 0),                   # a zero expected return has no side
    (float("nan"), 0.01, 0),          # missing numbers: neutral
    (0.70, float("nan"), 0),
    (None, None, 0),
])
def test_direction_rule_table(prob_up, er, expected) -> None:
    assert direction(prob_up, er) == expected
    assert direction_label(prob_up, er) == {1: "up", 0: "neutral", -1: "down"}[expected]


def test_dead_band_is_a_parameter_and_checked() -> None:
    assert direction(0.51, 0.001) == 0 and direction(0.51, 0.001, dead_band=0.0) == 1
    with pytest.raises(ValueError, match="dead_band"):
        direction(0.6, 0.01, dead_band=0.5)
    assert "0.52" in RULE and "0.48" in RULE


def test_why_neutral_in_words() -> None:
    assert why_neutral(0.6, 0.01) is None
    assert why_neutral(0.5, 0.0011) == "P(up) within 50% ± 2 points"
    assert why_neutral(0.6, -0.0031) == "P(up) and E(r) disagree"
    assert why_neutral(0.6, 0.0) == "E(r) is zero"
    assert why_neutral(float("nan"), 0.01) == "no forecast"


def _fc(step_mean: float, p_up: float, **extra) -> pd.DataFrame:
    return pd.DataFrame([{"ts_code": "600036.SH", "as_of": DAY, "step": k, "mean": step_mean,
                          "cum_mean": (1 + step_mean) ** k - 1, "std": 0.02, "prob_up": p_up,
                          "prob_down": 1 - p_up, "regime": None, "regime_prob": np.nan, **extra}
                         for k in range(1, 6)])


def test_votes_and_signal_follow_the_rule() -> None:
    fcs = {"lstm": _fc(-0.00062, 0.60),                    # P(up) 60 %, E(r) -0.31 %: neutral
           "arima": _fc(0.00022, 0.50, deviation=0.0),     # exactly 0.5, E(r) +0.11 %: neutral
           "hmm": _fc(0.002, 0.70)}                        # up
    s = build_signal("600036.SH", DAY, fcs, {})
    assert {m: v["direction"] for m, v in s.model_votes.items()} == {
        "lstm": "neutral", "arima": "neutral", "hmm": "up"}
    for v in s.model_votes.values():
        assert v["direction"] == direction_label(v["prob_up"], v["expected_return"])
    assert s.direction == direction_label(s.prob_up, s.expected_return)
    assert "Votes up: hmm; neutral: lstm, arima; down: none." in s.explanation
    assert s.to_dict()["direction"] == s.direction


def test_neutral_signal_has_zero_confidence() -> None:
    s = build_signal("600036.SH", DAY, {"arima": _fc(0.00022, 0.50)}, {})
    assert s.direction == "neutral" and s.confidence == 0.0
    assert "P(up) 50%: neutral." in s.explanation


def test_arima_white_noise_vote_is_neutral() -> None:
    """The ARIMA P(up) = 0.500 cause: AutoARIMA picks (0,0,0) with no mean on returns that
    carry no signal, so the median 5-session return is 0 (P(up) = Φ(0) = 0.5 exactly) while the
    log-normal mean E[R] = exp(σ²·5/2) − 1 is a hair above 0: once shown as an "up" vote."""
    from tzero.models.arima import ArimaConfig, ArimaForecaster

    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400)))
    days = pd.bdate_range("2021-01-04", periods=400)
    bars = pd.DataFrame({"ts_code": "600036.SH", "trade_time": days, "open": close, "high": close,
                         "low": close, "close": close, "volume": 1e6, "amount": 1e8})
    m = ArimaForecaster(ArimaConfig()).fit(bars)
    fc = m.predict(bars, days[-1])
    last = fc.loc[fc["step"] == 5].iloc[0]
    assert last["prob_up"] == 0.5 and last["cum_mean"] > 0      # no information, yet E[R] > 0
    s = build_signal("600036.SH", days[-1], {"arima": fc}, {})
    assert s.model_votes["arima"]["direction"] == "neutral" and s.direction == "neutral"


# ----------------------------------------------------------------------------- item 10
def test_plan_against_a_down_forecast_says_why() -> None:
    """600036.SH: E(r) -1.11 %, P(up) 35 %, price 3.4 % below the ARIMA equilibrium → buy-first."""
    step = (1 - 0.0111) ** (1 / 5) - 1
    s = build_signal("600036.SH", DAY, {"arima": _fc(step, 0.35, deviation=-0.034)}, {})
    assert s.direction == "down" and s.t0_plan == "buy-first"
    assert s.suggested_position_change > 0
    assert s.plan_reason == ("buy-first although the forecast is down (E(r) -1.11%, P(up) 35%): the "
                             "price is 3.4% below its ARIMA equilibrium, a mean-reversion entry: buy "
                             "the dip first, sell the rebound.")
    assert f"Plan: {s.plan_reason}" in s.explanation
    assert "stretched_below_equilibrium" in s.risk_labels


def test_plan_that_follows_the_forecast_has_no_reason() -> None:
    s = build_signal("600036.SH", DAY, {"arima": _fc(0.002, 0.7, deviation=-0.034)}, {})
    assert (s.direction, s.t0_plan, s.plan_reason) == ("up", "buy-first", "")
    assert "Plan:" not in s.explanation


@pytest.mark.parametrize(("plan", "side", "stretch", "start", "end"), [
    ("sell-first", 1, "the price is 4.0% above its ARIMA equilibrium",
     "sell-first although the forecast is up", "a mean-reversion exit: sell the stretch first, buy back lower."),
    ("buy-first", 0, None, "buy-first on a neutral forecast",
     "so the side falls back to the sign of E(r)."),
    ("sell-first", -1, None, "", ""),
    ("hold", 1, None, "", ""),
])
def test_plan_reason_cases(plan, side, stretch, start, end) -> None:
    text = policy.plan_reason(plan, side, 0.01, 0.6, stretch)
    assert text.startswith(start) and text.endswith(end)
    assert (text == "") == (start == "")


def test_stretch_phrase_needs_the_band() -> None:
    assert policy.stretch_phrase(None) is None
    assert policy.stretch_phrase(policy.DEVIATION_BAND / 2) is None
    assert policy.stretch_phrase(-0.034) == "the price is 3.4% below its ARIMA equilibrium"
    assert policy.stretch_phrase(math.nan) is None


def test_intraday_votes_plan_and_reason_follow_the_rule() -> None:
    row = {"ts_code": "600000.SH", "trade_time": pd.Timestamp("2023-02-01 10:00"),
           "arima_mean": 0.001, "arima_std": 0.002, "arima_prob_up": 0.7, "arima_dev": 2.5,
           "hmm_state": "liquid-buy", "hmm_prob": 0.9, "hmm_intensity": "aggressive",
           "lstm_prob_up": 0.6, "lstm_mean": -0.005}                 # the LSTM heads disagree
    s = build_intraday_signal(row, "5m", 4)
    assert s.model_votes["arima"]["direction"] == "up"
    assert s.model_votes["lstm"]["direction"] == "neutral"
    assert s.direction == direction_label(s.prob_up, s.expected_return) == "neutral"
    assert s.t0_plan == "sell-first"
    assert s.plan_reason.startswith("sell-first on a neutral forecast")
    assert "2.5σ above its intraday equilibrium" in s.plan_reason
    assert f"Plan: {s.plan_reason}" in s.explanation


# ----------------------------------------------------------------------------- the CLI surface
def test_cli_signals_table_shows_the_rule_direction_and_the_plan_reason() -> None:
    from rich.console import Console

    from tzero.cli import _ARROW, _abbrev, _signals_table

    step = (1 - 0.0111) ** (1 / 5) - 1
    sigs = [build_signal("600036.SH", DAY, {"lstm": _fc(-0.00062, 0.60),
                                             "arima": _fc(step, 0.35, deviation=-0.034)}, {}),
            build_signal("600519.SH", DAY, {"arima": _fc(0.00022, 0.50)}, {}),
            build_signal("000001.SZ", DAY, {"hmm": _fc(0.002, 0.70)}, {})]
    c = Console(record=True, width=300, color_system=None)
    c.print(_signals_table(sigs))
    out = c.export_text()
    for s in sigs:
        line = next(x for x in out.splitlines() if s.ts_code in x)
        cells = line.replace("│", " ").split()
        assert cells[4] == _ARROW[s.direction]                          # the dir column
        assert s.direction == direction_label(s.prob_up, s.expected_return)
        for m, v in s.model_votes.items():
            assert f"{_abbrev(m)}{_ARROW[v['direction']]}" in cells
    assert [s.direction for s in sigs] == ["down", "neutral", "up"]
    assert "L·" in out and "A↓" in out                   # the LSTM's disagreeing heads: neutral
    flat = " ".join(out.split())
    assert "buy-first*" in out and sigs[0].plan_reason in flat and RULE in flat
