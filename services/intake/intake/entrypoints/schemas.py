"""The JSON body of POST /reports, checked field by field so a person gets a precise error."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from gridlink.contracts.events.intake import CHANNELS


class ReporterSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(validate=validate.Length(max=64), load_default=None)
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9][0-9 -]{5,19}$"), load_default=None)


class ReportRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    category = fields.String(required=True, validate=validate.Length(min=1, max=64))
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    channel = fields.String(load_default="app", validate=validate.OneOf(CHANNELS))
    lat = fields.Float(load_default=None, validate=validate.Range(-90, 90))
    long = fields.Float(load_default=None, validate=validate.Range(-180, 180))
    address_id = fields.String(load_default=None, validate=validate.Length(max=64))
    address = fields.String(load_default=None, validate=validate.Length(max=200))
    reporter = fields.Nested(ReporterSchema, load_default=dict)

    @validates_schema
    def _location(self, data, **kwargs):
        has_point = data.get("lat") is not None and data.get("long") is not None
        if (data.get("lat") is None) != (data.get("long") is None):
            raise ValidationError("lat and long go together", "lat")
        if not (has_point or data.get("address_id") or data.get("address")):
            raise ValidationError("give lat and long, an address_id, or an address", "location")
