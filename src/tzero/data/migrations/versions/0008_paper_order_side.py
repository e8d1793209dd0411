"""A paper order is unique per (run, symbol, bar, side), not per (run, symbol, bar).

At the day's second-to-last bar the T+0 simulator may restore the base
position (a buy closing an open sell leg) at the same bar where the policy's
signal asked for the opposite side; both orders belong in the log (the signal's
one refused as "restore window", the restore filled), so the unique key gains
``side``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("paper_order") as batch:
        batch.drop_constraint("uq_paper_order_run_code_time", type_="unique")
        batch.create_unique_constraint("uq_paper_order_run_code_time_side", ["run_id", "ts_code",
                                                                              "placed_at", "side"])


def downgrade() -> None:
    with op.batch_alter_table("paper_order") as batch:
        batch.drop_constraint("uq_paper_order_run_code_time_side", type_="unique")
        batch.create_unique_constraint("uq_paper_order_run_code_time",
                                       ["run_id", "ts_code", "placed_at"])
