"""A message to one person on one channel, and its delivery state machine.

pending → sent (a provider accepted it) → delivered / failed (the provider's receipt says which);
pending → delivered (inbox and file: the delivery is local); pending → failed (every retry and provider failed);
pending → skipped (opted out, duplicate, no address: `status_reason` says which); pending → merged (into a digest).
A pending message may be held (`due_at` moves) for quiet hours, a missing address or a retry's backoff.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from notification.domain.errors import NotificationError

STATUSES = ("pending", "sent", "delivered", "failed", "skipped", "merged")
FINAL = ("delivered", "failed", "skipped", "merged")


@dataclass
class Message:
    message_id: str
    recipient_id: str
    channel: str
    template_code: str
    body: str
    trigger_event_id: str
    correlation_id: str
    status: str
    created_at: datetime
    delivered_at: datetime | None = None
    title: str = ""
    category: str | None = None
    priority: str = "normal"
    status_reason: str | None = None
    scope_code: str | None = None
    dedup_key: str | None = None
    due_at: datetime | None = None
    attempts: int = 0
    sent_at: datetime | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    merged_into: str | None = None
    events: list[tuple[str, dict]] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def compose(
        cls,
        *,
        recipient_id: str,
        channel: str,
        template_code: str,
        body: str,
        trigger_event_id: str,
        correlation_id: str,
        now: datetime,
        title: str = "",
        category: str | None = None,
        priority: str = "normal",
        scope_code: str | None = None,
        dedup_key: str | None = None,
    ) -> Message:
        return cls(
            message_id=str(uuid.uuid4()),
            recipient_id=recipient_id,
            channel=channel,
            template_code=template_code,
            body=body,
            trigger_event_id=trigger_event_id,
            correlation_id=correlation_id,
            status="pending",
            created_at=now,
            title=title,
            category=category,
            priority=priority,
            scope_code=scope_code,
            dedup_key=dedup_key,
            due_at=now,
        )

    @property
    def urgent(self) -> bool:
        return self.priority == "urgent"

    def _require_pending(self, action: str) -> None:
        if self.status != "pending":
            raise NotificationError(f"message {self.message_id} is {self.status}; cannot {action}")

    def hold(self, until: datetime, reason: str) -> None:
        self._require_pending("hold it")
        self.due_at = until
        self.status_reason = reason

    def skip(self, reason: str) -> None:
        self._require_pending("skip it")
        self.status = "skipped"
        self.status_reason = reason
        self.due_at = None

    def merge(self, reason: str) -> None:
        self._require_pending("merge it")
        self.status = "merged"
        self.status_reason = reason
        self.due_at = None

    def merged_into_digest(self, digest_id: str) -> None:
        self.merged_into = digest_id

    def accepted(self, now: datetime, provider: str, provider_message_id: str | None, delivered: bool) -> None:
        """A provider took the message; local channels (inbox, file) deliver it outright."""
        self._require_pending("send it")
        self.attempts += 1
        self.status = "delivered" if delivered else "sent"
        self.status_reason = None
        self.sent_at = now
        self.delivered_at = now if delivered else None
        self.provider = provider
        self.provider_message_id = provider_message_id
        self.due_at = None
        self.events.append(("message_sent", {**self._fact(), "provider": provider}))

    def attempt_failed(self, retry_at: datetime | None, reason: str) -> None:
        """One pass over the channel's providers failed: retry later, or give up when `retry_at` is None."""
        self._require_pending("retry it")
        self.attempts += 1
        if retry_at is None:
            self.give_up(reason)
        else:
            self.due_at = retry_at
            self.status_reason = f"retrying: {reason}"[:200]

    def give_up(self, reason: str) -> None:
        self.status = "failed"
        self.status_reason = reason[:200]
        self.due_at = None
        self.events.append(("message_failed", {**self._fact(), "reason": reason[:500]}))

    def receipt(self, delivered: bool, now: datetime, reason: str | None = None) -> bool:
        """A provider's delivery receipt; returns False when it changes nothing (a repeated receipt)."""
        if self.status != "sent":
            if self.status in ("delivered", "failed"):
                return False
            raise NotificationError(f"message {self.message_id} is {self.status}; it has no delivery to confirm")
        if delivered:
            self.status = "delivered"
            self.delivered_at = now
        else:
            self.give_up(f"provider receipt: {reason or 'undelivered'}")
        return True

    def _fact(self) -> dict:
        return {
            "message_id": self.message_id,
            "recipient_id": self.recipient_id,
            "channel": self.channel,
            "template_code": self.template_code,
            "trigger_event_id": self.trigger_event_id,
        }


@dataclass(frozen=True)
class Attempt:
    """One provider's try at delivering a message (or the local delivery of an inbox or file message)."""

    message_id: str
    channel: str
    at: datetime
    outcome: str
    detail: str | None
    provider: str | None
    duration_ms: int | None


# Which address each channel needs; inbox and file need none but the recipient's id.
ADDRESS_FIELDS = {
    "sms": ("phone",),
    "email": ("email",),
    "wechat": ("wechat_openid",),
    "wecom": ("wecom_userid", "phone"),  # an app message by user id, else a group bot @-mentioning the mobile
    "push": ("push_token",),
    "webhook": ("webhook_url",),
}
CONTACT_FIELDS = ("name", "phone", "email", "wechat_openid", "wecom_userid", "push_token", "webhook_url")


@dataclass
class Contact:
    """How to reach one person: from a contact event, the staff list, or the person's own registration."""

    recipient_id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat_openid: str | None = None
    wecom_userid: str | None = None
    push_token: str | None = None
    webhook_url: str | None = None

    def address_for(self, channel: str) -> tuple[str, str] | None:
        """(field, address) for the channel, or None when this person cannot be reached on it."""
        if channel not in ADDRESS_FIELDS:
            return ("recipient_id", self.recipient_id)
        for name in ADDRESS_FIELDS[channel]:
            value = getattr(self, name)
            if value:
                return (name, value)
        return None

    def updated_with(self, other: Contact) -> Contact:
        """This contact with every field `other` knows filled in from it."""
        values = {f: getattr(other, f) or getattr(self, f) for f in CONTACT_FIELDS}
        return Contact(self.recipient_id, **values)
