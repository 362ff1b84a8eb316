"""dispatch's tables: cases and their history."""

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text

from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("report_id", String(36), nullable=False, unique=True),
    Column("tracking_code", String(32), nullable=False, index=True),
    Column("correlation_id", String(128), nullable=False),
    Column("category_code", String(64), nullable=False),
    Column("category_kind", String(16), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("community_code", String(12), nullable=False),
    Column("sub_centre_code", String(9), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("tier", String(16)),
    Column("unit_code", String(32)),
    Column("assignee_id", String(32)),
    Column("assignee_role", String(32)),
    Column("deadline_at", DateTime(timezone=True)),
    Column("opened_at", DateTime(timezone=True), nullable=False),
)

case_history = Table(
    "case_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", Text),
)

add_messaging_tables(metadata)
