"""Events published by notification (exchange `notification.events`), and how partners verify its signed webhooks."""

import hashlib
import hmac

from marshmallow import Schema, fields, validate

from gridlink.contracts.events.fields import identifier

SOURCE = "notification"


class MessageSentV1(Schema):
    message_id = identifier(required=True)
    recipient_id = identifier(required=True)
    channel = fields.String(required=True, validate=validate.Length(min=1, max=32))
    template_code = identifier(required=True)
    trigger_event_id = fields.UUID(required=True)
    provider = fields.String(load_default=None, allow_none=True)  # added in v1: who carried it (sms_aliyun…)


class MessageFailedV1(MessageSentV1):
    reason = fields.String(required=True, validate=validate.Length(max=500))


# Published for whoever binds it, and normally nobody does: no GridLink service consumes `message_sent` (the
# console's case view reads a case's messages from notification). While no queue is bound to it, notification
# writes none, and probes again every few seconds (gridlink/runtime/audience.py); a queue bound to it gets every
# one from the next probe on.
NO_CONSUMER_NEEDED = ("message_sent",)

EVENTS = {
    ("message_sent", 1): (MessageSentV1, "A message reached a recipient's channel."),
    ("message_failed", 1): (MessageFailedV1, "A message could not be delivered on any channel."),
}


# Signed webhooks: notification POSTs JSON to a partner's URL with these headers. The signature is
# "v1=" + hex HMAC-SHA256(secret, "<timestamp>." + body). A receiver refuses a timestamp outside its tolerance
# (a replay of an old request) and may drop a repeated delivery id seen within that tolerance.
WEBHOOK_TIMESTAMP_HEADER = "X-GridLink-Timestamp"
WEBHOOK_SIGNATURE_HEADER = "X-GridLink-Signature"
WEBHOOK_DELIVERY_HEADER = "X-GridLink-Delivery"
WEBHOOK_TOLERANCE_SECONDS = 300


class WebhookSignatureError(ValueError):
    """A webhook request whose signature or timestamp must not be trusted; the message says why."""


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify_webhook(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
) -> None:
    """Raise WebhookSignatureError unless `signature` signs `body` at `timestamp`, within `tolerance` of `now`."""
    if not timestamp or not signature:
        raise WebhookSignatureError("the timestamp or signature header is missing")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookSignatureError(f"the timestamp {timestamp!r} is not a number of seconds") from None
    if abs(now - sent_at) > tolerance:
        raise WebhookSignatureError(f"the timestamp is {int(now - sent_at)}s from now; refused as a possible replay")
    if not hmac.compare_digest(sign_webhook(secret, sent_at, body), signature):
        raise WebhookSignatureError("the signature does not match the body")
