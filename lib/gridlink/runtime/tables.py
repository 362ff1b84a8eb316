"""The two tables the messaging runtime keeps in every service's own database: the outbox and the inbox."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
_ID = BigInteger().with_variant(Integer(), "sqlite")

# (table name, index name, columns): the relay's scan for pending rows.
INDEXES = [("outbox", "ix_outbox_pending", ["published_at", "id"])]


def outbox_columns() -> list[Column]:
    return [
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("exchange", String(128), nullable=False),
        Column("correlation_id", String(128), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("claimed_by", String(64)),
        Column("claim_expires_at", DateTime(timezone=True)),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, default=0),
        Column("unroutable", Boolean, nullable=False, default=False),
        Column("last_error", Text),
    ]


def inbox_columns() -> list[Column]:
    return [
        Column("consumer", String(128), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    ]


def add_messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Register the outbox and inbox on a service's metadata so that its migrations create them."""
    from sqlalchemy import Index

    outbox = Table("outbox", metadata, *outbox_columns())
    inbox = Table("processed_events", metadata, *inbox_columns())
    for table_name, index_name, columns in INDEXES:
        table = metadata.tables[table_name]
        Index(index_name, *[table.c[c] for c in columns])
    return outbox, inbox


def create_messaging_tables(op) -> None:
    """Called by each service's first Alembic migration."""
    op.create_table("outbox", *outbox_columns())
    op.create_table("processed_events", *inbox_columns())
    for table_name, index_name, columns in INDEXES:
        op.create_index(index_name, table_name, columns)
