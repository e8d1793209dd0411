"""Daily research: the served daily models as position timing around held base positions.

The three daily models that vote in the served Signal (LSTM timing, ARIMA
anchor, HMM regime; :mod:`tzero.signals.engine`) are judged here out of sample,
the daily analogue of 做T (:mod:`tzero.research.t0`):

- every holding starts with a base position worth :data:`BASE_VALUE_CNY` at the
  open of the first simulated session (lots by :func:`tzero.market.rules.round_buy`);
- after each session's close *t* a model forecasts the next
  :data:`HORIZON` sessions from bars ``<= t`` only. Bearish (``prob_up <
  0.5 − margin``) sets the target to ``(1 − f)`` of the base, bullish
  (``prob_up > 0.5 + margin``) back to the base; in between the target is
  kept (hysteresis, as in the T+0 variants);
- the order fills at the **open of t+1** (:meth:`CostModel.fill_price`
  slippage, :meth:`CostModel.fees`: commission with its 5 CNY minimum, stamp
  duty on sells, transfer fee), refused when that open is at limit-down (sell)
  or limit-up (buy) of the board's band around the ex-date reference of the
  previous raw close (``prev_close × f_prev / f_t``, as in
  :mod:`tzero.backtest.topk`), or when the stock has no bar (suspended). A
  refused order is retried at the next open while the target stands.

Prices and corporate actions: fills, limits, lots and fees use **unadjusted**
prices. At an ex-date (hfq ``adj_factor`` ``f_prev → f_t``) both the variant's
and the buy-and-hold shares are multiplied by ``f_t / f_prev`` (dividends and
bonus shares reinvested at the reference price, as :mod:`tzero.backtest.topk`
does), so a dividend or split creates no false P&L. The models read **hfq**
bars: every model input is a return, a ratio or a min-max normalisation, so
hfq and the served qfq give the same features, and hfq at *t* depends on no
factor after *t* (qfq is anchored on the last stored factor).

Daily return of a variant (decimal): the change of ``(variant equity −
buy-and-hold equity)`` on day *t* over the buy-and-hold value at *t−1*,
summed over the holdings (numerator and denominator), i.e. the return **in
excess of simply holding** the book, as for T+0. Cash earns nothing.
Trades (the min-trades gate) are filled orders.

The simulator (fills, refusals, ex-date share adjustment) lives in
:mod:`tzero.research.daily_sim`; its names are re-exported here.

Walk-forward (:func:`tzero.backtest.walkforward.rolling_windows`): train
:data:`DAILY_TRAIN` sessions (a symbol with less history uses what it has,
at least :data:`DAILY_MIN_TRAIN`), gap :data:`DAILY_GAP` (the label horizon),
test :data:`DAILY_TEST`. Every model is refitted per window on bars up to the
train end only; the test sessions' forecasts are out of sample. In-sample
metrics (decay gate only) come from the same variant simulated over each
window's train sessions with the model fitted there.

A model that cannot be fitted (or cannot forecast) on one holding in one
window leaves that window untimed (its base position held) and is recorded
(:mod:`tzero.research.failures`); the run goes on, and each variant that reads
the model says how many of its holding × windows failed.

Variants (:data:`DAILY_VARIANTS`; the DSR's N counts them):

==============  ==============================================================
``lstm``        the LSTM direction head's ``prob_up`` over 5 sessions
``arima``       ARIMA's ``prob_up`` of the 5-session cumulative return
``hmm``         HMM's ``prob_up`` of the 5-session cumulative return (filtered
                state probabilities)
``combined``    the served Signal's ``prob_up`` (mean of the three models'
                ``prob_up``, :func:`tzero.signals.signal.build_signal`)
``momentum``    naive baseline: sell when the last 5-session return < −x, back
                to base when > x
==============  ==============================================================
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tzero.backtest.costs import CostModel
from tzero.backtest.metrics import performance, sharpe
from tzero.backtest.walkforward import Window, rolling_windows
from tzero.models.arima import ArimaForecaster
from tzero.models.base import recoverable
from tzero.models.hmm import HmmForecaster
from tzero.models.lstm import LstmForecaster
from tzero.research import failures as fit_failures
from tzero.research.daily_paths import (
    HORIZON,
    arima_path,
    fit_lstm,
    hmm_path,
    lstm_path,
    momentum_path,
)
from tzero.research.daily_sim import (  # noqa: F401  (the simulator's names, re-exported)
    BASE_VALUE_CNY,
    DailyMarket,
    TimingResult,
    daily_market,
    simulate_timing,
)
from tzero.training.executor import Executor, LocalExecutor

log = logging.getLogger(__name__)

#: Walk-forward sessions: train part, smallest train part accepted, test part, gap.
DAILY_TRAIN, DAILY_MIN_TRAIN, DAILY_TEST, DAILY_GAP = 480, 250, 121, HORIZON
#: Bars before a train part given to the fit for feature warm-up (LSTM: 93 rows).
WARMUP_SESSIONS = 150
#: The served daily models this family judges (names from their classes, the model table's).
LSTM, ARIMA, HMM = LstmForecaster.name, ArimaForecaster.name, HmmForecaster.name
#: Models refitted per window.
MODELS = (LSTM, ARIMA, HMM)
#: Forecast columns, one per rule (NaN = no forecast that day).
FORECAST_COLUMNS = (*MODELS, "combined", "momentum")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DailyVariant:
    """One tried daily timing variant.

    Attributes:
        name: unique label, e.g. ``lstm-m0.05``.
        rule: forecast column driving it (one of :data:`FORECAST_COLUMNS`); also the
            model name verdicts are stored under (``lstm``, ``arima``, ``hmm`` are
            the served daily models, ``combined`` the Signal; the ``momentum``
            baseline is stored as ``daily_momentum``).
        params: ``margin`` (probability, prob rules) or ``x`` (decimal 5-session
            return, momentum), and ``f`` (share of the base sold when bearish).
    """

    name: str
    rule: str
    params: dict = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name of the verdict: the rule, except the baseline, stored as
        ``daily_momentum`` so it never merges with the top-k ``momentum`` score."""
        return "daily_momentum" if self.rule == "momentum" else self.rule


