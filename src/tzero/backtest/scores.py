"""Cross-sectional scores to rank stocks by, built walk-forward (spec 003 §3).

Kinds (higher score = more attractive):

- ``momentum``: 20-session return of the hfq close, the naive baseline;
- ``reversal``: minus the 5-session return (short-term reversal);
- ``ridge``: scikit-learn ``Ridge`` on the 21 daily features of
  :mod:`tzero.features.lstm_features`, target = the next-5-session hfq return
  demeaned across stocks that day. Refit for every walk-forward window on its
  train part only, using rows whose label ends before the window's test part
  (the label-horizon gap), and only stocks that were index members on the
  row's date; scores are produced for the test sessions only.

No look-ahead: the score at session t uses bars ≤ t only (features are causal,
the ridge sees labels that end before its test part starts).

All returns are on hfq (total-return) closes, so dividends and splits do not
look like price moves; the topk simulator gets the raw bars and the factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from tzero.backtest.walkforward import Window
from tzero.data.bars import read_bars
from tzero.data.store import MarketStore
from tzero.data.universe import membership_matrix, read_index_membership
from tzero.errors import StoreError
from tzero.features.lstm_features import FEATURE_NAMES, FORECAST_DAYS, lstm_features

KINDS = ("momentum", "reversal", "ridge")
MOMENTUM_SESSIONS = 20
"""Look-back of the momentum score, sessions."""
REVERSAL_SESSIONS = 5
"""Look-back of the reversal score, sessions."""
LABEL_HORIZON = FORECAST_DAYS
"""Ridge target horizon: the next 5 sessions (spec 002 §1 FORECAST_DAYS)."""
RIDGE_ALPHA = 1.0
"""L2 penalty of the ridge (on standardised features)."""
BENCHMARK_CODE = "000300.SH"


@dataclass(frozen=True)
class DailyPanel:
    """Daily bars of a universe, ready for scoring and the topk simulator.

    Attributes:
        bars: long raw (unadjusted) Bars frame plus ``adj_factor`` (hfq factor,
            ``hfq price = raw × adj_factor``), sorted by ``(ts_code, trade_time)``.
        close: hfq close ``[session × ts_code]`` (NaN when there is no bar).
        membership: index periods ``[ts_code, start, end]``.
        benchmark: daily decimal returns of the index (``000300.SH``), or None.
    """

    bars: pd.DataFrame
    close: pd.DataFrame
    membership: pd.DataFrame
    benchmark: pd.Series | None = None

    @property
    def sessions(self) -> pd.DatetimeIndex:
        """Sessions with at least one bar."""
        return self.close.index


def _raw_and_hfq(store: MarketStore, codes: list[str], start, end
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw daily Bars plus ``adj_factor`` (hfq = raw × factor), and the hfq Bars row-aligned."""
    raw = read_bars(store, codes, "1d", "none", start, end)
    hfq = read_bars(store, codes, "1d", "hfq", start, end)
    if not (raw["ts_code"].equals(hfq["ts_code"]) and raw["trade_time"].equals(hfq["trade_time"])):
        raise StoreError("raw and hfq daily bars are not row-aligned; re-ingest the store")
    bars = raw.copy()
    bars["adj_factor"] = (hfq["close"] / raw["close"]).to_numpy()
    return bars, hfq


def raw_with_factor(store: MarketStore, codes: list[str], start=None, end=None) -> pd.DataFrame:
    """Raw (unadjusted) daily Bars plus ``adj_factor`` (hfq = raw × factor), as the simulators take.

    Raises:
        StoreError: raw and hfq reads that do not line up.
    """
    return _raw_and_hfq(store, codes, start, end)[0]


