"""Events published by volunteer (exchange `volunteer.events`)."""

from marshmallow import Schema, fields, validate

from gridlink.contracts.events.fields import grid_code, identifier

SOURCE = "volunteer"


class OrderCreatedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    service_code = identifier(required=True)
    grid_code = grid_code(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("pending_review",)))


EVENTS = {
    ("order_created", 1): (OrderCreatedV1, "A resident's volunteer-service order was created and awaits review."),
}