DAILY_VARIANTS: tuple[DailyVariant, ...] = (
    DailyVariant("lstm-m0.05", LSTM, {"margin": 0.05, "f": 0.5}),
    DailyVariant("lstm-m0.10", LSTM, {"margin": 0.10, "f": 0.5}),
    DailyVariant("arima-m0.02", ARIMA, {"margin": 0.02, "f": 0.5}),
    DailyVariant("arima-m0.05", ARIMA, {"margin": 0.05, "f": 0.5}),
    DailyVariant("hmm-m0.02", HMM, {"margin": 0.02, "f": 0.5}),
    DailyVariant("hmm-m0.05", HMM, {"margin": 0.05, "f": 0.5}),
    DailyVariant("combined-m0.03", "combined", {"margin": 0.03, "f": 0.5}),
    DailyVariant("combined-m0.06", "combined", {"margin": 0.06, "f": 0.5}),
    DailyVariant("momentum-x2%", "momentum", {"x": 0.02, "f": 0.5}),
    DailyVariant("momentum-x5%", "momentum", {"x": 0.05, "f": 0.5}),
)


# ----------------------------------------------------------------------------- actions
def targets(forecast: np.ndarray, variant: DailyVariant) -> np.ndarray:
    """Target position (fraction of the base) decided at each close.

    Args:
        forecast: ``[T]`` the variant's forecast column: ``prob_up`` (probability)
            for the model rules, a 5-session return (decimal) for the return
            rules (``params["x"]``: momentum's past return, or any model's
            expected return in ``tzero compare``); NaN = no forecast.
        variant: rule and thresholds.

    Returns:
        float ``[T]``: ``1 − f`` when bearish, ``1.0`` when bullish, NaN (keep
        the current target) otherwise.

    Raises:
        ValueError: unknown rule.
    """
    p = variant.params
    if variant.rule not in FORECAST_COLUMNS and "x" not in p:
        raise ValueError(f"unknown daily rule {variant.rule!r}: expected {list(FORECAST_COLUMNS)} "
                         "or a return rule with params['x']")
    x = np.asarray(forecast, float)
    if "x" in p:                         # a return rule: momentum, or a model's expected return
        bear, bull = x < -p["x"], x > p["x"]
    else:
        bear, bull = x < 0.5 - p["margin"], x > 0.5 + p["margin"]
    out = np.full(len(x), np.nan)
    out[bull] = 1.0
    out[bear] = 1.0 - p["f"]
    return out


