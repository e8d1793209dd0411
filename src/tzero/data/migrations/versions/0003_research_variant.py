"""Backtest verdicts of spec 003 §3: table ``research_variant``.

Self-contained like 0001/0002: the column types are frozen here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same variants as 0001: LONGTEXT and DATETIME(6) on MySQL/MariaDB.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "research_variant",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("variant", sa.String(length=160), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("params", LongText, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", LongText, nullable=False),
        sa.Column("oos_metrics", LongText, nullable=False),
        sa.Column("is_metrics", LongText, nullable=True),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "variant", name="uq_research_run_variant"),
    )
    op.create_index(op.f("ix_research_variant_run_id"), "research_variant", ["run_id"], unique=False)
    op.create_index(op.f("ix_research_variant_model"), "research_variant", ["model"], unique=False)


def downgrade() -> None:
    op.drop_table("research_variant")
