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


class OrderDispatchedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    service_code = identifier(required=True)
    grid_code = grid_code(required=True)
    volunteer_id = fields.String(load_default=None, allow_none=True)  # None when opened for claiming (抢单)
    team_code = fields.String(load_default=None, allow_none=True)
    accept_by = fields.AwareDateTime(required=True)


class OrderCompletedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    volunteer_id = identifier(required=True)
    hours = fields.Decimal(required=True, as_string=True, places=2)
    note = fields.String(required=True, validate=validate.Length(max=2000))


class OrderRatedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    volunteer_id = identifier(required=True)
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))


EVENTS.update(
    {
        ("order_dispatched", 1): (
            OrderDispatchedV1,
            "An order was sent to a volunteer or team, or opened for claiming.",
        ),
        ("order_completed", 1): (OrderCompletedV1, "The volunteer completed the service, with proof."),
        ("order_rated", 1): (OrderRatedV1, "The resident rated the service; the order is closed."),
    }
)
