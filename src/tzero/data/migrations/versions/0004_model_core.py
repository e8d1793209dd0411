"""Model core of spec 000 §6.1/§6.2/§6.6: universes, static features, run and signal logs.

Creates ``model_universe_config`` (seeded with ``ALL_EQ_CLEAN``, ``CSI_300``
and ``CORE_UNIVERSE``), ``stock_static_features``, ``model_train_run``,
``model_inference_run`` and ``quant_unified_signal``, and widens the lstm_*
tables so every model name (``lstm_refinement``, ``intraday_lstm``) and
universe key fits: ``model_name`` and ``symbol`` String(16) → String(32),
version ids String(80) → String(120).

Self-contained like 0001..0003: the column types and the seed rows are frozen
here. The widening works on the three databases:

* SQLite enforces no VARCHAR length, but the declared type is what the schema
  comparison sees, so each table is rebuilt by ``batch_alter_table`` (copy and
  move). The ``lstm_current_version`` rows are held in memory while the
  parent ``lstm_model_version`` is rebuilt and put back after, so the foreign
  key stays on and is checked again.
* MariaDB refuses to change a column that a foreign key uses, and PostgreSQL
  re-checks it: the ``lstm_current_version`` → ``lstm_model_version`` key is
  dropped, both columns altered, and the key re-created under its old name.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same variants as 0001: LONGTEXT and DATETIME(6) on MySQL/MariaDB.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

_NAME_OLD, _NAME_NEW = 16, 32
_VID_OLD, _VID_NEW = 80, 120

#: table → [(column, nullable, old length, new length)] widened by this revision.
_WIDEN: dict[str, list[tuple[str, bool, int, int]]] = {
    "lstm_training_run": [("version_id", True, _VID_OLD, _VID_NEW),
                          ("model_name", False, _NAME_OLD, _NAME_NEW),
                          ("symbol", False, _NAME_OLD, _NAME_NEW)],
    "lstm_model_version": [("version_id", False, _VID_OLD, _VID_NEW),
                           ("model_name", False, _NAME_OLD, _NAME_NEW),
                           ("symbol", False, _NAME_OLD, _NAME_NEW)],
    "lstm_current_version": [("model_name", False, _NAME_OLD, _NAME_NEW),
                             ("symbol", False, _NAME_OLD, _NAME_NEW),
                             ("version_id", False, _VID_OLD, _VID_NEW)],
    "lstm_prediction_log": [("symbol", False, _NAME_OLD, _NAME_NEW),
                            ("model_version_id", True, _VID_OLD, _VID_NEW)],
    "lstm_accuracy_record": [("symbol", False, _NAME_OLD, _NAME_NEW),
                             ("model_version_id", True, _VID_OLD, _VID_NEW)],
    "lstm_training_failure": [("symbol", False, _NAME_OLD, _NAME_NEW)],
}
_FK_TABLE, _FK_COLS, _FK_PARENT, _FK_PARENT_COLS = (
    "lstm_current_version", ["version_id"], "lstm_model_version", ["version_id"])

#: The ten default holdings of ``tzero.signals.engine.DEFAULT_HOLDINGS`` (frozen copy:
#: data/ does not import signals/, and a migration never imports the package).
_CORE_CODES = ["600519.SH", "601318.SH", "600036.SH", "000858.SZ", "000333.SZ",
               "300750.SZ", "601012.SH", "600276.SH", "000001.SZ", "600900.SH"]

_SEED = [
    ("ALL_EQ_CLEAN",
     "All A-share stocks (SH 60/68, SZ 00/30, BJ 43/83/87/92) less ST/*ST and delisting "
     "(退) names (reference/stock_basic.csv, a 2025-09 snapshot: not point-in-time), stocks "
     "listed fewer than 120 sessions, stocks with no bar (suspended) on more than 10 of the "
     "last 60 sessions, and 20-session mean amount below 20,000,000 CNY; resolved as of "
     "each date from data up to that date.",
     {"kind": "filter", "exclude_name_regex": "ST|退",
      "names_file": "reference/stock_basic.csv", "min_listed_sessions": 120,
      "max_suspended_sessions": 10, "suspension_window": 60,
      "min_avg_amount_cny": 20_000_000.0, "amount_window": 20}),
    ("CSI_300",
     "CSI 300 members as of each date (reference/csi300_membership.txt); after the "
     "file's last date the last known membership is carried forward.",
     {"kind": "index", "membership_file": "reference/csi300_membership.txt",
      "carry_forward": True}),
    ("CORE_UNIVERSE",
     "A user list: the ten default holdings; edit config_json.ts_codes to change it.",
     {"kind": "list", "ts_codes": _CORE_CODES}),
]


def _create_tables() -> None:
    op.create_table(
        "model_universe_config",
        sa.Column("universe_name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("config_json", LongText, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("universe_name"),
    )
    op.create_table(
        "stock_static_features",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts_code", sa.String(length=16), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("industry", sa.String(length=64), nullable=True),
        sa.Column("sub_industry", sa.String(length=64), nullable=True),
        sa.Column("size_bucket", sa.String(length=8), nullable=True),
        sa.Column("volatility_bucket", sa.String(length=8), nullable=True),
        sa.Column("liquidity_bucket", sa.String(length=8), nullable=True),
        sa.Column("extra_json", LongText, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ts_code", "as_of_date", name="uq_static_features_code_date"),
    )
    op.create_table(
        "model_train_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(length=32), nullable=False),
        sa.Column("model_key", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config_snapshot", LongText, nullable=False),
        sa.Column("metrics_json", LongText, nullable=True),
        sa.Column("started_at", Stamp, nullable=False),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_train_run_model", "model_train_run", ["model_name", "model_key"])
    op.create_table(
        "model_inference_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(length=32), nullable=False),
        sa.Column("model_key", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=120), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("config_json", LongText, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_inference_run_model", "model_inference_run",
                    ["model_name", "model_key"])
    op.create_table(
        "quant_unified_signal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts_code", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("signal_json", LongText, nullable=False),
        sa.Column("model_versions_json", LongText, nullable=False),
        sa.Column("inference_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quant_unified_signal_code_as_of", "quant_unified_signal",
                    ["ts_code", "as_of"])


def _seed() -> None:
    table = sa.table("model_universe_config",
                     sa.column("universe_name", sa.String()), sa.column("description", sa.Text()),
                     sa.column("config_json", sa.Text()), sa.column("enabled", sa.Boolean()),
                     sa.column("created_at", sa.DateTime()), sa.column("updated_at", sa.DateTime()))
    now = datetime(2026, 11, 22)  # frozen: the seed is part of this revision
    op.bulk_insert(table, [
        {"universe_name": name, "description": desc,
         "config_json": json.dumps(cfg, ensure_ascii=False, sort_keys=True),
         "enabled": True, "created_at": now, "updated_at": now}
        for name, desc, cfg in _SEED])


def _fk_name() -> str | None:
    """The name the database gave the lstm_current_version → lstm_model_version key."""
    for fk in sa.inspect(op.get_bind()).get_foreign_keys(_FK_TABLE):
        if fk["referred_table"] == _FK_PARENT and fk["constrained_columns"] == _FK_COLS:
            return fk.get("name")
    return None


def _resize(widths: int) -> None:
    """Set every column of :data:`_WIDEN` to its old (``widths=0``) or new (1) length."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    fk = None if sqlite else _fk_name()
    held: list[dict] = []
    if sqlite:
        held = _hold_children(bind)
    elif fk:
        op.drop_constraint(fk, _FK_TABLE, type_="foreignkey")
    for table, cols in _WIDEN.items():
        with op.batch_alter_table(table) as batch:
            for col, nullable, old, new in cols:
                now, want = (old, new) if widths else (new, old)
                batch.alter_column(col, existing_type=sa.String(length=now),
                                   type_=sa.String(length=want), existing_nullable=nullable)
    if fk:
        op.create_foreign_key(fk, _FK_TABLE, _FK_PARENT, _FK_COLS, _FK_PARENT_COLS)
    if held:
        op.bulk_insert(_child_table(), held)


def _child_table() -> sa.TableClause:
    return sa.table(_FK_TABLE, sa.column("model_name", sa.String()), sa.column("symbol", sa.String()),
                    sa.column("version_id", sa.String()), sa.column("updated_at", sa.DateTime()))


def _hold_children(bind: sa.Connection) -> list[dict]:
    """Take the ``lstm_current_version`` rows out (SQLite), to be put back after the rebuild.

    SQLite rebuilds a table by copy, drop and rename; dropping the parent
    ``lstm_model_version`` deletes its rows first, which the foreign key refuses
    while child rows point at them (and ``PRAGMA foreign_keys`` cannot change
    inside the migration's transaction). With the children held in memory the
    parent is dropped unreferenced and the key is checked again on re-insert.
    """
    child = _child_table()
    rows = [dict(r._mapping) for r in bind.execute(sa.select(child))]
    bind.execute(sa.delete(child))
    return rows


def upgrade() -> None:
    _resize(1)
    _create_tables()
    _seed()


def downgrade() -> None:
    for table in ("quant_unified_signal", "model_inference_run", "model_train_run",
                  "stock_static_features", "model_universe_config"):
        op.drop_table(table)
    _resize(0)
