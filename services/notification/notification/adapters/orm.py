"""notification's tables: messages (the inbox channel reads them), every delivery attempt, and recipients'
addresses and preferences."""

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("recipient_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("template_code", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("trigger_event_id", String(36), nullable=False),
    Column("correlation_id", String(128), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("title", String(200), nullable=False, server_default=""),
    Column("category", String(32)),
    Column("priority", String(16), nullable=False, server_default="normal"),
    Column("status_reason", String(200)),
    Column("scope_code", String(32)),
    Column("dedup_key", String(40), index=True),
    Column("due_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", DateTime(timezone=True)),
    Column("provider", String(32)),
    Column("provider_message_id", String(128)),
    Column("merged_into", String(36)),
    # One message per event, person, template and channel, whatever happens to the event on the way.
    UniqueConstraint(
        "trigger_event_id", "recipient_id", "template_code", "channel", name="uq_messages_trigger_recipient_channel"
    ),
    Index("ix_messages_provider_message", "provider", "provider_message_id"),
    # A person's messages on a channel since a moment: the rate limit's count, the inbox and digests (0003).
    Index("ix_messages_recipient_channel_created", "recipient_id", "channel", "created_at"),
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
    Column("provider", String(32)),
    Column("duration_ms", Integer),
)

recipients = Table(
    "recipients",
    metadata,
    Column("recipient_id", String(64), primary_key=True),
    Column("name", String(64)),
    Column("phone", String(32)),
    Column("email", String(254)),
    Column("wechat_openid", String(64)),
    Column("wecom_userid", String(64)),
    Column("push_token", String(256)),
    Column("webhook_url", String(500)),
    Column("preferences", Text),  # JSON; None means the district's defaults
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

add_messaging_tables(metadata)
