"""console: the events' grid codes indexed for a prefix search, in place of a plain index on them.

The live board of a scope reads its newest events: `grid_code LIKE '<unit code>%' ORDER BY seq DESC LIMIT 50`.
Under the database's collation a plain index cannot serve a `LIKE` prefix, so PostgreSQL walked back through the
events from the newest until it had found 50 in the scope: for a quiet community, nearly the whole table.
`text_pattern_ops` compares grid codes byte by byte, so the prefix becomes a range the index serves, and the
planner can fetch a quiet scope's events and sort those alone. The plain index served no other query (the events'
grid codes are only ever matched by prefix). On SQLite, whose `LIKE` ignores case and uses no index, the new index
is a plain one, as the old was.

On PostgreSQL the index is built and the old one dropped CONCURRENTLY (`swap_index`), so that a large events table
keeps taking writes meanwhile.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from alembic import op

from gridlink.runtime.migrations import swap_index

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW = "ix_events_grid_code_prefix"
OLD = "ix_events_grid_code"


def upgrade() -> None:
    swap_index(op, "events", OLD, NEW, ["grid_code"], postgresql_ops={"grid_code": "text_pattern_ops"})


def downgrade() -> None:
    swap_index(op, "events", NEW, OLD, ["grid_code"])
