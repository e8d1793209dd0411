"""The FastAPI application: routers, error mapping, job runner and the web page.

Errors (never a 5xx for bad input):

- 400: :class:`~tzero.errors.SymbolError`, :class:`~tzero.errors.CalendarError`,
  other :class:`~tzero.errors.TzeroError` and parsing ``ValueError`` — the
  message names the field and says how to fix it;
- 404: :class:`~tzero.errors.StoreError` (no such bars), no current version,
  unknown job or version;
- 409: :class:`~tzero.errors.ModelError` (the model state forbids it);
- 401/403: mutating routes without the right bearer token;
- 422: request validation, one line naming each field (:mod:`tzero.service.errors`);
- 503: the app store cannot be reached (one-line reason, ``Retry-After``);
  ``/api/health`` says ``degraded`` meanwhile and the job worker waits.

Every message is one line; a user's input is echoed at most 40 characters.
``/docs`` is Swagger UI on files the app serves (:mod:`tzero.service.assets`).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from tzero import __version__
from tzero.data.appdb import open_app_store
from tzero.data.market_store import open_market_store
from tzero.errors import ModelError, StoreError, TzeroError
from tzero.models.lstm import LstmConfig
from tzero.registry import versions
from tzero.service import assets, errors
from tzero.service.deps import ServiceState
from tzero.service.jobs import JobRunner
from tzero.service.plots import NoVersion
from tzero.service.routers import health, jobs, kline, live, lstm, research, signals
from tzero.settings import Settings, get_settings

log = logging.getLogger("tzero.service")

STATIC_DIR = Path(__file__).resolve().with_name("static")
_NO_PAGE = ("<!doctype html><title>tzero</title><p>The web page is not built "
            "(<code>src/tzero/service/static/index.html</code> is missing). "
            "The API is at <a href='/docs'>/docs</a>.</p>")


def _index() -> FileResponse | HTMLResponse:
    page = STATIC_DIR / "index.html"
    return FileResponse(page) if page.is_file() else HTMLResponse(_NO_PAGE)


def _compare_page() -> FileResponse | HTMLResponse:
    page = STATIC_DIR / "compare.html"
    return FileResponse(page) if page.is_file() else HTMLResponse(_NO_PAGE)


def create_app(settings: Settings | None = None, lstm_config: LstmConfig | None = None) -> FastAPI:
    """Build the service on the app store and market store of ``settings``.

    Opens (and migrates) the app store, marks jobs and training runs left
    running by an earlier server as failed, and starts the job worker. Logs a
    warning naming any vendored web asset that is missing (``make install``
    vendors them; ``/api/health`` reports it too).

    Args:
        settings: default :func:`tzero.settings.get_settings`.
        lstm_config: replaces the LSTM configuration of every training the
            service starts (tests use a tiny one); None in production.

    Raises:
        StoreError: the app store cannot be reached or migrated.
    """
    settings = settings or get_settings()
    engine, Session = open_app_store(settings.app_db_url)
    runner = JobRunner(Session)
    n = runner.recover()
    with Session.begin() as s:
        n_runs = versions.recover_interrupted(s)
    if n or n_runs:
        log.warning("marked %d job(s) and %d training run(s) left by an earlier server failed", n, n_runs)
    runner.start()
    static = STATIC_DIR
    gone = assets.missing(static)
    if gone:
        log.warning(assets.missing_message(static, gone))
    state = ServiceState(settings, engine, Session, open_market_store(settings), runner, lstm_config,
                         static_dir=static)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        runner.stop()

    app = FastAPI(title="tzero", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="A-share forecasting: LSTM lifecycle (spec 004 §5.2), signals, klines. "
                              "POST routes need `Authorization: Bearer <TZERO_API_TOKEN>`. A stock is "
                              "`ts_code` everywhere (`symbol` and `code` are accepted as aliases). "
                              "Errors are one line in `detail`; 503 while the database is unavailable.")
    app.state.tzero = state
    errors.install(app, {NoVersion: 404, StoreError: 404, ModelError: 409, TzeroError: 400,
                         ValueError: 400})
    for r in (lstm, signals, kline, health, jobs, research, live):
        app.include_router(r.router)
    app.add_api_route("/docs", lambda: assets.docs_page(static, app.openapi_url or "", app.title),
                      include_in_schema=False, response_model=None)
    app.add_api_route("/", _index, include_in_schema=False, response_model=None)
    app.add_api_route("/lstm", _index, include_in_schema=False, response_model=None)
    app.add_api_route("/live", _index, include_in_schema=False, response_model=None)
    app.add_api_route("/compare", _compare_page, include_in_schema=False, response_model=None)
    app.mount("/static", StaticFiles(directory=static, check_dir=False), name="static")
    return app
