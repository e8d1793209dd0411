"""``/api/lstm``: the model lifecycle of spec 004 §5.2 (train, predict, versions, monitoring).

Training and trigger runs are background jobs (202 + ``job_id``; poll
``GET /api/jobs/{job_id}``). Every POST needs the bearer token; so does
``GET /predict?trigger_train_async=1``, since it starts training.
"""

from __future__ import annotations

import logging
import os

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials

from tzero.errors import ModelError, StoreError
from tzero.models import table
from tzero.registry import flow, lifecycle, monitoring, versions
from tzero.registry import triggers as trg
from tzero.service import deps, plots
from tzero.service.deps import ServiceState, get_state, require_token
from tzero.service.schemas import (
    AlertsRequest,
    CheckTriggersRequest,
    JobRef,
    PlotData,
    PredictionOut,
    RollbackOut,
    RollbackRequest,
    TrainRequest,
    TriggersOut,
    UpdateAccuracyOut,
    UpdateAccuracyRequest,
    VersionsOut,
)
from tzero.signals.direction import LABELS, direction
from tzero.signals.engine import DEFAULT_HOLDINGS, load_panel

router = APIRouter(prefix="/api/lstm", tags=["lstm"])
log = logging.getLogger("tzero.service")

AsOfQ = Query(None, max_length=deps.DATE_CHARS, description="default: the newest session; not after it")


def _today(st: ServiceState, as_of: str | None, field: str) -> pd.Timestamp:
    """``as_of`` parsed (not after the newest session), else the newest session (the service's "today")."""
    d = deps.as_of(st, as_of, field)
    if d is not None:
        return d
    last = st.cache.last_session()
    if last is None:
        raise StoreError("the market store holds no daily bars; run `tzero ingest tdx DIR` first")
    return last


def _n_jobs(n: int) -> int:
    return max(1, min(os.cpu_count() or 1, n))


# ---------------------------------------------------------------- training
def _train_job(st: ServiceState, panel: pd.DataFrame, codes: list[str], training_type: str,
               trigger: str = "manual"):
    """A job training ``codes`` in batches of ``n_jobs`` symbols; progress = symbols done."""
    def run(progress) -> list[dict]:
        n = _n_jobs(len(codes))
        outs: list[dict] = []
        for i in range(0, len(codes), n):
            chunk = codes[i:i + n]
            for o in lifecycle.train_batch(st.Session, panel, chunk, training_type, trigger,
                                           st.settings.seed, None, n,
                                           max_versions=st.settings.max_versions, config=st.lstm_config):
                outs.append(o.as_dict())
            progress(len(outs), len(codes))
        return outs
    return run


@router.post("/train", status_code=status.HTTP_202_ACCEPTED, response_model=JobRef,
             dependencies=[Depends(require_token)])
def train(body: TrainRequest, st: ServiceState = Depends(get_state)) -> dict:
    """Queue LSTM training of the symbols through the deploy gate (spec 004 §3.2–§3.4)."""
    codes = deps.body_symbols(body.ts_code, body.symbols)
    start, end = deps.date(body.start, "start"), deps.date(body.end, "end")
    if start is not None and end is not None and start > end:
        raise ValueError(f"start {start.date()} is after end {end.date()}")
    panel = load_panel(st.store, codes, end=end, start=start)   # unknown symbols fail here, not in the job
    ttype = ("incremental" if body.incremental else
             "fast" if body.fast_training and not body.do_cv_tune else "full")
    params = {**body.model_dump(), "symbols": codes, "training_type": ttype}
    return {"job_id": st.runner.submit("lstm_train", params, _train_job(st, panel, codes, ttype),
                                       total=len(codes))}


