"""``/api/kline``: bars from the market store at any frequency and adjustment."""

from __future__ import annotations

from typing import Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query

from tzero.data.bars import KLINE_COLUMNS, read_bars
from tzero.service import deps
from tzero.service.deps import ServiceState, get_state

router = APIRouter(prefix="/api", tags=["kline"])


@router.get("/kline", response_model=list[dict])
def kline(code: str = Depends(deps.ts_code),
          freq: Literal["1d", "1m", "5m", "15m", "30m", "60m"] = "1d",
          adjust: Literal["none", "qfq", "hfq"] = "none",
          start: str | None = Query(None, max_length=deps.DATE_CHARS, description="YYYY-MM-DD, inclusive"),
          end: str | None = Query(None, max_length=deps.DATE_CHARS, description="YYYY-MM-DD, inclusive"),
          st: ServiceState = Depends(get_state)) -> list[dict]:
    """Rows with the kline columns (volume in shares, amount in CNY, trade_time ISO 8601).

    The stock is ``ts_code`` (aliases ``symbol``, ``code``).
    """
    s, e = deps.date(start, "start"), deps.date(end, "end")
    df = read_bars(st.store, [code], freq, adjust, start=s, end=e)
    df = df[KLINE_COLUMNS].copy()
    df["trade_time"] = pd.DatetimeIndex(df["trade_time"]).strftime("%Y-%m-%dT%H:%M:%S")
    return df.astype(object).where(df.notna(), None).to_dict(orient="records")
