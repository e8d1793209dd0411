"""The app store: SQLAlchemy 2 models of spec 004 §4, the engine and sessions.

Default database: SQLite in WAL mode at ``TZERO_HOME/tzero.db``; PostgreSQL
(``postgresql+psycopg://…``) and MySQL/MariaDB (``mysql+pymysql://…``) by
``TZERO_DB_URL``. The schema is created and upgraded only by the Alembic
migrations in ``tzero/data/migrations`` (:func:`upgrade`), never by
``create_all`` at run time.

Tables (spec 004 §4, extended with ``symbol`` since tzero keeps one LSTM per
stock): ``lstm_training_run``, ``lstm_model_version`` (the model blob and its
metadata), ``lstm_current_version`` (one row per model and symbol),
``lstm_prediction_log``, ``lstm_accuracy_record``, ``lstm_training_failure``,
``alert_log``, ``service_job`` (background jobs of the HTTP service),
``research_variant`` (backtest verdicts of spec 003 §3, migration 0003), and
the model core of spec 000 §6 (migration 0004): ``model_universe_config``,
``stock_static_features``, ``model_train_run``, ``model_inference_run`` and
``quant_unified_signal``; the live loop and paper trading (0007): ``live_watch``,
``live_signal``, ``paper_run``, ``paper_order``, ``paper_fill``. Since 0004 the lstm_* tables hold any model of the
table: ``model_name`` and ``symbol`` (a ``ts_code`` or a universe name) are
String(32), version ids String(120).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from tzero.errors import StoreError

#: The Alembic script folder shipped inside the package (``env.py``, ``versions/``).
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

# MySQL's plain BLOB holds 64 KiB; a model is megabytes.
Blob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
# MySQL's plain DATETIME drops microseconds and its FLOAT is single precision
# (0.0123456789 reads back 0.0123457); DATETIME(6) and DOUBLE keep both.
Stamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class Base(DeclarativeBase):
    """Declarative base of every app-store table."""


class TrainingRun(Base):
    """One training attempt (spec 004 §4 ``lstm_training_run``)."""

    __tablename__ = "lstm_training_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str | None] = mapped_column(String(120))
    model_name: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    training_type: Mapped[str] = mapped_column(String(16))      # full | fast | incremental
    trigger_type: Mapped[str] = mapped_column(String(24))       # manual | weekly | monthly | ...
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|succeeded|failed
    data_start: Mapped[date | None] = mapped_column(Date)
    data_end: Mapped[date | None] = mapped_column(Date)
    params_json: Mapped[str | None] = mapped_column(LongText)
    metrics_json: Mapped[str | None] = mapped_column(LongText)
    holdout_metrics_json: Mapped[str | None] = mapped_column(LongText)
    validation_deployed: Mapped[bool | None] = mapped_column(Boolean)
    validation_reason: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    finished_at: Mapped[datetime | None] = mapped_column(Stamp)


class ModelVersion(Base):
    """A saved model: blob plus metadata (spec 004 §2.3 ``lstm_model_version``)."""

    __tablename__ = "lstm_model_version"
    version_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    training_time: Mapped[datetime] = mapped_column(Stamp)
    data_start: Mapped[date | None] = mapped_column(Date)
    data_end: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))   # candidate | deployed | refused | retired
    metadata_json: Mapped[str] = mapped_column(LongText)
    model_blob: Mapped[bytes | None] = mapped_column(Blob)
    blob_sha256: Mapped[str] = mapped_column(String(64))


class CurrentVersion(Base):
    """The version serving each (model, symbol) (spec 004 ``lstm_current_version``)."""

    __tablename__ = "lstm_current_version"
    model_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[str] = mapped_column(String(120), ForeignKey("lstm_model_version.version_id"))
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class PredictionLog(Base):
    """Every served prediction with its source and version (spec 004 §3.7 step 4)."""

    __tablename__ = "lstm_prediction_log"
    __table_args__ = (UniqueConstraint("symbol", "predict_date", name="uq_prediction_symbol_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    predict_date: Mapped[date] = mapped_column(Date)
    direction: Mapped[int] = mapped_column(Integer)          # 1 up, 0 down
    magnitude: Mapped[float] = mapped_column(Double)          # 5-session return, decimal
    prob_up: Mapped[float] = mapped_column(Double)
    model_version_id: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(16))          # lstm | arima | technical
    created_at: Mapped[datetime] = mapped_column(Stamp)


class AccuracyRecord(Base):
    """A prediction scored against the close 5 sessions later (spec 004 §3.9)."""

    __tablename__ = "lstm_accuracy_record"
    __table_args__ = (UniqueConstraint("symbol", "predict_date", name="uq_accuracy_symbol_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    predict_date: Mapped[date] = mapped_column(Date)
    actual_date: Mapped[date] = mapped_column(Date)
    pred_direction: Mapped[int] = mapped_column(Integer)
    actual_direction: Mapped[int] = mapped_column(Integer)
    pred_magnitude: Mapped[float] = mapped_column(Double)
    actual_magnitude: Mapped[float] = mapped_column(Double)
    error_magnitude: Mapped[float] = mapped_column(Double)
    direction_correct: Mapped[bool] = mapped_column(Boolean)
    model_version_id: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class TrainingFailure(Base):
    """A training run that raised (spec 004 §3.13)."""

    __tablename__ = "lstm_training_failure"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    error_message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class AlertLog(Base):
    """An alert of spec 004 §3.12, with the webhook outcome when fired."""

    __tablename__ = "alert_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_type: Mapped[str] = mapped_column(String(40))
    symbol: Mapped[str | None] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    payload_json: Mapped[str | None] = mapped_column(LongText)
    fired: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_status: Mapped[str | None] = mapped_column(String(80))
    as_of: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class ServiceJob(Base):
    """A background job of the HTTP service (training, triggers), one row per job.

    ``state`` is pending | running | succeeded | failed. ``progress_done`` /
    ``progress_total`` are set only when there is a real count (e.g. symbols
    trained out of symbols asked for); otherwise both stay NULL.
    """

    __tablename__ = "service_job"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)   # uuid4 hex with dashes
    kind: Mapped[str] = mapped_column(String(32))
    params_json: Mapped[str | None] = mapped_column(LongText)
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress_done: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    result_json: Mapped[str | None] = mapped_column(LongText)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    started_at: Mapped[datetime | None] = mapped_column(Stamp)
    finished_at: Mapped[datetime | None] = mapped_column(Stamp)


class ResearchVariant(Base):
    """One backtested strategy variant and its gate verdict (spec 003 §3 "fail = block").

    A research run (``run_id``) evaluates many variants on one yardstick
    (:func:`tzero.backtest.metrics.performance`) and judges each with
    :func:`tzero.backtest.gates.judge`. ``status`` is kept | watch | blocked;
    ``reasons``, ``params``, ``oos_metrics`` and ``is_metrics`` are JSON text.
    """

    __tablename__ = "research_variant"
    __table_args__ = (UniqueConstraint("run_id", "variant", name="uq_research_run_variant"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    strategy: Mapped[str] = mapped_column(String(16))           # t0 | topk
    variant: Mapped[str] = mapped_column(String(160))
    model: Mapped[str] = mapped_column(String(32), index=True)  # lstm | arima | momentum | ...
    params: Mapped[str] = mapped_column(LongText)
    status: Mapped[str] = mapped_column(String(16))             # kept | watch | blocked
    reasons: Mapped[str] = mapped_column(LongText)
    oos_metrics: Mapped[str] = mapped_column(LongText)
    is_metrics: Mapped[str | None] = mapped_column(LongText)
    n_trials: Mapped[int] = mapped_column(Integer)


class CompareRun(Base):
    """One ``tzero compare`` run (spec 003 §3): every model on one yardstick.

    ``result_json`` holds the whole result (metrics, verdicts, robustness
    cells, curves; :func:`tzero.research.compare.run_compare`); the verdicts
    are also rows of :class:`ResearchVariant` with strategy ``compare``.
    """

    __tablename__ = "research_compare_run"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    universe: Mapped[str] = mapped_column(String(32), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    code_version: Mapped[str] = mapped_column(String(80))
    data_first: Mapped[date | None] = mapped_column(Date)
    data_last: Mapped[date | None] = mapped_column(Date)
    fast: Mapped[bool] = mapped_column(Boolean)
    n_models: Mapped[int] = mapped_column(Integer)
    result_json: Mapped[str] = mapped_column(LongText)


class UniverseConfig(Base):
    """A named stock universe and its rules (spec 000 §6.1 ``model_universe_config``).

    ``config_json`` is JSON: ``{"kind": "filter", ...}`` (the cleaned market),
    ``{"kind": "index", "membership_file": ...}`` or ``{"kind": "list",
    "ts_codes": [...]}``; :mod:`tzero.data.universes` resolves it as of each date.
    """

    __tablename__ = "model_universe_config"
    universe_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    config_json: Mapped[str] = mapped_column(LongText)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class StaticFeatures(Base):
    """Slow cross-sectional features of a stock as of a month-end (spec 000 §6.2).

    Buckets are quintile labels across the stocks of that date (``S1..S5`` size,
    ``V1..V5`` volatility, ``L1..L5`` liquidity; NULL when the input is
    missing); ``extra_json`` holds the raw numbers (see
    :mod:`tzero.data.static_features`).
    """

    __tablename__ = "stock_static_features"
    __table_args__ = (UniqueConstraint("ts_code", "as_of_date", name="uq_static_features_code_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts_code: Mapped[str] = mapped_column(String(16))
    as_of_date: Mapped[date] = mapped_column(Date)
    industry: Mapped[str | None] = mapped_column(String(64))
    sub_industry: Mapped[str | None] = mapped_column(String(64))
    size_bucket: Mapped[str | None] = mapped_column(String(8))
    volatility_bucket: Mapped[str | None] = mapped_column(String(8))
    liquidity_bucket: Mapped[str | None] = mapped_column(String(8))
    extra_json: Mapped[str | None] = mapped_column(LongText)


class ModelTrainRun(Base):
    """One training run of any model (spec 000 §6.6 ``model_train_run``).

    ``model_key`` is a ``ts_code`` (local models) or a universe name (global
    ones); ``config_snapshot`` the JSON of the config and universe used;
    ``status`` running | succeeded | failed.
    """

    __tablename__ = "model_train_run"
    __table_args__ = (Index("ix_model_train_run_model", "model_name", "model_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(32))
    model_key: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16))
    config_snapshot: Mapped[str] = mapped_column(LongText)
    metrics_json: Mapped[str | None] = mapped_column(LongText)
    started_at: Mapped[datetime] = mapped_column(Stamp)
    finished_at: Mapped[datetime | None] = mapped_column(Stamp)
    error: Mapped[str | None] = mapped_column(Text)


class ModelInferenceRun(Base):
    """One batch of forecasts from one model version (spec 000 §6.6 ``model_inference_run``)."""

    __tablename__ = "model_inference_run"
    __table_args__ = (Index("ix_model_inference_run_model", "model_name", "model_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(32))
    model_key: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[str] = mapped_column(String(120))
    as_of: Mapped[date] = mapped_column(Date)
    n_rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    config_json: Mapped[str | None] = mapped_column(LongText)
    explanation_json: Mapped[str | None] = mapped_column(LongText)       # migration 0005


class UnifiedSignal(Base):
    """A served unified signal, whole (spec 000 §6.6 ``quant_unified_signal``).

    ``signal_json`` is ``Signal.to_dict()``; ``model_versions_json`` its
    ``model_versions`` (model → version id), kept apart for look-ups.
    """

    __tablename__ = "quant_unified_signal"
    __table_args__ = (Index("ix_quant_unified_signal_code_as_of", "ts_code", "as_of"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts_code: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer)
    signal_json: Mapped[str] = mapped_column(LongText)
    model_versions_json: Mapped[str] = mapped_column(LongText)
    inference_run_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class LiveWatch(Base):
    """One ``tzero watch`` run, live or replay (issue 13, migration 0007).

    ``status`` running | finished | stopped | failed; ``heartbeat_at`` is
    refreshed every poll; ``stale_since`` is set while the data source does not
    answer (the page shows "data stale since …") and cleared when it does.
    """

    __tablename__ = "live_watch"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))                # live | replay
    symbols_json: Mapped[str] = mapped_column(LongText)
    freq: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(Stamp)
    heartbeat_at: Mapped[datetime] = mapped_column(Stamp)
    last_bar_at: Mapped[datetime | None] = mapped_column(Stamp)
    stale_since: Mapped[datetime | None] = mapped_column(Stamp)
    message: Mapped[str | None] = mapped_column(Text)


class LiveSignal(Base):
    """One intraday Signal the live loop emitted for one symbol at one bar's close.

    ``bar_time`` is the bar's close stamp (naive Asia/Shanghai); ``signal_json``
    is ``Signal.to_dict()``; ``t0_intensity`` and ``plan`` are kept apart for
    the page and for the webhook's change detection.
    """

    __tablename__ = "live_signal"
    __table_args__ = (UniqueConstraint("run_id", "ts_code", "bar_time",
                                       name="uq_live_signal_run_code_bar"),
                      Index("ix_live_signal_code_bar", "ts_code", "bar_time"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    ts_code: Mapped[str] = mapped_column(String(16))
    bar_time: Mapped[datetime] = mapped_column(Stamp)
    freq: Mapped[str] = mapped_column(String(8))
    t0_intensity: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(16))
    signal_json: Mapped[str] = mapped_column(LongText)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class PaperRun(Base):
    """A paper-trading run (spec 003 §8): the T+0 orders of one rule on the loop's signals.

    ``rule`` is the T+0 rule traded (a research variant's model, e.g. ``combined``);
    ``config_json`` the base position, leg size and costs; ``summary_json`` the
    run's P&L against holding, round trips and fees once reported.
    """

    __tablename__ = "paper_run"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))              # running | stopped
    symbols_json: Mapped[str] = mapped_column(LongText)
    config_json: Mapped[str] = mapped_column(LongText)
    started_at: Mapped[datetime] = mapped_column(Stamp)
    stopped_at: Mapped[datetime | None] = mapped_column(Stamp)
    first_bar: Mapped[datetime | None] = mapped_column(Stamp)
    last_bar: Mapped[datetime | None] = mapped_column(Stamp)
    summary_json: Mapped[str | None] = mapped_column(LongText)


class PaperOrder(Base):
    """One order a paper run placed at a bar's close; ``side`` buy | sell, ``shares`` > 0.

    ``signal_id`` is the :class:`LiveSignal` it came from, ``model_versions_json``
    the versions behind that signal; ``status`` filled | rejected (with the
    reason: limit-up/down, T+1 shares, lot size).
    """

    __tablename__ = "paper_order"
    __table_args__ = (UniqueConstraint("run_id", "ts_code", "placed_at", "side",
                                       name="uq_paper_order_run_code_time_side"),
                      Index("ix_paper_order_run", "run_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("paper_run.run_id"))
    ts_code: Mapped[str] = mapped_column(String(16))
    signal_id: Mapped[int | None] = mapped_column(Integer)
    placed_at: Mapped[datetime] = mapped_column(Stamp)
    side: Mapped[str] = mapped_column(String(8))
    shares: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    model_versions_json: Mapped[str] = mapped_column(LongText)


class PaperFill(Base):
    """The fill of a paper order at the next bar: price CNY per share, fees CNY."""

    __tablename__ = "paper_fill"
    __table_args__ = (UniqueConstraint("order_id", name="uq_paper_fill_order"),
                      Index("ix_paper_fill_run", "run_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(Integer, ForeignKey("paper_order.id"))
    run_id: Mapped[str] = mapped_column(String(64))
    ts_code: Mapped[str] = mapped_column(String(16))
    fill_time: Mapped[datetime] = mapped_column(Stamp)
    side: Mapped[str] = mapped_column(String(8))
    price: Mapped[float] = mapped_column(Double)
    shares: Mapped[int] = mapped_column(Integer)
    fees: Mapped[float] = mapped_column(Double)


def default_url(home: Path) -> str:
    """SQLite database in ``TZERO_HOME``."""
    return f"sqlite:///{Path(home) / 'tzero.db'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")
"""App-store backends tested in CI (SQLite, PostgreSQL, MariaDB/MySQL)."""

SUPPORTED_URLS = ("sqlite:///PATH", "postgresql+psycopg://USER@HOST/DB", "mysql+pymysql://USER@HOST/DB")
"""URL forms whose drivers ship with tzero's core install (psycopg, PyMySQL)."""


def _parse_url(url: str) -> URL:
    """``url`` parsed, or a :class:`StoreError` naming ``TZERO_DB_URL`` and the accepted forms.

    Raises:
        StoreError: ``url`` is not a SQLAlchemy URL (``not-a-url:…``).
    """
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"TZERO_DB_URL {url[:200]!r} is not a database URL; "
                         f"use one of {', '.join(SUPPORTED_URLS)}") from exc


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    Raises:
        StoreError: the URL does not parse, names a backend or driver that is not
            installed, or the database cannot be reached (the message hides the password).
    """
    u = _parse_url(url)
    if u.get_backend_name() == "sqlite" and u.database:
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True, future=True)
    except (NoSuchModuleError, ImportError) as exc:
        shown = u.render_as_string(hide_password=True)
        if u.get_backend_name() not in SUPPORTED_BACKENDS:
            raise StoreError(f"TZERO_DB_URL {shown!r}: backend {u.get_backend_name()!r} is not supported; "
                             f"use one of {', '.join(SUPPORTED_URLS)}") from exc
        raise StoreError(f"TZERO_DB_URL {shown!r}: its driver is not installed ({exc}); "
                         f"use one of {', '.join(SUPPORTED_URLS)}") from exc
    if u.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise StoreError(f"database unreachable at {u.render_as_string(hide_password=True)}: "
                         f"{exc.orig}") from exc
    return engine


def sessionmaker_for(engine: Engine) -> sessionmaker:
    """A session factory (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False, future=True)


