"""dispatch's tables: cases, their history, their assignment periods (for performance) and supervision records."""

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text

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
    # Added in 0002 (tiered routing, deadlines, evaluation).
    Column("department_code", String(32)),
    Column("handling_class", String(32)),
    Column("supervisor_id", String(64)),
    Column("acceptance_deadline_at", DateTime(timezone=True)),
    Column("suspended_at", DateTime(timezone=True)),
    Column("suspended_from", String(16)),
    Column("resolution", Text),
    Column("rating", String(24)),
    Column("rating_comment", Text),
    Column("outcome", String(64)),
    Column("closed_at", DateTime(timezone=True)),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
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

case_periods = Table(
    "case_periods",
    metadata,
    Column("case_id", String(36), ForeignKey("cases.case_id"), primary_key=True),
    Column("no", Integer, primary_key=True),
    Column("tier", String(16), nullable=False),
    Column("unit_code", String(32), nullable=False, index=True),
    Column("assignee_id", String(64), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False, index=True),
    Column("acceptance_due", DateTime(timezone=True), nullable=False),
    Column("resolution_due", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("end_reason", String(32)),
    Column("acceptance_overdue", Boolean, nullable=False),
    Column("resolution_overdue", Boolean, nullable=False),
    Column("rating", String(24)),
    Column("reopened", Boolean, nullable=False),
)

supervisions = Table(
    "supervisions",
    metadata,
    Column("supervision_id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("period_no", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("unit_code", String(32), nullable=False),
    Column("assignee_id", String(64)),
    Column("supervisor_id", String(64)),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("escalate_at", DateTime(timezone=True), nullable=False),
)

add_messaging_tables(metadata)
