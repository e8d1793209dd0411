"""T+0 (做T) research: every intraday series, every signal variant, out of sample only.

For each intraday series the shared data has, the three intraday models are
refitted per walk-forward window (:func:`tzero.signals.intraday.walk_forward_forecasts`),
their out-of-sample forecasts are turned into bar actions by each variant of
:data:`T0_VARIANTS` (:func:`t0_actions`), and the actions are traded by the
T+0 simulator (:func:`tzero.backtest.t0.simulate_t0`) around a held base
position under the A-share rules and costs. The same variants run on each
window's in-sample path only to measure decay. Every figure a verdict rests on
comes from the out-of-sample bars.

Daily return of a T+0 variant (decimal): the day's net T+0 P&L (after fees)
over the value of the base position at the previous close — the return *in
excess of simply holding* the shares, which is what 做T adds. Its sum over a
year is the cost-basis reduction the trader asks for.

Variants (spec 000 §5.1 layered roles; ``naive`` is the model-free baseline):

================  =============================================================
``naive``         model-free intraday reversal: sell a leg when the bar closes
                  ``x`` above the day's open, buy one when it closes ``x`` below
                  (a sell-first leg is bought back, or a buy-first leg opened)
``hmm``           HMM filter alone: sell in a liquid sell-dominated state, buy
                  in a liquid buy-dominated one
``lstm``          LSTM timing alone: sell when P(up over the next bars) <
                  0.5 − margin, buy when > 0.5 + margin
``arima``         ARIMA anchor alone: sell when the price is ``z`` σ above its
                  equilibrium, buy when ``z`` σ below
``combined``      HMM filter (no new leg in ``pause``; ``conservative`` needs
                  twice the margin) + LSTM timing agreeing with the ARIMA anchor
================  =============================================================
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.backtest.costs import CostModel
from tzero.backtest.metrics import performance, sharpe
from tzero.backtest.t0 import T0Config, simulate_t0
from tzero.data.bars import resample_minutes
from tzero.errors import DataFormatError
from tzero.training.executor import Executor

log = logging.getLogger(__name__)

#: The value of the held base position each simulation starts from (CNY).
BASE_VALUE_CNY = 1_000_000.0
#: Share of the base position traded per leg.
LEG_FRACTION = 1 / 3


@dataclass(frozen=True)
class T0Variant:
    """One tried T+0 signal variant.

    Attributes:
        name: unique label, e.g. ``lstm-m0.05``.
        rule: which signal drives it (``naive|hmm|lstm|arima|combined``, see
            the module docstring).
        params: thresholds: ``x`` (naive, decimal), ``margin`` (probability),
            ``z`` (σ), ``round_trips`` (max per day).
    """

    name: str
    rule: str
    params: dict = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The name verdicts are stored under: ``naive`` or ``intraday_<rule>``.

        Intraday models are namespaced so a T+0 verdict never blocks the daily
        forecaster of the same family (:func:`intraday_blocked` maps them back).
        """
        return "naive" if self.rule == "naive" else f"intraday_{self.rule}"


#: The intraday models each rule reads, by their keys in :data:`tzero.signals.intraday.MODELS`.
RULE_MODELS: dict[str, tuple[str, ...]] = {"naive": (), "hmm": ("hmm",), "lstm": ("lstm",),
                                           "arima": ("arima",),
                                           "combined": ("hmm", "lstm", "arima")}


def rule_models(model: str) -> tuple[str, ...]:
    """The table names of the intraday models a variant stored under ``model`` reads.

    ``model`` is :attr:`T0Variant.model`: ``intraday_combined`` reads
    ``intraday_hmm``, ``intraday_lstm`` and ``intraday_arima``; ``naive`` none.
    """
    return tuple(f"intraday_{k}" for k in RULE_MODELS.get(model.removeprefix("intraday_"), ()))