# -------------------------------------------------------------------------- forecasts
def _window_fit(code: str, bars: pd.DataFrame, w: Window, models: tuple[str, ...], lstm_config,
                seed: int, hmm_config=None) -> tuple[pd.DataFrame, list[dict]]:
    """Forecasts of one symbol in one window: its test sessions (oos) and train sessions (is).

    The fit sees bars ``<= w.train_end`` only (at most ``DAILY_TRAIN +
    WARMUP_SESSIONS``); forecasts at t read bars ``<= t`` only. A model whose fit
    or forecast fails here (:func:`tzero.models.base.recoverable`) has NaN
    forecasts in this window and a :func:`~tzero.research.failures.fit_failure`.

    Returns:
        ``(frame, failures)``; the frame is empty (no failure) when the symbol
        has too little history before the window.
    """
    t = pd.DatetimeIndex(bars["trade_time"])
    fit_bars = bars.loc[t <= w.train_end].tail(DAILY_TRAIN + WARMUP_SESSIONS).reset_index(drop=True)
    if len(fit_bars) < DAILY_MIN_TRAIN:             # a symbol listed too recently
        return pd.DataFrame(), []
    pred = bars.loc[t <= w.test_end].tail(len(fit_bars) + 2 * DAILY_TEST).reset_index(drop=True)
    pt = pd.DatetimeIndex(pred["trade_time"])
    is_days = pt[(pt >= max(w.train_start, fit_bars["trade_time"].iloc[0])) & (pt <= w.train_end)]
    oos_days = pt[(pt >= w.test_start) & (pt <= w.test_end)]
    when = is_days.append(oos_days)
    fc = pd.DataFrame(index=when)
    fc["momentum"] = momentum_path(pred).reindex(when)
    hmm_cfg = hmm_config if hmm_config is not None else HmmForecaster.default_config(seed=seed)
    fitters = {
        LSTM: lambda: lstm_path(fit_lstm(fit_bars, lstm_config, seed), pred).reindex(when),
        ARIMA: lambda: arima_path(ArimaForecaster().fit(fit_bars), code, pred, when),
        HMM: lambda: hmm_path(HmmForecaster(hmm_cfg).fit(fit_bars), code, pred, when),
    }
    failed: list[dict] = []
    for name in models:
        try:
            fc[name] = fitters[name]().to_numpy()
        except Exception as exc:          # that model's failure in this window, not the run's
            if not recoverable(exc):
                raise
            failed.append(fit_failures.fit_failure("daily", code, name, w.index, exc))
            fc[name] = np.nan
    for name in MODELS:
        if name not in fc:
            fc[name] = np.nan
    votes = fc[list(MODELS)]                        # the Signal's prob_up: mean of the votes
    fc["combined"] = votes.mean(axis=1, skipna=True)
    fc["sample"] = ["is"] * len(is_days) + ["oos"] * len(oos_days)
    fc["window"] = w.index
    fc["ts_code"] = code
    return fc.rename_axis("trade_date").reset_index(), failed