def load_csi300_panel(store: MarketStore, membership_file, start=None, end=None,
                      benchmark_code: str | None = BENCHMARK_CODE) -> DailyPanel:
    """Read the daily bars of every code ever in the index (raw + hfq factor).

    Args:
        store: market store holding ``bars_1d`` and ``adj_factor``.
        membership_file: Qlib instruments file (``reference/csi300_membership.txt``).
        start, end: inclusive dates; default all stored data.
        benchmark_code: index whose close gives the benchmark returns (None: none).

    Returns:
        :class:`DailyPanel`. Codes without any stored bar are left out.

    Raises:
        DataFormatError: a malformed membership file. StoreError: no daily bars,
            or raw and hfq reads that do not line up.
    """
    membership = read_index_membership(membership_file)
    codes = sorted(membership["ts_code"].unique())
    bars, hfq = _raw_and_hfq(store, codes, start, end)
    bars["_d"] = pd.DatetimeIndex(bars["trade_time"]).normalize()
    close = (bars.assign(hfq=hfq["close"].to_numpy())
             .pivot(index="_d", columns="ts_code", values="hfq").sort_index())
    close.index.name = None
    bench = None
    if benchmark_code is not None:
        b = read_bars(store, [benchmark_code], "1d", "none", start, end)
        if not b.empty:
            bench = (b.set_index(pd.DatetimeIndex(b["trade_time"]).normalize())["close"]
                     .pct_change().dropna().rename("benchmark"))
    return DailyPanel(bars.drop(columns="_d"), close, membership, bench)


def factor_scores(close: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rule-based scores on every session (``momentum`` or ``reversal``).

    Args:
        close: hfq close ``[session × ts_code]``; NaN = no bar (suspended).
        kind: ``momentum`` (20-session return) or ``reversal`` (−5-session return).

    Returns:
        ``[session × ts_code]`` scores, NaN where the stock has no bar that day
        or not enough history. Uses closes ≤ t only.

    Raises:
        ValueError: unknown kind.
    """
    c = close.ffill()
    if kind == "momentum":
        s = c / c.shift(MOMENTUM_SESSIONS) - 1.0
    elif kind == "reversal":
        s = -(c / c.shift(REVERSAL_SESSIONS) - 1.0)
    else:
        raise ValueError(f"factor kind must be 'momentum' or 'reversal', got {kind!r}")
    return s.where(close.notna())


def feature_frame(panel: DailyPanel) -> pd.DataFrame:
    """The 21 LSTM features of every stock, long: index ``(date, ts_code)``, causal.

    Features are computed per stock on hfq bars (they are scale-free, so hfq
    and qfq give the same values).
    """
    parts = []
    b = panel.bars
    hfq = b.assign(**{k: b[k] * b["adj_factor"] for k in ("open", "high", "low", "close")})
    for code, g in hfq.groupby("ts_code", sort=True):
        if len(g) < 2:
            continue
        g = g.reset_index(drop=True)
        f = lstm_features(g)
        f.index = pd.MultiIndex.from_arrays(
            [pd.DatetimeIndex(g["trade_time"]).normalize(), np.full(len(g), code)],
            names=["date", "ts_code"])
        parts.append(f.astype(np.float32))
    return pd.concat(parts).sort_index()


def _labels(close: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Demeaned next-5-session return and its end session, long ``(date, ts_code)``."""
    fwd = close.shift(-LABEL_HORIZON) / close - 1.0
    fwd = fwd.sub(fwd.mean(axis=1), axis=0)
    end = pd.Series(close.index, index=close.index).shift(-LABEL_HORIZON)
    y = fwd.stack(future_stack=True).dropna()
    y.index.names = ["date", "ts_code"]
    ends = pd.Series(end.reindex(y.index.get_level_values("date")).to_numpy(), index=y.index)
    return y, ends


def ridge_pipeline(alpha: float = RIDGE_ALPHA) -> Pipeline:
    """The ridge every linear score uses: ``StandardScaler`` then ``Ridge(alpha)``.

    Features are standardised on the rows it is fitted on (the train part), so
    ``alpha`` is a penalty on standardised coefficients.
    """
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))


