"""Data quality: row validation at ingest, and the store-wide ``tzero check``.

Ingest-time row rules live in :mod:`tzero.data.validation` (one rule set, with
the refuse-or-skip policy); :func:`validate_bars` applies them to a frame and
splits it into accepted and rejected rows, each rejection with a reason.

Store checks (:func:`check_store`), as specified in the foundation issue:
OHLC consistency, duplicate keys, gaps against the XSHG calendar, daily moves
over 20% outside ex-dates (A-share limits are ±10% main board, ±20% ChiNext
from 2020-08-24 and STAR; more is a data error unless the price was adjusted
for a corporate action that day), and adj_factor values that fall (a
cumulative backward factor only rises).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tzero.data import validation
from tzero.data.validation import PRICE_TOL
from tzero.errors import CalendarError, DataFormatError
from tzero.market import calendar

BAR_COLUMNS = validation.BAR_COLUMNS
MAX_DAILY_MOVE = 0.20


@dataclass
class Validated:
    """Rows that passed validation and rows rejected with a ``reason`` column."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)

    def reasons(self) -> dict[str, int]:
        """Count of rejected rows per reason."""
        if self.rejected.empty:
            return {}
        return self.rejected["reason"].value_counts().to_dict()


def check_columns(frame: pd.DataFrame, required: list[str], source: str) -> None:
    """Raise DataFormatError naming ``source`` and the missing columns."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{source}: missing column(s) {missing}; found {list(frame.columns)}")


def check_calendar_range(times: pd.Series, source: str, label: str = "row") -> None:
    """Raise CalendarError naming the first row whose date is outside the XSHG calendar.

    The row is the 1-based position in ``times`` (``label`` names what a position is,
    e.g. ``record`` for a TDX binary file).
    """
    if times.empty:
        return
    s = calendar.all_sessions()
    d = pd.DatetimeIndex(times).normalize()
    bad = (d < s[0]) | (d > s[-1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CalendarError(
            f"{source}: {label} {i + 1} has date {d[i].date()} outside the XSHG calendar "
            f"({s[0].date()} .. {s[-1].date()}); nothing was written"
        )


def validate_bars(bars: pd.DataFrame, source: str, *, daily: bool) -> Validated:
    """Split a Bars frame into accepted and rejected rows, one reason per rejected row.

    The rules are those of ingest (:func:`tzero.data.validation.check_bars`):
    ``missing value``, ``non-finite value``, ``invalid date``, ``date outside the
    calendar``, ``not a session``, ``daily bar not stamped at midnight`` /
    ``minute bar outside the trading sessions``, ``non-positive price``, ``price
    above bound``, ``negative volume``, ``negative amount``, ``volume above
    bound``, ``amount above bound``, ``high below open/close/low``, ``low above
    open/close``, ``conflicting duplicate`` (every copy of a key repeated with
    different values). Identical repeats of a row are dropped, not rejected.

    Args:
        bars: Bars frame (DESIGN.md); index is kept so rejections name rows.
        source: file name for error messages.
        daily: True for daily bars (timestamps must be midnight sessions).

    Raises:
        DataFormatError: missing columns or an empty frame.
    """
    check_columns(bars, BAR_COLUMNS, source)
    if bars.empty:
        raise DataFormatError(f"{source}: no rows to ingest (empty file)")
    reason, repeat = validation.row_reasons(bars, daily=daily)
    bad = reason != ""
    rejected = bars.loc[bad].assign(reason=reason[bad], source=source)
    return Validated(bars.loc[~bad & ~repeat], rejected)


@dataclass
class Finding:
    """One problem found by ``tzero check``."""

    check: str
    ts_code: str
    trade_time: str
    detail: str


def check_ohlc(bars: pd.DataFrame) -> list[Finding]:
    """Bars whose high/low do not bound open and close, or with non-positive prices."""
    hi = bars[["open", "close", "low"]].max(axis=1)
    lo = bars[["open", "close"]].min(axis=1)
    bad = (bars["high"] + PRICE_TOL < hi) | (bars["low"] - PRICE_TOL > lo) | (
        bars[["open", "high", "low", "close"]] <= 0).any(axis=1)
    return [Finding("ohlc", r.ts_code, str(r.trade_time.date()),
                    f"o={r.open} h={r.high} l={r.low} c={r.close}")
            for r in bars.loc[bad].itertuples()]


def check_duplicates(bars: pd.DataFrame) -> list[Finding]:
    """Repeated ``(ts_code, trade_time)`` keys."""
    d = bars.loc[bars.duplicated(["ts_code", "trade_time"], keep=False)]
    return [Finding("duplicate", r.ts_code, str(r.trade_time), "key appears more than once")
            for r in d.drop_duplicates(["ts_code", "trade_time"]).itertuples()]


def check_gaps(bars: pd.DataFrame, min_gap: int = 1) -> list[Finding]:
    """Runs of XSHG sessions with no bar between a symbol's first and last bar.

    Suspensions (停牌) are real gaps; the report lists each run's first missing
    session and length so the user can tell a suspension from a broken file.
    """
    sess = calendar.all_sessions()
    pos = pd.Series(np.arange(len(sess)), index=sess)
    out: list[Finding] = []
    for code, g in bars.groupby("ts_code", sort=True):
        p = pos.reindex(pd.DatetimeIndex(g["trade_time"]).normalize()).to_numpy()
        p = p[~np.isnan(p)].astype(np.int64)
        jumps = np.diff(p) - 1
        for j in np.flatnonzero(jumps >= min_gap):
            out.append(Finding("gap", code, str(sess[p[j] + 1].date()),
                               f"{int(jumps[j])} session(s) without a bar"))
    return out


def check_moves(bars: pd.DataFrame, adj: pd.DataFrame, limit: float = MAX_DAILY_MOVE) -> list[Finding]:
    """Daily close-to-close moves beyond ``limit`` on dates the adj_factor did not change.

    "Beyond" means past the limit price rounded to the 0.01 CNY tick. The detail says when the move follows a gap of missing sessions (a
    resumption after suspension, where the move spans several sessions) or is
    the symbol's second bar (IPO days have no or wider limits).

    Args:
        bars: daily unadjusted bars.
        adj: adj_factor frame (``ts_code, trade_date, adj_factor``); may be empty.
        limit: absolute decimal return above which a move is reported.
    """
    b = bars.sort_values(["ts_code", "trade_time"]).reset_index(drop=True)
    prev = b.groupby("ts_code")["close"].shift()
    r = b["close"] / prev - 1
    # limit prices are rounded to the 0.01 CNY tick (exchange rules), so a +20% limit-up
    # can print +20.05%: compare with the rounded limit, not the raw ratio
    up = np.round(prev * (1 + limit) + 1e-9, 2)
    down = np.round(prev * (1 - limit) - 1e-9, 2)
    big = (b["close"] > up + 1e-6) | (b["close"] < down - 1e-6)
    if not big.any():
        return []
    sess = calendar.all_sessions()
    pos = pd.Series(np.arange(len(sess)), index=sess)
    p = pos.reindex(pd.DatetimeIndex(b["trade_time"]).normalize()).to_numpy()
    gap = p - np.concatenate([[np.nan], p[:-1]]) - 1
    nth = b.groupby("ts_code").cumcount().to_numpy()
    ex = _ex_dates(adj)
    out = []
    for i in np.flatnonzero(big.to_numpy()):
        code, t = b.at[i, "ts_code"], b.at[i, "trade_time"]
        if (code, t) in ex:
            continue
        note = ""
        if nth[i] == 1:
            note = " (second bar of the symbol: IPO days)"
        elif np.isfinite(gap[i]) and gap[i] >= 1:
            note = f" (after {int(gap[i])} missing session(s): resumption)"
        out.append(Finding("move", code, str(t.date()),
                           f"close moved {r.iat[i]:+.1%} with no adj_factor change{note}"))
    return out


def _ex_dates(adj: pd.DataFrame) -> set:
    if adj is None or adj.empty:
        return set()
    a = adj.sort_values(["ts_code", "trade_date"])
    chg = a.groupby("ts_code")["adj_factor"].diff().fillna(0) != 0
    return set(zip(a.loc[chg, "ts_code"], pd.DatetimeIndex(a.loc[chg, "trade_date"]), strict=True))


def check_adj_factor(adj: pd.DataFrame) -> list[Finding]:
    """Dates where a cumulative backward adj_factor falls (a source defect: false price jump)."""
    if adj is None or adj.empty:
        return []
    a = adj.sort_values(["ts_code", "trade_date"])
    prev = a.groupby("ts_code")["adj_factor"].shift()
    bad = a.loc[a["adj_factor"] < prev - 1e-9]
    return [Finding("adj_factor_falls", r.ts_code, str(pd.Timestamp(r.trade_date).date()),
                    f"adj_factor fell from {p:.6g} to {r.adj_factor:.6g}")
            for r, p in zip(bad.itertuples(), prev[bad.index], strict=True)]


def check_store_frames(bars: pd.DataFrame, adj: pd.DataFrame) -> list[Finding]:
    """Run every check over daily bars and adj_factor frames; findings in check order."""
    return (check_ohlc(bars) + check_duplicates(bars) + check_gaps(bars)
            + check_moves(bars, adj) + check_adj_factor(adj))


__all__ = [
    "Validated", "Finding", "validate_bars", "check_columns", "check_calendar_range",
    "check_ohlc", "check_duplicates", "check_gaps", "check_moves", "check_adj_factor",
    "check_store_frames", "CalendarError", "PRICE_TOL",
]
