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
    state = fields.String(load_default="accepted")  # "referred" when a partner's channel must answer first
    source = fields.String(load_default="dispatch")  # dispatch, walk_in or partner.<department>
    dispute_type = identifier(load_default="other")


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
    confirmation_due_at = fields.AwareDateTime(load_default=None, allow_none=True)  # judicial confirmation window
    follow_up_due_at = fields.AwareDateTime(load_default=None, allow_none=True)  # the follow-up visit (回访)


class MediationFailedV1(_DisputeFact):
    reason = fields.String(required=True, validate=validate.Length(max=1000))
    withdrawn = fields.Boolean(load_default=False)  # the applicant withdrew rather than mediation failing


class MediationTransferredV1(_DisputeFact):
    to_channel_code = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(max=1000))
    from_channel_code = identifier(load_default=None, allow_none=True)
    deadline_at = fields.AwareDateTime(load_default=None, allow_none=True)  # the new channel's limit
    state = fields.String(load_default="accepted")
    path = fields.List(identifier(), load_default=list)  # every channel so far, first to current (一案一码)


EVENTS.update(
    {
        ("party_contact_registered", 1): (PartyContactRegisteredV1, "How to reach a party, for notification only."),
        ("session_scheduled", 1): (SessionScheduledV1, "A mediation session was booked (room or online)."),
        ("agreement_reached", 1): (AgreementReachedV1, "The parties reached an agreement."),
        ("mediation_failed", 1): (MediationFailedV1, "Mediation ended without agreement."),
        ("mediation_transferred", 1): (MediationTransferredV1, "The dispute moved to another channel, same case code."),
    }
)


class DisputeReferredV1(_DisputeFact):
    """A partner's channel is asked to take the case. The partner binds `mediation.events` / `dispute_referred`
    and keeps the messages whose `partner_code` is its own; statements are fetched over HTTP, never sent here."""

    referral_id = identifier(required=True)  # quote it in every answer about this referral
    partner_code = identifier(required=True)
    seq = fields.Integer(required=True)  # the hop's number on the case's path
    category_code = identifier(required=True)
    dispute_type = identifier(required=True)
    amount_yuan = fields.String(load_default=None, allow_none=True)
    party_count = fields.Integer(required=True)
    respond_by = fields.AwareDateTime(required=True)


class MediationAcceptedV1(_DisputeFact):
    deadline_at = fields.AwareDateTime(required=True)
    seq = fields.Integer(required=True)


class MediationDeclinedV1(_DisputeFact):
    reason = fields.String(required=True, validate=validate.Length(max=1000))
    seq = fields.Integer(required=True)


class MediationDeadlineV1(_DisputeFact):
    deadline_at = fields.AwareDateTime(required=True)
    state = fields.String(required=True)
    seq = fields.Integer(required=True)


class MediationDeadlineExtendedV1(_DisputeFact):
    deadline_at = fields.AwareDateTime(required=True)
    days = fields.Integer(required=True)
    extension = fields.Integer(required=True)  # 1 for the first extension of this hop


class JudicialConfirmationRequestedV1(_DisputeFact):
    agreement_id = identifier(required=True)
    requested_at = fields.AwareDateTime(required=True)


class MediationFollowUpDueV1(_DisputeFact):
    agreement_id = identifier(required=True)
    follow_up_due_at = fields.AwareDateTime(required=True)


class MediationFollowedUpV1(_DisputeFact):
    honoured = fields.Boolean(required=True)
    satisfaction = fields.Integer(required=True, validate=validate.Range(min=1, max=5))


EVENTS.update(
    {
        ("dispute_referred", 1): (DisputeReferredV1, "A channel run by a partner department is asked to take a case."),
        ("mediation_accepted", 1): (MediationAcceptedV1, "A channel accepted the case; its limit now runs."),
        ("mediation_declined", 1): (MediationDeclinedV1, "A channel declined the case, with its reason."),
        ("mediation_deadline_approaching", 1): (MediationDeadlineV1, "A channel's limit runs out soon."),
        ("mediation_overdue", 1): (MediationDeadlineV1, "A channel's limit has run out."),
        ("mediation_deadline_extended", 1): (MediationDeadlineExtendedV1, "A limit was extended, within its cap."),
        ("judicial_confirmation_requested", 1): (
            JudicialConfirmationRequestedV1,
            "The parties asked the court to confirm their agreement (within 30 days of it).",
        ),
        ("mediation_follow_up_due", 1): (MediationFollowUpDueV1, "Time for the follow-up visit (回访)."),
        ("mediation_followed_up", 1): (MediationFollowedUpV1, "The follow-up visit was made; the case is closed."),
    }
)


class PartnerReplyRejectedV1(Schema):
    """Sent back when a partner's answer could not be applied (stale referral, wrong partner, wrong state)."""

    event_id = identifier(required=True)  # the partner's event that was rejected
    partner_code = identifier(required=True)
    event_type = identifier(required=True)
    dispute_id = identifier(load_default=None, allow_none=True)
    reason = fields.String(required=True, validate=validate.Length(max=1000))


EVENTS[("partner_reply_rejected", 1)] = (PartnerReplyRejectedV1, "A partner's answer was refused, with the reason.")
