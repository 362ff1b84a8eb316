"""console's read model: every consumed event (by correlation_id), one summary row per case, and the actions
people took through the console (who, when, what, and what dispatch answered)."""

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text

from gridlink.runtime.tables import add_messaging_tables

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

events = Table(
    "events",
    metadata,
    # seq orders the live board; browsers resume their stream from it (Last-Event-ID).
    Column("seq", SERIAL, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", String(64), nullable=False),
    Column("correlation_id", String(128), nullable=False, index=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("grid_code", String(15)),
    Column("payload", Text, nullable=False),
    # The board of a scope matches grid codes by prefix (LIKE): only a pattern index serves that (migration 0002).
    Index("ix_events_grid_code_prefix", "grid_code", postgresql_ops={"grid_code": "text_pattern_ops"}),
)

cases = Table(
    "cases",
    metadata,
    Column("correlation_id", String(128), primary_key=True),
    Column("report_id", String(64)),
    Column("tracking_code", String(32), index=True),
    Column("case_id", String(64), index=True),
    Column("category_code", String(64)),
    Column("category_kind", String(16)),
    Column("urgency", String(16)),
    Column("channel", String(16)),
    Column("description", Text),
    Column("grid_code", String(15), index=True),
    Column("community_code", String(12)),
    Column("sub_centre_code", String(9)),
    Column("tier", String(16)),
    Column("unit_code", String(64)),
    Column("assignee_id", String(64)),
    Column("state", String(16), nullable=False),
    Column("deadline_at", DateTime(timezone=True)),
    Column("reported_at", DateTime(timezone=True), index=True),
    Column("assigned_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("due_soon", Boolean, nullable=False),
    Column("overdue", Boolean, nullable=False),
    Column("was_overdue", Boolean, nullable=False),
    Column("resolved_on_time", Boolean),
    Column("rating", String(32)),
    Column("escalations", Integer, nullable=False),
    Column("supervisions", Integer, nullable=False),
    Column("dispute_code", String(64)),
    Column("order_id", String(64)),
    Column("last_event_type", String(64)),
    Column("last_event_at", DateTime(timezone=True)),
)

actions = Table(
    "actions",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("correlation_id", String(128), nullable=False, index=True),
    Column("case_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Integer, nullable=False),  # dispatch's HTTP status; 0 when it did not answer
    Column("answer", Text),
)

add_messaging_tables(metadata)
