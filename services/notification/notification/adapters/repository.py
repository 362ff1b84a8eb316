"""Messages and delivery attempts in and out of the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gridlink.runtime.db import UnitOfWork, as_utc
from notification.adapters.orm import delivery_attempts, messages
from notification.domain.model import Message

_FIELDS = [c.name for c in messages.columns]


class MessageRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, message: Message) -> None:
        self.session.execute(insert(messages).values(**{f: getattr(message, f) for f in _FIELDS}))

    def exists(self, trigger_event_id: str, recipient_id: str, template_code: str) -> bool:
        query = select(messages.c.message_id).where(
            messages.c.trigger_event_id == trigger_event_id,
            messages.c.recipient_id == recipient_id,
            messages.c.template_code == template_code,
        )
        return self.session.execute(query).first() is not None

    def record_attempt(self, message: Message, outcome: str, at: datetime, detail: str | None = None) -> None:
        self.session.execute(
            insert(delivery_attempts).values(
                message_id=message.message_id, channel=message.channel, at=at, outcome=outcome, detail=detail
            )
        )

    def inbox(self, recipient_id: str, limit: int = 100) -> list[Message]:
        rows = self.session.execute(
            select(messages)
            .where(messages.c.recipient_id == recipient_id, messages.c.channel == "inbox")
            .order_by(messages.c.created_at.desc())
            .limit(limit)
        ).mappings()
        return [_load(r) for r in rows]


def _load(row) -> Message:
    values = dict(row)
    values["created_at"] = as_utc(values["created_at"])
    values["delivered_at"] = as_utc(values["delivered_at"])
    return Message(**values)


class NotificationUnitOfWork(UnitOfWork):
    messages: MessageRepository

    def _open_repositories(self, session: Session) -> None:
        self.messages = MessageRepository(session)
