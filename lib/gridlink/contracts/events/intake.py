"""Events published by intake (exchange `intake.events`)."""

from marshmallow import Schema, fields, validate

from gridlink.contracts.events.fields import CATEGORY_KINDS, PERSONAL, URGENCIES, grid_code, identifier, masked_phone

SOURCE = "intake"

CHANNELS = ("app", "wechat", "open311", "patrol", "hotline", "walk_in", "iot", "partner")


class ReportAcceptedV1(Schema):
    report_id = identifier(required=True)
    tracking_code = fields.String(required=True, validate=validate.Length(min=4, max=32))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category_code = identifier(required=True)
    category_kind = fields.String(required=True, validate=validate.OneOf(CATEGORY_KINDS))
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    description = fields.String(required=True, validate=validate.Length(max=4000))
    grid_code = grid_code(required=True)
    community_code = fields.String(required=True)
    sub_centre_code = fields.String(required=True)
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    long = fields.Float(required=True, validate=validate.Range(-180, 180))
    address = fields.String(load_default=None, allow_none=True)
    reporter_phone_masked = masked_phone(load_default=None, allow_none=True)
    submitted_at = fields.AwareDateTime(required=True)


EVENTS = {
    ("report_accepted", 1): (ReportAcceptedV1, "A report was validated, placed on a grid and stored."),
}


class ReporterContactRegisteredV1(Schema):
    """How to reach a reporter, for notification only (it owns people's addresses).

    Fields marked personal travel sealed (see gridlink.runtime.personal): the broker never holds them in the clear.
    """

    recipient_id = fields.String(required=True, validate=validate.Regexp(r"^reporter:[0-9a-f-]{36}$"))
    report_id = identifier(required=True)
    tracking_code = fields.String(required=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64), metadata=PERSONAL)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32), metadata=PERSONAL)
    email = fields.Email(load_default=None, allow_none=True, metadata=PERSONAL)
    wechat_openid = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=64), metadata=PERSONAL
    )


EVENTS[("reporter_contact_registered", 1)] = (
    ReporterContactRegisteredV1,
    "How to reach a report's reporter (recipient id `reporter:<report_id>`), for notification only.",
)
