"""Initial app-store schema: the seven tables of spec 004 §4.

Self-contained on purpose: the types are frozen here rather than imported from
``tzero.data.appdb``, so later model edits cannot change what this revision
creates.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# MySQL/MariaDB: BLOB/TEXT hold 64 KiB (models are megabytes), DATETIME drops
# microseconds, FLOAT is single precision; the variants below avoid all three.
Blob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

#: (table, column) of every single-column index, named ``ix_<table>_<column>``.
_INDEXES = (
    ("lstm_training_run", "symbol"),
    ("lstm_model_version", "symbol"),
    ("lstm_prediction_log", "symbol"),
    ("lstm_accuracy_record", "symbol"),
    ("lstm_training_failure", "symbol"),
)


def upgrade() -> None:
    op.create_table(
        "lstm_training_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.String(length=80), nullable=True),
        sa.Column("model_name", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("training_type", sa.String(length=16), nullable=False),
        sa.Column("trigger_type", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("data_start", sa.Date(), nullable=True),
        sa.Column("data_end", sa.Date(), nullable=True),
        sa.Column("params_json", LongText, nullable=True),
        sa.Column("metrics_json", LongText, nullable=True),
        sa.Column("holdout_metrics_json", LongText, nullable=True),
        sa.Column("validation_deployed", sa.Boolean(), nullable=True),
        sa.Column("validation_reason", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lstm_model_version",
        sa.Column("version_id", sa.String(length=80), nullable=False),
        sa.Column("model_name", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("training_time", Stamp, nullable=False),
        sa.Column("data_start", sa.Date(), nullable=True),
        sa.Column("data_end", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metadata_json", LongText, nullable=False),
        sa.Column("model_blob", Blob, nullable=True),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_table(
        "lstm_current_version",
        sa.Column("model_name", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("version_id", sa.String(length=80), nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["lstm_model_version.version_id"]),
        sa.PrimaryKeyConstraint("model_name", "symbol"),
    )
    op.create_table(
        "lstm_prediction_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("predict_date", sa.Date(), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("magnitude", sa.Double(), nullable=False),
        sa.Column("prob_up", sa.Double(), nullable=False),
        sa.Column("model_version_id", sa.String(length=80), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("symbol", "predict_date", name="uq_prediction_symbol_date"),
    )
    op.create_table(
        "lstm_accuracy_record",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("predict_date", sa.Date(), nullable=False),
        sa.Column("actual_date", sa.Date(), nullable=False),
        sa.Column("pred_direction", sa.Integer(), nullable=False),
        sa.Column("actual_direction", sa.Integer(), nullable=False),
        sa.Column("pred_magnitude", sa.Double(), nullable=False),
        sa.Column("actual_magnitude", sa.Double(), nullable=False),
        sa.Column("error_magnitude", sa.Double(), nullable=False),
        sa.Column("direction_correct", sa.Boolean(), nullable=False),
        sa.Column("model_version_id", sa.String(length=80), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("symbol", "predict_date", name="uq_accuracy_symbol_date"),
    )
    op.create_table(
        "lstm_training_failure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alert_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_type", sa.String(length=40), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload_json", LongText, nullable=True),
        sa.Column("fired", sa.Boolean(), nullable=False),
        sa.Column("webhook_status", sa.String(length=80), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for table, column in _INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    # Indexes go with their tables. Children before parents: lstm_current_version
    # references lstm_model_version.
    for table in ("alert_log", "lstm_training_failure", "lstm_accuracy_record",
                  "lstm_prediction_log", "lstm_current_version", "lstm_model_version",
                  "lstm_training_run"):
        op.drop_table(table)
