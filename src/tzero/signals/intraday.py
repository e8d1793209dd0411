"""Intraday walk-forward forecasts and intraday signals (spec 000 §3.1–3.3, §5.1).

Spec 000 §5.1 layers the intraday models for T+0 (做T): the HMM *filters*
(micro-structure state → how hard to trade), the LSTM *times* (direction of the
next bars) and ARIMA *anchors* (next-bar mean/variance, distance from the
recent equilibrium). :func:`walk_forward_forecasts` produces their honest
out-of-sample forecasts bar by bar; :func:`build_intraday_signal` turns one row
into a :class:`tzero.signals.signal.Signal` with ``horizon_unit="bar:<freq>"``.
Mapping forecasts to trade actions belongs to the research families (:mod:`tzero.research.t0`).

Forecast columns (one row per out-of-sample bar, all made at that bar's close
from bars ``<=`` it and models fitted on the window's train days only):

=================  ==========================================================
``ts_code``        symbol
``trade_time``     the bar's close stamp (naive Asia/Shanghai)
``window``         walk-forward window index (:func:`rolling_windows`)
``close``          the bar's close (CNY or index points)
``arima_mean``     expected simple return of the *next* bar, decimal per bar
``arima_std``      its standard deviation, decimal per bar (time-of-day aware)
``arima_prob_up``  P(next bar's return > 0) under the ARIMA normal forecast
``arima_dev``      equilibrium z-score: log(close / EWMA(close)) over its EW
                   std; ``> 0`` price above its recent equilibrium (stretched
                   up: reversion down expected, sell first / 倒T), ``< 0`` below
                   (buy first / 正T); about ±2 is stretched
``hmm_state``      filtered micro-structure state ``liquid|illiquid`` ×
                   ``buy|sell`` (e.g. ``liquid-buy``)
``hmm_prob``       filtered probability of that state, [0, 1]
``hmm_intensity``  T+0 intensity ``aggressive|normal|conservative|pause``
``lstm_prob_up``   P(compounded return of the next ``lstm horizon`` bars > 0)
``lstm_mean``      expected compounded simple return of the next ``lstm
                   horizon`` bars (default 6 bars), decimal
=================  ==========================================================

A model that cannot be fitted in a window (too little data) leaves its columns
NaN there; ``df.attrs["errors"]`` lists ``[window, model, message]``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from tzero.backtest.walkforward import Window, rolling_windows
from tzero.data.bars import resample_minutes
from tzero.errors import ModelError
from tzero.fmt import pct
from tzero.models.table import ModelSpec, specs
from tzero.signals import policy
from tzero.signals.direction import LABELS, direction, direction_label
from tzero.signals.signal import Signal, votes_text
from tzero.training.executor import Executor, LocalExecutor

log = logging.getLogger(__name__)

#: Prefix of the intraday models' names in the model table (``intraday_lstm``); the
#: rest is the model's *key* here (``lstm``): its forecast columns (``lstm_*``), vote,
#: ``models=`` / ``configs=`` / ``blocked`` entry.
NAME_PREFIX = "intraday_"
#: The intraday models of :mod:`tzero.models.table` by key, in table order.
_SPECS: dict[str, ModelSpec] = {s.name.removeprefix(NAME_PREFIX): s
                                for s in specs(frequency="intraday")}
MODELS = tuple(_SPECS)
FORECAST_COLUMNS = [
    "ts_code", "trade_time", "window", "close", "arima_mean", "arima_std", "arima_prob_up",
    "arima_dev", "hmm_state", "hmm_prob", "hmm_intensity", "lstm_prob_up", "lstm_mean",
]
#: |arima_dev| at or beyond this z-score counts as stretched from equilibrium.
DEVIATION_Z = 2.0
#: Path columns that are keys or inputs, not forecasts (kept out of the renaming).
_PATH_KEYS = ("ts_code", "trade_time", "close")
#: Short forms of path columns in the forecast columns (``deviation`` → ``arima_dev``).
_SHORT = {"deviation": "dev", "state_prob": "prob"}


def _renames(key: str) -> dict[str, str]:
    """Path column → forecast column of model ``key``: ``<key>_<column>`` (short forms of
    :data:`_SHORT`), from the model class's ``path_columns``."""
    cols = _SPECS[key].cls.path_columns  # type: ignore[attr-defined]
    return {c: f"{key}_{_SHORT.get(c, c)}" for c in cols if c not in _PATH_KEYS}