def _ridge_scores(panel: DailyPanel, windows: list[Window], alpha: float,
                  part: str = "test") -> dict[int, pd.Series]:
    """Per window: ridge fit on its train part, predictions on ``part`` (test|train)."""
    feats = feature_frame(panel)
    feats = feats[np.isfinite(feats.to_numpy()).all(axis=1)]
    y, ends = _labels(panel.close)
    dates = feats.index.get_level_values("date")
    mem = membership_matrix(panel.membership, panel.sessions)
    codes = feats.index.get_level_values("ts_code")
    is_member = mem.stack(future_stack=True).reindex(pd.MultiIndex.from_arrays([dates, codes]))
    is_member = is_member.fillna(False).to_numpy(dtype=bool)
    yv = y.reindex(feats.index)
    endv = ends.reindex(feats.index)
    x = feats.to_numpy()
    out: dict[int, pd.Series] = {}
    for w in windows:
        in_train = (dates >= w.train_start) & (dates <= w.train_end)
        train = in_train & is_member & yv.notna().to_numpy() & (endv < w.test_start).to_numpy()
        rows = (dates >= w.test_start) & (dates <= w.test_end) if part == "test" else in_train
        if train.sum() < len(FEATURE_NAMES) + 2 or not rows.any():
            continue
        model = ridge_pipeline(alpha)
        model.fit(x[train], yv.to_numpy()[train])
        out[w.index] = pd.Series(model.predict(x[rows]), index=feats.index[rows])
    return out


def _wide(s: pd.Series | None, panel: DailyPanel, days: pd.DatetimeIndex) -> pd.DataFrame:
    if s is None or s.empty:
        return pd.DataFrame(np.nan, index=days, columns=panel.close.columns)
    return s.unstack("ts_code").reindex(index=days, columns=panel.close.columns)


def _sessions_between(panel: DailyPanel, start, end) -> pd.DatetimeIndex:
    return panel.sessions[(panel.sessions >= start) & (panel.sessions <= end)]


def walk_forward_scores(panel: DailyPanel, windows: list[Window], kind: str, *,
                        alpha: float = RIDGE_ALPHA) -> pd.DataFrame:
    """Out-of-sample scores ``[session × ts_code]`` over the windows' test parts.

    Args:
        panel: :func:`load_csi300_panel` output.
        windows: :func:`tzero.backtest.walkforward.rolling_windows` over
            ``panel.sessions``; use ``gap >= LABEL_HORIZON`` (5) for ``ridge``.
        kind: one of :data:`KINDS`.
        alpha: ridge penalty (``ridge`` only).

    Returns:
        Scores on the test sessions only (rows sorted, columns the panel's
        codes), NaN where a stock has no score. Session t's row uses data ≤ t.

    Raises:
        ValueError: unknown kind or no windows.
    """
    _check(kind, windows)
    test_days = pd.DatetimeIndex(np.concatenate(
        [_sessions_between(panel, w.test_start, w.test_end) for w in windows])).unique().sort_values()
    if kind == "ridge":
        parts = _ridge_scores(panel, windows, alpha, "test")
        return _wide(pd.concat(parts.values()) if parts else None, panel, test_days)
    return factor_scores(panel.close, kind).reindex(index=test_days, columns=panel.close.columns)


def in_sample_scores(panel: DailyPanel, windows: list[Window], kind: str, *,
                     alpha: float = RIDGE_ALPHA) -> dict[int, pd.DataFrame]:
    """In-sample scores of each window on its own train sessions (for the decay gate).

    ``ridge``: the window's model (fit on that train part) scores the train
    sessions it was fitted on; ``momentum``/``reversal``: the rule on those
    sessions. Simulating a strategy on each of these and comparing with the
    out-of-sample run gives the Sharpe decay of :func:`tzero.backtest.gates.judge`.

    Returns:
        ``{window.index: scores [train session × ts_code]}`` (windows without a
        fit are left out).

    Raises:
        ValueError: unknown kind or no windows.
    """
    _check(kind, windows)
    if kind == "ridge":
        parts = _ridge_scores(panel, windows, alpha, "train")
        return {w.index: _wide(parts[w.index], panel,
                               _sessions_between(panel, w.train_start, w.train_end))
                for w in windows if w.index in parts}
    f = factor_scores(panel.close, kind)
    return {w.index: f.reindex(index=_sessions_between(panel, w.train_start, w.train_end))
            for w in windows}


def _check(kind: str, windows: list[Window]) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not windows:
        raise ValueError("no walk-forward windows: the panel is too short for train + gap + test")
