"""notification's service layer: load, call the domain, commit. No HTTP and no nameko here."""

from __future__ import annotations

from datetime import UTC, datetime

from gridlink.contracts import Envelope
from notification.adapters.channels import CHANNELS
from notification.adapters.repository import NotificationUnitOfWork
from notification.domain.model import Message
from notification.domain.rules import rules_for
from notification.domain.templates import render


def notify(uow: NotificationUnitOfWork, event: Envelope, now: datetime | None = None) -> None:
    """Turn an event into one message per rule and deliver it; the inbox delivery commits with the message."""
    now = now or datetime.now(UTC)
    for rule in rules_for(event.type):
        recipient = event.payload[rule.recipient_field]
        if uow.messages.exists(event.event_id, recipient, rule.template_code):
            continue
        message = Message.compose(
            recipient_id=recipient,
            channel=rule.channel,
            template_code=rule.template_code,
            body=render(rule.template_code, event.payload),
            trigger_event_id=event.event_id,
            correlation_id=event.correlation_id,
            now=now,
        )
        detail = CHANNELS[rule.channel].deliver(message)
        message.delivered(now)
        uow.messages.add(message)
        uow.messages.record_attempt(message, "delivered", now, detail)
        for event_type, payload in message.events:
            uow.publish(event_type, payload)
    uow.commit()


def inbox(uow: NotificationUnitOfWork, recipient_id: str, limit: int = 100) -> list[Message]:
    with uow:
        return uow.messages.inbox(recipient_id, limit)
