"""The yardstick for universe (cross-sectional) models: IC, Rank IC and a TopkDropout book.

A universe model scores every member of an index each session; it is judged
here the way Qlib judges its Alpha158/Alpha360 models, on two questions:

1. **Does the ranking predict the tradeable return?** :func:`cross_sectional_ic`
   computes, per session, the Pearson IC and the Spearman Rank IC between the
   scores and the label across the members present in both, then averages.
   The label is :func:`tradeable_labels`, Qlib's Alpha158/360 label
   ``Ref($close, -2) / Ref($close, -1) - 1``: a score known after the close of
   *t* can only be acted on from *t+1* (T+1, orders fill at the next open), so
   the return it can earn is the next close to the close after.
2. **Does it earn money under A-share rules?** :func:`topk_excess` runs the
   TopkDropout book of :func:`tzero.backtest.topk.simulate_topk` (Qlib's
   ``TopkDropoutStrategy``, with dated stamp duty, minimum commission, lots,
   price limits, suspensions and T+1) and compares it with the universe's
   equal-weight return over the same sessions.

Each number sits next to three baselines of :func:`baseline_scores` on the
same sessions and members (``momentum``, ``reversal`` and a ``linear`` ridge
fitted strictly before the evaluated range). :func:`evaluate_universe_scores`
bundles all of it into one JSON-safe dict, what ``tzero evaluate --universe``
prints.

Conventions: returns are decimals on hfq (total-return) closes
(``close × adj_factor``), so dividends and splits are not price moves; money
is CNY; a year has :data:`tzero.backtest.metrics.SESSIONS_PER_YEAR` sessions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tzero.backtest import metrics
from tzero.backtest.costs import CostModel
from tzero.backtest.gates import json_safe
from tzero.backtest.scores import RIDGE_ALPHA, factor_scores, ridge_pipeline
from tzero.backtest.topk import TopkConfig, simulate_topk
from tzero.data.universe import membership_matrix
from tzero.features.cross_section import tradeable_return

__all__ = ["BASELINES", "LABEL_GAP", "MIN_STOCKS", "baseline_scores", "cross_sectional_ic",
           "evaluate_universe_scores", "fallback_features", "hfq_close_wide",
           "tradeable_labels", "topk_excess"]

MIN_STOCKS = 10
"""Fewest stocks with both a score and a label for a session's IC to count."""
LABEL_GAP = 2
"""Sessions between a label's date and the last close it uses (t → t+2): the fit/eval gap."""
BASELINES = ("momentum", "reversal", "linear")
FALLBACK_RETURN_SESSIONS = (1, 5, 10, 20, 60)
"""Look-backs (sessions) of the fallback features' past returns."""
FALLBACK_VOL_SESSIONS = 20
"""Window (sessions) of the fallback features' daily-return volatility."""
FALLBACK_VOLUME_SESSIONS = 5
"""Sessions averaged in the fallback volume ratio (量比: today over the previous 5)."""
_KEYS = ("ts_code", "trade_time")