def _triggers_job(st: ServiceState, codes: list[str], day: pd.Timestamp, mode: str):
    """A job: check the triggers of ``codes`` on ``day`` and train what they ask for."""
    def run(progress) -> list[dict]:
        panel = load_panel(st.store, codes, end=day)
        with st.Session() as s:
            rows = trg.check_triggers(s, codes, day)
        groups = trg.training_batches(rows, mode)
        total, done = sum(len(v) for v in groups.values()), 0
        progress(0, total)
        for (ttype, name), syms in groups.items():
            for o in lifecycle.train_batch(st.Session, panel, syms, ttype, name, st.settings.seed, None,
                                           _n_jobs(len(syms)), max_versions=st.settings.max_versions,
                                           config=st.lstm_config):
                next(r for r in rows if r["symbol"] == o.symbol)["run"] = o.as_dict()
                done += 1
            progress(done, total)
        return rows
    return run


@router.post("/check-triggers", response_model=TriggersOut, dependencies=[Depends(require_token)])
def check_triggers(body: CheckTriggersRequest, response: Response,
                   st: ServiceState = Depends(get_state)) -> dict:
    """Training triggers of spec 004 §3.6; with ``run`` the triggered training is queued (202)."""
    codes = deps.body_symbols(body.ts_code, body.symbols) or list(DEFAULT_HOLDINGS)
    day = _today(st, body.as_of, "as_of")
    with st.Session() as s:
        rows = trg.check_triggers(s, codes, day)
    job_id = None
    if body.run:
        st.cache.panel(codes, end=day)   # unknown symbols: 404 now, not a failed job
        job_id = st.runner.submit("lstm_triggers", {**body.model_dump(), "symbols": codes},
                                  _triggers_job(st, codes, day, body.mode))
        response.status_code = status.HTTP_202_ACCEPTED
    return {"as_of": f"{day:%Y-%m-%d}", "triggers": rows, "job_id": job_id}


# -------------------------------------------------------------- prediction
@router.get("/predict", response_model=PredictionOut)
async def predict(code: str = Depends(deps.ts_code), use_fallback: bool = True,
                  trigger_train_async: bool = False, as_of: str | None = AsOfQ,
                  st: ServiceState = Depends(get_state),
            cred: HTTPAuthorizationCredentials | None = Depends(deps._bearer)) -> Response:
    """Serve and log a 5-session forecast (spec 004 §3.7): LSTM → ARIMA → technical rules.

    ``trigger_train_async=1`` also queues a check-triggers-and-train job (needs the token).
    The stock is ``ts_code`` (aliases ``symbol``, ``code``).
    """
    d = deps.as_of(st, as_of)
    if trigger_train_async:
        require_token(st, cred)
    keys = st.cache.keys()                       # before anything they guard is loaded
    blocked = st.cache.blocked(st.Session)
    req = (code, str(d), use_fallback, tuple(sorted(blocked.items())))
    out: PredictionOut | None = st.cache.peek_prediction(req, keys)
    if out is None:                              # a miss reads, predicts and logs: off the loop
        out = await run_in_threadpool(_predict_out, st, code, d, use_fallback, blocked, req, keys)
    if trigger_train_async:
        out = out.model_copy(update={"job_id": st.runner.submit(
            "lstm_triggers", {"symbols": [code], "as_of": out.predict_date},
            _triggers_job(st, [code], pd.Timestamp(out.predict_date), "fast"))})
    return Response(out.model_dump_json(), media_type="application/json")


def _predict_out(st: ServiceState, code: str, d, use_fallback: bool, blocked: dict, req: tuple,
                 keys: tuple) -> PredictionOut:
    """Serve, log and cache one prediction (the day's forecast of a version is logged once)."""
    panel = st.cache.panel([code], end=d)
    day = d if d is not None else pd.Timestamp(panel["trade_time"].max())

    def serve() -> PredictionOut:
        with st.Session.begin() as s:
            p = flow.predict_with_fallback(s, panel, code, day, use_fallback,
                                           blocked=blocked).as_dict()
        return PredictionOut.model_validate(_as_served(p))
    return st.cache.prediction(req, serve, keys)


