"""dispatch: cases and their history, plus the outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from gridlink.runtime.tables import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("report_id", sa.String(36), nullable=False, unique=True),
        sa.Column("tracking_code", sa.String(32), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("category_kind", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("community_code", sa.String(12), nullable=False),
        sa.Column("sub_centre_code", sa.String(9), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16)),
        sa.Column("unit_code", sa.String(32)),
        sa.Column("assignee_id", sa.String(32)),
        sa.Column("assignee_role", sa.String(32)),
        sa.Column("deadline_at", sa.DateTime(timezone=True)),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cases_tracking_code", "cases", ["tracking_code"])
    op.create_index("ix_cases_grid_code", "cases", ["grid_code"])
    op.create_index("ix_cases_state", "cases", ["state"])
    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_case_history_case_id", "case_history", ["case_id"])
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("processed_events")
    op.drop_table("timers")
    op.drop_table("case_history")
    op.drop_table("cases")
