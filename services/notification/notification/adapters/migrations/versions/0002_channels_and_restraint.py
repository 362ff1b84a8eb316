"""notification: message priority, category, delivery state and provider ids; attempts per provider; recipients'
addresses and preferences. One message per event, recipient, template and channel.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite can change a unique constraint only by rebuilding the table.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("title", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("category", sa.String(32)))
        batch.add_column(sa.Column("priority", sa.String(16), nullable=False, server_default="normal"))
        batch.add_column(sa.Column("status_reason", sa.String(200)))
        batch.add_column(sa.Column("scope_code", sa.String(32)))
        batch.add_column(sa.Column("dedup_key", sa.String(40)))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("provider", sa.String(32)))
        batch.add_column(sa.Column("provider_message_id", sa.String(128)))
        batch.add_column(sa.Column("merged_into", sa.String(36)))
        batch.drop_constraint("uq_messages_trigger_recipient", type_="unique")
        batch.create_unique_constraint(
            "uq_messages_trigger_recipient_channel", ["trigger_event_id", "recipient_id", "template_code", "channel"]
        )
        batch.create_index("ix_messages_correlation_id", ["correlation_id"])
        batch.create_index("ix_messages_dedup_key", ["dedup_key"])
        batch.create_index("ix_messages_provider_message", ["provider", "provider_message_id"])
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.add_column(sa.Column("provider", sa.String(32)))
        batch.add_column(sa.Column("duration_ms", sa.Integer))
    op.create_table(
        "recipients",
        sa.Column("recipient_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64)),
        sa.Column("phone", sa.String(32)),
        sa.Column("email", sa.String(254)),
        sa.Column("wechat_openid", sa.String(64)),
        sa.Column("wecom_userid", sa.String(64)),
        sa.Column("push_token", sa.String(256)),
        sa.Column("webhook_url", sa.String(500)),
        sa.Column("preferences", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recipients")
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.drop_column("duration_ms")
        batch.drop_column("provider")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_provider_message")
        batch.drop_index("ix_messages_dedup_key")
        batch.drop_index("ix_messages_correlation_id")
        batch.drop_constraint("uq_messages_trigger_recipient_channel", type_="unique")
        batch.create_unique_constraint(
            "uq_messages_trigger_recipient", ["trigger_event_id", "recipient_id", "template_code"]
        )
        for column in (
            "merged_into",
            "provider_message_id",
            "provider",
            "sent_at",
            "attempts",
            "due_at",
            "dedup_key",
            "scope_code",
            "status_reason",
            "priority",
            "category",
            "title",
        ):
            batch.drop_column(column)
