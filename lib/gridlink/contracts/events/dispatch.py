"""Events published by dispatch (exchange `dispatch.events`)."""

from marshmallow import Schema, fields, validate

from gridlink.contracts.events.fields import URGENCIES, grid_code, identifier

SOURCE = "dispatch"

TIERS = ("grid", "community", "sub_centre", "district", "department")


class CaseAssignedV1(Schema):
    case_id = identifier(required=True)
    report_id = identifier(required=True)
    tracking_code = fields.String(required=True)
    category_code = identifier(required=True)
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    grid_code = grid_code(required=True)
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    unit_code = fields.String(required=True)
    assignee_id = identifier(required=True)
    assignee_role = fields.String(required=True)
    deadline_at = fields.AwareDateTime(required=True)
    summary = fields.String(required=True, validate=validate.Length(max=200))
    # Added with tiered routing: when the case must be signed for (签收), and who supervises the assignee.
    accept_by = fields.AwareDateTime(load_default=None, allow_none=True)
    supervisor_id = fields.String(load_default=None, allow_none=True)


class CaseReferredToMediationV1(Schema):
    case_id = identifier(required=True)
    report_id = identifier(required=True)
    tracking_code = fields.String(required=True)
    category_code = identifier(required=True)
    description = fields.String(required=True, validate=validate.Length(max=4000))
    grid_code = grid_code(required=True)
    community_code = fields.String(required=True)


class CaseReferredToVolunteersV1(Schema):
    case_id = identifier(required=True)
    report_id = identifier(required=True)
    tracking_code = fields.String(required=True)
    service_code = identifier(required=True)
    description = fields.String(required=True, validate=validate.Length(max=4000))
    grid_code = grid_code(required=True)
    community_code = fields.String(required=True)


EVENTS = {
    ("case_assigned", 1): (CaseAssignedV1, "A case was assigned to a handling unit and person, with its deadline."),
    ("case_referred_to_mediation", 1): (CaseReferredToMediationV1, "A dispute case is handed to mediation."),
    ("case_referred_to_volunteers", 1): (CaseReferredToVolunteersV1, "A service request is handed to volunteers."),
}


def reporter_recipient(report_id: str) -> str:
    """The recipient id notification knows a report's reporter by (see intake's reporter_contact_registered)."""
    return f"reporter:{report_id}"


class _CaseFact(Schema):
    """Fields every case event after assignment carries."""

    case_id = identifier(required=True)
    report_id = identifier(required=True)
    tracking_code = fields.String(required=True)
    grid_code = grid_code(required=True)
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    unit_code = fields.String(required=True)
    assignee_id = fields.String(load_default=None, allow_none=True)


class CaseAcceptedV1(_CaseFact):
    accepted_by = identifier(required=True)
    deadline_at = fields.AwareDateTime(required=True)


class CaseReturnedV1(_CaseFact):
    returned_by = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class CaseEscalatedV1(_CaseFact):
    from_tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    from_unit_code = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.Length(max=500))
    automatic = fields.Boolean(required=True)
    deadline_at = fields.AwareDateTime(required=True)


class CaseDueSoonV1(_CaseFact):
    """The warning before a deadline; `stage` says which deadline (acceptance or resolution)."""

    stage = fields.String(required=True, validate=validate.OneOf(("acceptance", "resolution")))
    deadline_at = fields.AwareDateTime(required=True)
    supervisor_id = fields.String(load_default=None, allow_none=True)


class CaseOverdueV1(CaseDueSoonV1):
    supervision_id = fields.String(load_default=None, allow_none=True)


class CaseResolvedV1(_CaseFact):
    resolved_by = identifier(required=True)
    resolution = fields.String(required=True, validate=validate.Length(max=2000))
    reporter_recipient_id = fields.String(required=True)


class CaseEvaluatedV1(_CaseFact):
    rating = fields.String(required=True, validate=validate.OneOf(("satisfied", "basically_satisfied", "unsatisfied")))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    by_default = fields.Boolean(required=True)  # no answer in time counts as satisfied


class CaseClosedV1(_CaseFact):
    outcome = fields.String(required=True, validate=validate.Length(max=64))


EVENTS.update(
    {
        ("case_accepted", 1): (CaseAcceptedV1, "The assignee signed for the case (签收)."),
        ("case_returned", 1): (CaseReturnedV1, "The assignee returned the case with a reason (退回)."),
        ("case_escalated", 1): (CaseEscalatedV1, "The case went up a tier (上报), by a person or automatically."),
        ("case_due_soon", 1): (CaseDueSoonV1, "A deadline is near (the configured warning fraction has passed)."),
        ("case_overdue", 1): (CaseOverdueV1, "A deadline passed; a supervision record (督办) was opened."),
        ("case_resolved", 1): (CaseResolvedV1, "The case was resolved (办结); the reporter is asked to rate it."),
        ("case_evaluated", 1): (CaseEvaluatedV1, "The reporter rated the resolution (评价)."),
        ("case_closed", 1): (CaseClosedV1, "The case is closed."),
    }
)


class CaseStartedV1(_CaseFact):
    started_by = identifier(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class CaseSuspendedV1(_CaseFact):
    suspended_by = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class CaseResumedV1(_CaseFact):
    resumed_by = identifier(required=True)
    deadline_at = fields.AwareDateTime(required=True)


class CaseTransferredV1(_CaseFact):
    """The case now sits with the department in `unit_code`; a case_assigned for it follows."""

    from_unit_code = fields.String(required=True)
    transferred_by = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class CaseSupervisedV1(_CaseFact):
    """督办 by a person of a higher tier; `supervised_by` is who pressed, the assignee is who is pressed."""

    supervision_id = identifier(required=True)
    supervised_by = identifier(required=True)
    stage = fields.String(required=True, validate=validate.OneOf(("acceptance", "resolution")))
    deadline_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class CaseReopenedV1(_CaseFact):
    reopen_count = fields.Integer(required=True, validate=validate.Range(min=1))


EVENTS.update(
    {
        ("case_started", 1): (CaseStartedV1, "The assignee visited and is working on the case (in progress)."),
        ("case_suspended", 1): (CaseSuspendedV1, "The case was suspended with a reason (挂起); its clock stopped."),
        ("case_resumed", 1): (CaseResumedV1, "A suspended case resumed; its deadline moved on by the pause."),
        ("case_transferred", 1): (CaseTransferredV1, "The case was transferred to another department (转办)."),
        ("case_supervised", 1): (CaseSupervisedV1, "A higher tier pressed the unit holding the case (督办)."),
        ("case_reopened", 1): (CaseReopenedV1, "An unsatisfied rating reopened the case with the same unit."),
    }
)
