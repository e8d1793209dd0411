"""``/api/signals``: unified signals from the registry's current versions (the one serving path)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool

from tzero.errors import ModelError
from tzero.service import deps
from tzero.service.deps import ServiceState, get_state
from tzero.signals.engine import DEFAULT_HOLDINGS, predict_signals, record_served

router = APIRouter(prefix="/api", tags=["signals"])


@router.get("/signals", response_model=list[dict])
async def signals(symbols: str | None = Query(None, max_length=2000,
                                        description="comma-separated, e.g. 600519.SH,000001.SZ; "
                                                    "default: the ten default holdings"),
            as_of: str | None = Query(None, description="default: the newest session"),
            st: ServiceState = Depends(get_state)) -> Response:
    """One :class:`~tzero.signals.signal.Signal` per symbol, 5 sessions ahead.

    Models the latest research run blocked (``tzero research report``) do not
    vote; each signal lists them under ``blocked_models``. Symbols no current
    version serves are left out; 404 when that is every symbol.
    """
    codes = deps.symbols(symbols, "symbols") if symbols else list(DEFAULT_HOLDINGS)
    d = deps.date(as_of, "as_of")
    keys = st.cache.keys()                       # before anything they guard is loaded
    blocked = st.cache.blocked(st.Session)
    req = (d, tuple(sorted(blocked.items())))
    body = st.cache.peek_signals(codes, req, keys)
    if body is None:                             # a miss loads and predicts: off the event loop
        body = await run_in_threadpool(_signals_body, st, codes, d, blocked, req, keys)
    if body == b"[]":
        raise HTTPException(404, f"no current model version serves {codes}; run `make demo` "
                                 "(tzero demo) or `tzero train` first")
    return Response(body, media_type="application/json")


def _signals_body(st: ServiceState, codes: list[str], d, blocked: dict, req: tuple,
                  keys: tuple) -> bytes:
    """The JSON body of ``/api/signals`` (computed once per inputs; the run is recorded then)."""
    try:
        served, _ = st.cache.served(codes)
    except ModelError as exc:
        raise HTTPException(404, str(exc)) from exc
    panel = st.cache.panel(codes, end=d)

    def compute() -> bytes:
        sigs = predict_signals(panel, served, d, blocked=blocked, skip_uncovered=True)
        if sigs:
            record_served(st.Session, served, sigs)
        return json.dumps([s.to_dict() for s in sigs], ensure_ascii=False).encode()
    return st.cache.signals_for(codes, req, compute, keys)


@router.get("/signals/intraday", response_model=dict)
def intraday_signal(symbol: str = Query(..., max_length=32, description="e.g. 688001.SH"),
                    freq: str = Query("5m", pattern="^(5m|15m|30m)$"),
                    train_days: int = Query(40, ge=5, le=250),
                    as_of: str | None = Query(None, description="bar time or date; default the last bar"),
                    st: ServiceState = Depends(get_state)) -> dict:
    """The intraday T+0 :class:`~tzero.signals.signal.Signal` (horizon in bars, ``horizon_unit``).

    Fits the intraday HMM, LSTM and ARIMA on the ``train_days`` sessions before
    ``as_of``'s day and forecasts at ``as_of``; cached per store version and
    inputs. Models the latest research run blocked do not vote.
    """
    from tzero.data.bars import read_bars
    from tzero.errors import StoreError
    from tzero.research.t0 import intraday_blocked
    from tzero.signals.intraday import latest_intraday_signal

    code = deps.symbol(symbol)
    blocked = intraday_blocked(st.cache.blocked(st.Session))

    def compute() -> list[dict]:
        bars = read_bars(st.store, [code], "1m", "none")
        if bars.empty:
            raise StoreError(f"no 1-minute bars for {code}: ingest a TDX folder with minline/")
        return [latest_intraday_signal(bars, freq=freq, train_days=train_days, as_of=as_of,
                                       blocked=blocked, seed=st.settings.seed).to_dict()]
    key = ("intraday", freq, train_days, as_of, tuple(sorted(blocked.items())))
    return st.cache.signals_for([code], key, compute)[0]
