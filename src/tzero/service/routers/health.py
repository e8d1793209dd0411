"""``/api/health``: liveness, the package version, store and database."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tzero import __version__
from tzero.service.deps import ServiceState, get_state
from tzero.service.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(st: ServiceState = Depends(get_state)) -> dict:
    """``status`` ok, daily bars in the store (or ``empty``), the app store's dialect, jobs under way."""
    n = 0
    if st.store.has("bars_1d"):
        n = int(st.store.query("bars_1d", columns="count(*) AS n", order_by="1")["n"].iloc[0])
    return {"status": "ok", "version": __version__, "store": n or "empty",
            "db": st.engine.dialect.name, "jobs_running": st.runner.running()}
