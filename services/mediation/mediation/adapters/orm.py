"""mediation's tables. Parties' contact data will live here and nowhere else."""

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

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
)

add_messaging_tables(metadata)