def _as_served(p: dict) -> dict:
    """A logged prediction as the API serves it: ``direction`` (+1/0/−1) and
    ``direction_label`` by the one rule of :func:`tzero.signals.direction.direction`
    on ``prob_up`` and ``magnitude`` (the same rule as every vote of ``/api/signals``),
    ``prob_down = 1 − prob_up``. The log keeps spec 004's 0/1 direction
    (``prob_up > 0.5``) that the accuracy back-fill scores."""
    side = direction(p["prob_up"], p["magnitude"])
    return {**p, "prob_down": 1.0 - p["prob_up"], "direction": side, "direction_label": LABELS[side]}


# -------------------------------------------------------------------- plots
@router.get("/plot-data", response_model=PlotData)
def plot_data(code: str = Depends(deps.ts_code), years: int = Query(1, ge=1, le=3, description="1, 2 or 3"),
              st: ServiceState = Depends(get_state)) -> dict:
    """Predicted vs actual series, aligned per spec 004 §6.2, of the stock's first serving model.

    The model is the first daily, voting model of the table with a current
    version for the stock (or for a universe trained on it); the answer names
    it (``model``, ``version_id``). 404 when no model has one.
    """
    return plots.plot_data(st.Session, st.store, code, years, st.settings.universe)


@router.get("/plot", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 404: {"description": "no current version"}})
def plot(code: str = Depends(deps.ts_code), generate: bool = True,
         st: ServiceState = Depends(get_state)) -> Response:
    """PNG of predicted vs actual price over the last year (the model of ``/plot-data``).

    ``generate=1`` (default) draws it now and keeps it under
    ``TZERO_HOME/reports/plots``; ``generate=0`` serves the kept one.
    """
    folder = st.settings.reports_dir / "plots"
    if generate:
        data = plots.plot_data(st.Session, st.store, code, 1, st.settings.universe)
        path = folder / f"{data['version_id']}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(plots.plot_png(data))
        return Response(path.read_bytes(), media_type="image/png")
    found = plots.fit_curve_models(st.Session, code, st.settings.universe)
    if not found:
        raise plots.no_version(code)
    for f in found:
        path = folder / f"{f.version_id}.png"
        if path.is_file():
            return Response(path.read_bytes(), media_type="image/png")
    raise HTTPException(404, f"{code}: no plot of {found[0].version_id} kept; ask with generate=1")


# --------------------------------------------------------- runs & versions
@router.get("/training-runs", response_model=list[dict])
def training_runs(sym: str | None = Depends(deps.opt_ts_code), limit: int = Query(50, ge=1, le=1000),
                  st: ServiceState = Depends(get_state)) -> list[dict]:
    """Training runs, newest first (``lstm_training_run``); ``ts_code`` filters one stock."""
    with st.Session() as s:
        return lifecycle.training_runs(s, sym, limit)


@router.get("/versions", response_model=VersionsOut)
def list_versions(sym: str | None = Depends(deps.opt_ts_code),
                  model: str | None = Query(None, min_length=1, max_length=64,
                                            description="one model of the table (`tzero models`); "
                                                        "default: every model"),
                  st: ServiceState = Depends(get_state)) -> dict:
    """Versions of every model (or of ``model``) newest first: status, kept for rollback,
    holdout; and the current version per model and key (ts_code, or universe name)."""
    if model is not None and model not in table.names():
        raise ValueError(f"model: unknown model {model!r}: expected one of {table.names()}")
    with st.Session() as s:
        rows = versions.list_versions(s, model, sym)
    current: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["current"]:
            current.setdefault(r["model"], {})[r["symbol"]] = r["version_id"]
    return {"versions": rows, "current": current}


