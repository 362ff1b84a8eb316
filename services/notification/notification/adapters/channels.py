"""Delivery channels. The local inbox is the first: the message row itself is the delivery, read over HTTP,
plus a log line an operator can follow."""

from __future__ import annotations

import logging

from notification.domain.model import Message

log = logging.getLogger("notification.inbox")


class InboxChannel:
    code = "inbox"

    def deliver(self, message: Message) -> str:
        log.info(
            "inbox message delivered",
            extra={
                "fields": {"recipient_id": message.recipient_id, "message_id": message.message_id, "text": message.body}
            },
        )
        return "stored in the recipient's inbox"


CHANNELS = {InboxChannel.code: InboxChannel()}