# ----------------------------------------------------------------------------- labels, IC
def tradeable_labels(close_wide: pd.DataFrame) -> pd.DataFrame:
    """The tradeable return of a score made at the close of t: ``close[t+2] / close[t+1] − 1``.

    Qlib's Alpha158/Alpha360 label ``Ref($close, -2) / Ref($close, -1) - 1``:
    under T+1 a decision taken after t's close is filled on t+1, so the first
    return it can earn runs from t+1's close to t+2's. The label at t uses only
    the closes at t+1 and t+2 (never t's). One definition of the label:
    :func:`tzero.features.cross_section.tradeable_return` (what the universe
    models train on) applied to each column of the session grid.

    Args:
        close_wide: hfq closes ``[session × ts_code]``, CNY; NaN = no bar.

    Returns:
        Decimal returns, same shape; NaN where either close is missing
        (suspended on t+1 or t+2) and on the last two sessions.
    """
    c = close_wide.to_numpy(dtype=float)
    y = np.apply_along_axis(tradeable_return, 0, c) if c.size else c.copy()
    return pd.DataFrame(y, index=close_wide.index, columns=close_wide.columns)


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation per row of ``[T, N]`` arrays with NaN in the same cells."""
    cnt = np.maximum(np.isfinite(a).sum(axis=1, keepdims=True), 1)
    am = a - np.nansum(a, axis=1, keepdims=True) / cnt
    bm = b - np.nansum(b, axis=1, keepdims=True) / cnt
    den = np.sqrt(np.nansum(am * am, axis=1) * np.nansum(bm * bm, axis=1))
    num = np.nansum(am * bm, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _mean_ir(x: pd.Series) -> tuple[float, float]:
    """Mean and mean / std (ddof=1) of a daily series; NaN where undefined."""
    v = x.dropna().to_numpy()
    mean = float(v.mean()) if v.size else float("nan")
    sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
    return mean, (mean / sd if sd > 0 else float("nan"))


def cross_sectional_ic(scores: pd.DataFrame, labels: pd.DataFrame, *,
                       min_stocks: int = MIN_STOCKS) -> dict:
    """Daily IC and Rank IC of scores against labels across stocks, then averaged.

    Per session of ``scores.index``: the stocks with a finite score and a
    finite label; with fewer than ``min_stocks`` of them (or a constant score
    or label) the session is skipped and counted in ``n_skipped``. IC =
    Pearson correlation, Rank IC = Spearman (Pearson of the average ranks, as
    ``scipy.stats.spearmanr``). As Qlib's ``calc_ic``/``risk_analysis``:
    ``icir = mean(IC) / std(IC)`` over the daily values, std with ddof=1, **not
    annualised** (multiply by ``sqrt(242)`` for an annual figure).

    Args:
        scores: ``[session × ts_code]`` scores (NaN = not scored / not a member).
        labels: ``[session × ts_code]`` decimal returns, e.g. :func:`tradeable_labels`;
            aligned to ``scores`` by index and columns.
        min_stocks: fewest stocks for a session to count.

    Returns:
        ``ic, icir, rank_ic, rank_icir`` (floats, NaN when undefined),
        ``n_dates`` (sessions counted), ``n_skipped`` (sessions skipped) and
        ``daily``: a DataFrame indexed by session with ``ic, rank_ic, n``
        (NaN on skipped sessions) for charts — drop it before printing JSON.

    Raises:
        ValueError: scores without a sorted DatetimeIndex.
    """
    _check_wide(scores, "scores")
    y = labels.reindex(index=scores.index, columns=scores.columns)
    s = scores.astype(float)
    both = np.isfinite(s.to_numpy()) & np.isfinite(y.to_numpy(dtype=float))
    sv = s.where(both)
    yv = y.astype(float).where(both)
    n = both.sum(axis=1)
    ic = _row_corr(sv.to_numpy(), yv.to_numpy())
    ric = _row_corr(sv.rank(axis=1).to_numpy(), yv.rank(axis=1).to_numpy())
    ok = (n >= min_stocks) & np.isfinite(ic) & np.isfinite(ric)
    daily = pd.DataFrame({"ic": np.where(ok, ic, np.nan), "rank_ic": np.where(ok, ric, np.nan),
                          "n": n}, index=scores.index)
    m_ic, ir_ic = _mean_ir(daily["ic"])
    m_ric, ir_ric = _mean_ir(daily["rank_ic"])
    return {"ic": m_ic, "icir": ir_ic, "rank_ic": m_ric, "rank_icir": ir_ric,
            "n_dates": int(ok.sum()), "n_skipped": int((~ok).sum()), "daily": daily}


# ----------------------------------------------------------------------------- top-k book
def hfq_close_wide(bars: pd.DataFrame, column: str = "close") -> pd.DataFrame:
    """``[session × ts_code]`` of a Bars column; prices are made hfq with ``adj_factor``.

    Args:
        bars: long daily Bars frame (unadjusted prices, optional ``adj_factor``:
            hfq price = raw × factor).
        column: ``close``/``open``/… (multiplied by the factor) or ``volume``/``amount``
            (taken as is).

    Returns:
        Wide frame indexed by the normalised session dates with at least one bar.
    """
    v = bars[column].astype(float)
    if column in ("open", "high", "low", "close") and "adj_factor" in bars.columns:
        v = v * bars["adj_factor"].astype(float)
    d = pd.DatetimeIndex(pd.to_datetime(bars["trade_time"])).normalize()
    out = pd.DataFrame({"d": d, "ts_code": bars["ts_code"].to_numpy(), "v": v.to_numpy()})
    out = out.pivot(index="d", columns="ts_code", values="v").sort_index()
    out.index.name = None
    out.columns.name = None
    return out


def _members(membership, index: pd.Index, columns: pd.Index) -> pd.DataFrame:
    """Membership as a bool ``[session × ts_code]`` frame on ``index × columns``.

    ``membership``: a bool wide frame, membership periods ``ts_code, start, end``
    (:func:`tzero.data.universe.read_index_membership`), or None (everyone).
    """
    if membership is None:
        return pd.DataFrame(True, index=index, columns=columns)
    if {"ts_code", "start", "end"} <= set(membership.columns):
        membership = membership_matrix(membership, index)
    return membership.astype(bool).reindex(index=index, columns=columns, fill_value=False)


def equal_weight_returns(close_wide: pd.DataFrame, members: pd.DataFrame) -> pd.Series:
    """The universe's equal-weight daily return, close to close, members as of the day before.

    ``r[t] = mean_i (close_i[t] / close_i[t−1] − 1)`` over the stocks that were
    members at t−1 (the decision day of a book valued at t's close) with a
    known close at t−1; a suspended stock keeps its last close (0 return, the
    move is booked on resumption), as the simulator values its holdings.

    Args:
        close_wide: hfq closes ``[session × ts_code]``, CNY.
        members: bool ``[session × ts_code]`` on the same grid.

    Returns:
        Decimal returns indexed by session (NaN on the first session or with no member).
    """
    c = close_wide.ffill()
    r = c / c.shift(1) - 1.0
    was = members.astype(bool).reindex(index=c.index, columns=c.columns, fill_value=False)
    return r.where(was.shift(1, fill_value=False)).mean(axis=1).rename("benchmark")


def topk_excess(scores_wide: pd.DataFrame, bars: pd.DataFrame, membership_wide, *,
                topk: int = 50, n_drop: int = 5, costs: CostModel | None = None) -> dict:
    """A TopkDropout book on the scores against the universe's equal-weight return.

    The book is :func:`tzero.backtest.topk.simulate_topk` (Qlib's
    ``TopkDropoutStrategy``: decide after t's close, fill at **t+1's open**,
    value at closes) under the A-share rules and ``costs``; only members on
    the decision day are candidates. Its daily return on session s runs from
    s−1's close to s's close (the open→close leg on fill days), so the
    benchmark is :func:`equal_weight_returns` from consecutive hfq closes over
    the same sessions, members as of s−1. It is gross (no costs).

    Args:
        scores_wide: ``[decision session × ts_code]`` scores known at each close.
        bars: daily Bars, **unadjusted** ``ts_code, trade_time, open, close``
            (+ ``volume``, ``adj_factor``); must reach one session past the last score.
        membership_wide: bool ``[session × ts_code]`` members, membership
            periods ``ts_code, start, end``, or None (every scored stock).
        topk, n_drop: names held and swapped per day at most.
        costs: :class:`~tzero.backtest.costs.CostModel` (default: realistic A-share).

    Returns:
        ``topk_excess_annual`` (mean daily excess × sessions per year),
        ``topk_annual_return``, ``benchmark_annual_return`` (geometric),
        ``topk_sharpe`` (annualised), ``turnover`` (mean daily, decimal of
        equity), ``fees_cny`` (total), ``n_sessions``, plus ``returns`` and
        ``benchmark`` (daily Series, for charts; drop before printing JSON).

    Raises:
        ValueError: as :func:`simulate_topk` (bars that do not cover the scores).
    """
    _check_wide(scores_wide, "scores_wide")
    return _topk(scores_wide, bars, hfq_close_wide(bars), membership_wide, topk, n_drop, costs)


def _topk(scores: pd.DataFrame, bars: pd.DataFrame, close: pd.DataFrame, membership,
          topk: int, n_drop: int, costs: CostModel | None) -> dict:
    """:func:`topk_excess` with the hfq closes of ``bars`` already pivoted."""
    codes = close.columns.union(scores.columns)
    mem = _members(membership, close.index.union(scores.index), codes)
    masked = scores.where(mem.reindex(index=scores.index, columns=scores.columns,
                                      fill_value=False))
    b = bars[pd.to_datetime(bars["trade_time"]) >= scores.index[0]]
    res = simulate_topk(masked, b, membership=None,
                        config=TopkConfig(topk=topk, n_drop=n_drop, costs=costs or CostModel()))
    bench = equal_weight_returns(close, mem).reindex(res.returns.index)
    excess = (res.returns - bench).dropna()
    n = metrics.SESSIONS_PER_YEAR
    return {"topk_excess_annual": float(excess.mean() * n) if len(excess) else float("nan"),
            "topk_annual_return": metrics.annual_return(res.returns),
            "benchmark_annual_return": metrics.annual_return(bench),
            "topk_sharpe": metrics.sharpe(res.returns),
            "turnover": float(res.turnover.mean()) if len(res.turnover) else float("nan"),
            "fees_cny": float(res.fees.sum()), "n_sessions": int(len(res.returns)),
            "returns": res.returns, "benchmark": bench}


# ----------------------------------------------------------------------------- baselines
def fallback_features(close_wide: pd.DataFrame,
                      volume_wide: pd.DataFrame | None = None) -> pd.DataFrame:
    """A small set of causal, scale-free daily features, as a long frame.

    ``ret_k = close[t] / close[t−k] − 1`` for k in :data:`FALLBACK_RETURN_SESSIONS`,
    ``vol_20`` = std (ddof=1) of the last 20 daily returns, and, with volume,
    ``volume_ratio_5 = log(volume[t] / mean(volume[t−5..t−1]))`` (量比). Each
    uses data ≤ t only; suspended days (no close) have no row.

    Args:
        close_wide: hfq closes ``[session × ts_code]``, CNY.
        volume_wide: volumes ``[session × ts_code]``, shares (optional).

    Returns:
        Long frame ``ts_code, trade_time, ret_1, …, vol_20[, volume_ratio_5]``
        (NaN where the history is too short).
    """
    c = close_wide.ffill()
    feats = {f"ret_{k}": c / c.shift(k) - 1.0 for k in FALLBACK_RETURN_SESSIONS}
    feats[f"vol_{FALLBACK_VOL_SESSIONS}"] = (c / c.shift(1) - 1.0).rolling(
        FALLBACK_VOL_SESSIONS, min_periods=FALLBACK_VOL_SESSIONS).std()
    if volume_wide is not None:
        v = volume_wide.reindex(index=close_wide.index, columns=close_wide.columns)
        v = v.where(v > 0)
        prev = v.rolling(FALLBACK_VOLUME_SESSIONS, min_periods=3).mean().shift(1)
        feats[f"volume_ratio_{FALLBACK_VOLUME_SESSIONS}"] = np.log(v / prev)
    has = close_wide.notna()
    cols = {k: f.where(has).stack(future_stack=True) for k, f in feats.items()}
    out = pd.DataFrame(cols)
    out.index.names = ["trade_time", "ts_code"]
    out = out[has.stack(future_stack=True).reindex(out.index).to_numpy(dtype=bool)]
    return out.reset_index()[["ts_code", "trade_time", *feats]]


def _feature_matrix(features: pd.DataFrame) -> pd.DataFrame:
    """Long features → float frame indexed ``(trade_time, ts_code)`` (dates normalised)."""
    missing = set(_KEYS) - set(features.columns)
    cols = [c for c in features.columns if c not in _KEYS]
    if missing or not cols:
        raise ValueError(f"features must be a long frame with columns ts_code, trade_time and "
                         f"at least one feature column; missing {sorted(missing) or 'features'}")
    idx = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(pd.to_datetime(features["trade_time"])).normalize(),
         features["ts_code"].to_numpy()], names=["trade_time", "ts_code"])
    x = pd.DataFrame(features[cols].to_numpy(dtype=float), index=idx, columns=cols)
    if x.index.has_duplicates:
        raise ValueError("features have duplicate (ts_code, trade_time) rows: one row per "
                         "stock and session expected")
    return x


def linear_scores(close_wide: pd.DataFrame, features: pd.DataFrame, fit_end, *,
                  membership=None, alpha: float = RIDGE_ALPHA) -> pd.DataFrame:
    """Ridge of the tradeable label on ``features``, fitted once before ``fit_end``.

    Fit rows: sessions d whose label ends by ``fit_end`` (d + :data:`LABEL_GAP`
    sessions ≤ fit_end, so no label overlaps what is scored), members on d
    (when ``membership`` is given), finite features and label; the target is
    :func:`tradeable_labels` demeaned across those stocks per session. The
    model (:func:`tzero.backtest.scores.ridge_pipeline`, standardised
    features) then scores every session after ``fit_end``.

    Args:
        close_wide: hfq closes ``[session × ts_code]``, CNY (gives the labels).
        features: long ``ts_code, trade_time, f0..fk``, features at t from data ≤ t.
        fit_end: last session whose close the fit may use.
        membership: bool wide members or membership periods, optional.
        alpha: ridge penalty.

    Returns:
        ``[session × ts_code]`` scores on ``close_wide``'s grid, NaN up to
        ``fit_end`` and where a feature is missing.

    Raises:
        ValueError: malformed features, or fewer fit rows than features + 2
            (pass bars and features that start well before ``fit_end``).
    """
    fit_end = pd.Timestamp(fit_end).normalize()
    x = _feature_matrix(features)
    x = x[np.isfinite(x.to_numpy()).all(axis=1)]
    y = tradeable_labels(close_wide)
    ends = pd.Series(close_wide.index, index=close_wide.index).shift(-LABEL_GAP)
    mem = _members(membership, close_wide.index, close_wide.columns)
    y = y.where(mem.to_numpy() & ends.le(fit_end).to_numpy()[:, None])
    y = y.sub(y.mean(axis=1), axis=0).stack(future_stack=True).dropna().rename("y")
    y.index.names = ["trade_time", "ts_code"]
    train = x.join(y, how="inner")
    if len(train) < x.shape[1] + 2:
        raise ValueError(f"linear baseline: {len(train)} fit rows with labels ending by "
                         f"{fit_end.date()}; pass bars and features that start well before "
                         "fit_end")
    model = ridge_pipeline(alpha).fit(train[x.columns].to_numpy(), train["y"].to_numpy())
    rows = x[x.index.get_level_values("trade_time") > fit_end]
    out = pd.Series(model.predict(rows.to_numpy()) if len(rows) else [], index=rows.index,
                    dtype=float)
    return out.unstack("ts_code").reindex(index=close_wide.index, columns=close_wide.columns)


def baseline_scores(close_wide: pd.DataFrame, *, features: pd.DataFrame | None = None,
                    fit_end=None, volume_wide: pd.DataFrame | None = None,
                    membership=None, alpha: float = RIDGE_ALPHA) -> dict[str, pd.DataFrame]:
    """The naive scores a universe model must beat, ``[session × ts_code]`` each.

    - ``momentum``: 20-session return up to t;
    - ``reversal``: minus the 5-session return (both
      :func:`tzero.backtest.scores.factor_scores`, every session);
    - ``linear``: :func:`linear_scores` on ``features`` — the inputs the model
      sees — fitted on labels ending by ``fit_end``, scoring every session
      after. With ``features=None`` it uses :func:`fallback_features` (past
      returns over 1/5/10/20/60 sessions, 20-session volatility, the volume
      ratio when ``volume_wide`` is given), scale-free inputs of the same kind
      as the model's. Left out when ``fit_end`` is None.

    Every score at t uses data ≤ t only.

    Args:
        close_wide: hfq closes ``[session × ts_code]``, CNY; NaN = no bar.
        features: long ``ts_code, trade_time, f0..fk`` (see :func:`linear_scores`).
        fit_end: last session the linear fit may see (labels included).
        volume_wide: volumes in shares, for the fallback features.
        membership: members (bool wide or periods) restricting the fit rows.
        alpha: ridge penalty.

    Returns:
        ``{"momentum": …, "reversal": …[, "linear": …]}``.

    Raises:
        ValueError: as :func:`linear_scores`.
    """
    out = {k: factor_scores(close_wide, k) for k in ("momentum", "reversal")}
    if fit_end is not None:
        f = features if features is not None else fallback_features(close_wide, volume_wide)
        out["linear"] = linear_scores(close_wide, f, fit_end, membership=membership, alpha=alpha)
    return out


# ----------------------------------------------------------------------------- the report
def _check_wide(frame: pd.DataFrame, name: str) -> None:
    if not isinstance(frame.index, pd.DatetimeIndex) or not frame.index.is_monotonic_increasing:
        raise ValueError(f"{name} must be a [session × ts_code] frame with a sorted "
                         "DatetimeIndex (sessions as dates)")


_METRIC_KEYS = ("ic", "icir", "rank_ic", "rank_icir", "n_dates", "n_skipped")
_TOPK_KEYS = ("topk_excess_annual", "topk_annual_return", "topk_sharpe", "turnover", "fees_cny")


def _score_metrics(scores: pd.DataFrame, labels: pd.DataFrame, bars: pd.DataFrame,
                   close: pd.DataFrame, members: pd.DataFrame, topk: int, n_drop: int,
                   costs: CostModel | None) -> tuple[dict, dict]:
    """IC and top-k metrics of ``scores`` on the sessions and members of ``members``."""
    s = scores.reindex(index=members.index, columns=members.columns).where(members)
    ic = cross_sectional_ic(s, labels)
    tk = _topk(s, bars, close, members, topk, n_drop, costs)
    return {k: ic[k] for k in _METRIC_KEYS} | {k: tk[k] for k in _TOPK_KEYS}, tk


def evaluate_universe_scores(scores_wide: pd.DataFrame, bars: pd.DataFrame, membership_wide,
                             start, end, *, fit_end, features: pd.DataFrame | None = None,
                             topk: int = 50, n_drop: int = 5,
                             costs: CostModel | None = None) -> dict:
    """A universe model's scores and the three baselines on one yardstick, JSON-safe.

    On the sessions ``start..end`` (decision dates) and the members of each:
    :func:`cross_sectional_ic` against :func:`tradeable_labels` (closes at
    t+1, t+2, which may lie past ``end``) and :func:`topk_excess` (fills at
    t+1's open). The baselines of :func:`baseline_scores` are built from the
    whole ``bars`` history (the linear one fitted on labels ending by ``fit_end``).

    Args:
        scores_wide: the model's ``[session × ts_code]`` scores, known at each close.
        bars: daily Bars, unadjusted with ``adj_factor`` (e.g.
            :func:`tzero.backtest.scores.load_csi300_panel` ``.bars``), from well
            before ``fit_end`` (60 sessions of look-back for the baselines) to
            two sessions after ``end``.
        membership_wide: bool ``[session × ts_code]`` members or membership periods.
        start, end: first and last decision session (inclusive).
        fit_end: last session the linear baseline (and the model) may have seen;
            should be before ``start``.
        features: the model's long inputs for the linear baseline (None: fallback set).
        topk, n_drop: the TopkDropout book.
        costs: cost model of the book (default: realistic A-share ``CostModel()``).

    Returns:
        ``{"metrics": {ic, icir, rank_ic, rank_icir, topk_excess_annual, n_dates,
        …}, "baselines": {"momentum": {…}, "reversal": {…}, "linear": {…}},
        "benchmark": {annual_return, mean_daily_return, n_sessions},
        "settings": {…}, "notes": [...]}``; every number finite or None.

    Raises:
        ValueError: no session in ``start..end``, unsorted scores, or bars that
            do not cover the range.
    """
    _check_wide(scores_wide, "scores_wide")
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    close = hfq_close_wide(bars)
    days = close.index[(close.index >= start) & (close.index <= end)]
    if len(days) == 0:
        raise ValueError(f"no bar session between {start.date()} and {end.date()}: pass bars "
                         "that cover the evaluated range")
    codes = close.columns.union(scores_wide.columns)
    members = _members(membership_wide, days, codes)
    labels = tradeable_labels(close)
    notes = [
        "label: close[t+2]/close[t+1]-1 on hfq closes (Qlib Alpha158/360 "
        "Ref($close,-2)/Ref($close,-1)-1): a score made after t's close trades from t+1 (T+1)",
        f"IC/Rank IC: per session over members with a score and a label (>= {MIN_STOCKS} "
        "stocks), averaged; icir = mean/std of the daily IC (ddof=1), not annualised",
        f"top-k: TopkDropout topk={topk}, n_drop={n_drop}, decide at t's close, fill at t+1's "
        "open, A-share costs and rules; benchmark = equal-weight close-to-close return of the "
        "members as of the previous session, gross",
        f"annualised with {metrics.SESSIONS_PER_YEAR} sessions/yr; topk_excess_annual = mean "
        "daily excess x sessions/yr; annual returns geometric",
    ]
    model, tk = _score_metrics(scores_wide, labels, bars, close, members, topk, n_drop, costs)
    bench = tk["benchmark"].dropna()
    volume = hfq_close_wide(bars, "volume") if "volume" in bars.columns else None
    base = baseline_scores(close, features=features, fit_end=fit_end, volume_wide=volume,
                           membership=_members(membership_wide, close.index, close.columns))
    if fit_end is None:
        notes.append("no linear baseline: fit_end not given")
    else:
        inputs = ("the model's features" if features is not None else
                  "fallback features (returns over 1/5/10/20/60 sessions, vol_20, volume ratio)")
        notes.append(f"linear baseline: ridge on {inputs}, fit on labels ending by "
                     f"{pd.Timestamp(fit_end).date()} (gap {LABEL_GAP} sessions)")
    baselines = {k: _score_metrics(v, labels, bars, close, members, topk, n_drop, costs)[0]
                 for k, v in base.items()}
    return json_safe({
        "metrics": model, "baselines": baselines,
        "benchmark": {"annual_return": metrics.annual_return(bench),
                      "mean_daily_return": float(bench.mean()) if len(bench) else None,
                      "n_sessions": int(len(bench))},
        "settings": {"start": str(days[0].date()), "end": str(days[-1].date()),
                     "fit_end": None if fit_end is None else str(pd.Timestamp(fit_end).date()),
                     "n_sessions": len(days),
                     "topk": topk, "n_drop": n_drop},
        "notes": notes})
