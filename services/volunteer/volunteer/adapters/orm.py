"""volunteer's tables."""

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(36), primary_key=True),
    Column("correlation_id", String(128), nullable=False),
    Column("case_id", String(36), unique=True),
    Column("report_id", String(36)),
    Column("tracking_code", String(32)),
    Column("service_code", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("grid_code", String(15), nullable=False),
    Column("community_code", String(12), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

add_messaging_tables(metadata)
