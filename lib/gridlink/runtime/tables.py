"""The tables the runtime keeps in every service's own database: outbox, inbox, timers and the audit trail."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
_ID = BigInteger().with_variant(Integer(), "sqlite")

# (table name, index name, columns): the relay's scan for pending rows, the timer scan for due ones.
INDEXES = [
    ("outbox", "ix_outbox_pending", ["published_at", "id"]),
    ("timers", "ix_timers_due", ["fired_at", "due_at"]),
    ("audit_log", "ix_audit_log_actor_at", ["actor", "at"]),
]


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


def timer_columns() -> list[Column]:
    return [
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("kind", String(64), nullable=False),
        Column("key", String(128), nullable=False),
        Column("due_at", DateTime(timezone=True), nullable=False),
        Column("payload", Text, nullable=False),
        Column("correlation_id", String(128)),
        Column("claimed_by", String(64)),
        Column("claim_expires_at", DateTime(timezone=True)),
        Column("fired_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text),
        UniqueConstraint("kind", "key", name="uq_timers_kind_key"),
    ]


def audit_columns() -> list[Column]:
    return [
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("actor", String(64), nullable=False),
        Column("role", String(32)),
        Column("unit", String(32)),
        Column("action", String(256), nullable=False),
        Column("status", Integer, nullable=False),
        Column("source", String(128), nullable=False),
        Column("user_agent", String(256)),
    ]


_TABLES = {
    "outbox": outbox_columns,
    "processed_events": inbox_columns,
    "timers": timer_columns,
    "audit_log": audit_columns,
}


def add_messaging_tables(metadata: MetaData) -> tuple[Table, ...]:
    """Register the outbox, inbox and timers on a service's metadata so that its migrations create them."""
    from sqlalchemy import Index

    tables = tuple(Table(name, metadata, *columns()) for name, columns in _TABLES.items())
    for table_name, index_name, columns in INDEXES:
        table = metadata.tables[table_name]
        Index(index_name, *[table.c[c] for c in columns])
    return tables


def create_messaging_tables(op) -> None:
    """Called by each service's first Alembic migration."""
    for name, columns in _TABLES.items():
        op.create_table(name, *columns())
    for table_name, index_name, columns in INDEXES:
        op.create_index(index_name, table_name, columns)
    from gridlink.runtime.audit import protect_audit_table

    protect_audit_table(op)
