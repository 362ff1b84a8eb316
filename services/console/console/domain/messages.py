"""The messages a case caused, as notification tells them: shown on the case view beside the case's history.

notification owns messages and their delivery (its `GET /cases/{correlation_id}/messages`); the console shows them
when the case is opened rather than recording every `message_sent`, so what it shows is as of that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CaseMessage:
    at: datetime | None  # when it was sent, or composed while it has not been
    recipient_id: str
    channel: str
    template: str
    status: str  # notification's: pending, sent, delivered, merged, skipped, failed
    status_reason: str | None = None

    def line(self) -> str:
        reason = f" ({self.status_reason})" if self.status_reason else ""
        return f"{self.template} to {self.recipient_id} by {self.channel}: {self.status}{reason}"


@dataclass(frozen=True)
class CaseMessages:
    """The case's messages in time order, or why they cannot be shown now (`unavailable`); none at all is an
    ordinary answer for a case notification has sent nothing for yet."""

    messages: tuple[CaseMessage, ...] = ()
    unavailable: str | None = None
