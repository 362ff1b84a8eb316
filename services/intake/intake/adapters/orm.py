"""intake's tables. Reporters' personal data lives here and nowhere else."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)

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
    # 0002: channels, classification, duplicates and the Open311 read model
    Column("address_id", String(32)),
    Column("reporter_email", String(128)),
    Column("reporter_wechat", String(64)),
    Column("reporter_role", String(32)),
    Column("confidence", Float, nullable=False, server_default=text("1.0")),
    Column("needs_triage", Boolean, nullable=False, server_default=false()),
    Column("media_urls", JSON),
    Column("involved", JSON),
    Column("attributes", JSON),
    Column("client", String(64)),
    Column("duplicate_of", String(36), index=True),
    Column("co_reporters", Integer, nullable=False, server_default=text("0")),
    Column("alarm_count", Integer, nullable=False, server_default=text("0")),
    # what dispatch's case lifecycle says, as Open311 shows it
    Column("public_status", String(8), nullable=False, server_default=text("'open'")),
    Column("status_notes", Text),
    Column("agency_unit", String(32)),
    Column("expected_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("lifecycle_at", DateTime(timezone=True)),
    Index("ix_reports_category_submitted", "category_code", "submitted_at"),
)

# Open311 servicerequestupdates: one row per public step of a case (the consumed event's id is the update id).
request_updates = Table(
    "request_updates",
    metadata,
    Column("update_id", String(36), primary_key=True),
    Column("report_id", String(36), nullable=False, index=True),
    Column("status", String(8), nullable=False),
    Column("description", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
)

# Every IoT alarm received, so a repeated alarm id is ignored and a burst folds into one report.
iot_alarms = Table(
    "iot_alarms",
    metadata,
    Column("device_id", String(32), primary_key=True),
    Column("alarm_id", String(64), primary_key=True),
    Column("alarm_type", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("report_id", String(36), nullable=False),
    Index("ix_iot_alarms_device_type_time", "device_id", "alarm_type", "occurred_at"),
)

add_messaging_tables(metadata)
