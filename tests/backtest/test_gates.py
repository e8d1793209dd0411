"""Fail = block: the gates' verdicts and their storage on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from tzero.backtest.gates import (
    GateConfig,
    Verdict,
    blocked_models,
    judge,
    latest_verdicts,
    save_verdicts,
)
from tzero.data import appdb

GOOD = {"n_trades": 400, "annual_return": 0.12, "dsr": 0.99, "sharpe": 1.2, "n_trials": 24}


def test_kept_when_every_gate_passes_with_margin():
    v = judge(GOOD, {"sharpe": 1.5})
    assert v.status == "kept"
    assert "400 trades" in v.reasons[0]


@pytest.mark.parametrize(("change", "text"), [
    ({"n_trades": 12}, "only 12 OOS trades < 30"),
    ({"annual_return": -0.031}, "OOS return -3.10%/yr after costs <= 0.00%"),
    ({"annual_return": 0.0}, "OOS return +0.00%/yr after costs <= 0.00%"),
    ({"dsr": 0.41}, "DSR 0.41 < 0.95 over 24 variants"),
    ({"dsr": float("nan")}, "no DSR: evidence missing"),
])
def test_each_gate_blocks_with_a_readable_reason(change, text):
    v = judge({**GOOD, **change})
    assert v.status == "blocked"
    assert any(r.startswith(text) for r in v.reasons), v.reasons


def test_decay_blocks_and_lists_every_failure():
    v = judge({**GOOD, "sharpe": 0.34, "dsr": 0.5}, {"sharpe": 1.2})
    assert v.status == "blocked"
    assert "Sharpe decay 72% (IS 1.20 -> OOS 0.34) > 50%" in v.reasons
    assert any(r.startswith("DSR 0.50") for r in v.reasons)


@pytest.mark.parametrize(("oos", "is_", "text"), [
    ({"n_trades": 45}, None, "45 OOS trades, under 60"),
    ({"dsr": 0.96}, None, "DSR 0.96 over 24 variants, within 0.03 of 0.95"),
    ({"annual_return": 0.01}, None, "OOS return +1.00%/yr after costs, within 2.00% of 0.00%"),
    # decay 1 - 0.66 / 1.5 = 56 %: passes the 60 % gate, above 0.8 × 60 % = 48 %
    ({"sharpe": 0.66}, {"sharpe": 1.5}, "Sharpe decay 56% (IS 1.50 -> OOS 0.66), near the 60%"),
    ({}, {"sharpe": -0.2}, "in-sample Sharpe -0.20 <= 0"),
])
def test_watch_when_one_margin_is_thin(oos, is_, text):
    v = judge({**GOOD, **oos}, is_, GateConfig(max_decay=0.6))
    assert v.status == "watch", v
    assert any(r.startswith(text) for r in v.reasons), v.reasons


def _row(variant, model, status, strategy="topk", sharpe=0.5):
    return {"strategy": strategy, "variant": variant, "model": model,
            "params": {"topk": 50, "n_drop": 5}, "verdict": Verdict(status, [f"{variant} reason"]),
            "oos_metrics": {"sharpe": sharpe, "dsr": float("nan"), "n_trades": 10},
            "is_metrics": None, "n_trials": 4}


def test_save_and_read_latest_run(app_db):
    save_verdicts(app_db.Session, "r1", [_row("mom-50", "momentum", "kept"),
                                         _row("rev-50", "reversal", "blocked")])
    save_verdicts(app_db.Session, "r2", [_row("mom-50", "momentum", "blocked", sharpe=-0.1),
                                         _row("mom-30", "momentum", "blocked", sharpe=0.2),
                                         _row("ridge-50", "ridge", "watch"),
                                         _row("t0-lstm", "lstm", "blocked", strategy="t0")])
    v = latest_verdicts(app_db.Session, "topk")
    assert set(v["run_id"]) == {"r2"}
    assert list(v["variant"]) == ["mom-30", "mom-50", "ridge-50"]
    row = v.iloc[0]
    assert row["params"] == {"topk": 50, "n_drop": 5}
    assert row["reasons"] == ["mom-30 reason"]
    assert row["oos_metrics"]["dsr"] is None and math.isclose(row["oos_metrics"]["sharpe"], 0.2)
    blocked = blocked_models(app_db.Session, "topk")
    assert set(blocked) == {"momentum"}
    assert blocked["momentum"].startswith("all 2 topk variants blocked (run r2); best mom-30")
    assert set(blocked_models(app_db.Session)) == {"momentum", "lstm"}
    assert blocked_models(app_db.Session, "t0") == {
        "lstm": "all 1 t0 variants blocked (run r2); best t0-lstm: t0-lstm reason"}


def test_a_run_is_saved_all_or_nothing(app_db):
    rows = [_row("mom-50", "momentum", "kept"), _row("mom-50", "momentum", "blocked")]
    with pytest.raises(IntegrityError):
        save_verdicts(app_db.Session, "r1", rows)
    with app_db.engine.connect() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM research_variant")).scalar() == 0
    with pytest.raises(ValueError, match="status"):
        save_verdicts(app_db.Session, "r1", [{**_row("x", "m", "kept"), "verdict": Verdict("ok")}])
    assert latest_verdicts(app_db.Session).empty
    assert blocked_models(app_db.Session) == {}


def test_migration_0003_up_and_down(app_db):
    assert appdb.current_revision(app_db.engine) == appdb.head_revision()
    with app_db.engine.connect() as conn:  # the hand-written migration matches the ORM model
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, appdb.Base.metadata) == []
    assert "research_variant" in sa.inspect(app_db.engine).get_table_names()
    appdb.downgrade(app_db.engine, "0002")
    assert "research_variant" not in sa.inspect(app_db.engine).get_table_names()
    appdb.upgrade(app_db.engine)
    assert "research_variant" in sa.inspect(app_db.engine).get_table_names()
