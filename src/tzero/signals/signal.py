"""The unified Signal (DESIGN.md "Signals", spec 000 §5.2): numeric, state and explanation layers.

One :class:`Signal` per ``(ts_code, as_of, horizon)`` combines the forecasts
of the models that voted (LSTM timing, ARIMA anchor, HMM regime filter):

- numeric: ``prob_up``, ``prob_flat``, ``prob_down`` (average of the models'
  probabilities that the ``horizon``-session return is > 0 / < 0; what is left
  is "flat"), ``expected_return`` (equal-weight mean of the models' cumulative
  return forecasts, decimal), ``expected_volatility`` (mean of the models'
  forecast std of that cumulative return, decimal), ``return_band`` (±1 std),
  ``direction`` (:func:`tzero.signals.direction.direction` of ``prob_up`` and
  ``expected_return``: the one rule every vote and surface uses);
- state: ``regime`` and ``regime_prob`` from the HMM, ``t0_intensity`` from
  :func:`tzero.signals.policy.t0_intensity`, ``t0_plan``, ``risk_labels``,
  ``suggested_position_change``;
- explanation: a short text built from those numbers; when the plan's side is
  not the forecast's direction (a mean-reversion entry against a down forecast),
  ``plan_reason`` says why in words (:func:`tzero.signals.policy.plan_reason`).

``model_votes`` keeps every model's own numbers and ``model_versions`` the
version of each model that produced them, so every number traces back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from tzero.fmt import pct
from tzero.models.base import QUANTILE_COLUMNS
from tzero.signals import policy
from tzero.signals.direction import LABELS, direction, direction_label


@dataclass
class Signal:
    """One unified signal for a holding. Returns decimal; ``horizon`` counts ``horizon_unit``s.

    ``horizon_unit`` is ``"session"`` for daily signals (the default) and
    ``"bar:<freq>"`` (e.g. ``"bar:5m"``) for intraday ones, whose ``horizon``
    counts bars of that frequency (:mod:`tzero.signals.intraday`).

    ``direction`` is ``"up"``, ``"neutral"`` or ``"down"`` by the one rule of
    :func:`tzero.signals.direction.direction` on ``prob_up`` and
    ``expected_return``; every vote in ``model_votes`` carries its own by the
    same rule. ``plan_reason`` is empty unless ``t0_plan``'s side differs from
    ``direction``; then it says why (:func:`tzero.signals.policy.plan_reason`).
    """

    ts_code: str
    as_of: str
    horizon: int
    prob_up: float
    prob_flat: float
    prob_down: float
    expected_return: float
    expected_volatility: float
    return_band: tuple[float, float]
    regime: str | None
    regime_prob: float | None
    t0_intensity: str
    t0_plan: str
    suggested_position_change: float
    risk_labels: list[str]
    confidence: float
    model_votes: dict[str, dict]
    model_versions: dict[str, str]
    explanation: str
    indicators: dict = field(default_factory=dict)
    horizon_unit: str = "session"
    blocked_models: dict[str, str] = field(default_factory=dict)
    quantiles: dict[str, float] = field(default_factory=dict)
    ranking: dict = field(default_factory=dict)
    direction: str = "neutral"
    plan_reason: str = ""

    def to_dict(self) -> dict:
        """JSON-ready dict (floats rounded to 6 places, NaN → None)."""
        return _clean(asdict(self))


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float | np.floating):
        return None if not math.isfinite(float(x)) else round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _vote(name: str, fc: pd.DataFrame, horizon: int) -> dict:
    row = fc.loc[fc["step"] == horizon].iloc[0]
    cum_std = float(np.sqrt((fc.loc[fc["step"] <= horizon, "std"] ** 2).sum()))
    v = {"prob_up": float(row["prob_up"]), "prob_down": float(row["prob_down"]),
         "expected_return": float(row["cum_mean"]), "expected_volatility": cum_std,
         "direction": direction_label(row["prob_up"], row["cum_mean"])}
    if row.get("regime") is not None and isinstance(row.get("regime"), str):
        v["regime"] = row["regime"]
        v["regime_prob"] = float(row["regime_prob"])
    if "deviation" in fc.columns and pd.notna(row.get("deviation")):
        v["deviation"] = float(row["deviation"])
    if "score" in fc.columns and pd.notna(row.get("score")):
        v["score"] = float(row["score"])
    for q in QUANTILE_COLUMNS:
        if q in fc.columns and pd.notna(row.get(q)):
            v[q] = float(row[q])
    return v


def _first(votes: dict[str, dict], key: str) -> dict:
    """The first vote (table order) that carries ``key`` (a regime, a deviation), or {}."""
    return next((v for v in votes.values() if v.get(key) is not None), {})


def build_signal(ts_code: str, as_of: pd.Timestamp, forecasts: dict[str, pd.DataFrame],
                 versions: dict[str, str], horizon: int = 5, indicators: dict | None = None,
                 blocked: dict[str, str] | None = None,
                 weights: dict[str, float] | None = None,
                 ranking: dict | None = None) -> Signal:
    """Combine per-model forecast frames of one symbol into a :class:`Signal`.

    Args:
        ts_code: the symbol.
        as_of: the last session the forecasts used.
        forecasts: model name → that model's forecast rows for this symbol
            (:data:`tzero.models.base.FORECAST_COLUMNS`, steps 1..horizon).
        versions: model name → version id.
        horizon: sessions ahead the signal is about.
        indicators: latest signal-layer indicators (MA, BOLL, KDJ, 量比) to attach.
        blocked: model name → reason, for models the research gates blocked
            (:func:`tzero.backtest.gates.blocked_models`, spec 003 §3 "fail =
            block"): their forecasts never enter the votes; they are listed in
            ``blocked_models``. When every model is blocked the signal carries
            no forecast (NaN numbers) and says ``pause`` / ``hold``.
        weights: model name → weight of its vote (default 1 each; the model
            table's ``weight``); recorded in each vote as ``weight``.
        ranking: the stock's row of the ranking view (:func:`tzero.signals.rank.rank_stocks`
            plus ``model``, ``version_id``, ``of`` and ``risk_percentile``); when
            given, ``suggested_position_change`` is scaled by the risk percentile
            (:func:`tzero.signals.policy.ranked_position_change`) and the row is
            kept in ``ranking``.

    The regime comes from the first vote that carries one (the HMM's), the
    equilibrium deviation from the first that carries one (ARIMA's), and the
    quantiles ``q10…q90`` are the weighted mean of the votes that emit them.

    Raises:
        ValueError: no forecasts at all.
    """
    blocked = {m: r for m, r in (blocked or {}).items() if m in forecasts}
    votes = {name: _vote(name, fc, horizon) for name, fc in forecasts.items()
             if not fc.empty and name not in blocked}
    if not votes and blocked:
        return _all_blocked(ts_code, as_of, horizon, blocked, indicators)
    if not votes:
        raise ValueError(f"{ts_code}: no model produced a forecast as of {as_of}")
    for name, v in votes.items():
        v["weight"] = float((weights or {}).get(name, 1.0))
    w = np.array([v["weight"] for v in votes.values()])

    def wmean(key: str) -> float:
        return float(np.average([v[key] for v in votes.values()], weights=w))
    pu, pdn = wmean("prob_up"), wmean("prob_down")
    pflat = max(0.0, 1.0 - pu - pdn)
    er, ev = wmean("expected_return"), wmean("expected_volatility")
    regime_vote = _first(votes, "regime")
    regime, rprob = regime_vote.get("regime"), regime_vote.get("regime_prob")
    daily_vol = ev / math.sqrt(horizon)
    intensity = policy.t0_intensity(regime, rprob, daily_vol)
    deviation = _first(votes, "deviation").get("deviation")
    quantiles = {}
    for q in QUANTILE_COLUMNS:
        have = [(v[q], v["weight"]) for v in votes.values() if q in v]
        if have:
            quantiles[q] = float(np.average([a for a, _ in have], weights=[b for _, b in have]))
    plan = policy.t0_plan(er, deviation)
    side = direction(pu, er)
    # confidence: the probability edge times the share of votes on the signal's side (0 if neutral)
    agree = np.mean([v["direction"] == LABELS[side] for v in votes.values()]) if side else 0.0
    confidence = float(min(1.0, abs(pu - pdn)) * agree)
    risk = policy.risk_labels(regime, rprob, daily_vol, deviation)
    change = policy.position_change(intensity, plan)
    if ranking:
        change = policy.ranked_position_change(change, ranking["risk_percentile"])
    sig = Signal(
        ts_code=ts_code, as_of=str(pd.Timestamp(as_of).date()), horizon=horizon,
        prob_up=pu, prob_flat=pflat, prob_down=pdn, expected_return=er, expected_volatility=ev,
        return_band=(er - ev, er + ev), regime=regime, regime_prob=rprob,
        t0_intensity=intensity, t0_plan=plan, suggested_position_change=change, risk_labels=risk,
        confidence=confidence, model_votes=votes, model_versions=dict(versions),
        explanation="", indicators=indicators or {}, blocked_models=blocked, quantiles=quantiles,
        ranking=dict(ranking or {}), direction=LABELS[side],
        plan_reason=policy.plan_reason(plan, side, er, pu, policy.stretch_phrase(deviation)),
    )
    sig.explanation = explain(sig)
    return sig


def _all_blocked(ts_code: str, as_of, horizon: int, blocked: dict[str, str],
                 indicators: dict | None) -> Signal:
    """The signal served when the research gates blocked every model that forecast."""
    nan = float("nan")
    sig = Signal(ts_code=ts_code, as_of=str(pd.Timestamp(as_of).date()), horizon=horizon,
                 prob_up=nan, prob_flat=nan, prob_down=nan, expected_return=nan,
                 expected_volatility=nan, return_band=(nan, nan), regime=None, regime_prob=None,
                 t0_intensity="pause", t0_plan="hold", suggested_position_change=0.0,
                 risk_labels=["all_models_blocked"], confidence=0.0, model_votes={},
                 model_versions={}, explanation="", indicators=indicators or {},
                 blocked_models=dict(blocked))
    sig.explanation = (f"{ts_code} as of {sig.as_of}: no forecast is served; every model is "
                       "blocked by the out-of-sample research (" +
                       "; ".join(f"{m}: {r}" for m, r in blocked.items()) + "). Hold, no T+0.")
    return sig


def votes_text(votes: dict[str, dict]) -> str:
    """``"Votes up: lstm; neutral: arima; down: none."``: the models on each side (table order).

    Args:
        votes: model name → vote; votes without a ``direction`` (a state-only
            vote such as the intraday HMM) are left out.
    """
    side = {lab: [m for m, v in votes.items() if v.get("direction") == lab]
            for lab in ("up", "neutral", "down")}
    return (f"Votes up: {', '.join(side['up']) or 'none'}; neutral: "
            f"{', '.join(side['neutral']) or 'none'}; down: {', '.join(side['down']) or 'none'}.")


def explain(s: Signal) -> str:
    """A short explanation built only from the signal's numbers (and the plan's reason)."""
    parts = [f"{s.ts_code} as of {s.as_of}: {s.horizon}-session expected return "
             f"{pct(s.expected_return, 2, sign=True)} (±{pct(s.expected_volatility, 2)}), "
             f"P(up) {pct(s.prob_up, 0)}: {s.direction}."]
    if s.regime:
        parts.append(f"HMM regime {s.regime} ({pct(s.regime_prob or 0, 0)}).")
    parts.append(votes_text(s.model_votes))
    dev = _first(s.model_votes, "deviation").get("deviation")
    if dev is not None:
        parts.append(f"Price {pct(dev, 1, sign=True)} from its ARIMA equilibrium.")
    share = abs(s.suggested_position_change)
    parts.append(f"T+0 {s.t0_intensity}, {s.t0_plan}" +
                 (f", trade up to {pct(share, 0)} of the position." if share else "."))
    if s.plan_reason:
        parts.append(f"Plan: {s.plan_reason}")
    if s.blocked_models:
        parts.append("Blocked by the out-of-sample research, not voting: " +
                     ", ".join(sorted(s.blocked_models)) + ".")
    return " ".join(parts)
