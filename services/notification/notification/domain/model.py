"""A message to one person on one channel, and its delivery state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime


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
    events: list[tuple[str, dict]] = field(default_factory=list)

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
        )

    def delivered(self, now: datetime) -> None:
        self.status = "delivered"
        self.delivered_at = now
        self.events.append(
            (
                "message_sent",
                {
                    "message_id": self.message_id,
                    "recipient_id": self.recipient_id,
                    "channel": self.channel,
                    "template_code": self.template_code,
                    "trigger_event_id": self.trigger_event_id,
                },
            )
        )
