"""Messages, delivery attempts and recipients in and out of the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from gridlink.runtime.db import UnitOfWork, as_utc
from notification.adapters.orm import delivery_attempts, messages, recipients
from notification.domain.model import CONTACT_FIELDS, Contact, Message

_FIELDS = [c.name for c in messages.columns]
_DATES = ("created_at", "delivered_at", "due_at", "sent_at")
_MUTABLE = [
    "status", "delivered_at", "status_reason", "due_at", "attempts", "sent_at", "provider", "provider_message_id",
    "merged_into",
]  # fmt: skip


class MessageRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, message: Message) -> None:
        self.session.execute(insert(messages).values(**{f: getattr(message, f) for f in _FIELDS}))

    def save(self, message: Message) -> None:
        values = {f: getattr(message, f) for f in _MUTABLE}
        self.session.execute(update(messages).where(messages.c.message_id == message.message_id).values(**values))

    def get(self, message_id: str, lock: bool = False) -> Message | None:
        query = select(messages).where(messages.c.message_id == message_id)
        if lock:
            query = query.with_for_update()
        row = self.session.execute(query).mappings().first()
        return _load(row) if row else None

    def exists(self, trigger_event_id: str, recipient_id: str, template_code: str, channel: str) -> bool:
        query = select(messages.c.message_id).where(
            messages.c.trigger_event_id == trigger_event_id,
            messages.c.recipient_id == recipient_id,
            messages.c.template_code == template_code,
            messages.c.channel == channel,
        )
        return self.session.execute(query).first() is not None

    def duplicate_of(self, dedup_key: str, since: datetime) -> str | None:
        """The message with the same words, person and channel sent or pending since `since`, if any."""
        query = (
            select(messages.c.message_id)
            .where(messages.c.dedup_key == dedup_key, messages.c.created_at >= since)
            .where(messages.c.status.in_(("pending", "sent", "delivered", "merged")))
            .limit(1)
        )
        return self.session.execute(query).scalar()

    def count_recent(self, recipient_id: str, channels: tuple[str, ...], since: datetime) -> int:
        """Messages that reach (or will reach) the person on interrupting channels since `since`."""
        query = (
            select(func.count())
            .select_from(messages)
            .where(messages.c.recipient_id == recipient_id, messages.c.channel.in_(channels))
            .where(messages.c.created_at >= since, messages.c.status.in_(("pending", "sent", "delivered")))
        )
        return self.session.execute(query).scalar_one()

    def awaiting_digest(self, recipient_id: str, channel: str) -> list[Message]:
        query = (
            select(messages)
            .where(messages.c.recipient_id == recipient_id, messages.c.channel == channel)
            .where(messages.c.status == "merged", messages.c.merged_into.is_(None))
            .order_by(messages.c.created_at)
        )
        return [_load(r) for r in self.session.execute(query).mappings()]

    def awaiting_address(self, recipient_id: str) -> list[Message]:
        query = select(messages).where(
            messages.c.recipient_id == recipient_id,
            messages.c.status == "pending",
            messages.c.status_reason == "awaiting_address",
        )
        return [_load(r) for r in self.session.execute(query).mappings()]

    def by_provider_id(self, provider: str, provider_message_id: str) -> Message | None:
        query = select(messages).where(
            messages.c.provider == provider, messages.c.provider_message_id == provider_message_id
        )
        row = self.session.execute(query.with_for_update()).mappings().first()
        return _load(row) if row else None

    def of_correlation(self, correlation_id: str) -> list[Message]:
        query = (
            select(messages)
            .where(messages.c.correlation_id == correlation_id)
            .order_by(messages.c.created_at, messages.c.recipient_id, messages.c.channel)
        )
        return [_load(r) for r in self.session.execute(query).mappings()]

    def record_attempt(
        self,
        message: Message,
        outcome: str,
        at: datetime,
        detail: str | None = None,
        provider: str | None = None,
        duration_ms: int | None = None,
    ) -> None:
        self.session.execute(
            insert(delivery_attempts).values(
                message_id=message.message_id,
                channel=message.channel,
                at=at,
                outcome=outcome,
                detail=detail,
                provider=provider,
                duration_ms=duration_ms,
            )
        )

    def attempts_of(self, message_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {m: [] for m in message_ids}
        if not message_ids:
            return found
        query = (
            select(delivery_attempts)
            .where(delivery_attempts.c.message_id.in_(message_ids))
            .order_by(delivery_attempts.c.id)
        )
        for row in self.session.execute(query).mappings():
            found[row["message_id"]].append(
                {
                    "at": as_utc(row["at"]).isoformat(),
                    "provider": row["provider"],
                    "outcome": row["outcome"],
                    "detail": row["detail"],
                    "duration_ms": row["duration_ms"],
                }
            )
        return found

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
    for name in _DATES:
        values[name] = as_utc(values[name])
    return Message(**values)


class RecipientRepository:
    def __init__(self, session: Session):
        self.session = session

    def get(self, recipient_id: str) -> tuple[Contact, dict | None] | None:
        """The stored contact and raw preferences, or None when nothing is stored for this person."""
        row = self.session.execute(select(recipients).where(recipients.c.recipient_id == recipient_id)).mappings()
        row = row.first()
        if row is None:
            return None
        contact = Contact(recipient_id, **{f: row[f] for f in CONTACT_FIELDS})
        return contact, json.loads(row["preferences"]) if row["preferences"] else None

    def save_contact(self, contact: Contact) -> None:
        values = {f: getattr(contact, f) for f in CONTACT_FIELDS}
        self._upsert(contact.recipient_id, values)

    def save_preferences(self, recipient_id: str, preferences: dict) -> None:
        self._upsert(recipient_id, {"preferences": json.dumps(preferences, ensure_ascii=False)})

    def _upsert(self, recipient_id: str, values: dict) -> None:
        values = {**values, "updated_at": datetime.now(UTC)}
        done = self.session.execute(
            update(recipients).where(recipients.c.recipient_id == recipient_id).values(**values)
        )
        if done.rowcount == 0:
            self.session.execute(insert(recipients).values(recipient_id=recipient_id, **values))


class NotificationUnitOfWork(UnitOfWork):
    messages: MessageRepository
    recipients: RecipientRepository

    def _open_repositories(self, session: Session) -> None:
        self.messages = MessageRepository(session)
        self.recipients = RecipientRepository(session)
