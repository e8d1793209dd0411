"""The live loop and the paper-trading log (issue 13; spec 000 §5.1, spec 003 §8).

Adds:

* ``live_watch``: one row per ``tzero watch`` run (live or replay): symbols,
  bar frequency, status, the last bar seen and ``stale_since`` when the data
  source stopped answering;
* ``live_signal``: every intraday Signal the loop emitted, one per
  (run, symbol, bar), whole as JSON, with the T+0 intensity and plan apart for
  the page and the alert webhook;
* ``paper_run``, ``paper_order``, ``paper_fill``: paper trading on the loop's
  signals (orders the T+0 policy implies, filled under ``backtest/`` rules and
  costs at the next bar).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "live_watch",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("symbols_json", LongText, nullable=False),
        sa.Column("freq", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", Stamp, nullable=False),
        sa.Column("heartbeat_at", Stamp, nullable=False),
        sa.Column("last_bar_at", Stamp, nullable=True),
        sa.Column("stale_since", Stamp, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
    )
    op.create_table(
        "live_signal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("ts_code", sa.String(16), nullable=False),
        sa.Column("bar_time", Stamp, nullable=False),
        sa.Column("freq", sa.String(8), nullable=False),
        sa.Column("t0_intensity", sa.String(16), nullable=False),
        sa.Column("plan", sa.String(16), nullable=False),
        sa.Column("signal_json", LongText, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.UniqueConstraint("run_id", "ts_code", "bar_time", name="uq_live_signal_run_code_bar"),
    )
    op.create_index("ix_live_signal_code_bar", "live_signal", ["ts_code", "bar_time"])
    op.create_table(
        "paper_run",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("symbols_json", LongText, nullable=False),
        sa.Column("config_json", LongText, nullable=False),
        sa.Column("started_at", Stamp, nullable=False),
        sa.Column("stopped_at", Stamp, nullable=True),
        sa.Column("first_bar", Stamp, nullable=True),
        sa.Column("last_bar", Stamp, nullable=True),
        sa.Column("summary_json", LongText, nullable=True),
    )
    op.create_table(
        "paper_order",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("paper_run.run_id"), nullable=False),
        sa.Column("ts_code", sa.String(16), nullable=False),
        sa.Column("signal_id", sa.Integer, nullable=True),
        sa.Column("placed_at", Stamp, nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("shares", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("model_versions_json", LongText, nullable=False),
        sa.UniqueConstraint("run_id", "ts_code", "placed_at", name="uq_paper_order_run_code_time"),
    )
    op.create_index("ix_paper_order_run", "paper_order", ["run_id"])
    op.create_table(
        "paper_fill",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("paper_order.id"), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("ts_code", sa.String(16), nullable=False),
        sa.Column("fill_time", Stamp, nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("shares", sa.Integer, nullable=False),
        sa.Column("fees", sa.Double(), nullable=False),
        sa.UniqueConstraint("order_id", name="uq_paper_fill_order"),
    )
    op.create_index("ix_paper_fill_run", "paper_fill", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_paper_fill_run", table_name="paper_fill")
    op.drop_table("paper_fill")
    op.drop_index("ix_paper_order_run", table_name="paper_order")
    op.drop_table("paper_order")
    op.drop_table("paper_run")
    op.drop_index("ix_live_signal_code_bar", table_name="live_signal")
    op.drop_table("live_signal")
    op.drop_table("live_watch")
