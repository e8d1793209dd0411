"""``/api/research``: the stored comparison runs of ``tzero compare`` (spec 003 §3) and the A/B views.

Read-only: a comparison runs from the CLI (``tzero compare``, tens of minutes
on a universe); the service serves what it stored. ``/compare`` is the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from tzero.research import compare_store
from tzero.service import deps
from tzero.service.deps import ServiceState, get_state
from tzero.service.schemas_research import CompareResult, CompareRunSummary, StockAB

router = APIRouter(prefix="/api/research", tags=["research"])


@router.get("/runs", response_model=list[CompareRunSummary])
async def runs(universe: str | None = Query(None, max_length=32, description="only this universe"),
               st: ServiceState = Depends(get_state)) -> list[dict]:
    """Every stored comparison run, newest first (empty list when none was run)."""
    return await run_in_threadpool(compare_store.list_runs, st.Session, universe)


@router.get("/compare", response_model=CompareResult)
async def compare(run: str | None = Query(None, max_length=64,
                                          description="run id; default: the newest"),
                  universe: str | None = Query(None, max_length=32,
                                               description="newest run of this universe"),
                  st: ServiceState = Depends(get_state)) -> dict:
    """One comparison: every model's and baseline's metrics, verdict, robustness and curves.

    400 (with how to make one) when no run is stored or ``run`` is unknown.
    """
    return await run_in_threadpool(compare_store.get_run, st.Session, run, universe)


@router.get("/compare/stock", response_model=StockAB)
async def compare_stock(code: str = Depends(deps.ts_code),
                        run: str | None = Query(None, max_length=64),
                        models: str | None = Query(None, max_length=400,
                                                   description="comma-separated; default: all"),
                        st: ServiceState = Depends(get_state)) -> dict:
    """Per-stock A/B of one run (e.g. lstm_shared vs lstm_refinement vs lstm, FULL_LSTM):
    direction accuracy, MSE and a long/flat curve of each row's forecast on one sample stock
    (``ts_code``; aliases ``symbol``, ``code``)."""
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None

    def body() -> dict:
        res = compare_store.get_run(st.Session, run)
        return compare_store.stock_ab(st.settings.home, res, code, names)
    return await run_in_threadpool(body)
