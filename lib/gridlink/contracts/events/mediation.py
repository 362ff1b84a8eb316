"""Events published by mediation (exchange `mediation.events`)."""

from marshmallow import Schema, fields, validate

from gridlink.contracts.events.fields import PERSONAL, grid_code, identifier

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


class _DisputeFact(Schema):
    dispute_id = identifier(required=True)
    case_code = fields.String(required=True)
    case_id = identifier(load_default=None, allow_none=True)  # dispatch's case, when it came from one
    channel_code = identifier(required=True)


class PartyContactRegisteredV1(Schema):
    """How to reach a party, for notification only; personal fields travel sealed (gridlink.runtime.personal)."""

    recipient_id = fields.String(required=True, validate=validate.Regexp(r"^party:.+"))
    dispute_id = identifier(required=True)
    name = fields.String(load_default=None, allow_none=True, metadata=PERSONAL)
    phone = fields.String(load_default=None, allow_none=True, metadata=PERSONAL)
    email = fields.Email(load_default=None, allow_none=True, metadata=PERSONAL)


class SessionScheduledV1(_DisputeFact):
    session_id = identifier(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    online = fields.Boolean(required=True)
    room_code = fields.String(load_default=None, allow_none=True)
    mediator_id = fields.String(load_default=None, allow_none=True)
    party_recipient_ids = fields.List(fields.String(), required=True)


class AgreementReachedV1(_DisputeFact):
    agreement_id = identifier(required=True)
    summary = fields.String(required=True, validate=validate.Length(max=2000))


class MediationFailedV1(_DisputeFact):
    reason = fields.String(required=True, validate=validate.Length(max=1000))


class MediationTransferredV1(_DisputeFact):
    to_channel_code = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(max=1000))


EVENTS.update(
    {
        ("party_contact_registered", 1): (PartyContactRegisteredV1, "How to reach a party, for notification only."),
        ("session_scheduled", 1): (SessionScheduledV1, "A mediation session was booked (room or online)."),
        ("agreement_reached", 1): (AgreementReachedV1, "The parties reached an agreement."),
        ("mediation_failed", 1): (MediationFailedV1, "Mediation ended without agreement."),
        ("mediation_transferred", 1): (MediationTransferredV1, "The dispute moved to another channel, same case code."),
    }
)
