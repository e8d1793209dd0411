"""What every route shares: the service state, the bearer-token check, input parsing.

One name for a stock on every route: ``ts_code`` (``600519.SH``, ``sh600519``
or ``600519``), with ``symbol`` and ``code`` accepted as aliases (query
parameters marked deprecated in the OpenAPI schema; body fields through
:data:`tzero.service.schemas.TS_CODE_ALIASES`). An ``as_of`` after the newest
stored bar is refused: a forecast "as of" a day the store has not seen would
silently be one of the last stored day.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from tzero.data.store import MarketStore
from tzero.errors import CalendarError, SymbolError
from tzero.market import calendar
from tzero.market.symbols import to_ts_code
from tzero.models.lstm import LstmConfig
from tzero.service.cache import SERVICE_KEY_TTL_S, ServiceCache
from tzero.service.errors import echo, invalid
from tzero.service.jobs import JobRunner
from tzero.settings import Settings

#: The OpenAPI description of a ``ts_code`` parameter or field.
TS_CODE_HELP = "the stock: 600519.SH, sh600519 or 600519 (aliases: symbol, code)"
#: Longest date or bar-time string accepted (``2023-02-24T10:30:00+08:00`` is 25).
DATE_CHARS = 32


@dataclass
class ServiceState:
    """Everything a request may use, built once by :func:`tzero.service.app.create_app`.

    Attributes:
        lstm_config: replaces the LSTM configuration of every training the
            service runs (tests pass a tiny one); None: the training type's own.
        cache: the read caches (panels, the registry's current models,
            signals), keyed by the store manifest and the registry pointers
            they were computed from.
        static_dir: the web page's folder (``/static``), checked for the
            vendored assets by ``/api/health``.
    """

    settings: Settings
    engine: Engine
    Session: sessionmaker
    store: MarketStore
    runner: JobRunner
    lstm_config: LstmConfig | None = None
    static_dir: Path | None = None
    cache: ServiceCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = ServiceCache(self.store, self.settings.models_dir,
                                  session_factory=self.Session,
                                  universe=self.settings.universe,
                                  key_ttl_s=SERVICE_KEY_TTL_S)


def get_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState` (FastAPI dependency)."""
    return request.app.state.tzero


_bearer = HTTPBearer(auto_error=False, description="TZERO_API_TOKEN")

NO_TOKEN = "set TZERO_API_TOKEN to enable mutating routes"


