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

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW = "ix_messages_recipient_channel_created"
OLD = "ix_messages_recipient_id"


def _invalid_on_postgresql(name: str) -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    query = "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s AND NOT i.indisvalid"
    return bind.exec_driver_sql(query, (name,)).first() is not None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        if _invalid_on_postgresql(NEW):
            op.drop_index(NEW, table_name="messages", postgresql_concurrently=True)
        op.create_index(
            NEW,
            "messages",
            ["recipient_id", "channel", "created_at"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index(OLD, table_name="messages", postgresql_concurrently=True, if_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(OLD, "messages", ["recipient_id"], postgresql_concurrently=True, if_not_exists=True)
        op.drop_index(NEW, table_name="messages", postgresql_concurrently=True, if_exists=True)