T0_VARIANTS: tuple[T0Variant, ...] = (
    T0Variant("naive-x0.5%", "naive", {"x": 0.005, "round_trips": 1}),
    T0Variant("hmm-flow", "hmm", {"round_trips": 1}),
    T0Variant("lstm-m0.05", "lstm", {"margin": 0.05, "round_trips": 1}),
    T0Variant("lstm-m0.10", "lstm", {"margin": 0.10, "round_trips": 1}),
    T0Variant("arima-z1.5", "arima", {"z": 1.5, "round_trips": 1}),
    T0Variant("arima-z2.0", "arima", {"z": 2.0, "round_trips": 1}),
    T0Variant("combined", "combined", {"margin": 0.05, "z": 0.5, "round_trips": 1}),
    T0Variant("combined-2rt", "combined", {"margin": 0.05, "z": 0.5, "round_trips": 2}),
)


@dataclass
class IntradaySeries:
    """One intraday series to research.

    Attributes:
        label: display name. ts_code: the code traded (rules and fees follow it).
        bars: 1-minute (or 5-minute) Bars frame of ``ts_code``.
        source: the file it was read from. note: caveats shown in the report.
    """

    label: str
    ts_code: str
    bars: pd.DataFrame
    source: str
    note: str = ""


def shared_intraday_series(data_dir: Path) -> tuple[list[IntradaySeries], list[dict]]:
    """Every intraday series of the shared data, plus those that cannot be researched.

    - ``688001.SH`` 1-minute bars (``tdx/vipdoc/sh/minline/sh688001.lc1``, STAR:
      200-share minimum, ±20%); its ``.lc5`` holds 3 of the same days.
    - ``600009.SH`` 1-minute bars (``intraday/SSE.600009Q_m1.csv``), forward-adjusted
      by the vendor: lots and fees are computed on adjusted prices (a small error).
    - The SSE Composite 1-minute bars (``intraday/000001.XSHG_1min.zip``): an index
      cannot be traded, so it stands in for an index ETF (上证指数ETF
      ``510210.SH``): prices = index points / 1000, fund rules (no stamp duty,
      lot 100, ±10%). Real ETF prices differ; the returns are the index's.
    - The trade-by-trade files hold one or two days each: no train window, so
      they are listed as not researched (their flow features feed the HMM tests).

    Returns:
        ``(series, skipped)``; ``skipped`` rows have ``label, source, reason``.

    Raises:
        DataFormatError: a file exists but cannot be read.
    """
    from tzero.data.tables import read_minute_csv, read_trades_table
    from tzero.data.tdx import read_lc

    out: list[IntradaySeries] = []
    lc1 = data_dir / "tdx" / "vipdoc" / "sh" / "minline" / "sh688001.lc1"
    if lc1.is_file():
        b = read_lc(lc1)
        out.append(IntradaySeries("688001.SH 1m (TDX .lc1)", "688001.SH", b, str(lc1),
                                  f"{b['trade_time'].dt.normalize().nunique()} days only"))
    csv = data_dir / "intraday" / "SSE.600009Q_m1.csv"
    if csv.is_file():
        out.append(IntradaySeries("600009.SH 1m (qfq CSV)", "600009.SH", read_minute_csv(csv),
                                  str(csv), "vendor forward-adjusted prices"))
    idx = data_dir / "intraday" / "000001.XSHG_1min.zip"
    if idx.is_file():
        b = read_minute_csv(idx)
        for c in ("open", "high", "low", "close"):
            b[c] = b[c] / 1000.0
        b["ts_code"] = "510210.SH"
        out.append(IntradaySeries("SSE Composite 1m as index ETF 510210.SH", "510210.SH", b,
                                  str(idx), "index points / 1000 traded as an ETF proxy"))
    skipped = []
    for f in sorted((data_dir / "trades").glob("*")):
        try:
            t = read_trades_table(f)
        except DataFormatError as exc:
            skipped.append({"label": f.name, "source": str(f), "reason": f"unreadable: {exc}"})
            continue
        days = t["trade_time"].dt.normalize().nunique()
        skipped.append({"label": f.name, "source": str(f),
                        "reason": f"{t['ts_code'].nunique()} symbols × {days} day(s) of trades: "
                                  "too short for a train window"})
    return out, skipped


# --------------------------------------------------------------------------- actions
def _col(fc: pd.DataFrame, name: str) -> np.ndarray:
    return fc[name].to_numpy(float) if name in fc.columns else np.full(len(fc), np.nan)


