"""The XSHG trading calendar (Shanghai Stock Exchange), from ``exchange_calendars``.

All A-share venues share the SSE holiday schedule. Dates are naive
``pandas.Timestamp`` at midnight. A date before the calendar's first session or
after its last is an error (:class:`~tzero.errors.CalendarError`), never
silently extrapolated.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import TypeAlias

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from tzero.errors import CalendarError

CALENDAR_START = "1991-01-02"

DateLike: TypeAlias = str | date | pd.Timestamp | np.datetime64


@lru_cache(maxsize=1)
def xshg() -> xcals.ExchangeCalendar:
    """The cached XSHG calendar from 1991-01-02 to exchange_calendars' horizon."""
    return xcals.get_calendar("XSHG", start=CALENDAR_START)


@lru_cache(maxsize=1)
def all_sessions() -> pd.DatetimeIndex:
    """Every XSHG session as naive midnight timestamps, ascending."""
    return xshg().sessions.tz_localize(None) if xshg().sessions.tz else xshg().sessions


def parse_day(value: DateLike, *, field: str = "date",
              error: type[Exception] = CalendarError) -> pd.Timestamp:
    """Parse a date (``2023-02-24``, ``20230224``, date, Timestamp) to naive midnight.

    No calendar check: :func:`to_date` adds it.

    Raises:
        error (default CalendarError): unparseable or empty; the message names ``field``.
    """
    try:
        ts = pd.Timestamp(str(value) if isinstance(value, np.datetime64) else value)
    except (ValueError, TypeError) as exc:
        raise error(f"{field}: cannot read {value!r} as a date (use YYYY-MM-DD)") from exc
    if ts is pd.NaT:
        raise error(f"{field}: empty date")
    ts = ts.tz_localize(None) if ts.tzinfo else ts
    return ts.normalize()


def to_date(value: DateLike, *, field: str = "date") -> pd.Timestamp:
    """Parse a date (``2023-02-24``, ``20230224``, date, Timestamp) to naive midnight.

    Raises:
        CalendarError: unparseable, or outside the calendar's range; the
            message names ``field`` and the valid range.
    """
    ts = parse_day(value, field=field)
    s = all_sessions()
    if ts < s[0] or ts > s[-1]:
        raise CalendarError(
            f"{field} {ts.date()} is outside the XSHG calendar "
            f"({s[0].date()} .. {s[-1].date()})"
        )
    return ts


def is_session(value: DateLike) -> bool:
    """True when the date is an XSHG trading session."""
    ts = to_date(value)
    return ts in _session_set()


@lru_cache(maxsize=1)
def _session_set() -> frozenset:
    return frozenset(all_sessions())


def sessions(start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """Sessions in ``[start, end]`` inclusive.

    Raises:
        CalendarError: either bound outside the calendar, or ``start > end``.
    """
    a, b = to_date(start, field="start"), to_date(end, field="end")
    if a > b:
        raise CalendarError(f"start {a.date()} is after end {b.date()}")
    s = all_sessions()
    return s[(s >= a) & (s <= b)]


def previous_session(value: DateLike) -> pd.Timestamp:
    """The last session on or before the date (the date itself if a session)."""
    ts = to_date(value)
    s = all_sessions()
    i = s.searchsorted(ts, side="right") - 1
    if i < 0:
        raise CalendarError(f"no session on or before {ts.date()}")
    return s[i]


def offset_session(value: DateLike, n: int) -> pd.Timestamp:
    """The session ``n`` sessions after (n>0) or before (n<0) the session on/before the date.

    Raises:
        CalendarError: when the result leaves the calendar.
    """
    base = previous_session(value)
    s = all_sessions()
    i = s.get_loc(base) + n
    if i < 0 or i >= len(s):
        raise CalendarError(f"{n} sessions from {base.date()} leaves the XSHG calendar")
    return s[i]


def session_mask(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Boolean array: which dates (naive, midnight) are XSHG sessions."""
    return pd.DatetimeIndex(dates).normalize().isin(all_sessions())
