"""``/api/signals``: unified signals from the file-based models of ``tzero demo`` / ``tzero train``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query

from tzero.errors import ModelError
from tzero.service import deps
from tzero.service.deps import ServiceState, get_state
from tzero.signals.engine import DEFAULT_HOLDINGS, predict_signals

router = APIRouter(prefix="/api", tags=["signals"])


@router.get("/signals", response_model=list[dict])
def signals(symbols: str | None = Query(None, max_length=2000,
                                        description="comma-separated, e.g. 600519.SH,000001.SZ; "
                                                    "default: the ten default holdings"),
            as_of: str | None = Query(None, description="default: the newest session"),
            st: ServiceState = Depends(get_state)) -> list[dict]:
    """One :class:`~tzero.signals.signal.Signal` per symbol, 5 sessions ahead.

    Models the latest research run blocked (``tzero research report``) do not
    vote; each signal lists them under ``blocked_models``.
    """
    codes = deps.symbols(symbols, "symbols") if symbols else list(DEFAULT_HOLDINGS)
    d = deps.date(as_of, "as_of")
    try:
        trained, _ = st.cache.trained()
    except ModelError as exc:
        raise HTTPException(404, str(exc)) from exc
    panel = st.cache.panel(codes, end=d)
    blocked = st.cache.blocked(st.Session)
    return st.cache.signals_for(
        codes, (d, tuple(sorted(blocked.items()))),
        lambda: [s.to_dict() for s in predict_signals(panel, trained, d, blocked=blocked)])