def _naive(fc: pd.DataFrame, bars: pd.DataFrame, p: dict) -> tuple[np.ndarray, np.ndarray]:
    day = pd.DatetimeIndex(bars["trade_time"]).normalize()
    day_open = bars.groupby(day)["open"].transform("first").to_numpy(float)
    r = bars["close"].to_numpy(float) / day_open - 1
    return r > p["x"], r < -p["x"]


def _hmm(fc: pd.DataFrame, bars: pd.DataFrame, p: dict) -> tuple[np.ndarray, np.ndarray]:
    state = fc["hmm_state"].astype("string").fillna("") if "hmm_state" in fc else pd.Series([""] * len(fc))
    return (state == "liquid-sell").to_numpy(bool), (state == "liquid-buy").to_numpy(bool)


def _lstm(fc: pd.DataFrame, bars: pd.DataFrame, p: dict) -> tuple[np.ndarray, np.ndarray]:
    pu = _col(fc, "lstm_prob_up")
    return pu < 0.5 - p["margin"], pu > 0.5 + p["margin"]


def _arima(fc: pd.DataFrame, bars: pd.DataFrame, p: dict) -> tuple[np.ndarray, np.ndarray]:
    dev = _col(fc, "arima_dev")
    return dev > p["z"], dev < -p["z"]


def _combined(fc: pd.DataFrame, bars: pd.DataFrame, p: dict) -> tuple[np.ndarray, np.ndarray]:
    pu, dev = _col(fc, "lstm_prob_up"), _col(fc, "arima_dev")
    inten = fc["hmm_intensity"].astype("string").fillna("normal") if "hmm_intensity" in fc \
        else pd.Series(["normal"] * len(fc))
    margin = np.where((inten == "conservative").to_numpy(bool), 2 * p["margin"], p["margin"])
    ok = (inten != "pause").to_numpy(bool)
    return ok & (pu < 0.5 - margin) & (dev > p["z"]), ok & (pu > 0.5 + margin) & (dev < -p["z"])


_RULES: dict[str, Callable] = {"naive": _naive, "hmm": _hmm, "lstm": _lstm, "arima": _arima,
                               "combined": _combined}


def t0_actions(fc: pd.DataFrame, bars: pd.DataFrame, variant: T0Variant) -> np.ndarray:
    """Bar actions of a variant from the forecasts made at each bar's close.

    Args:
        fc: forecast rows aligned to ``bars`` (same length and order; columns of
            :data:`tzero.signals.intraday.FORECAST_COLUMNS`; NaN = no forecast).
        bars: the bars the simulator trades (same rows).
        variant: the rule and its thresholds.

    Returns:
        int8 ``[N]``: −1 sell a leg, +1 buy a leg, 0 nothing (a NaN forecast is 0).

    Raises:
        ValueError: unknown variant model or misaligned inputs.
    """
    if len(fc) != len(bars):
        raise ValueError(f"forecasts ({len(fc)}) and bars ({len(bars)}) must be aligned")
    rule = _RULES.get(variant.rule)
    if rule is None:
        raise ValueError(f"unknown T+0 variant rule {variant.rule!r}: expected {sorted(_RULES)}")
    sell, buy = rule(fc, bars, variant.params)
    out = np.zeros(len(bars), np.int8)
    out[np.asarray(buy, bool)] = 1
    out[np.asarray(sell, bool)] = -1
    return out


# ------------------------------------------------------------------------- simulation
def t0_config(ts_code: str, price: float, variant: T0Variant, costs: CostModel) -> T0Config:
    """The simulation settings: a base position worth :data:`BASE_VALUE_CNY` at ``price``,
    legs of :data:`LEG_FRACTION` of it, rounded to 100-share lots."""
    base = max(int(BASE_VALUE_CNY / price / 100) * 100, 300)
    return T0Config(base_shares=base, leg_shares=max(int(base * LEG_FRACTION / 100) * 100, 200),
                    max_round_trips=int(variant.params.get("round_trips", 1)), costs=costs)


