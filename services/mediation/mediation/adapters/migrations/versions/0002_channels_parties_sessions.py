"""mediation: the path across channels, parties, sessions with their room and mediator bookings, the audit of
confidential reads.

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


def upgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(sa.Column("source", sa.String(64), nullable=False, server_default="dispatch"))
        batch.add_column(sa.Column("dispute_type", sa.String(32), nullable=False, server_default="other"))
        batch.add_column(sa.Column("amount_yuan", sa.Numeric(14, 2)))
        batch.add_column(sa.Column("known_on", sa.Date))
        batch.add_column(sa.Column("mediator_id", sa.String(64)))
        batch.add_column(sa.Column("path", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("agreement", sa.Text))
        batch.add_column(sa.Column("history", sa.Text, nullable=False, server_default="[]"))
    op.create_table(
        "dispute_parties",
        sa.Column("party_id", sa.String(36), primary_key=True),
        sa.Column("dispute_id", sa.String(36), sa.ForeignKey("disputes.dispute_id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(32)),
        sa.Column("email", sa.String(254)),
        sa.Column("online_consent", sa.Boolean),
        sa.Column("consent_at", sa.DateTime(timezone=True)),
        sa.Column("key_hash", sa.String(64), unique=True),
    )
    op.create_index("ix_dispute_parties_dispute_id", "dispute_parties", ["dispute_id"])
    op.create_table(
        "dispute_sessions",
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("dispute_id", sa.String(36), sa.ForeignKey("disputes.dispute_id"), nullable=False),
        sa.Column("channel_code", sa.String(32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("room_code", sa.String(64)),
        sa.Column("mediator_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attendance", sa.Text, nullable=False, server_default="{}"),
        sa.Column("minutes", sa.Text),
        sa.Column("partner_ref", sa.String(64)),
    )
    op.create_index("ix_dispute_sessions_dispute_id", "dispute_sessions", ["dispute_id"])
    op.create_table(
        "session_bookings",
        sa.Column("resource", sa.String(96), primary_key=True),
        sa.Column("slot_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("session_id", sa.String(36), sa.ForeignKey("dispute_sessions.session_id"), nullable=False),
    )
    op.create_index("ix_session_bookings_session_id", "session_bookings", ["session_id"])
    op.create_table(
        "confidential_reads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dispute_id", sa.String(36), nullable=False),
        sa.Column("record", sa.String(32), nullable=False),
        sa.Column("reader", sa.String(100), nullable=False),
        sa.Column("reader_role", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("remote_addr", sa.String(64)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_confidential_reads_dispute_id", "confidential_reads", ["dispute_id"])


def downgrade() -> None:
    op.drop_table("confidential_reads")
    op.drop_table("session_bookings")
    op.drop_table("dispute_sessions")
    op.drop_table("dispute_parties")
    with op.batch_alter_table("disputes") as batch:
        for column in ("history", "agreement", "path", "mediator_id", "known_on", "amount_yuan", "dispute_type"):
            batch.drop_column(column)
        batch.drop_column("source")
