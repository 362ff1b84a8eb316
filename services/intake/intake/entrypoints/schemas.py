"""Request bodies of intake's native JSON API, checked field by field so a person gets a precise error."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from gridlink.contracts.events.fields import URGENCIES
from gridlink.contracts.events.intake import CHANNELS

# Residents' channels always name a category (their app shows the list); staff channels may leave it to the rules.
RESIDENT_CHANNELS = ("app", "wechat", "open311")


class ReporterSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(validate=validate.Length(max=64), load_default=None)
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9][0-9 -]{5,19}$"), load_default=None)
    email = fields.Email(validate=validate.Length(max=128), load_default=None)
    wechat_openid = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{6,64}$"), load_default=None)
    role = fields.String(validate=validate.Length(max=32), load_default=None)


class InvolvedSchema(Schema):
    """人、地、物: the people, places and things a report involves (kept inside intake)."""

    class Meta:
        unknown = RAISE

    people = fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=20))
    places = fields.List(fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(max=20))
    things = fields.List(fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(max=20))


class ReportRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    category = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    channel = fields.String(load_default="app", validate=validate.OneOf(CHANNELS))
    lat = fields.Float(load_default=None, validate=validate.Range(-90, 90))
    long = fields.Float(load_default=None, validate=validate.Range(-180, 180))
    address_id = fields.String(load_default=None, validate=validate.Length(max=64))
    address = fields.String(load_default=None, validate=validate.Length(max=200))
    reporter = fields.Nested(ReporterSchema, load_default=dict)
    urgency = fields.String(load_default=None, validate=validate.OneOf(URGENCIES))
    photo_urls = fields.List(
        fields.Url(schemes={"http", "https"}, validate=validate.Length(max=500)),
        load_default=list,
        validate=validate.Length(max=9),
    )
    involved = fields.Nested(InvolvedSchema, load_default=dict)
    # The native API's contract is one POST, one case; a client opts in to duplicate linking (Open311 always links).
    link_duplicates = fields.Boolean(load_default=False)

    @validates_schema
    def _location(self, data, **kwargs):
        has_point = data.get("lat") is not None and data.get("long") is not None
        if (data.get("lat") is None) != (data.get("long") is None):
            raise ValidationError("lat and long go together", "lat")
        if not (has_point or data.get("address_id") or data.get("address")):
            raise ValidationError("give lat and long, an address_id, or an address", "location")

    @validates_schema
    def _category(self, data, **kwargs):
        if not data.get("category") and data.get("channel") in RESIDENT_CHANNELS:
            raise ValidationError("Missing data for required field.", "category")


class AlarmSchema(Schema):
    class Meta:
        unknown = RAISE

    alarm_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, validate=validate.Length(min=1, max=32))
    occurred_at = fields.AwareDateTime(required=True)
    description = fields.String(load_default=None, validate=validate.Length(max=500))


class AlarmBatchSchema(Schema):
    class Meta:
        unknown = RAISE

    alarms = fields.List(fields.Nested(AlarmSchema), required=True, validate=validate.Length(min=1, max=100))

    @validates_schema
    def _unique(self, data, **kwargs):
        ids = [a["alarm_id"] for a in data.get("alarms", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("alarm_id must be unique within a batch", "alarms")
