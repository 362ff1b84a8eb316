"""Request bodies of mediation's HTTP API: marshmallow turns a bad field into a precise 400 with its reasons."""

from marshmallow import RAISE, Schema, fields, validate

from mediation.domain.model import PARTY_ROLES


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PartyIn(_Strict):
    role = fields.String(required=True, validate=validate.OneOf(PARTY_ROLES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(load_default=None, validate=validate.Regexp(r"^\+?[0-9 -]{5,20}$"))
    email = fields.Email(load_default=None)


class WalkInIn(_Strict):
    category_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    dispute_type = fields.String(load_default=None)
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    channel_code = fields.String(load_default=None)
    amount_yuan = fields.Decimal(load_default=None, validate=validate.Range(min=0), places=2)
    known_on = fields.Date(load_default=None)
    grid_code = fields.String(load_default=None, validate=validate.Regexp(r"^\d{15}$"))
    community_code = fields.String(load_default=None, validate=validate.Regexp(r"^\d{12}$"))
    parties = fields.List(fields.Nested(PartyIn), load_default=list)


class PartiesIn(_Strict):
    parties = fields.List(fields.Nested(PartyIn), required=True, validate=validate.Length(min=1))


class ReasonIn(_Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class AcceptIn(_Strict):
    partner_ref = fields.String(load_default=None, validate=validate.Length(max=64))


class TransferIn(ReasonIn):
    to_channel_code = fields.String(required=True)


class ExtendIn(_Strict):
    days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=366))
    approved_by = fields.String(load_default=None)
    approval_ref = fields.String(load_default=None)
    consenting_party_ids = fields.List(fields.String(), load_default=list)


class AssignIn(_Strict):
    mediator_id = fields.String(required=True)


class ConsentIn(_Strict):
    party_id = fields.String(required=True)
    online = fields.Boolean(required=True)


class SessionIn(_Strict):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    online = fields.Boolean(load_default=False)
    room_code = fields.String(load_default=None)
    mediator_id = fields.String(load_default=None)


class SessionRecordIn(_Strict):
    attendance = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    minutes = fields.String(required=True, validate=validate.Length(min=1, max=20000))


class ObligationIn(_Strict):
    party_id = fields.String(required=True)
    obligation = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    due_on = fields.Date(required=True)


class AgreementIn(_Strict):
    terms = fields.String(required=True, validate=validate.Length(min=1, max=10000))
    obligations = fields.List(fields.Nested(ObligationIn), required=True, validate=validate.Length(min=1))


class FollowUpIn(_Strict):
    honoured = fields.Boolean(required=True)
    satisfaction = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    notes = fields.String(load_default="", validate=validate.Length(max=2000))


class EmptyIn(_Strict):
    pass
