"""``/api/signals``: unified signals from the registry's current versions (the one serving path)."""

from __future__ import annotations

import json

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from tzero.errors import ModelError, StoreError
from tzero.service import deps
from tzero.service.deps import ServiceState, get_state
from tzero.signals.engine import (
    DEFAULT_HOLDINGS,
    cross_section_panel,
    predict_signals,
    record_served,
)

router = APIRouter(prefix="/api", tags=["signals"])


@router.get("/signals", response_model=list[dict])
async def signals(symbols: str | None = Query(None, max_length=2000,
                                              description="comma-separated, e.g. 600519.SH,000001.SZ; "
                                                          "default: the ten default holdings"),
                  given: tuple[str, str] | None = Depends(deps.ts_code_given),
                  as_of: str | None = Query(None, max_length=deps.DATE_CHARS,
                                            description="default: the newest session; not after it"),
                  st: ServiceState = Depends(get_state)) -> Response:
    """One :class:`~tzero.signals.signal.Signal` per symbol, 5 sessions ahead.

    The stocks are ``symbols`` and/or ``ts_code`` (aliases ``symbol``,
    ``code``; comma-separated too). Models the latest research run blocked
    (``tzero research report``) do not vote; each signal lists them under
    ``blocked_models``. Symbols no current version serves are left out; 404
    when that is every symbol.
    """
    codes = deps.symbols(symbols, "symbols") if symbols else []
    codes += deps.symbols(given[1], given[0]) if given else []
    codes = list(dict.fromkeys(codes)) or list(DEFAULT_HOLDINGS)
    d = deps.as_of(st, as_of)
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
        xs = cross_section_panel(st.Session, st.store, served, d or panel["trade_time"].max(),
                                 data_dir=st.settings.data_dir)
        sigs = predict_signals(panel, served, d, blocked=blocked, skip_uncovered=True,
                               cross_section=xs)
        if sigs:
            record_served(st.Session, served, sigs)
        return json.dumps([s.to_dict() for s in sigs], ensure_ascii=False).encode()
    return st.cache.signals_for(codes, req, compute, keys)


@router.get("/signals/intraday", response_model=dict)
def intraday_signal(code: str = Depends(deps.ts_code),
                    freq: str = Query("5m", pattern="^(5m|15m|30m)$"),
                    train_days: int = Query(40, ge=5, le=250),
                    as_of: str | None = Query(None, max_length=deps.DATE_CHARS,
                                              description="bar time (YYYY-MM-DD HH:MM) or date (its last "
                                                          "bar); default the last bar; not after it"),
                    st: ServiceState = Depends(get_state)) -> dict:
    """The intraday T+0 :class:`~tzero.signals.signal.Signal` (horizon in bars, ``horizon_unit``).

    Fits the intraday HMM, LSTM and ARIMA on the ``train_days`` sessions before
    ``as_of``'s day and forecasts at ``as_of``; cached per store version and
    inputs. Models the latest research run blocked do not vote. The stock is
    ``ts_code`` (aliases ``symbol``, ``code``); an ``as_of`` after its last
    stored 1-minute bar is refused (400).
    """
    from tzero.data.bars import read_bars
    from tzero.errors import StoreError
    from tzero.research.t0 import intraday_blocked
    from tzero.signals.intraday import latest_intraday_signal

    t = deps.bar_time(as_of)
    blocked = intraday_blocked(st.cache.blocked(st.Session))

    def compute() -> list[dict]:
        bars = read_bars(st.store, [code], "1m", "none")
        if bars.empty:
            raise StoreError(f"no 1-minute bars for {code}: ingest a TDX folder with minline/")
        deps.after_last_bar(t, pd.Timestamp(bars["trade_time"].max()), code)
        return [latest_intraday_signal(bars, freq=freq, train_days=train_days, as_of=t,
                                       blocked=blocked, seed=st.settings.seed).to_dict()]
    key = ("intraday", freq, train_days, str(t), tuple(sorted(blocked.items())))
    return st.cache.signals_for([code], key, compute)[0]


@router.get("/signals/{ts_code}/explain", response_model=dict)
async def explain(ts_code: str = Path(..., min_length=1, max_length=32, description=deps.TS_CODE_HELP),
                  as_of: str | None = Query(None, max_length=deps.DATE_CHARS,
                                            description="default: the newest session; not after it"),
                  st: ServiceState = Depends(get_state)) -> dict:
    """The drivers of the forecasts that serve ``ts_code``'s Signal (spec 000 §5.2).

    Per model that explains (the model table's ``explains`` capability):
    SHAP values summed per input channel (``drivers``) and per session
    (``days``), variable importances (TFT) and attention over the session's
    stocks (``stocks``), with the version id that voted. Each explained
    version is recorded as a ``model_inference_run`` with the explanation.
    404 when no current version serves the stock.
    """
    code = deps.symbol(ts_code, "ts_code")
    d = deps.as_of(st, as_of)
    return await run_in_threadpool(_explain, st, code, d)


def _explain(st: ServiceState, code: str, d) -> dict:
    from tzero.data.model_runs import record_inference_run
    from tzero.signals.explain import explain_signal

    try:
        served, _ = st.cache.served([code])
        panel = st.cache.panel([code], end=d)
    except (ModelError, StoreError) as exc:
        raise HTTPException(404, str(exc)) from exc
    day = d or panel["trade_time"].max()
    xs = cross_section_panel(st.Session, st.store, served, day, always=True,
                             data_dir=st.settings.data_dir)
    out = explain_signal(served, panel, code, d, cross_section=xs)
    with st.Session.begin() as s:
        for e in out["explanations"]:
            record_inference_run(s, model_name=e["model"], model_key=served.key(e["model"], code),
                                 version_id=e["version_id"], as_of=out["as_of"], n_rows=1,
                                 config={"kind": "explain", "ts_code": code}, explanation=e)
    return out