def require_token(state: ServiceState = Depends(get_state),
                  cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """Mutating routes: ``Authorization: Bearer <TZERO_API_TOKEN>``.

    Raises:
        HTTPException: 403 when the server has no token configured, 401 when
            the header is missing or the token is wrong.
    """
    token = state.settings.api_token
    if not token:
        raise HTTPException(403, NO_TOKEN)
    if cred is None or not hmac.compare_digest(cred.credentials.encode(), token.encode()):
        raise HTTPException(401, "missing or wrong bearer token: send "
                                 "'Authorization: Bearer <TZERO_API_TOKEN>'",
                            headers={"WWW-Authenticate": "Bearer"})


def symbol(value: str, field: str = "ts_code") -> str:
    """Parse a user symbol; a bad one is a :class:`SymbolError` naming ``field``."""
    try:
        return to_ts_code(value)
    except SymbolError as exc:
        raise SymbolError(f"{field}: {exc}") from exc


def symbols(values: list[str] | str, field: str = "symbols") -> list[str]:
    """Parse a list (or a comma-separated string) of symbols, de-duplicated, in order."""
    items = [v for v in (values.split(",") if isinstance(values, str) else values) if v.strip()]
    if not items:
        raise SymbolError(f"{field}: no symbol given (e.g. 600519.SH,000001.SZ)")
    return list(dict.fromkeys(symbol(v, field) for v in items))


def body_symbols(ts_code: str | None, many: list[str] | None) -> list[str]:
    """The stocks of a request body (``ts_code`` and/or ``symbols``) parsed, de-duplicated.

    Raises:
        SymbolError: one does not parse; the message names ``ts_code`` or ``symbols``.
    """
    codes = [symbol(ts_code, "ts_code")] if ts_code else []
    return list(dict.fromkeys(codes + (symbols(many, "symbols") if many else [])))


def _alias(what: str) -> str:
    return f"alias of ts_code ({what}); prefer ts_code"


def _stock_params(help_text: str):
    """The ``ts_code`` / ``symbol`` / ``code`` query parameters, ``ts_code`` described by ``help_text``."""
    async def given(
            ts_code: str | None = Query(None, min_length=1, max_length=32, description=help_text),
            symbol: str | None = Query(None, min_length=1, max_length=32, deprecated=True,
                                       description=_alias("the spec-004 name")),
            code: str | None = Query(None, min_length=1, max_length=32, deprecated=True,
                                     description=_alias("a short form"))) -> tuple[str, str] | None:
        """The stock as given, ``(parameter name used, raw value)``, or None (FastAPI dependency).

        The stock dependencies are ``async`` only so that FastAPI runs them on
        the event loop (a plain ``def`` dependency costs a thread hop per request).

        Raises:
            RequestValidationError: two of the names give different values.
        """
        named = [(n, v) for n, v in (("ts_code", ts_code), ("symbol", symbol), ("code", code)) if v]
        if len({v for _, v in named}) > 1:
            both = " and ".join(f"{n}={echo(v)}" for n, v in named)
            raise invalid(named[0][0], f"the stock is given twice ({both}); give ts_code once")
        return named[0] if named else None
    return given


#: ``(name used, raw value)`` of an optional stock (``ts_code``, ``symbol`` or ``code``), or None.
ts_code_given = _stock_params(TS_CODE_HELP)
_ts_code_required = _stock_params(f"required (or one of its aliases): {TS_CODE_HELP}")


async def ts_code(given: tuple[str, str] | None = Depends(_ts_code_required)) -> str:
    """The required stock (``ts_code``, or its alias ``symbol`` / ``code``) as a ts_code.

    Raises:
        RequestValidationError: none of the three names is given (422).
        SymbolError: the value does not parse; the message names the parameter used (400).
    """
    if given is None:
        raise RequestValidationError([{
            "type": "missing", "loc": ("query", "ts_code"), "input": None,
            "msg": "Field required: give ts_code (or its alias symbol or code), e.g. ts_code=600519.SH"}])
    return symbol(given[1], given[0])


async def opt_ts_code(given: tuple[str, str] | None = Depends(ts_code_given)) -> str | None:
    """An optional stock filter (``ts_code``, ``symbol`` or ``code``) as a ts_code, or None."""
    return symbol(given[1], given[0]) if given else None


def date(value: str | None, field: str) -> pd.Timestamp | None:
    """Parse an optional date (``CalendarError`` naming ``field`` when bad)."""
    return calendar.to_date(value, field=field) if value not in (None, "") else None


def as_of(st: ServiceState, value: str | None, field: str = "as_of") -> pd.Timestamp | None:
    """Parse an optional as-of date, refusing one after the newest stored session.

    Raises:
        CalendarError: unparseable, outside the calendar, or after the store's
            last daily bar (the message names ``field`` and that session).
    """
    d = date(value, field)
    last = st.cache.last_session() if d is not None else None
    if last is not None and d > last:
        raise CalendarError(f"{field}: {d:%Y-%m-%d} is after the last stored session "
                            f"{last:%Y-%m-%d}; give an earlier date or ingest newer bars (tzero ingest)")
    return d


def bar_time(value: str | None, field: str = "as_of") -> pd.Timestamp | None:
    """Parse an optional bar time (``2023-02-24 10:30``) or date, naive Asia/Shanghai.

    A time with an offset (``…+08:00``) is converted to Shanghai wall time.

    Raises:
        CalendarError: unparseable, or its day outside the calendar; names ``field``.
    """
    if value in (None, ""):
        return None
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise CalendarError(f"{field}: cannot read {echo(value)} as a bar time or date "
                            "(use YYYY-MM-DD or YYYY-MM-DD HH:MM)") from exc
    if t is pd.NaT:
        raise CalendarError(f"{field}: empty bar time")
    t = t.tz_convert("Asia/Shanghai").tz_localize(None) if t.tzinfo else t
    calendar.to_date(t.normalize(), field=field)
    return t


def after_last_bar(t: pd.Timestamp | None, last: pd.Timestamp, what: str,
                   field: str = "as_of") -> None:
    """Refuse a bar time (or a date: its day) after ``last``, the newest bar of ``what``.

    Raises:
        CalendarError: ``t`` is after ``last``; the message names ``field`` and ``last``.
    """
    if t is None:
        return
    day_only = t == t.normalize()
    if (t.normalize() > last.normalize()) if day_only else (t > last):
        shown = f"{t:%Y-%m-%d}" if day_only else f"{t:%Y-%m-%d %H:%M}"
        raise CalendarError(f"{field}: {shown} is after the last stored bar of {what} "
                            f"({last:%Y-%m-%d %H:%M}); give an earlier time or ingest newer bars")