def _forecast_path(key: str, path: pd.DataFrame) -> pd.DataFrame:
    """A model's ``predict_path`` as forecast columns (``ts_code, trade_time, <key>_*``).

    A model whose path carries a micro-structure ``state`` and ``state_prob``
    also gets ``<key>_intensity``, the T+0 intensity of the signal policy
    (:func:`tzero.signals.policy.intensity_for`).
    """
    ren = _renames(key)
    out = path[["ts_code", "trade_time", *ren]].rename(columns=ren)
    if {"state", "state_prob"} <= set(ren):
        out[f"{key}_intensity"] = [policy.intensity_for(s, p) for s, p in
                                   zip(path["state"], path["state_prob"], strict=True)]
    return out


def _forecast_columns(key: str) -> list[str]:
    """The forecast columns of model ``key`` (without ``ts_code, trade_time``)."""
    empty = pd.DataFrame(columns=list(_SPECS[key].cls.path_columns))  # type: ignore[attr-defined]
    return [c for c in _forecast_path(key, empty).columns if c not in _PATH_KEYS]


def model_configs(fast: bool, seed: int, freq: str) -> dict[str, object]:
    """Default configs of the intraday models by key (each class's ``default_config``).

    ``fast`` uses the quick variants (:meth:`IntradayLstmConfig.fast`); windows
    scale with the bars per day of ``freq`` (ARIMA fits at most 20 days of returns).
    """
    return {key: spec.config(fast=fast, seed=seed, freq=freq) for key, spec in _SPECS.items()}


class _PathModel(Protocol):
    """What :func:`_window_path` uses of an intraday model: every class of the intraday
    table entries fits like a Forecaster and has ``predict_path`` (the HMM's also takes
    ``trades`` and ``freq``)."""

    def fit(self, panel: pd.DataFrame, universe: pd.DataFrame | None = None,
            **kwargs: Any) -> Any: ...

    def predict_path(self, bars: pd.DataFrame, start: Any, end: Any,
                     **kwargs: Any) -> pd.DataFrame: ...


