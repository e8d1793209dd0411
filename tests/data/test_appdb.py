"""App store on SQLite, PostgreSQL and MariaDB: migrations, round trips, constraints.

Every test that takes ``app_db`` runs once per database on a fresh store (see
``tests/conftest.py``); CI starts both servers, so all three always run there.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from tzero.data import appdb
from tzero.data.appdb import (
    AccuracyRecord,
    AlertLog,
    CurrentVersion,
    ModelVersion,
    PredictionLog,
    TrainingFailure,
    TrainingRun,
)
from tzero.errors import StoreError
from tzero.settings import get_settings

TABLES = {"lstm_training_run", "lstm_model_version", "lstm_current_version",
          "lstm_prediction_log", "lstm_accuracy_record", "lstm_training_failure", "alert_log", "service_job", "research_variant",
          "model_universe_config", "stock_static_features", "model_train_run",
          "model_inference_run", "quant_unified_signal", "research_compare_run",
          "live_watch", "live_signal", "paper_run", "paper_order", "paper_fill"}
HEAD = "0008"
#: 5 MiB: far past MySQL's 64 KiB BLOB, so only LONGBLOB keeps it whole.
BLOB_BYTES = 5 * 1024 * 1024
#: Microseconds and a 16-digit float: MySQL's DATETIME/FLOAT would round both.
STAMP = datetime(2024, 3, 15, 14, 59, 58, 123456)
MAGNITUDE = 0.012345678901234567


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_as_modelled(app_db):
    assert _tables(app_db.engine) == TABLES
    assert appdb.current_revision(app_db.engine) == HEAD
    with app_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, appdb.Base.metadata) == []


def test_downgrade_to_base_then_upgrade_again(app_db):
    appdb.upgrade(app_db.engine)  # already at head: a no-op
    appdb.downgrade(app_db.engine, "base")
    assert _tables(app_db.engine) == set()
    assert appdb.current_revision(app_db.engine) is None
    appdb.upgrade(app_db.engine)
    assert _tables(app_db.engine) == TABLES
    assert appdb.current_revision(app_db.engine) == HEAD


def _rows() -> list[appdb.Base]:
    blob = random.Random(7).randbytes(BLOB_BYTES)
    vid = "lstm-600519.SH-20240315T145958"
    return [
        ModelVersion(version_id=vid, model_name="lstm", symbol="600519.SH", training_time=STAMP,
                     data_start=date(2015, 1, 5), data_end=date(2024, 3, 15), status="deployed",
                     metadata_json='{"hidden": 64, "note": "贵州茅台"}', model_blob=blob,
                     blob_sha256=hashlib.sha256(blob).hexdigest()),
        CurrentVersion(model_name="lstm", symbol="600519.SH", version_id=vid, updated_at=STAMP),
        TrainingRun(version_id=vid, model_name="lstm", symbol="600519.SH", training_type="full",
                    trigger_type="manual", status="succeeded", data_start=date(2015, 1, 5),
                    data_end=date(2024, 3, 15), params_json="{}", metrics_json='{"acc": 0.55}',
                    holdout_metrics_json=None, validation_deployed=True,
                    validation_reason="beats baseline", duration_seconds=MAGNITUDE,
                    created_at=STAMP, finished_at=datetime(2024, 3, 15, 15, 0, 1, 1)),
        PredictionLog(symbol="600519.SH", predict_date=date(2024, 3, 15), direction=1,
                      magnitude=MAGNITUDE, prob_up=0.6180339887498949, model_version_id=vid,
                      source="lstm", created_at=STAMP),
        AccuracyRecord(symbol="600519.SH", predict_date=date(2024, 3, 8),
                       actual_date=date(2024, 3, 15), pred_direction=1, actual_direction=0,
                       pred_magnitude=MAGNITUDE, actual_magnitude=-0.0031415926535897,
                       error_magnitude=0.0155, direction_correct=False, model_version_id=vid,
                       source="lstm", created_at=STAMP),
        TrainingFailure(symbol="000001.SZ", error_message="ModelError: 12 bars < 60", created_at=STAMP),
        AlertLog(alert_type="accuracy_drop", symbol="600519.SH", severity="warning",
                 message="5 日方向准确率 0.40 < 0.45", payload_json='{"window": 20}', fired=True,
                 webhook_status="200", as_of=date(2024, 3, 15), created_at=STAMP),
        appdb.ServiceJob(id="0b4e8a8e-5a8c-4b8e-9a57-3f1c2d7e6a10", kind="lstm_train",
                         params_json='{"symbols": ["600519.SH"]}', state="succeeded",
                         progress_done=1, progress_total=1, result_json="[]", error=None,
                         created_at=STAMP, started_at=STAMP, finished_at=STAMP),
        appdb.ResearchVariant(run_id="topk-20240315", created_at=STAMP, strategy="topk",
                              variant="ridge-k50d5-ashare", model="ridge",
                              params='{"topk": 50, "n_drop": 5}', status="blocked",
                              reasons='["DSR 0.51 < 0.95 over 12 variants"]',
                              oos_metrics='{"sharpe": 0.166}', is_metrics=None, n_trials=12),
        appdb.CompareRun(run_id="compare-20240315T145958-ab12cd", created_at=STAMP,
                         universe="CSI_300", start_date=date(2019, 1, 2),
                         end_date=date(2023, 2, 22), code_version="tzero 0.1.0 (623661a)",
                         data_first=date(2015, 9, 2), data_last=date(2023, 2, 24), fast=True,
                         n_models=15, result_json='{"rows": [], "note": "沪深300"}'
                         + " " * BLOB_BYTES),
        appdb.UniverseConfig(universe_name="MY_WATCHLIST", description="自选股",
                             config_json='{"kind": "list", "ts_codes": ["600519.SH"]}',
                             enabled=False, created_at=STAMP, updated_at=STAMP),
        appdb.StaticFeatures(ts_code="600519.SH", as_of_date=date(2024, 2, 29), industry="酿酒",
                             sub_industry="白酒", size_bucket="S5", volatility_bucket="V3",
                             liquidity_bucket="L5", extra_json='{"vol_60": 0.0123}'),
        appdb.ModelTrainRun(model_name="lstm_refinement", model_key="ALL_EQ_CLEAN", version_id=vid,
                            status="succeeded", config_snapshot='{"seed": 42}',
                            metrics_json='{"ic": 0.031}', started_at=STAMP, finished_at=STAMP,
                            error=None),
        appdb.ModelInferenceRun(model_name="lstm_shared", model_key="ALL_EQ_CLEAN", version_id=vid,
                                as_of=date(2024, 3, 15), n_rows=4486, created_at=STAMP,
                                config_json=None),
        appdb.UnifiedSignal(ts_code="600519.SH", as_of=date(2024, 3, 15), horizon=5,
                            signal_json='{"prob_up": 0.6180339887498949}',
                            model_versions_json=f'{{"lstm": "{vid}"}}', inference_run_id=1,
                            created_at=STAMP),
        appdb.LiveWatch(run_id="watch-20240315T093000-ab12cd", mode="replay",
                        symbols_json='["600009.SH"]', freq="5m", status="finished",
                        started_at=STAMP, heartbeat_at=STAMP, last_bar_at=STAMP,
                        stale_since=None, message="数据源恢复"),
        appdb.LiveSignal(id=7, run_id="watch-20240315T093000-ab12cd", ts_code="600009.SH",
                         bar_time=STAMP, freq="5m", t0_intensity="normal", plan="sell-first",
                         signal_json='{"prob_up": 0.6180339887498949}' + " " * BLOB_BYTES,
                         created_at=STAMP),
        appdb.PaperRun(run_id="paper-20240315T093000-ab12cd", name="第一次", rule="combined",
                       status="running", symbols_json='["600009.SH"]',
                       config_json='{"base_value_cny": 100000}', started_at=STAMP,
                       stopped_at=None, first_bar=STAMP, last_bar=STAMP, summary_json=None),
        appdb.PaperOrder(id=3, run_id="paper-20240315T093000-ab12cd", ts_code="600009.SH",
                         signal_id=7, placed_at=STAMP, side="sell", shares=300, status="filled",
                         reason="卖出 leg: sell-first", model_versions_json=f'{{"lstm": "{vid}"}}'),
        appdb.PaperFill(id=4, order_id=3, run_id="paper-20240315T093000-ab12cd",
                        ts_code="600009.SH", fill_time=STAMP, side="sell",
                        price=MAGNITUDE * 1000, shares=300, fees=5.000123456789),
    ]


def _values(obj: appdb.Base) -> dict:
    return {c.key: getattr(obj, c.key) for c in sa.inspect(type(obj)).column_attrs}


def test_round_trip_of_every_table(app_db):
    rows = _rows()
    assert {type(r).__tablename__ for r in rows} == TABLES
    with app_db.Session() as s:
        # No relationship() links the models, so the unit of work does not order
        # the parent first by itself: flush it before the row that references it.
        for r in rows:  # one flush per row: parents (version, paper run, order) first
            s.add(r)
            s.flush()
        s.commit()
        expected = [_values(r) for r in rows]
    with app_db.Session() as s:
        for row, want in zip(rows, expected, strict=True):
            key = sa.inspect(row).identity
            got = _values(s.get(type(row), key))
            assert got == want, type(row).__tablename__
    blob = expected[0]["model_blob"]
    assert len(blob) == BLOB_BYTES and hashlib.sha256(blob).hexdigest() == expected[0]["blob_sha256"]


def test_prediction_log_is_unique_per_symbol_and_date(app_db):
    def row() -> PredictionLog:
        return PredictionLog(symbol="600519.SH", predict_date=date(2024, 3, 15), direction=1,
                             magnitude=0.01, prob_up=0.6, source="arima", created_at=STAMP)

    with app_db.Session() as s:
        s.add(row())
        s.commit()
        s.add(row())
        with pytest.raises(IntegrityError):
            s.commit()


def test_paper_order_is_unique_per_bar_and_side(app_db):
    """0008: a restore and a refused signal of the other side may share a bar; two orders of
    the same side at one bar may not."""
    run = "paper-20240315T093000-ef34ab"

    def order(side: str) -> appdb.PaperOrder:
        return appdb.PaperOrder(run_id=run, ts_code="600009.SH", signal_id=None,
                                placed_at=datetime(2024, 3, 15, 14, 50), side=side, shares=200,
                                status="pending", reason="r", model_versions_json="{}")

    with app_db.Session() as s:
        s.add(appdb.PaperRun(run_id=run, name="t", rule="combined", status="running",
                             symbols_json="[]", config_json="{}", started_at=STAMP))
        s.flush()
        s.add_all([order("buy"), order("sell")])
        s.commit()
        s.add(order("buy"))
        with pytest.raises(IntegrityError):
            s.commit()


def test_current_version_must_reference_a_stored_version(app_db):
    with app_db.Session() as s:
        s.add(CurrentVersion(model_name="lstm", symbol="600519.SH", version_id="no-such-version",
                             updated_at=STAMP))
        with pytest.raises(IntegrityError):
            s.commit()


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody:secret@127.0.0.1:1/x",
                                 "mysql+pymysql://nobody:secret@127.0.0.1:1/x"],
                         ids=["postgresql", "mariadb"])
def test_unreachable_server_raises_store_error_without_password(url):
    with pytest.raises(StoreError) as info:
        appdb.open_app_store(url)
    assert "***" in str(info.value) and "secret" not in str(info.value)


def test_settings_app_db_url(monkeypatch, tmp_path):
    monkeypatch.setenv("TZERO_HOME", str(tmp_path))
    monkeypatch.delenv("TZERO_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no tzero.toml here
    assert get_settings().app_db_url == f"sqlite:///{tmp_path.resolve() / 'tzero.db'}"
    monkeypatch.setenv("TZERO_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/tzero")
    assert get_settings().app_db_url == "postgresql+psycopg://postgres@127.0.0.1:5432/tzero"
