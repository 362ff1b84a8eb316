"""notification's staff HTTP API: the messages a case caused, read with the signed-in person's own token.

notification owns its messages and their delivery state. The console asks for a case's messages when someone
opens the case instead of copying every `message_sent` into its read model: those were about two thirds of the
events the console consumed, and recording them cost the machine more than the rest of a report's record
(docs/performance.md, Optimisation 33), for lines only the case view shows.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from console.adapters.staff_api import StaffAnswer, call, pooled
from console.domain.messages import CaseMessage, CaseMessages


class NotificationClient:
    """The case page waits for this answer, so it is kept short (`timeout`), and after notification did not answer
    at all it is not asked again for `rest` seconds: every case page opened during an outage would otherwise hold
    one of the console's workers for the whole timeout, and ten such pages would stall the console."""

    def __init__(self, base_url: str, timeout: float = 3.0, rest: float = 10.0, clock=time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.timeout, self.rest, self.clock = timeout, rest, clock
        self.session = pooled()
        self._silent_until = float("-inf")
        self._silence = ""

    def case_messages(self, correlation_id: str, token: str) -> CaseMessages:
        """GET /cases/{correlation_id}/messages, as the case view shows it."""
        if self.clock() < self._silent_until:
            return CaseMessages(unavailable=f"notification did not answer a moment ago ({self._silence}); not asked")
        url = f"{self.base_url}/cases/{quote(correlation_id, safe='')}/messages"
        answer = call(self.session, "notification", "GET", url, token, self.timeout)
        if answer.status == 0:  # no answer at all; a refusal or an error is an answer
            self._silent_until, self._silence = self.clock() + self.rest, _description(answer.body)
        return case_messages(answer)


def case_messages(answer: StaffAnswer) -> CaseMessages:
    """notification's answer as the case view needs it; every answer but a list of messages says why there is none."""
    if answer.status == 404:  # notification has sent nothing for this case (yet)
        return CaseMessages()
    if answer.status == 0:
        return CaseMessages(unavailable=f"notification did not answer: {_description(answer.body)}")
    if answer.status in (401, 403):
        return CaseMessages(unavailable=f"notification does not show you these messages: {_description(answer.body)}")
    if answer.status != 200:
        return CaseMessages(unavailable=f"notification answered {answer.status}: {_description(answer.body)}")
    try:
        messages = [_message(item) for item in answer.body["messages"]]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return CaseMessages(unavailable=f"notification's answer could not be read ({type(exc).__name__}: {exc})"[:300])
    return CaseMessages(tuple(sorted(messages, key=lambda m: (m.at is None, m.at or datetime.min))))


def _message(item: dict[str, Any]) -> CaseMessage:
    when = item.get("sent_at") or item.get("created_at")
    return CaseMessage(
        at=datetime.fromisoformat(when).astimezone(UTC) if when else None,
        recipient_id=str(item["recipient_id"]),
        channel=str(item["channel"]),
        template=str(item["template"]),
        status=str(item["status"]),
        status_reason=item.get("status_reason"),
    )


def _description(body: dict) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("description") or error.get("code") or error)[:300]
    return str(body.get("text") or body)[:300]