def _window_path(name: str, cfg: object, train: pd.DataFrame, hist: pd.DataFrame, w: Window,
                 end: pd.Timestamp, trades: pd.DataFrame | None, freq: str,
                 in_sample: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Fit model ``name`` (a key of :data:`MODELS`) on the train bars; forecast every bar of
    the test part (and of the train part itself when ``in_sample``: the in-sample path,
    for decay checks). A model that ``uses_trades`` gets the Trades frame too."""
    model = cast(_PathModel, _SPECS[name].cls(cfg))
    kw: dict = {}
    if getattr(model, "uses_trades", False) and trades is not None:
        kw = {"trades": trades, "freq": freq}
        model.fit(train, trades=trades[w.train_mask(trades["trade_time"]).to_numpy()], freq=freq)
    else:
        model.fit(train)
    path = _forecast_path(name, model.predict_path(hist, w.test_start, end, **kw))
    is_path = None
    if in_sample:
        is_path = _forecast_path(name, model.predict_path(train, w.train_start,
                                                          train["trade_time"].max(), **kw))
    return path, is_path


def _window_task(w: Window, shared: tuple) -> tuple[pd.DataFrame, pd.DataFrame, list, dict]:
    """One window of :func:`walk_forward_forecasts` (a task of the executor): every model
    fitted on the train bars, its out-of-sample (and in-sample) path, the fits that failed
    ``(window, model, message)`` and each model's seconds."""
    b, models, cfgs, trades, freq, in_sample = shared
    days = pd.DatetimeIndex(b["trade_time"]).normalize()
    tr = b[w.train_mask(b["trade_time"]).to_numpy()]
    hist = b[((days >= w.train_start) & (days <= w.test_end))]
    test = hist[w.test_mask(hist["trade_time"]).to_numpy()]
    out = test[["ts_code", "trade_time", "close"]].assign(window=w.index, sample="oos")
    ins = tr[["ts_code", "trade_time", "close"]].assign(window=w.index, sample="is")
    end_ts = test["trade_time"].max()
    errors: list[tuple[int, str, str]] = []
    seconds = dict.fromkeys(models, 0.0)
    for name in models:
        t0 = time.perf_counter()
        try:
            path, is_path = _window_path(name, cfgs[name], tr, hist, w, end_ts, trades, freq,
                                         in_sample)
        except (ModelError, ValueError) as e:
            errors.append((w.index, name, str(e)))
            log.warning("window %d: %s not fitted: %s", w.index, name, e)
            path = pd.DataFrame(columns=["ts_code", "trade_time", *_forecast_columns(name)])
            is_path = path
        seconds[name] += time.perf_counter() - t0
        out = out.merge(path, on=["ts_code", "trade_time"], how="left")
        if in_sample:
            ins = ins.merge(is_path, on=["ts_code", "trade_time"], how="left")
    return out, ins, errors, seconds


def walk_forward_forecasts(bars: pd.DataFrame, *, freq: str = "5m", train_days: int = 40,
                           test_days: int = 10, models: Sequence[str] = MODELS,
                           trades: pd.DataFrame | None = None, seed: int = 42, fast: bool = True,
                           start=None, end=None, configs: dict | None = None,
                           in_sample: bool = False, executor: Executor | None = None
                           ) -> pd.DataFrame:
    """Out-of-sample intraday forecasts of the three models by rolling walk-forward.

    Windows come from :func:`tzero.backtest.walkforward.rolling_windows` over the
    days of the bars (``train_days`` to fit, the next ``test_days`` scored, test
    parts tiling the period). In each window every model is refitted on the
    train bars only, then :meth:`predict_path` gives, at each test bar's close,
    a forecast from bars up to that close (history before the test part comes
    from the train days; nothing of a test part enters a fit).

    Args:
        bars: intraday Bars (1-minute or already ``freq``), sorted by
            ``(ts_code, trade_time)``; resampled to ``freq`` within sessions.
        freq: model bar frequency ``5m 15m 30m`` (``1m`` works, slowly).
        train_days, test_days: sessions per train / test part.
        models: any of ``arima``, ``hmm``, ``lstm``.
        trades: optional Trades frame; the HMM then uses trade-flow OFI.
        seed: seed of the HMM and the LSTM.
        fast: small LSTM config (:meth:`IntradayLstmConfig.fast`).
        start, end: optional inclusive dates to slice the bars first.
        configs: optional ``{model: config}`` overriding :func:`model_configs`.
        in_sample: also return each window's in-sample path (the train bars
            forecast by the models fitted on them), rows marked
            ``sample == "is"``; the out-of-sample rows are ``"oos"``. Used
            only to measure how much a strategy decays out of sample.
        executor: where the windows are fitted, one task each
            (:mod:`tzero.training.executor`; the bars travel once, as the tasks'
            shared input); None: in this process. Each window's models are seeded
            from ``seed`` and the parts are joined in window order, so the frame
            does not depend on the executor.

    Returns:
        Frame of :data:`FORECAST_COLUMNS` (columns of models not run are
        absent), one row per out-of-sample bar; see the module docstring for
        units. ``attrs["windows"]`` lists the windows (dicts of ``index``,
        ``train_start`` … ``test_end`` as ISO dates), ``attrs["errors"]``
        ``[window, model, message]`` of the model fits that failed and
        ``attrs["seconds"]`` the wall time of each model (fits + paths).

    Raises:
        ValueError: unknown model name, or too few days for one window.
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown intraday model(s) {sorted(unknown)}: expected {list(MODELS)}")
    b = _slice(bars, start, end)
    b = resample_minutes(b, freq).reset_index(drop=True) if freq != "1m" else b
    cfgs = {**model_configs(fast, seed, freq), **(configs or {})}
    windows = rolling_windows(pd.DatetimeIndex(b["trade_time"]).normalize().unique(),
                              train_days, test_days)
    if not windows:
        raise ValueError(f"{b['trade_time'].dt.normalize().nunique()} days of bars are too few for "
                         f"train_days={train_days} + test_days={test_days}")
    shared = (b, tuple(models), cfgs, trades, freq, in_sample)
    ex = executor or LocalExecutor(1)
    parts: list = [None] * len(windows)
    with contextlib.closing(ex.map(_window_task, windows, shared=shared)) as run:
        for done in run:                 # as each finishes; an unexpected error ends the run
            parts[done.index] = done.get()
    frames, errors = [], []
    seconds = dict.fromkeys(models, 0.0)
    for out, ins, errs, secs in parts:
        frames += [out, ins] if in_sample else [out]
        errors += errs
        for k, v in secs.items():
            seconds[k] += v
    res = pd.concat(frames, ignore_index=True)
    cols = [c for c in FORECAST_COLUMNS if c in res.columns]
    res = res[cols + (["sample"] if in_sample else [])]
    # JSON-able attrs (pandas writes attrs into Parquet metadata)
    res.attrs["windows"] = [{k: (str(v.date()) if isinstance(v, pd.Timestamp) else v)
                             for k, v in asdict(w).items()} for w in windows]
    res.attrs["errors"] = [list(e) for e in errors]
    res.attrs["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    return res


def _slice(bars: pd.DataFrame, start, end) -> pd.DataFrame:
    t = bars["trade_time"]
    keep = np.ones(len(bars), bool)
    if start is not None:
        keep &= (t >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        keep &= (t < pd.Timestamp(end).normalize() + pd.Timedelta(days=1)).to_numpy()
    return bars[keep].reset_index(drop=True)


def _num(row, key: str) -> float | None:
    v = row.get(key) if hasattr(row, "get") else None
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _votes(row, horizon_bars: int) -> dict[str, dict]:
    votes: dict[str, dict] = {}
    am, sd, pu = _num(row, "arima_mean"), _num(row, "arima_std"), _num(row, "arima_prob_up")
    if am is not None and sd is not None and pu is not None:
        er = (1 + am) ** horizon_bars - 1
        votes["arima"] = {"prob_up": pu, "prob_down": 1 - pu, "expected_return": er,
                          "expected_volatility": sd * math.sqrt(horizon_bars),
                          "direction": direction_label(pu, er)}
        dev = _num(row, "arima_dev")
        if dev is not None:
            votes["arima"]["deviation"] = dev
    lp, lm = _num(row, "lstm_prob_up"), _num(row, "lstm_mean")
    if lp is not None and lm is not None:
        votes["lstm"] = {"prob_up": lp, "prob_down": 1 - lp, "expected_return": lm,
                         "direction": direction_label(lp, lm)}
    state = row.get("hmm_state") if hasattr(row, "get") else None
    if isinstance(state, str):
        votes["hmm"] = {"regime": state, "regime_prob": _num(row, "hmm_prob"),
                        "t0_intensity": row.get("hmm_intensity")}
    return votes


def intraday_plan(expected_return: float, deviation: float | None) -> str:
    """Which leg first: a stretch beyond ±:data:`DEVIATION_Z` wins (above → ``sell-first``,
    below → ``buy-first``), else the sign of the expected return."""
    if deviation is not None and abs(deviation) >= DEVIATION_Z:
        return "sell-first" if deviation > 0 else "buy-first"
    return "buy-first" if expected_return > 0 else "sell-first"


def intraday_stretch(deviation: float | None) -> str | None:
    """``"the price is 2.5σ above its intraday equilibrium"`` when the ARIMA z-score is at or
    beyond ±:data:`DEVIATION_Z`, else None (the words of :func:`tzero.signals.policy.plan_reason`)."""
    if deviation is None or not math.isfinite(deviation) or abs(deviation) < DEVIATION_Z:
        return None
    return (f"the price is {abs(deviation):.1f}σ {'above' if deviation > 0 else 'below'} its "
            "intraday equilibrium")


def build_intraday_signal(row: pd.Series | dict, freq: str, horizon_bars: int,
                          versions: dict[str, str] | None = None,
                          blocked: dict[str, str] | None = None) -> Signal:
    """One intraday :class:`Signal` from a row of :func:`walk_forward_forecasts`.

    Numeric layer: mean of the ARIMA (next-bar forecast compounded over
    ``horizon_bars``) and LSTM (``horizon_bars``-bar) probabilities and
    returns; volatility from ARIMA (``arima_std × sqrt(horizon_bars)``).
    State layer: ``regime``/``regime_prob`` from the HMM state and
    ``t0_intensity`` = ``hmm_intensity`` (``normal`` without an HMM), plan from
    :func:`intraday_plan`, size from :func:`tzero.signals.policy.position_change`.
    Every vote's ``direction`` and the signal's come from the one rule of
    :func:`tzero.signals.direction.direction`; ``plan_reason`` says why when the
    plan's side is not the forecast's (:func:`tzero.signals.policy.plan_reason`).

    Args:
        row: one forecast row (needs ``ts_code`` and ``trade_time``).
        freq: bar frequency, recorded as ``horizon_unit=f"bar:{freq}"``.
        horizon_bars: bars the signal is about (the LSTM horizon).
        versions: optional model → version ids.
        blocked: model → reason from the research gates
            (:func:`tzero.backtest.gates.blocked_models`): those models' numbers
            never enter the signal; they are listed in ``blocked_models``. When
            every model that forecast is blocked, the signal says ``pause``/``hold``
            with no forecast. ``combined`` blocked (the layered T+0 rule itself
            failed the gates): the numbers are served but the T+0 advice is
            ``pause``/``hold``.

    Raises:
        ValueError: the row has neither ARIMA nor LSTM numbers.
    """
    r = dict(row)
    all_votes = _votes(r, horizon_bars)
    plan_block = (blocked or {}).get("combined")
    blocked = {m: why for m, why in (blocked or {}).items() if m in MODELS}
    votes = {m: v for m, v in all_votes.items() if m not in blocked}
    numeric = [v for v in votes.values() if "prob_up" in v]
    states = {k: v for k, v in votes.items() if "prob_up" not in v}
    if not numeric and blocked:
        return _blocked_intraday(r, freq, horizon_bars, states, blocked)
    if not numeric:
        raise ValueError(f"{r.get('ts_code')} at {r.get('trade_time')}: row has no ARIMA or LSTM "
                         "forecast; run walk_forward_forecasts with arima or lstm")
    pu = float(np.mean([v["prob_up"] for v in numeric]))
    pdn = float(np.mean([v["prob_down"] for v in numeric]))
    er = float(np.mean([v["expected_return"] for v in numeric]))
    ev = float(_first(votes, "expected_volatility").get("expected_volatility", float("nan")))
    hmm = _first(votes, "regime")
    intensity = hmm.get("t0_intensity") or "normal"
    dev = _first(votes, "deviation").get("deviation")
    plan = intraday_plan(er, dev)
    side = direction(pu, er)
    agree = np.mean([v["direction"] == LABELS[side] for v in numeric]) if side else 0.0
    risk = [lab for cond, lab in (
        (str(hmm.get("regime", "")).startswith("illiquid"), "poor_liquidity"),
        (str(hmm.get("regime", "")).endswith("-sell"), "sell_dominated"),
        (dev is not None and dev >= DEVIATION_Z, "stretched_above_equilibrium"),
        (dev is not None and dev <= -DEVIATION_Z, "stretched_below_equilibrium"),
    ) if cond]
    sig = Signal(
        ts_code=str(r["ts_code"]), as_of=str(pd.Timestamp(r["trade_time"])), horizon=horizon_bars,
        prob_up=pu, prob_flat=max(0.0, 1 - pu - pdn), prob_down=pdn, expected_return=er,
        expected_volatility=ev, return_band=(er - ev, er + ev), regime=hmm.get("regime"),
        regime_prob=hmm.get("regime_prob"), t0_intensity=intensity, t0_plan=plan,
        suggested_position_change=policy.position_change(intensity, plan), risk_labels=risk,
        confidence=float(min(1.0, abs(pu - pdn)) * agree), model_votes=votes,
        model_versions={m: v for m, v in (versions or {}).items() if m not in blocked},
        explanation="", horizon_unit=f"bar:{freq}", blocked_models=blocked,
        direction=LABELS[side],
        plan_reason=policy.plan_reason(plan, side, er, pu, intraday_stretch(dev)),
    )
    if plan_block:
        sig.t0_intensity, sig.t0_plan, sig.suggested_position_change = "pause", "hold", 0.0
        sig.plan_reason = ""
        sig.risk_labels = [*sig.risk_labels, "t0_plan_blocked"]
        sig.blocked_models = {**blocked, "combined": plan_block}
    sig.explanation = explain_intraday(sig)
    return sig


def _first(votes: dict[str, dict], key: str) -> dict:
    """The first vote (table order) that carries ``key`` (a regime, a deviation), or {}."""
    return next((v for v in votes.values() if v.get(key) is not None), {})


def _blocked_intraday(r: dict, freq: str, horizon_bars: int, states: dict[str, dict],
                      blocked: dict[str, str]) -> Signal:
    """The intraday signal when the research blocked every forecasting model.

    ``states``: the unblocked state votes (model → vote without ``prob_up``).
    """
    nan = float("nan")
    hmm = _first(states, "regime")
    sig = Signal(ts_code=str(r["ts_code"]), as_of=str(pd.Timestamp(r["trade_time"])),
                 horizon=horizon_bars, prob_up=nan, prob_flat=nan, prob_down=nan,
                 expected_return=nan, expected_volatility=nan, return_band=(nan, nan),
                 regime=hmm.get("regime"), regime_prob=hmm.get("regime_prob"),
                 t0_intensity="pause", t0_plan="hold", suggested_position_change=0.0,
                 risk_labels=["all_models_blocked"], confidence=0.0,
                 model_votes=dict(states), model_versions={}, explanation="",
                 horizon_unit=f"bar:{freq}", blocked_models=blocked)
    sig.explanation = (f"{sig.ts_code} at {sig.as_of}: no intraday forecast is served; blocked by "
                       "the out-of-sample research: " +
                       "; ".join(f"{m}: {why}" for m, why in blocked.items()) + ". No T+0.")
    return sig


def latest_intraday_signal(bars: pd.DataFrame, *, freq: str = "5m", train_days: int = 40,
                           as_of=None, blocked: dict[str, str] | None = None, seed: int = 42,
                           fast: bool = True) -> Signal:
    """The intraday Signal of one symbol at a bar: models fitted on the days before, predicted now.

    The three models are fitted on the ``train_days`` complete sessions before
    the day of ``as_of`` (never on that day, never after it) and forecast at
    ``as_of`` from the bars up to its close — the same protocol as one
    walk-forward window of :func:`walk_forward_forecasts`. Blocked models are
    neither fitted nor shown (``blocked_models`` says why).

    Args:
        bars: one symbol's intraday Bars (1-minute or ``freq``), unadjusted.
        freq: model bar frequency. train_days: sessions the models fit on.
        as_of: a bar-close stamp (or a date: its last bar); default the last bar.
        blocked: model → reason from the research gates.

    Returns:
        :class:`Signal` with ``horizon`` in bars (:func:`signal_horizon`: the LSTM's) and
        ``horizon_unit="bar:<freq>"``.

    Raises:
        ValueError: several symbols, no bar at or before ``as_of``, or fewer than
            ``train_days`` sessions before its day.
    """
    if bars["ts_code"].nunique() != 1:
        raise ValueError("latest_intraday_signal takes one symbol's bars")
    b = resample_minutes(bars, freq).reset_index(drop=True) if freq != "1m" else bars
    t = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(b["trade_time"].max())
    if t == t.normalize():
        t = t + pd.Timedelta(hours=15)
    b = b.loc[b["trade_time"] <= t].reset_index(drop=True)
    if b.empty:
        raise ValueError(f"no {freq} bar at or before {t}")
    t = pd.Timestamp(b["trade_time"].iloc[-1])
    days = pd.DatetimeIndex(b["trade_time"]).normalize()
    before = days.unique()[days.unique() < t.normalize()]
    if len(before) < train_days:
        raise ValueError(f"{len(before)} sessions of {freq} bars before {t.date()}; the intraday "
                         f"models need {train_days}")
    train = b.loc[(days >= before[-train_days]) & (days < t.normalize())]
    hist = b.loc[days >= before[-train_days]]
    cfgs = model_configs(fast, seed, freq)
    # one walk-forward window whose test part is the bars of as_of's day up to as_of
    w = Window(0, before[-train_days], before[-1], t.normalize(), t)
    row: dict = {"ts_code": str(b["ts_code"].iloc[0]), "trade_time": t}
    for name in MODELS:
        if name in (blocked or {}):
            continue
        path, _ = _window_path(name, cfgs[name], train, hist, w, t, None, freq)
        last = path.loc[path["trade_time"] == t]
        for col in _forecast_columns(name):
            row[col] = last[col].iloc[0] if len(last) else np.nan
    return build_intraday_signal(row, freq, signal_horizon(cfgs), blocked=blocked)


def signal_horizon(configs: dict[str, object]) -> int:
    """Bars an intraday signal is about: the longest horizon of the models' configs
    (the timing LSTM's, 6 bars by default; ARIMA's and the HMM's paths are one bar)."""
    return max(int(c.horizon) for c in configs.values())  # type: ignore[attr-defined]


def explain_intraday(s: Signal) -> str:
    """A short explanation built only from the intraday signal's numbers."""
    unit = s.horizon_unit.removeprefix("bar:")
    parts = [f"{s.ts_code} at {s.as_of}: next {s.horizon} {unit} bars expected "
             f"{pct(s.expected_return, 2, sign=True)}" + ("" if math.isnan(s.expected_volatility)
                                                          else f" (±{pct(s.expected_volatility, 2)})")
             + f", P(up) {pct(s.prob_up, 0)}: {s.direction}."]
    if s.regime:
        parts.append(f"Micro-structure {s.regime} ({pct(s.regime_prob or 0, 0)}).")
    parts.append(votes_text(s.model_votes))
    dev = _first(s.model_votes, "deviation").get("deviation")
    if dev is not None:
        parts.append(f"Price {dev:+.1f}σ from its intraday equilibrium.")
    share = abs(s.suggested_position_change)
    parts.append(f"T+0 {s.t0_intensity}, {s.t0_plan}"
                 + (f", up to {pct(share, 0)} of the position." if share else "."))
    if s.plan_reason:
        parts.append(f"Plan: {s.plan_reason}")
    if s.blocked_models:
        parts.append("Blocked by the out-of-sample research: " + ", ".join(sorted(s.blocked_models))
                     + (" (the T+0 rule itself: no T+0 advice)." if "combined" in s.blocked_models
                        else "."))
    return " ".join(parts)


__all__ = ["DEVIATION_Z", "FORECAST_COLUMNS", "MODELS", "NAME_PREFIX",
           "build_intraday_signal", "explain_intraday", "intraday_plan", "intraday_stretch", "model_configs", "signal_horizon",
           "walk_forward_forecasts"]
