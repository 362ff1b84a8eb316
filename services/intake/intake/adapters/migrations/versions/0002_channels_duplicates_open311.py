"""intake: channels, classification, duplicate links, the Open311 read model, IoT alarms.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = [
    sa.Column("address_id", sa.String(32)),
    sa.Column("reporter_email", sa.String(128)),
    sa.Column("reporter_wechat", sa.String(64)),
    sa.Column("reporter_role", sa.String(32)),
    sa.Column("confidence", sa.Float, nullable=False, server_default=sa.text("1.0")),
    sa.Column("needs_triage", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("media_urls", sa.JSON),
    sa.Column("involved", sa.JSON),
    sa.Column("attributes", sa.JSON),
    sa.Column("client", sa.String(64)),
    sa.Column("duplicate_of", sa.String(36)),
    sa.Column("co_reporters", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("alarm_count", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("public_status", sa.String(8), nullable=False, server_default=sa.text("'open'")),
    sa.Column("status_notes", sa.Text),
    sa.Column("agency_unit", sa.String(32)),
    sa.Column("expected_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("lifecycle_at", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        for column in _COLUMNS:
            batch.add_column(column)
    op.create_index("ix_reports_duplicate_of", "reports", ["duplicate_of"])
    op.create_index("ix_reports_category_submitted", "reports", ["category_code", "submitted_at"])
    op.create_table(
        "request_updates",
        sa.Column("update_id", sa.String(36), primary_key=True),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_request_updates_report_id", "request_updates", ["report_id"])
    op.create_index("ix_request_updates_updated_at", "request_updates", ["updated_at"])
    op.create_table(
        "iot_alarms",
        sa.Column("device_id", sa.String(32), primary_key=True),
        sa.Column("alarm_id", sa.String(64), primary_key=True),
        sa.Column("alarm_type", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_iot_alarms_device_type_time", "iot_alarms", ["device_id", "alarm_type", "occurred_at"])


def downgrade() -> None:
    op.drop_table("iot_alarms")
    op.drop_table("request_updates")
    op.drop_index("ix_reports_category_submitted", "reports")
    op.drop_index("ix_reports_duplicate_of", "reports")
    with op.batch_alter_table("reports") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column.name)
