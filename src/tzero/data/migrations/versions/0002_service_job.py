"""The HTTP service's background jobs: table ``service_job``.

Self-contained like 0001: the column types are frozen here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same variants as 0001: LONGTEXT and DATETIME(6) on MySQL/MariaDB.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "service_job",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params_json", LongText, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=True),
        sa.Column("progress_total", sa.Integer(), nullable=True),
        sa.Column("result_json", LongText, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("started_at", Stamp, nullable=True),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_service_job_state"), "service_job", ["state"], unique=False)


def downgrade() -> None:
    op.drop_table("service_job")
