"""Intraday session stamps of the A-share continuous auction.

Sessions are 09:30–11:30 and 13:00–15:00 Asia/Shanghai (SSE/SZSE trading
rules, art. 3.1.x). Bars are stamped at their close: a full day has 240
one-minute bars ``09:31 … 11:30, 13:01 … 15:00``. Bars of N minutes group N
consecutive one-minute bars within a half-day session, so no bar spans the
lunch break (60m: 10:30, 11:30, 14:00, 15:00).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MORNING = (9 * 60 + 30, 11 * 60 + 30)     # minutes since midnight, open/close
AFTERNOON = (13 * 60, 15 * 60)
MINUTES_PER_DAY = 240
INTRADAY_FREQS = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "60m": 60}


def minute_offsets() -> np.ndarray:
    """The 240 one-minute bar stamps as minutes since midnight (int64, [240])."""
    am = np.arange(MORNING[0] + 1, MORNING[1] + 1)
    pm = np.arange(AFTERNOON[0] + 1, AFTERNOON[1] + 1)
    return np.concatenate([am, pm]).astype(np.int64)


def session_stamps(day: pd.Timestamp, freq: str = "1m") -> pd.DatetimeIndex:
    """Bar-close stamps of one session day for an intraday frequency.

    Args:
        day: the session date (time part ignored).
        freq: one of ``1m 5m 15m 30m 60m``.

    Raises:
        ValueError: unknown frequency.
    """
    step = _step(freq)
    mins = minute_offsets()[step - 1 :: step]
    return pd.Timestamp(day).normalize() + pd.to_timedelta(mins, unit="min")


def _step(freq: str) -> int:
    if freq not in INTRADAY_FREQS:
        raise ValueError(f"unknown intraday frequency {freq!r}: expected one of {list(INTRADAY_FREQS)}")
    return INTRADAY_FREQS[freq]


def minute_index(stamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Position 0..239 of each one-minute bar-close stamp in its day; -1 outside sessions.

    09:31 → 0, 11:30 → 119, 13:01 → 120, 15:00 → 239. Auction prints stamped
    09:25–09:30 and 15:00 closing auction map to the nearest bar (09:30 → 0).
    """
    t = pd.DatetimeIndex(stamps)
    m = (t.hour * 60 + t.minute).to_numpy().astype(np.int64)
    m = np.where((m >= 9 * 60 + 25) & (m <= MORNING[0]), MORNING[0] + 1, m)
    out = np.full(m.shape, -1, dtype=np.int64)
    am = (m > MORNING[0]) & (m <= MORNING[1])
    pm = (m > AFTERNOON[0]) & (m <= AFTERNOON[1])
    out[am] = m[am] - MORNING[0] - 1
    out[pm] = m[pm] - AFTERNOON[0] - 1 + 120
    return out


def bar_close_for(stamps: pd.Series | pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """Map one-minute bar-close stamps to the close stamp of their ``freq`` bar.

    Raises:
        ValueError: a stamp outside the trading sessions, or unknown frequency.
    """
    step = _step(freq)
    t = pd.DatetimeIndex(stamps)
    idx = minute_index(t)
    if (idx < 0).any():
        bad = t[idx < 0][0]
        raise ValueError(f"minute bar stamped {bad} is outside the 09:30-11:30/13:00-15:00 sessions")
    last = (idx // step) * step + step - 1
    mins = minute_offsets()[last]
    return t.normalize() + pd.to_timedelta(mins, unit="min")