def _alembic_config(connection: Connection) -> Config:
    """An in-memory Alembic config (no ``alembic.ini``) that migrates ``connection``.

    ``env.py`` picks the connection up from ``config.attributes`` (Alembic's
    "sharing a connection" recipe).
    """
    cfg = Config()
    # ConfigParser interpolates "%": escape it in the path.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    try:
        with engine.begin() as conn:
            step(_alembic_config(conn), revision)
    except OperationalError as exc:
        raise StoreError(f"migration to {revision!r} failed on "
                         f"{engine.url.render_as_string(hide_password=True)}: {exc.orig}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the app store up to ``revision`` (default: the newest schema).

    Idempotent: a store already at ``revision`` is left as it is.

    Raises:
        StoreError: the database failed during the migration (message hides the password).
    """
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the app store down to ``revision`` (``"base"`` drops every table).

    Raises:
        StoreError: the database failed during the migration (message hides the password).
    """
    _migrate(engine, command.downgrade, revision)


def head_revision() -> str:
    """The newest Alembic revision shipped in ``data/migrations`` (what ``upgrade`` reaches)."""
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the store is at, ``None`` when it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_app_store(url: str) -> tuple[Engine, sessionmaker]:
    """Connect to the app store at ``url`` and migrate it to the newest schema.

    Args:
        url: SQLAlchemy URL, e.g. ``Settings.app_db_url``.

    Returns:
        ``(engine, Session)`` where ``Session`` is a :func:`sessionmaker_for` factory.

    Raises:
        StoreError: the database cannot be reached or migrated.
    """
    engine = make_engine(url)
    upgrade(engine)
    return engine, sessionmaker_for(engine)