@router.post("/rollback", response_model=RollbackOut, dependencies=[Depends(require_token)])
def rollback(body: RollbackRequest, st: ServiceState = Depends(get_state)) -> dict:
    """Serve a kept earlier version again (404 unknown, 409 when its blob was dropped)."""
    from tzero.data.appdb import ModelVersion
    with st.Session.begin() as s:
        if s.get(ModelVersion, body.version_id) is None:
            raise HTTPException(404, f"version_id: unknown version {body.version_id!r}; "
                                     f"see GET /api/lstm/versions")
        try:
            row = versions.rollback(s, body.version_id)
        except ModelError as exc:
            raise HTTPException(409, f"version_id: {exc}") from exc
        return {"symbol": row.symbol, "current": row.version_id}


# --------------------------------------------------------------- monitoring
@router.post("/update-accuracy", response_model=UpdateAccuracyOut, dependencies=[Depends(require_token)])
def update_accuracy(body: UpdateAccuracyRequest, st: ServiceState = Depends(get_state)) -> dict:
    """Back-fill accuracy of logged predictions whose t+5 close is known (spec 004 §3.9)."""
    code = deps.symbol(body.ts_code)
    day = _today(st, body.as_of_date, "as_of_date")
    panel = st.cache.panel([code], end=day)
    with st.Session.begin() as s:
        n = monitoring.update_accuracy(s, panel, code, day)
    return {"symbol": code, "as_of_date": f"{day:%Y-%m-%d}", "records_written": n}


@router.get("/monitoring", response_model=dict)
def monitoring_status(sym: str | None = Depends(deps.opt_ts_code), as_of: str | None = AsOfQ,
                      st: ServiceState = Depends(get_state)) -> dict:
    """Monitoring status (spec 004 §3.10) as of a session (default: the newest in the store)."""
    day = _today(st, as_of, "as_of")
    with st.Session() as s:
        return monitoring.monitoring_status(s, sym, day)


@router.get("/performance-decay", response_model=dict)
def performance_decay(sym: str | None = Depends(deps.opt_ts_code),
                      threshold: float = Query(monitoring.DECAY_THRESHOLD, gt=0, le=1000),
                      n_recent: int = Query(monitoring.DECAY_N_RECENT, ge=1, le=10000),
                      log_result: bool = Query(False, alias="log", description="write the result to the server log"),
                      st: ServiceState = Depends(get_state)) -> dict:
    """Performance-decay check (spec 004 §3.11): recent mean error > threshold × historical."""
    with st.Session() as s:
        res = monitoring.detect_performance_decay(s, sym, n_recent, threshold)
    if log_result:
        log.log(logging.WARNING if res["triggered"] else logging.INFO, "performance decay %s", res)
    return res


@router.post("/alerts", response_model=list[dict], dependencies=[Depends(require_token)])
def alerts(body: AlertsRequest, st: ServiceState = Depends(get_state)) -> list[dict]:
    """The alerts of spec 004 §3.12 that hold now; ``fire`` logs them and calls the webhook."""
    codes = deps.symbols(body.symbols, "symbols") if body.symbols else list(DEFAULT_HOLDINGS)
    day = _today(st, body.as_of, "as_of")
    with st.Session.begin() as s:
        found = monitoring.check_alerts(s, codes, day)
        if body.fire:
            return monitoring.fire_alerts(s, found, day, st.settings.alert_webhook)
        return [a.__dict__ for a in found]


@router.get("/alerts", response_model=list[dict])
def alert_log(limit: int = Query(100, ge=1, le=1000), st: ServiceState = Depends(get_state)) -> list[dict]:
    """Alerts fired so far, newest first."""
    with st.Session() as s:
        return monitoring.alert_log(s, limit)


@router.get("/training-spec", responses={200: {"content": {"application/json": {}, "text/markdown": {}}}})
def training_spec(fmt: str = Query("json", alias="format", pattern="^(json|md)$")):
    """The LSTM training spec (spec 002 §5) generated from the code: JSON or Markdown."""
    from tzero.registry.spec_doc import training_spec as spec_json
    from tzero.registry.spec_doc import training_spec_markdown
    if fmt == "md":
        return Response(training_spec_markdown(), media_type="text/markdown; charset=utf-8")
    return spec_json()