def _simulate(bars: pd.DataFrame, fc: pd.DataFrame, variant: T0Variant, costs: CostModel,
              prev_close: float | None):
    cfg = t0_config(str(bars["ts_code"].iloc[0]), float(bars["open"].iloc[0]), variant, costs)
    res = simulate_t0(bars, t0_actions(fc, bars, variant), cfg, prev_close=prev_close)
    d = res.daily
    base_prev = np.r_[cfg.base_shares * res.initial_cost, d["hold_equity"].to_numpy(float)[:-1]]
    rets = pd.Series(d["t0_pnl"].to_numpy(float) / base_prev, index=pd.DatetimeIndex(d["trade_date"]))
    return res, rets


def _metrics(results: list, rets: list[pd.Series], n_trials: int,
             trial_sharpes: list[float] | None = None) -> dict:
    r = pd.concat(rets) if rets else pd.Series(dtype=float)
    pnl = np.concatenate([x.round_trip_pnl for x in results]) if results else np.zeros(0)
    fees = float(sum(x.daily["fees"].sum() for x in results))
    traded = sum(float((x.trades["price"] * x.trades["shares"]).sum()) for x in results)
    base = sum(x.base_shares * x.initial_cost for x in results) / max(len(results), 1)
    turnover = traded / base / max(len(r), 1) if base else float("nan")
    m = performance(r, trades=pd.DataFrame({"pnl": pnl}), fees=fees, turnover=turnover,
                    n_trials=n_trials, trial_sharpes=trial_sharpes)
    m["round_trips"] = int(len(pnl))
    m["cost_basis_reduction_annual"] = float(r.sum() / max(len(r), 1) * 242) if len(r) else float("nan")
    return m


def intraday_blocked(blocked: dict[str, str]) -> dict[str, str]:
    """Research-blocked models as the intraday signal names them.

    ``intraday_lstm`` → ``lstm`` etc.; ``intraday_combined`` → ``combined``
    (the layered T+0 plan itself: the intraday signal then advises no T+0).
    Daily and top-k names are dropped.
    """
    return {k.removeprefix("intraday_"): v for k, v in blocked.items() if k.startswith("intraday_")}


def _aligned(bars5: pd.DataFrame, fc: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in fc.columns if c not in ("ts_code", "close", "window", "sample")]
    return bars5[["trade_time"]].merge(fc[cols], on="trade_time", how="left")


def run_series(series: IntradaySeries, forecasts: pd.DataFrame, variants=T0_VARIANTS,
               costs: CostModel | None = None, freq: str = "5m") -> list[dict]:
    """Simulate every variant on one series' OOS bars (and per-window IS bars).

    Args:
        series: the series (its bars are resampled to ``freq``).
        forecasts: :func:`walk_forward_forecasts` output with ``in_sample=True``.
        variants: the variants to try.
        costs: the cost model (default: A-share costs from the settings' defaults).

    Returns:
        One dict per variant: ``variant, model, params, series, oos`` (a dict with
        ``returns`` Series, ``results`` list of T0Result) and ``is`` likewise.
    """
    costs = costs or CostModel()
    b5 = resample_minutes(series.bars, freq).reset_index(drop=True)
    oos_fc = forecasts.loc[forecasts["sample"] == "oos"]
    days = pd.DatetimeIndex(b5["trade_time"]).normalize()
    oos_days = pd.DatetimeIndex(oos_fc["trade_time"]).normalize().unique()
    oos_bars = b5.loc[days.isin(oos_days)].reset_index(drop=True)
    first = oos_bars["trade_time"].iloc[0].normalize() if len(oos_bars) else None
    prev = b5.loc[days < first, "close"] if first is not None else pd.Series(dtype=float)
    prev_close = float(prev.iloc[-1]) if len(prev) else None
    out = []
    for v in variants:
        row = {"variant": v.name, "model": v.model, "params": v.params, "series": series.label}
        if len(oos_bars):
            res, rets = _simulate(oos_bars, _aligned(oos_bars, oos_fc), v, costs, prev_close)
            row["oos"] = {"results": [res], "returns": [rets]}
        else:
            row["oos"] = {"results": [], "returns": []}
        row["is"] = {"results": [], "returns": []}
        for _, g in forecasts.loc[forecasts["sample"] == "is"].groupby("window"):
            wd = pd.DatetimeIndex(g["trade_time"]).normalize().unique()
            wb = b5.loc[days.isin(wd)].reset_index(drop=True)
            if len(wb) < 2:
                continue
            res, rets = _simulate(wb, _aligned(wb, g), v, costs, None)
            row["is"]["results"].append(res)
            row["is"]["returns"].append(rets.reset_index(drop=True))  # windows overlap in time
        out.append(row)
    return out


