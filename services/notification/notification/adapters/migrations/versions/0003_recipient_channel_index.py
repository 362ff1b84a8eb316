"""notification: a person's messages indexed by channel and time, in place of by person alone.

The rate limit counts a person's messages on a channel since a moment, the inbox lists them newest first, and a
digest gathers them: with an index on the person alone, each of these read every message the person ever had, so a
busy desk's or grid worker's compose cost grew with their history. The new index's first column serves every
lookup the old one did.

On PostgreSQL the index is built and the old one dropped CONCURRENTLY, outside a transaction, so that a large
messages table keeps taking writes meanwhile. A concurrent build that was interrupted leaves an invalid index of
the same name behind; the next run drops it and builds it again rather than skip it as existing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op

from gridlink.runtime.migrations import swap_index

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW = "ix_messages_recipient_channel_created"
OLD = "ix_messages_recipient_id"


def upgrade() -> None:
    swap_index(op, "messages", OLD, NEW, ["recipient_id", "channel", "created_at"])


def downgrade() -> None:
    swap_index(op, "messages", NEW, OLD, ["recipient_id"])
