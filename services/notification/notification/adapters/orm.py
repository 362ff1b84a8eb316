"""notification's tables: messages (the inbox channel reads them) and every delivery attempt."""

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint

from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("recipient_id", String(64), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("template_code", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("trigger_event_id", String(36), nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    # One message per event, person and template, whatever happens to the event on the way.
    UniqueConstraint("trigger_event_id", "recipient_id", "template_code", name="uq_messages_trigger_recipient"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), ForeignKey("messages.message_id"), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
)

add_messaging_tables(metadata)