def forecasts_cached(series: IntradaySeries, cache_dir: Path, *, freq: str = "5m", train_days: int,
                     test_days: int, seed: int, fast: bool = True,
                     executor: Executor | None = None) -> pd.DataFrame:
    """:func:`walk_forward_forecasts` (with in-sample paths) of a series, cached as Parquet.

    The key hashes every column of the bars, the frequency, the window sizes,
    the seed, the model configurations and the source of the intraday models,
    so a changed input, setting or model recomputes. ``executor`` runs the windows
    (one task each, :mod:`tzero.training.executor`; None: in this process).
    """
    from tzero import __version__
    from tzero.signals import intraday
    from tzero.signals.intraday import walk_forward_forecasts

    b = series.bars
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(b, index=False).to_numpy().tobytes())
    h.update(json.dumps([freq, train_days, test_days, seed, fast, __version__]).encode())
    h.update(repr(intraday.model_configs(fast, seed, freq)).encode())
    for mod in (intraday, *_model_modules()):   # a code change recomputes
        h.update(Path(mod.__file__).read_bytes())
    path = cache_dir / f"{series.ts_code}-{freq}-{h.hexdigest()[:16]}.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    fc = walk_forward_forecasts(b, freq=freq, train_days=train_days, test_days=test_days, seed=seed,
                                fast=fast, in_sample=True, executor=executor)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fc.to_parquet(tmp)
    tmp.replace(path)
    return fc


def _model_modules():
    """The modules whose code shapes the intraday forecasts (the cache key hashes them):
    the intraday models of the model table, what they build on, and the signal policy
    (the HMM state → T+0 intensity)."""
    import importlib

    from tzero.features import intraday as features
    from tzero.models import arima, base, hmm, lstm_nets, table
    from tzero.signals import policy
    from tzero.training import loop, trainer, windows

    models = tuple(importlib.import_module(s.cls.__module__) for s in table.specs(frequency="intraday"))
    return (*models, base, arima, hmm, lstm_nets, loop, trainer, windows, features, policy)


def window_sizes(n_days: int) -> tuple[int, int]:
    """``(train_days, test_days)`` for a series of ``n_days`` sessions.

    Long series (≥ 250 days) use 60 train / 20 test days; shorter ones the
    largest train part leaving at least three test parts (never below 4 days).
    """
    if n_days >= 250:
        return 60, 20
    test = max(2, n_days // 8)
    train = max(4, min(40, n_days - 3 * test))
    return train, test


def summarise(rows: list[dict], n_trials: int) -> list[dict]:
    """OOS and IS metrics of every simulated variant (one yardstick).

    DSR's N is ``n_trials`` (every variant the family tried, on every series);
    its V comes from the trial Sharpe ratios *of the same series* (the same
    out-of-sample days), since Sharpe ratios estimated over 6 and 940 days
    have very different noise (floored at the null variance, see
    :func:`tzero.backtest.metrics.performance`).
    """
    by_series: dict[str, list[float]] = {}
    for r in rows:
        if r["oos"]["returns"]:
            sr = sharpe(pd.concat(r["oos"]["returns"]))
            if math.isfinite(sr):
                by_series.setdefault(r["series"], []).append(sr)
    out = []
    for r in rows:
        r2 = {k: v for k, v in r.items() if k not in ("oos", "is")}
        returns = r["oos"]["returns"]
        srs = by_series.get(r["series"], [])
        r2["oos_metrics"] = _metrics(r["oos"]["results"], returns, n_trials,
                                     srs if len(srs) > 1 else None)
        r2["is_metrics"] = _metrics(r["is"]["results"], r["is"]["returns"], n_trials) \
            if r["is"]["results"] else None
        r2["equity"] = (pd.concat(returns).sort_index().cumsum() if returns else pd.Series(dtype=float))
        out.append(r2)
    return out
