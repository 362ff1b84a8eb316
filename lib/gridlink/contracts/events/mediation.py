"""Events published by mediation (exchange `mediation.events`)."""

from marshmallow import Schema, fields

from gridlink.contracts.events.fields import grid_code, identifier

SOURCE = "mediation"


class DisputeCaseOpenedV1(Schema):
    dispute_id = identifier(required=True)
    case_code = fields.String(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    category_code = identifier(required=True)
    channel_code = identifier(required=True)
    grid_code = grid_code(load_default=None, allow_none=True)
    deadline_at = fields.AwareDateTime(required=True)


EVENTS = {
    ("dispute_case_opened", 1): (DisputeCaseOpenedV1, "A dispute case was opened under one case code (一案一码)."),
}
