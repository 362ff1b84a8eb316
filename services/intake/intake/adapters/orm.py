"""intake's tables. Reporters' personal data lives here and nowhere else."""

from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, Text

from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()

reports = Table(
    "reports",
    metadata,
    Column("report_id", String(36), primary_key=True),
    Column("tracking_code", String(32), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("category_code", String(64), nullable=False),
    Column("category_kind", String(16), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("community_code", String(12), nullable=False),
    Column("sub_centre_code", String(9), nullable=False),
    Column("lat", Float, nullable=False),
    Column("long", Float, nullable=False),
    Column("address", Text),
    Column("reporter_name", String(64)),
    Column("reporter_phone", String(32)),
    Column("status", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False, index=True),
)

add_messaging_tables(metadata)
