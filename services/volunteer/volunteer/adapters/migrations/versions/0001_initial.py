"""volunteer: orders, plus the outbox and inbox.

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
        "orders",
        sa.Column("order_id", sa.String(36), primary_key=True),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("case_id", sa.String(36), unique=True),
        sa.Column("report_id", sa.String(36)),
        sa.Column("tracking_code", sa.String(32)),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("community_code", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("processed_events")
    op.drop_table("timers")
    op.drop_table("orders")
