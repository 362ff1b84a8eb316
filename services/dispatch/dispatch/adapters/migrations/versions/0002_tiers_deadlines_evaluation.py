"""dispatch: tiered routing, acceptance deadlines, suspension, evaluation; assignment periods and supervision records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW_CASE_COLUMNS = [
    ("department_code", sa.String(32)),
    ("handling_class", sa.String(32)),
    ("supervisor_id", sa.String(64)),
    ("acceptance_deadline_at", sa.DateTime(timezone=True)),
    ("suspended_at", sa.DateTime(timezone=True)),
    ("suspended_from", sa.String(16)),
    ("resolution", sa.Text),
    ("rating", sa.String(24)),
    ("rating_comment", sa.Text),
    ("outcome", sa.String(64)),
    ("closed_at", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for name, kind in NEW_CASE_COLUMNS:
            batch.add_column(sa.Column(name, kind))
        batch.add_column(sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "case_periods",
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("no", sa.Integer, primary_key=True),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("unit_code", sa.String(32), nullable=False),
        sa.Column("assignee_id", sa.String(64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acceptance_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.String(32)),
        sa.Column("acceptance_overdue", sa.Boolean, nullable=False),
        sa.Column("resolution_overdue", sa.Boolean, nullable=False),
        sa.Column("rating", sa.String(24)),
        sa.Column("reopened", sa.Boolean, nullable=False),
    )
    op.create_index("ix_case_periods_unit_code", "case_periods", ["unit_code"])
    op.create_index("ix_case_periods_assigned_at", "case_periods", ["assigned_at"])
    op.create_table(
        "supervisions",
        sa.Column("supervision_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("period_no", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("unit_code", sa.String(32), nullable=False),
        sa.Column("assignee_id", sa.String(64)),
        sa.Column("supervisor_id", sa.String(64)),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_supervisions_case_id", "supervisions", ["case_id"])


def downgrade() -> None:
    op.drop_table("supervisions")
    op.drop_table("case_periods")
    with op.batch_alter_table("cases") as batch:
        for name, _ in [*NEW_CASE_COLUMNS, ("reopen_count", None)]:
            batch.drop_column(name)
