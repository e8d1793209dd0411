"""What every route shares: the service state, the bearer-token check, input parsing."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import pandas as pd
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from tzero.data.store import MarketStore
from tzero.errors import SymbolError
from tzero.market import calendar
from tzero.market.symbols import to_ts_code
from tzero.models.lstm import LstmConfig
from tzero.service.cache import SERVICE_KEY_TTL_S, ServiceCache
from tzero.service.jobs import JobRunner
from tzero.settings import Settings


@dataclass
class ServiceState:
    """Everything a request may use, built once by :func:`tzero.service.app.create_app`.

    Attributes:
        lstm_config: replaces the LSTM configuration of every training the
            service runs (tests pass a tiny one); None: the training type's own.
        cache: the read caches (panels, the registry's current models,
            signals), keyed by the store manifest and the registry pointers
            they were computed from.
    """

    settings: Settings
    engine: Engine
    Session: sessionmaker
    store: MarketStore
    runner: JobRunner
    lstm_config: LstmConfig | None = None
    cache: ServiceCache | None = None

    def __post_init__(self) -> None:
        if self.cache is None:
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


def symbol(value: str, field: str = "symbol") -> str:
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


def date(value: str | None, field: str) -> pd.Timestamp | None:
    """Parse an optional date (``CalendarError`` naming ``field`` when bad)."""
    return calendar.to_date(value, field=field) if value not in (None, "") else None


def last_session(store: MarketStore) -> pd.Timestamp | None:
    """The newest daily bar in the store (the service's "today"), None when empty."""
    if not store.has("bars_1d"):
        return None
    df = store.query("bars_1d", columns="max(trade_time) AS t", order_by="1")
    t = df["t"].iloc[0] if len(df) else None
    return None if t is None or pd.isna(t) else pd.Timestamp(t).normalize()
