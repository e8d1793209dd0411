"""Migration 0004 (model core) on SQLite, PostgreSQL and MariaDB, and the run/signal logs.

Every test taking ``app_db`` runs once per database (see ``tests/conftest.py``);
a server that is down is skipped unless ``CI`` is set.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from tzero.data import appdb
from tzero.data.appdb import (
    CurrentVersion,
    ModelInferenceRun,
    ModelTrainRun,
    ModelVersion,
    TrainingRun,
    UnifiedSignal,
    UniverseConfig,
)
from tzero.data.model_runs import (
    RunNotFoundError,
    finish_train_run,
    json_safe,
    record_inference_run,
    record_train_run,
    record_unified_signals,
)

NEW_TABLES = {"model_universe_config", "stock_static_features", "model_train_run",
              "model_inference_run", "quant_unified_signal"}
STAMP = datetime(2024, 3, 15, 14, 59, 58, 123456)
#: 17 characters, past the old String(16); version ids of 100, past the old String(80).
LONG_MODEL = "lstm_refinement_x"
LONG_VID = "v" * 100


def appdb_head() -> str:
    """The newest migration (0008: a paper order is unique per bar and side)."""
    assert appdb.head_revision() == "0008"
    return "0008"


def _version(vid: str, model: str = "lstm", symbol: str = "600519.SH") -> ModelVersion:
    return ModelVersion(version_id=vid, model_name=model, symbol=symbol, training_time=STAMP,
                        status="deployed", metadata_json="{}", model_blob=b"x", blob_sha256="0" * 64)


def test_head_has_the_model_core_tables_as_modelled(app_db):
    tables = set(sa.inspect(app_db.engine).get_table_names())
    assert NEW_TABLES <= tables
    assert appdb.current_revision(app_db.engine) == appdb_head()
    with app_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, appdb.Base.metadata) == []
    with app_db.Session() as s:
        rows = {r.universe_name: r for r in s.scalars(sa.select(UniverseConfig))}
    assert set(rows) == {"ALL_EQ_CLEAN", "CSI_300", "CORE_UNIVERSE"}
    assert all(r.enabled for r in rows.values())
    assert json.loads(rows["CORE_UNIVERSE"].config_json)["kind"] == "list"
    assert "2025-09" in rows["ALL_EQ_CLEAN"].description


def test_core_universe_seed_is_the_default_holdings(tmp_path):
    from tzero.signals.engine import DEFAULT_HOLDINGS

    engine, Session = appdb.open_app_store(f"sqlite:///{tmp_path / 'tzero.db'}")
    with Session() as s:
        cfg = json.loads(s.get(UniverseConfig, "CORE_UNIVERSE").config_json)
    engine.dispose()
    assert cfg == {"kind": "list", "ts_codes": list(DEFAULT_HOLDINGS)}


def test_widened_lstm_columns_hold_long_model_names_and_version_ids(app_db):
    with app_db.Session() as s:
        s.add(_version(LONG_VID, LONG_MODEL, "ALL_EQ_CLEAN"))
        s.flush()
        s.add(CurrentVersion(model_name=LONG_MODEL, symbol="ALL_EQ_CLEAN", version_id=LONG_VID,
                             updated_at=STAMP))
        s.add(TrainingRun(version_id=LONG_VID, model_name=LONG_MODEL, symbol="ALL_EQ_CLEAN",
                          training_type="full", trigger_type="manual", status="succeeded",
                          created_at=STAMP))
        s.commit()
    with app_db.Session() as s:
        cur = s.get(CurrentVersion, (LONG_MODEL, "ALL_EQ_CLEAN"))
        assert cur.version_id == LONG_VID and len(cur.version_id) == 100
        assert s.get(ModelVersion, LONG_VID).model_name == LONG_MODEL


def test_upgrade_from_0003_keeps_rows_and_the_foreign_key(app_db):
    appdb.downgrade(app_db.engine, "0003")
    with app_db.Session() as s:
        s.add(_version("lstm-600519.SH-1"))
        s.flush()
        s.add(CurrentVersion(model_name="lstm", symbol="600519.SH", version_id="lstm-600519.SH-1",
                             updated_at=STAMP))
        s.commit()
    appdb.upgrade(app_db.engine)
    assert appdb.current_revision(app_db.engine) == appdb_head()
    with app_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, appdb.Base.metadata) == []
    with app_db.Session() as s:
        assert s.get(CurrentVersion, ("lstm", "600519.SH")).version_id == "lstm-600519.SH-1"
        s.add(CurrentVersion(model_name="lstm", symbol="000001.SZ", version_id="no-such-version",
                             updated_at=STAMP))
        with pytest.raises(IntegrityError):
            s.commit()


def test_train_and_inference_runs_round_trip_with_strict_json(app_db):
    with app_db.Session() as s, s.begin():
        rid = record_train_run(s, model_name="lstm_shared", model_key="ALL_EQ_CLEAN",
                               config_snapshot={"universe": {"name": "ALL_EQ_CLEAN"}, "seed": 42,
                                                "lr": 1e-3, "bad": math.nan,
                                                "end": date(2023, 2, 24)})
    with app_db.Session() as s, s.begin():
        finish_train_run(s, rid, status="succeeded", version_id=LONG_VID,
                         metrics={"ic": 0.031, "sharpe": math.inf})
        iid = record_inference_run(s, model_name="lstm_shared", model_key="ALL_EQ_CLEAN",
                                   version_id=LONG_VID, as_of="2023-02-24", n_rows=4486,
                                   config={"horizon": 5})
    with app_db.Session() as s:
        run = s.get(ModelTrainRun, rid)
        assert run.status == "succeeded" and run.version_id == LONG_VID
        assert run.finished_at is not None and run.finished_at >= run.started_at
        snap = json.loads(run.config_snapshot)
        assert snap["bad"] is None and snap["end"] == "2023-02-24"
        assert json.loads(run.metrics_json) == {"ic": 0.031, "sharpe": None}
        inf = s.get(ModelInferenceRun, iid)
        assert (inf.as_of, inf.n_rows, json.loads(inf.config_json)) == (date(2023, 2, 24), 4486,
                                                                         {"horizon": 5})
    with app_db.Session() as s, pytest.raises(RunNotFoundError):
        finish_train_run(s, 10_000, status="failed", error="boom")


def test_unified_signals_are_stored_whole(app_db):
    sigs = [{"ts_code": "600519.SH", "as_of": "2023-02-24", "horizon": 5, "prob_up": 0.61,
             "expected_return": math.nan, "model_versions": {"lstm": LONG_VID, "arima": "a-1"},
             "explanation": "震荡偏多"},
            {"ts_code": "000001.SZ", "as_of": "2023-02-24", "horizon": 5, "prob_up": 0.4}]
    with app_db.Session() as s, s.begin():
        assert record_unified_signals(s, sigs, inference_run_id=None) == 2
    with app_db.Session() as s:
        rows = s.scalars(sa.select(UnifiedSignal).order_by(UnifiedSignal.ts_code)).all()
    assert [(r.ts_code, r.as_of, r.horizon) for r in rows] == [
        ("000001.SZ", date(2023, 2, 24), 5), ("600519.SH", date(2023, 2, 24), 5)]
    assert json.loads(rows[1].model_versions_json) == {"lstm": LONG_VID, "arima": "a-1"}
    assert json.loads(rows[0].model_versions_json) == {}
    whole = json.loads(rows[1].signal_json)
    assert whole["expected_return"] is None and whole["explanation"] == "震荡偏多"


def test_signal_without_keys_and_bad_status_raise():
    with pytest.raises(ValueError, match="horizon"):
        record_unified_signals(None, [{"ts_code": "600519.SH", "as_of": "2023-02-24"}], None)
    with pytest.raises(ValueError, match="status"):
        record_train_run(None, model_name="x", model_key="y", config_snapshot={}, status="done")


def test_json_safe_is_strict():
    import numpy as np

    got = json_safe({1: np.float64("nan"), "t": (np.int64(3), -math.inf), "s": {2.5}})
    assert got == {"1": None, "t": [3, None], "s": [2.5]}
    json.dumps(got, allow_nan=False)


def test_inference_run_stores_its_explanation_and_0005_downgrades(app_db):
    """Migration 0005: the explanation is stored as JSON with its run; down to 0004 and back."""
    from tzero.data.appdb import ModelInferenceRun
    from tzero.data.model_runs import record_inference_run

    expl = {"method": "shap.GradientExplainer", "drivers": [
        {"feature": "log_close", "contribution": 0.0123, "text": "log_close raised …"}]}
    with app_db.Session.begin() as s:
        rid = record_inference_run(s, model_name="lstm_shared", model_key="CSI_300",
                                   version_id="v1", as_of="2023-02-24", n_rows=1,
                                   explanation=expl)
    with app_db.Session() as s:
        assert json.loads(s.get(ModelInferenceRun, rid).explanation_json) == expl
    appdb.downgrade(app_db.engine, "0004")
    cols = {c["name"] for c in sa.inspect(app_db.engine).get_columns("model_inference_run")}
    assert "explanation_json" not in cols
    appdb.upgrade(app_db.engine)
    assert appdb.current_revision(app_db.engine) == appdb_head()

