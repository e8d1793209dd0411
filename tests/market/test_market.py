"""Symbols, the XSHG calendar and intraday session stamps, checked against hand-known values."""

from __future__ import annotations

import pandas as pd
import pytest

from tzero.errors import CalendarError, SymbolError
from tzero.market import calendar, sessions
from tzero.market.symbols import to_ts_code, to_ts_codes

# ------------------------------------------------------------------- symbols


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("600519.SH", "600519.SH"),
        ("600519.sh", "600519.SH"),
        ("sh600519", "600519.SH"),
        ("SH600519", "600519.SH"),
        ("SH#600519", "600519.SH"),
        ("  sh600519 ", "600519.SH"),
        ("600519.XSHG", "600519.SH"),
        ("000001.XSHE", "000001.SZ"),
        ("000001.SH", "000001.SH"),  # explicit suffix trusted: the SSE Composite index
        ("600519", "600519.SH"),
        ("688001", "688001.SH"),
        ("000001", "000001.SZ"),
        ("300750", "300750.SZ"),
        ("399006", "399006.SZ"),
        ("510300", "510300.SH"),
        ("159919", "159919.SZ"),
        ("430047", "430047.BJ"),
        ("bj430047", "430047.BJ"),
    ],
)
def test_to_ts_code_accepts_every_form(symbol: str, expected: str) -> None:
    assert to_ts_code(symbol) == expected


@pytest.mark.parametrize("symbol", ["sh60051", "600519.XX", "AAPL", "", "6005190", "sz60051x"])
def test_unknown_symbol_message_lists_accepted_forms(symbol: str) -> None:
    with pytest.raises(SymbolError) as exc:
        to_ts_code(symbol)
    msg = str(exc.value)
    assert repr(symbol) in msg
    for form in ("600519.SH", "sh600519", "600519.XSHG", "600519"):
        assert form in msg


def test_ambiguous_bare_code_names_prefix_and_fix() -> None:
    with pytest.raises(SymbolError, match=r"ambiguous symbol '100000'.*100000\.SH"):
        to_ts_code("100000")


def test_non_text_symbol_raises() -> None:
    with pytest.raises(SymbolError, match="600519.SH"):
        to_ts_code(600519)  # type: ignore[arg-type]


def test_to_ts_codes_splits_commas_and_drops_duplicates() -> None:
    assert to_ts_codes(["600519,sh600519", "000001.XSHE", " "]) == ["600519.SH", "000001.SZ"]


# ------------------------------------------------------------------ calendar

# Spring Festival 2023: SSE closed 2023-01-21 .. 2023-01-29 (Sat 21 .. Sun 29).
SPRING_2023 = ["2023-01-18", "2023-01-19", "2023-01-20", "2023-01-30", "2023-01-31"]


def test_sessions_skip_spring_festival_2023() -> None:
    got = calendar.sessions("2023-01-18", "2023-01-31")
    assert list(got) == list(pd.DatetimeIndex(SPRING_2023))
    assert got.tz is None
    assert not calendar.is_session("2023-01-23")
    assert calendar.is_session("20230130")


def test_offset_session_crosses_the_holiday() -> None:
    assert calendar.offset_session("2023-01-20", 1) == pd.Timestamp("2023-01-30")
    assert calendar.offset_session("2023-01-30", -1) == pd.Timestamp("2023-01-20")
    # a holiday date counts from the session before it
    assert calendar.offset_session("2023-01-25", 1) == pd.Timestamp("2023-01-30")
    assert calendar.offset_session("2023-01-25", 0) == pd.Timestamp("2023-01-20")
    assert calendar.previous_session("2023-01-29") == pd.Timestamp("2023-01-20")


@pytest.mark.parametrize("value", ["1899-01-01", "1990-12-31", "2200-01-01"])
def test_to_date_out_of_range_raises(value: str) -> None:
    with pytest.raises(CalendarError, match="outside the XSHG calendar"):
        calendar.to_date(value, field="start")


def test_to_date_names_field_and_rejects_junk() -> None:
    with pytest.raises(CalendarError, match="--as-of"):
        calendar.to_date("1800-01-01", field="--as-of")
    with pytest.raises(CalendarError, match="YYYY-MM-DD"):
        calendar.to_date("not a date")
    assert calendar.to_date("20230224") == pd.Timestamp("2023-02-24")


def test_offset_session_leaving_calendar_raises() -> None:
    with pytest.raises(CalendarError):
        calendar.offset_session("1991-01-02", -1)


def test_sessions_start_after_end_raises() -> None:
    with pytest.raises(CalendarError, match="after"):
        calendar.sessions("2023-02-01", "2023-01-01")


# ------------------------------------------------------------------ sessions


def test_minute_stamps_are_240_closes() -> None:
    st = sessions.session_stamps(pd.Timestamp("2023-02-24"), "1m")
    assert len(st) == 240
    hm = list(st.strftime("%H:%M"))
    assert hm[0] == "09:31" and hm[119] == "11:30" and hm[120] == "13:01" and hm[-1] == "15:00"
    assert "11:31" not in hm and "13:00" not in hm and "09:30" not in hm


@pytest.mark.parametrize(("freq", "n"), [("5m", 48), ("15m", 16), ("30m", 8), ("60m", 4)])
def test_session_stamps_per_freq(freq: str, n: int) -> None:
    assert len(sessions.session_stamps(pd.Timestamp("2023-02-24"), freq)) == n


def test_bar_close_for_60m() -> None:
    st = sessions.session_stamps(pd.Timestamp("2023-02-24"), "1m")
    closes = sessions.bar_close_for(st, "60m")
    assert sorted(set(closes.strftime("%H:%M"))) == ["10:30", "11:30", "14:00", "15:00"]
    # each 60m bar holds exactly 60 one-minute bars, none across lunch
    assert pd.Series(closes).value_counts().eq(60).all()
    am = st.hour < 12
    assert (closes[am].hour < 12).all() and (closes[~am].hour >= 13).all()
    # 11:30 is the last morning minute, 13:01 the first afternoon one
    one = sessions.bar_close_for(pd.DatetimeIndex(["2023-02-24 11:30", "2023-02-24 13:01"]), "60m")
    assert list(one.strftime("%H:%M")) == ["11:30", "14:00"]


def test_bar_close_for_5m_and_no_lunch_span() -> None:
    st = sessions.session_stamps(pd.Timestamp("2023-02-24"), "1m")
    closes = sessions.bar_close_for(st, "5m")
    assert list(pd.DatetimeIndex(closes.unique())) == list(sessions.session_stamps(st[0], "5m"))
    assert closes[119].strftime("%H:%M") == "11:30" and closes[120].strftime("%H:%M") == "13:05"


def test_bar_close_for_outside_session_raises() -> None:
    with pytest.raises(ValueError, match="outside"):
        sessions.bar_close_for(pd.DatetimeIndex(["2023-02-24 12:00"]), "5m")
    with pytest.raises(ValueError, match="frequency"):
        sessions.bar_close_for(pd.DatetimeIndex(["2023-02-24 10:00"]), "7m")
