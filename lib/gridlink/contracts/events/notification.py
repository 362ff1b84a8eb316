"""Events published by notification (exchange `notification.events`)."""

from marshmallow import Schema, fields, validate

from gridlink.contracts.events.fields import identifier

SOURCE = "notification"


class MessageSentV1(Schema):
    message_id = identifier(required=True)
    recipient_id = identifier(required=True)
    channel = fields.String(required=True, validate=validate.Length(min=1, max=32))
    template_code = identifier(required=True)
    trigger_event_id = fields.UUID(required=True)


class MessageFailedV1(MessageSentV1):
    reason = fields.String(required=True, validate=validate.Length(max=500))


EVENTS = {
    ("message_sent", 1): (MessageSentV1, "A message reached a recipient's channel."),
    ("message_failed", 1): (MessageFailedV1, "A message could not be delivered on any channel."),
}
