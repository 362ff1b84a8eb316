"""mediation's tables. Parties' contact data lives here and nowhere else; statements and minutes never leave
except to their permitted readers, and every such read is audited."""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()

disputes = Table(
    "disputes",
    metadata,
    Column("dispute_id", String(36), primary_key=True),
    Column("case_code", String(32), nullable=False, unique=True),
    Column("correlation_id", String(128), nullable=False),
    Column("case_id", String(36), unique=True),
    Column("report_id", String(36)),
    Column("tracking_code", String(32)),
    Column("category_code", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("grid_code", String(15)),
    Column("community_code", String(12)),
    Column("channel_code", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    # 0002: walk-ins and partners, the path across channels, the agreement and the history
    Column("source", String(64), nullable=False, server_default="dispatch"),
    Column("dispute_type", String(32), nullable=False, server_default="other"),
    Column("amount_yuan", Numeric(14, 2)),
    Column("known_on", Date),
    Column("mediator_id", String(64)),
    Column("path", Text, nullable=False, server_default="[]"),
    Column("agreement", Text),
    Column("history", Text, nullable=False, server_default="[]"),
)

parties = Table(
    "dispute_parties",
    metadata,
    Column("party_id", String(36), primary_key=True),
    Column("dispute_id", String(36), ForeignKey("disputes.dispute_id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("phone", String(32)),
    Column("email", String(254)),
    Column("online_consent", Boolean),
    Column("consent_at", DateTime(timezone=True)),
    Column("key_hash", String(64), unique=True),
)

sessions = Table(
    "dispute_sessions",
    metadata,
    Column("session_id", String(36), primary_key=True),
    Column("dispute_id", String(36), ForeignKey("disputes.dispute_id"), nullable=False, index=True),
    Column("channel_code", String(32), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("online", Boolean, nullable=False),
    Column("room_code", String(64)),
    Column("mediator_id", String(64)),
    Column("state", String(16), nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("attendance", Text, nullable=False, server_default="{}"),
    Column("minutes", Text),
    Column("partner_ref", String(64)),
)

# One row per (room or mediator, half-hour slot) a session occupies: the unique key is what stops two replicas
# from double-booking, whatever their timing.
bookings = Table(
    "session_bookings",
    metadata,
    Column("resource", String(96), primary_key=True),
    Column("slot_start", DateTime(timezone=True), primary_key=True),
    Column("session_id", String(36), ForeignKey("dispute_sessions.session_id"), nullable=False, index=True),
)

confidential_reads = Table(
    "confidential_reads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dispute_id", String(36), nullable=False, index=True),
    Column("record", String(32), nullable=False),
    Column("reader", String(100), nullable=False),
    Column("reader_role", String(32), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("remote_addr", String(64)),
    Column("at", DateTime(timezone=True), nullable=False),
)

add_messaging_tables(metadata)
