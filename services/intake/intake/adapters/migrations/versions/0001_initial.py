"""intake: reports, plus the outbox and inbox.

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
        "reports",
        sa.Column("report_id", sa.String(36), primary_key=True),
        sa.Column("tracking_code", sa.String(32), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("category_kind", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("community_code", sa.String(12), nullable=False),
        sa.Column("sub_centre_code", sa.String(9), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("long", sa.Float, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("reporter_name", sa.String(64)),
        sa.Column("reporter_phone", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reports_grid_code", "reports", ["grid_code"])
    op.create_index("ix_reports_submitted_at", "reports", ["submitted_at"])
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("processed_events")
    op.drop_table("timers")
    op.drop_table("reports")
