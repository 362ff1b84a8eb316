"""console: the read model (events, cases), the console's action log, plus the outbox and inbox.

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

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_events_correlation_id", "events", ["correlation_id"])
    op.create_index("ix_events_grid_code", "events", ["grid_code"])
    op.create_table(
        "cases",
        sa.Column("correlation_id", sa.String(128), primary_key=True),
        sa.Column("report_id", sa.String(64)),
        sa.Column("tracking_code", sa.String(32)),
        sa.Column("case_id", sa.String(64)),
        sa.Column("category_code", sa.String(64)),
        sa.Column("category_kind", sa.String(16)),
        sa.Column("urgency", sa.String(16)),
        sa.Column("channel", sa.String(16)),
        sa.Column("description", sa.Text),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("community_code", sa.String(12)),
        sa.Column("sub_centre_code", sa.String(9)),
        sa.Column("tier", sa.String(16)),
        sa.Column("unit_code", sa.String(64)),
        sa.Column("assignee_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True)),
        sa.Column("reported_at", sa.DateTime(timezone=True)),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("due_soon", sa.Boolean, nullable=False),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("was_overdue", sa.Boolean, nullable=False),
        sa.Column("resolved_on_time", sa.Boolean),
        sa.Column("rating", sa.String(32)),
        sa.Column("escalations", sa.Integer, nullable=False),
        sa.Column("supervisions", sa.Integer, nullable=False),
        sa.Column("dispute_code", sa.String(64)),
        sa.Column("order_id", sa.String(64)),
        sa.Column("last_event_type", sa.String(64)),
        sa.Column("last_event_at", sa.DateTime(timezone=True)),
    )
    for column in ("tracking_code", "case_id", "grid_code", "reported_at"):
        op.create_index(f"ix_cases_{column}", "cases", [column])
    op.create_table(
        "actions",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("answer", sa.Text),
    )
    op.create_index("ix_actions_correlation_id", "actions", ["correlation_id"])
    create_messaging_tables(op)


def downgrade() -> None:
    for table in ("outbox", "processed_events", "timers", "actions", "cases", "events"):
        op.drop_table(table)
