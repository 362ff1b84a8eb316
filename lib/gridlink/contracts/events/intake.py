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
    # Added in v1 (optional, so older consumers and producers keep working):
    reporter_ref = fields.String(load_default=None, allow_none=True)  # reporter:<report_id>, when reachable
    reporter_role = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    classification_confidence = fields.Float(load_default=1.0, validate=validate.Range(0, 1))
    needs_triage = fields.Boolean(load_default=False)  # low confidence: a person at the receiving tier checks it
    photo_urls = fields.List(fields.Url(), load_default=list)


class ReportMergedV1(Schema):
    """A report repeated an open one (same category, near, recent) and was linked to it instead of opening a case."""

    report_id = identifier(required=True)
    tracking_code = fields.String(required=True, validate=validate.Length(min=4, max=32))
    original_report_id = identifier(required=True)
    original_tracking_code = fields.String(required=True, validate=validate.Length(min=4, max=32))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category_code = identifier(required=True)
    grid_code = grid_code(required=True)
    co_reporters = fields.Integer(required=True, validate=validate.Range(min=1))
    reporter_phone_masked = masked_phone(load_default=None, allow_none=True)
    reporter_ref = fields.String(load_default=None, allow_none=True)
    submitted_at = fields.AwareDateTime(required=True)


EVENTS = {
    ("report_accepted", 1): (ReportAcceptedV1, "A report was validated, placed on a grid and stored."),
    ("report_merged", 1): (
        ReportMergedV1,
        "A duplicate report was linked to the open original (co-reporters counted).",
    ),
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


# What intake consumes from partners. A partner is not an event source of the platform, so its referral is a
# command: it is published to the `partners.events` exchange with routing key `referral_submitted`, in the common
# envelope, with `source` set to the partner's department code (e.g. "court", "labour_arbitration").
PARTNER_EXCHANGE = "partners"


class PartnerReferralV1(Schema):
    referral_id = identifier(required=True)  # the partner's own reference; a repeated referral_id is ignored
    category_code = identifier(load_default=None, allow_none=True)  # omitted: classified from the description
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    lat = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    long = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-180, 180))
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    urgency = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(URGENCIES))
    contact_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    contact_phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))


CONSUMES = {
    ("referral_submitted", 1): (PartnerReferralV1, "A partner department refers a matter to the grid (转办)."),
}
