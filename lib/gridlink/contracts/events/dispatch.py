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
