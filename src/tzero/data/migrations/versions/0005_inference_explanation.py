"""Explanations stored with the inference run (spec 000 §5.2, spec 004 §1.2).

Adds ``model_inference_run.explanation_json`` (nullable LONGTEXT on
MariaDB): the drivers of the forecasts a run served (SHAP values, variable
importances, attention), as written by ``GET /api/signals/{ts_code}/explain``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("model_inference_run") as batch:
        batch.add_column(sa.Column("explanation_json", LongText, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_inference_run") as batch:
        batch.drop_column("explanation_json")
