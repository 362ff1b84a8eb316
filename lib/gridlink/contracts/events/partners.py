"""Events published by partner departments that run their own systems (court, labour arbitration, legal aid).

A partner speaks plain AMQP with JSON: it publishes the envelope below to its own topic exchange
`partner.<department>.events` (its broker user may write there and nowhere else), with the event type as routing
key, and reads `dispute_referred` and the other mediation events from `mediation.events`. The full protocol,
queues and redelivery rules are in services/mediation/PARTNERS.md.
"""

from marshmallow import EXCLUDE, Schema, fields, validate

from gridlink.contracts.events.fields import identifier

DEPARTMENTS = ("court", "labour_arbitration", "legal_aid")
SOURCES = tuple(f"partner.{code}" for code in DEPARTMENTS)
SOURCE = SOURCES[0]


class _ReferralAnswer(Schema):
    referral_id = identifier(required=True)  # from dispute_referred
    dispute_id = identifier(required=True)
    case_code = fields.String(required=True)


class PartnerReferralAcceptedV1(_ReferralAnswer):
    partner_case_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


class PartnerReferralDeclinedV1(_ReferralAnswer):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class PartnerSessionScheduledV1(_ReferralAnswer):
    session_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    online = fields.Boolean(load_default=False)
    location = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class PartnerOutcomeReportedV1(_ReferralAnswer):
    outcome = fields.String(required=True, validate=validate.OneOf(("agreement", "failed", "withdrawn")))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    agreement_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    performance_due_on = fields.Date(load_default=None, allow_none=True)  # when the follow-up visit is due


class PartnerTransferRequestedV1(_ReferralAnswer):
    to_channel_code = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class PartyNameV1(Schema):
    class Meta:
        unknown = EXCLUDE  # a field a partner adds within v1 is dropped, not refused, as for a whole payload

    role = fields.String(required=True, validate=validate.OneOf(("applicant", "respondent", "third_party")))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class PartnerDisputeFiledV1(Schema):
    """A partner entrusts a dispute to a channel of the centre (e.g. the court's 委派调解 to people's mediation)."""

    partner_case_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    channel_code = identifier(required=True)
    category_code = identifier(required=True)
    dispute_type = identifier(required=True)
    amount_yuan = fields.Decimal(load_default=None, allow_none=True, as_string=True)
    summary = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    parties = fields.List(fields.Nested(PartyNameV1), load_default=list)


EVENTS = {
    ("partner_dispute_filed", 1): (PartnerDisputeFiledV1, "A partner files a dispute with a channel of the centre."),
    ("partner_referral_accepted", 1): (PartnerReferralAcceptedV1, "A partner accepted a referral."),
    ("partner_referral_declined", 1): (PartnerReferralDeclinedV1, "A partner declined a referral, with its reason."),
    ("partner_session_scheduled", 1): (PartnerSessionScheduledV1, "A partner booked a session of its own."),
    ("partner_outcome_reported", 1): (PartnerOutcomeReportedV1, "A partner reports agreement, failure or withdrawal."),
    ("partner_transfer_requested", 1): (PartnerTransferRequestedV1, "A partner hands the case on to another channel."),
}