def _with_failures(frames: list[pd.DataFrame], failed: list[dict]) -> pd.DataFrame:
    """The frames concatenated, ``attrs["failures"]`` = the failure records."""
    frames = [f for f in frames if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out.attrs = {"failures": list(failed)}
    return out


def symbol_forecasts(code: str, bars: pd.DataFrame, windows: list[Window], *,
                     models: tuple[str, ...] = MODELS, lstm_config=None, seed: int = 42,
                     hmm_config=None) -> pd.DataFrame:
    """Walk-forward forecasts of one symbol (every window, in and out of sample).

    Args:
        code: the ts_code.
        bars: hfq daily Bars of ``code`` (sorted by ``trade_time``).
        windows: walk-forward windows over sessions.
        models: which of :data:`MODELS` to fit (others are NaN).
        lstm_config: an :class:`~tzero.models.lstm.LstmConfig` (None: the served
            fast LSTM, ``LstmForecaster.default_config(fast=True, seed=seed)``).
        seed: model seed.
        hmm_config: an :class:`~tzero.models.hmm.HmmConfig` (None: the default).

    Returns:
        Long frame ``trade_date, ts_code, window, sample`` (``is``/``oos``) and one
        column per :data:`FORECAST_COLUMNS` (``prob_up`` or the 5-session return;
        NaN where a model could not forecast). Empty when no window fits.
        ``attrs["failures"]``: one record per model fit that failed.
    """
    import torch

    torch.set_num_threads(1)
    bars = bars.sort_values("trade_time").reset_index(drop=True)
    done = [_window_fit(code, bars, w, models, lstm_config, seed, hmm_config) for w in windows]
    return _with_failures([f for f, _ in done], [x for _, bad in done for x in bad])


def _window_task(task: tuple[str, int], shared: tuple) -> tuple[pd.DataFrame, list[dict]]:
    """One (symbol, window) fit of :func:`walk_forward_forecasts` (a task of the executor)."""
    import torch

    torch.set_num_threads(1)
    (code, k), (bars, windows, models, lstm_config, seed, hmm_config) = task, shared
    return _window_fit(code, bars[code], windows[k], models, lstm_config, seed, hmm_config)


def walk_forward_forecasts(hfq: pd.DataFrame, windows: list[Window], *, models=MODELS,
                           lstm_config=None, seed: int = 42, n_jobs: int = 1,
                           progress: Progress | None = None, hmm_config=None,
                           executor: Executor | None = None) -> pd.DataFrame:
    """:func:`symbol_forecasts` of every symbol of ``hfq``, one task per (symbol, window)
    on ``executor`` (None: ``LocalExecutor(n_jobs)``); the bars travel once (the tasks'
    shared input). Each fit is seeded from ``seed``, parts are joined in (symbol, window)
    order: the frame does not depend on the executor.

    Returns:
        The concatenated long frame (see :func:`symbol_forecasts`), with every
        symbol's failure records in ``attrs["failures"]``.
    """
    bars = {str(c): g.sort_values("trade_time").reset_index(drop=True)
            for c, g in hfq.groupby("ts_code", sort=True)}
    tasks = [(c, k) for c in bars for k in range(len(windows))]
    parts: list = [None] * len(tasks)
    left = dict.fromkeys(bars, len(windows))
    shared = (bars, list(windows), tuple(models), lstm_config, seed, hmm_config)
    run = (executor or LocalExecutor(n_jobs)).map(_window_task, tasks, shared=shared)
    with contextlib.closing(run):
        for res in run:                    # as each finishes; a fatal error ends the run
            parts[res.index], code = res.get(), tasks[res.index][0]
            left[code] -= 1
            if not left[code]:
                _note(progress, f"daily: {code}: forecasts done")
    failed = [f for _, bad in parts for f in bad]
    for f in failed:
        _note(progress, f"daily: {f['series']}: {f['model']} window {f['window']} failed: "
                        f"{f['reason']}")
    return _with_failures([f for f, _ in parts], failed)


def _note(progress: Progress | None, msg: str) -> None:
    log.info(msg)
    if progress:
        progress(msg)


# ----------------------------------------------------------------------- simulation
def simulate_book(fc: pd.DataFrame, market: DailyMarket, variant: DailyVariant,
                   costs: CostModel, days: pd.DatetimeIndex) -> dict:
    """Every holding of ``market`` timed over ``days``; the book's excess returns."""
    grid = market.days.get_indexer(days)
    pnl = np.zeros(len(days))
    hold_prev = np.zeros(len(days))
    trades, fees, traded = [], 0.0, 0.0
    for j, code in enumerate(market.codes):
        col = (fc.loc[fc["ts_code"] == code].set_index("trade_date")[variant.rule]
               .reindex(days) if len(fc) else pd.Series(np.nan, index=days))
        res = simulate_timing(code, days, market.open[grid, j], market.close[grid, j],
                              market.factor[grid, j], market.has_bar[grid, j],
                              market.down[grid, j], market.up[grid, j],
                              targets(col.to_numpy(float), variant), costs=costs)
        if res.daily.empty:
            continue
        at = days.get_indexer(pd.DatetimeIndex(res.daily["trade_date"]))
        pnl[at] += res.daily["excess_pnl"].to_numpy()
        hold_prev[at] += res.daily["hold_prev"].to_numpy()
        if len(res.trades):
            trades.append(res.trades)
        fees += float(res.daily["fees"].sum())
        traded += float(res.daily["traded"].sum())
    ok = hold_prev > 0
    rets = pd.Series(pnl[ok] / hold_prev[ok], index=days[ok])
    tr = pd.concat(trades, ignore_index=True) if trades else pd.DataFrame({"pnl": []})
    turnover = traded / hold_prev[ok].sum() if ok.any() else float("nan")
    return {"returns": rets, "trades": tr, "fees": fees, "turnover": turnover}


def simulate_variants(fc: pd.DataFrame, market: DailyMarket, variants=DAILY_VARIANTS,
                      costs: CostModel | None = None) -> list[dict]:
    """OOS and per-window IS book runs of every variant.

    Args:
        fc: :func:`walk_forward_forecasts` output.
        market: :func:`daily_market` of the holdings.
        variants: the variants to try.
        costs: the cost model (default ``CostModel()``).

    Returns:
        One dict per variant: ``variant, model, params, oos`` (book run dict:
        ``returns, trades, fees, turnover``) and ``is`` (list of such, one per window).
    """
    costs = costs or CostModel()
    oos_fc = fc.loc[fc["sample"] == "oos"] if len(fc) else fc
    oos_days = pd.DatetimeIndex(sorted(oos_fc["trade_date"].unique())) if len(fc) else \
        pd.DatetimeIndex([])
    out = []
    for v in variants:
        row = {"variant": v.name, "model": v.model, "params": dict(v.params),
               "oos": simulate_book(oos_fc, market, v, costs, oos_days), "is": []}
        for _, g in (fc.loc[fc["sample"] == "is"].groupby("window") if len(fc) else []):
            wd = pd.DatetimeIndex(sorted(g["trade_date"].unique()))
            if len(wd) > 1:
                row["is"].append(simulate_book(g, market, v, costs, wd))
        out.append(row)
    return out


def _metrics(run: dict, n_trials: int, trial_sharpes=None) -> dict:
    m = performance(run["returns"], trades=run["trades"][["pnl"]], fees=run["fees"],
                    turnover=run["turnover"], n_trials=n_trials, trial_sharpes=trial_sharpes)
    m["excess_annual_return"] = m["annual_return"]
    return m


def summarise(rows: list[dict], series: str) -> list[dict]:
    """Rows in the shape of :func:`tzero.research.t0.summarise` (strategy ``daily``).

    DSR's N is the number of variants; its V the variance of their OOS Sharpe
    ratios (all run on the same holdings and sessions).

    Returns:
        ``strategy, variant, model, series, params, oos_metrics, is_metrics,
        equity`` (cumulative OOS excess return, Series by date) per variant.
    """
    n = len(rows)
    srs = [x for x in (sharpe(r["oos"]["returns"]) for r in rows) if math.isfinite(x)]
    out = []
    for r in rows:
        oos = _metrics(r["oos"], n, srs if len(srs) > 1 else None)
        is_m = None
        if r["is"]:
            runs = r["is"]
            rets = pd.concat([x["returns"].reset_index(drop=True) for x in runs], ignore_index=True)
            trades = pd.concat([x["trades"][["pnl"]] for x in runs if len(x["trades"])]
                               or [pd.DataFrame({"pnl": []})], ignore_index=True)
            is_m = performance(rets, trades=trades, fees=sum(x["fees"] for x in runs), n_trials=n)
        out.append({"strategy": "daily", "variant": r["variant"], "model": r["model"],
                    "series": series, "params": r["params"], "oos_metrics": oos,
                    "is_metrics": is_m, "equity": r["oos"]["returns"].sort_index().cumsum()})
    return out


# ------------------------------------------------------------------------------ entry
def load_daily_bars(store, codes: list[str], start=None, end=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(raw, hfq)`` daily bars of ``codes``; ``raw`` has an ``adj_factor`` column.

    Raises:
        StoreError: a code without stored bars, or raw/hfq rows not aligned.
    """
    from tzero.data.bars import read_bars
    from tzero.errors import StoreError

    raw = read_bars(store, codes, "1d", "none", start, end)
    hfq = read_bars(store, codes, "1d", "hfq", start, end)
    missing = sorted(set(codes) - set(raw["ts_code"]))
    if missing:
        raise StoreError(f"no daily bars in the store for {missing}; ingest them first "
                         "(`tzero ingest tdx DIR`)")
    if len(raw) != len(hfq):
        raise StoreError("raw and hfq daily bars are not row-aligned; re-ingest the store")
    raw = raw.assign(adj_factor=(hfq["close"] / raw["close"]).to_numpy())
    return raw, hfq


def daily_windows(sessions: pd.DatetimeIndex, start) -> list[Window]:
    """Walk-forward windows whose first test part starts at the first session ≥ ``start``."""
    sessions = pd.DatetimeIndex(sessions).unique().sort_values()
    s0 = int(sessions.searchsorted(pd.Timestamp(start))) if start is not None else 0
    lead = DAILY_TRAIN + DAILY_GAP
    first = max(0, s0 - lead)
    return rolling_windows(sessions[first:], DAILY_TRAIN, DAILY_TEST, gap=DAILY_GAP)


def run_daily_bars(raw: pd.DataFrame, hfq: pd.DataFrame, *, start="2019-01-01", end=None,
                   variants=DAILY_VARIANTS, models=MODELS, lstm_config=None, seed: int = 42,
                   costs: CostModel | None = None, n_jobs: int = 1,
                   progress: Progress | None = None, hmm_config=None,
                   executor: Executor | None = None) -> tuple[list[dict], pd.DataFrame]:
    """The daily family on given bars: forecasts, book runs, metrics.

    A model that cannot be fitted on one holding in one window leaves that
    window untimed and is recorded on the variants that read it (``failures``,
    ``fits``: :func:`tzero.research.failures.attach`); the run goes on.

    Args:
        raw: unadjusted daily Bars with ``adj_factor`` (hfq factor), all holdings,
            from well before ``start`` (train history).
        hfq: the same bars hfq-adjusted (what the models read).
        start, end: first and last OOS session (dates).
        variants, models, lstm_config, seed, hmm_config: what is tried and how
            it is fitted.
        costs: the cost model (default ``CostModel()``).
        n_jobs: (symbol, window) fits at once (processes) without ``executor``.
        executor: where the fits run (:mod:`tzero.training.executor`; None: local).

    Returns:
        ``(rows, forecasts)``: rows as :func:`summarise` plus ``failures`` and
        ``fits``, the forecast frame (``attrs["failures"]``: every failed fit).
    """
    if end is not None:
        raw = raw.loc[raw["trade_time"] <= pd.Timestamp(end)]
        hfq = hfq.loc[hfq["trade_time"] <= pd.Timestamp(end)]
    sessions = pd.DatetimeIndex(raw["trade_time"]).normalize().unique().sort_values()
    windows = daily_windows(sessions, start)
    if not windows:
        return [], pd.DataFrame()
    _note(progress, f"daily: {raw['ts_code'].nunique()} holdings, {len(windows)} windows "
                    f"{DAILY_TRAIN}/{DAILY_GAP}/{DAILY_TEST}, test {windows[0].test_start.date()}"
                    f"..{windows[-1].test_end.date()}")
    fc = walk_forward_forecasts(hfq, windows, models=models, lstm_config=lstm_config, seed=seed,
                                n_jobs=n_jobs, progress=progress, hmm_config=hmm_config,
                                executor=executor)
    codes = sorted(raw["ts_code"].unique())
    market = daily_market(raw, sessions, codes)
    rows = simulate_variants(fc, market, variants, costs)
    series = f"{len(codes)} holdings"
    out = summarise(rows, series)
    n_fits = len(fc[["ts_code", "window"]].drop_duplicates()) if len(fc) else 0
    reads = {v.name: _reads(v) for v in variants}
    for r in out:
        r["params"] = {**r["params"], "train": DAILY_TRAIN, "test": DAILY_TEST, "gap": DAILY_GAP,
                       "windows": len(windows), "codes": codes, "base_value": BASE_VALUE_CNY}
        fit_failures.attach(r, fc.attrs.get("failures", []), n_fits, reads[r["variant"]])
    return out, fc


def _reads(v: DailyVariant) -> tuple[str, ...]:
    """The models a variant's forecast column is made of (``combined``: all; momentum: none)."""
    return (v.rule,) if v.rule in MODELS else MODELS if v.rule == "combined" else ()


def run_daily_family(settings, *, codes: list[str] | None = None, start="2019-01-01", end=None,
                     progress: Progress | None = None, n_jobs: int | None = None,
                     lstm_config=None, hmm_config=None,
                     executor: Executor | None = None) -> list[dict]:
    """All daily timing variants on the holdings, walk-forward, out of sample.

    Args:
        settings: :class:`~tzero.settings.Settings` (store, costs, seed).
        codes: the holdings (default :data:`tzero.signals.engine.DEFAULT_HOLDINGS`).
        start: first OOS session (the train history before it is read too).
        end: last session (default: all stored).
        progress: ``progress(message)``.
        n_jobs: symbols fitted at once (default ``min(2, cpu count)``), in spawned
            processes: a script calling this needs the ``if __name__ == "__main__":`` guard.
        lstm_config: LSTM configuration override (tests); None = the served fast LSTM.
        hmm_config: HMM configuration override (tests); None = the default HMM.
        executor: where the fits run (:mod:`tzero.training.executor`; None: the
            local pool of ``n_jobs``).

    Returns:
        One row per variant, as :func:`tzero.research.t0.summarise`
        returns them, with ``strategy="daily"``, plus ``failures`` and ``fits``
        (:func:`tzero.research.failures.attach`).

    Raises:
        StoreError: a holding without stored daily bars.
    """
    from tzero.data.market_store import open_market_store
    from tzero.signals.engine import DEFAULT_HOLDINGS

    codes = list(codes or DEFAULT_HOLDINGS)
    lead = pd.Timestamp(start) - pd.DateOffset(years=3) if start is not None else None
    raw, hfq = load_daily_bars(open_market_store(settings), codes, lead, end)
    jobs = n_jobs if n_jobs is not None else max(1, min(2, os.cpu_count() or 1))
    rows, _ = run_daily_bars(raw, hfq, start=start, end=end, lstm_config=lstm_config,
                             seed=settings.seed, costs=CostModel.from_settings(settings),
                             n_jobs=jobs, progress=progress, hmm_config=hmm_config,
                             executor=executor)
    return rows
