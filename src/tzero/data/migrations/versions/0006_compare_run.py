"""The comparison runs of ``tzero compare`` (spec 003 §3, one yardstick).

Adds ``research_compare_run``: one row per comparison (universe, evaluated
range, code version, data range, settings) with the whole result as JSON
(LONGTEXT on MariaDB): every model's and baseline's metrics, verdict,
robustness cells and curves. The verdicts themselves go to
``research_variant`` (strategy ``compare``) like every research run's.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "research_compare_run",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("universe", sa.String(32), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("code_version", sa.String(80), nullable=False),
        sa.Column("data_first", sa.Date, nullable=True),
        sa.Column("data_last", sa.Date, nullable=True),
        sa.Column("fast", sa.Boolean, nullable=False),
        sa.Column("n_models", sa.Integer, nullable=False),
        sa.Column("result_json", LongText, nullable=False),
    )
    op.create_index("ix_research_compare_run_universe", "research_compare_run", ["universe"])


def downgrade() -> None:
    op.drop_index("ix_research_compare_run_universe", table_name="research_compare_run")
    op.drop_table("research_compare_run")
