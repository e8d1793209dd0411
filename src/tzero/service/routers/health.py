"""``/api/health``: liveness, the package version, store, database, job worker and web assets."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tzero import __version__
from tzero.service import assets
from tzero.service.deps import ServiceState, get_state
from tzero.service.errors import DB_ERRORS, db_reason
from tzero.service.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(st: ServiceState = Depends(get_state)) -> dict:
    """``ok``, or ``degraded`` with one reason per problem; always 200 while the server answers.

    Degraded: the app store cannot be reached (its routes answer 503
    meanwhile), the job worker waits for it or has stopped, or a vendored web
    asset (ECharts, Swagger UI) is missing. Also: daily bars in the store (or
    ``empty``), the app store's dialect, jobs pending or running.
    """
    reasons: list[str] = []
    jobs: int | None = None
    try:
        jobs = st.runner.running()
    except DB_ERRORS as exc:
        reasons.append(f"database unavailable ({st.engine.dialect.name}): {db_reason(exc)}")
    if st.runner.db_error:
        reasons.append(f"job worker waiting for the database: {st.runner.db_error}")
    if not st.runner.alive():
        reasons.append("job worker stopped: restart the server (tzero serve); see its log")
    static = st.static_dir
    gone = assets.missing(static) if static is not None else []
    if static is not None and gone:
        reasons.append(assets.missing_message(static, gone))
    n = 0
    if st.store.has("bars_1d"):
        n = int(st.store.query("bars_1d", columns="count(*) AS n", order_by="1")["n"].iloc[0])
    return {"status": "degraded" if reasons else "ok", "reasons": reasons, "version": __version__,
            "store": n or "empty", "db": st.engine.dialect.name, "jobs_running": jobs}
