"""Events published by volunteer (exchange `volunteer.events`)."""

from marshmallow import Schema, fields, validate

from gridlink.contracts.events.fields import grid_code, identifier

SOURCE = "volunteer"
DISPATCH_MODES = ("volunteer", "team", "claim")


class OrderCreatedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    service_code = identifier(required=True)
    grid_code = grid_code(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("pending_review",)))
    origin = fields.String(load_default="referral", validate=validate.OneOf(("referral", "resident")))


EVENTS = {
    ("order_created", 1): (OrderCreatedV1, "A resident's volunteer-service order was created and awaits review."),
}


class OrderDispatchedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    service_code = identifier(required=True)
    grid_code = grid_code(required=True)
    volunteer_id = fields.String(load_default=None, allow_none=True)  # None when opened for claiming (抢单)
    team_code = fields.String(load_default=None, allow_none=True)
    accept_by = fields.AwareDateTime(required=True)
    mode = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DISPATCH_MODES))
    attempt = fields.Integer(load_default=1)
    scheduled_at = fields.AwareDateTime(load_default=None, allow_none=True)


class OrderCompletedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    volunteer_id = identifier(required=True)
    hours = fields.Decimal(required=True, as_string=True, places=2)
    note = fields.String(required=True, validate=validate.Length(max=2000))
    photo_urls = fields.List(fields.Url(), load_default=list)
    service_code = fields.String(load_default=None, allow_none=True)
    team_code = fields.String(load_default=None, allow_none=True)


class OrderRatedV1(Schema):
    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)
    volunteer_id = identifier(required=True)
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


EVENTS.update(
    {
        ("order_dispatched", 1): (
            OrderDispatchedV1,
            "An order was sent to a volunteer or team, or opened for claiming.",
        ),
        ("order_completed", 1): (OrderCompletedV1, "The volunteer completed the service, with proof."),
        ("order_rated", 1): (OrderRatedV1, "The resident rated the service; the order is closed."),
    }
)


class _OrderFact(Schema):
    """Fields every later order event carries; `case_id` is dispatch's case when the order came from a report."""

    order_id = identifier(required=True)
    case_id = identifier(load_default=None, allow_none=True)


class OrderApprovedV1(_OrderFact):
    reviewed_by = identifier(required=True)
    scheduled_at = fields.AwareDateTime(load_default=None, allow_none=True)


class OrderRejectedV1(_OrderFact):
    reviewed_by = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class OrderAcceptedV1(_OrderFact):
    volunteer_id = identifier(required=True)
    team_code = fields.String(load_default=None, allow_none=True)
    scheduled_at = fields.AwareDateTime(load_default=None, allow_none=True)
    claimed = fields.Boolean(load_default=False)  # won by claiming (抢单) rather than offered


class OrderDeclinedV1(_OrderFact):
    volunteer_id = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    automatic = fields.Boolean(required=True)  # no answer in time, or no confirmation before the service


class OrderUnclaimedV1(_OrderFact):
    service_code = identifier(required=True)
    attempts = fields.Integer(required=True)


class OrderUnmatchedV1(_OrderFact):
    service_code = identifier(required=True)
    grid_code = grid_code(required=True)
    attempts = fields.Integer(required=True)
    reason = fields.String(required=True, validate=validate.Length(max=500))


class OrderReminderDueV1(_OrderFact):
    volunteer_id = identifier(required=True)
    service_code = identifier(required=True)
    scheduled_at = fields.AwareDateTime(required=True)
    confirm_by = fields.AwareDateTime(load_default=None, allow_none=True)  # None when already confirmed


class OrderConfirmedV1(_OrderFact):
    volunteer_id = identifier(required=True)
    scheduled_at = fields.AwareDateTime(load_default=None, allow_none=True)


class OrderStartedV1(_OrderFact):
    volunteer_id = identifier(required=True)


class OrderNoShowV1(_OrderFact):
    volunteer_id = identifier(required=True)
    reported_by = identifier(required=True)


class OrderCancelledV1(_OrderFact):
    cancelled_by = identifier(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    previous_status = fields.String(required=True)
    volunteer_id = fields.String(load_default=None, allow_none=True)


class PointsCreditedV1(Schema):
    transaction_id = identifier(required=True)
    volunteer_id = identifier(required=True)
    order_id = identifier(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("service_credit", "rating_bonus")))
    points = fields.Decimal(required=True, as_string=True, places=2)
    hours = fields.Decimal(required=True, as_string=True, places=2)
    points_balance = fields.Decimal(required=True, as_string=True, places=2)


class PointsRedeemedV1(Schema):
    transaction_id = identifier(required=True)
    volunteer_id = identifier(required=True)
    reward_code = identifier(required=True)
    points = fields.Decimal(required=True, as_string=True, places=2)
    points_balance = fields.Decimal(required=True, as_string=True, places=2)


EVENTS.update(
    {
        ("order_approved", 1): (OrderApprovedV1, "The centre approved an order for dispatch."),
        ("order_rejected", 1): (OrderRejectedV1, "The centre rejected an order at review."),
        ("order_accepted", 1): (OrderAcceptedV1, "A volunteer accepted an offered order or won its claim (接单)."),
        ("order_declined", 1): (
            OrderDeclinedV1,
            "A volunteer declined, did not answer in time, or did not confirm; the order is dispatched again.",
        ),
        ("order_unclaimed", 1): (OrderUnclaimedV1, "Nobody claimed an open order in time; it is dispatched."),
        ("order_unmatched", 1): (OrderUnmatchedV1, "Automatic dispatch found no volunteer; a coordinator must act."),
        ("order_reminder_due", 1): (OrderReminderDueV1, "A scheduled service is near; the volunteer should confirm."),
        ("order_confirmed", 1): (OrderConfirmedV1, "The volunteer confirmed they will come."),
        ("order_started", 1): (OrderStartedV1, "The volunteer started the service."),
        ("order_no_show", 1): (OrderNoShowV1, "The volunteer did not come; the order is dispatched again."),
        ("order_cancelled", 1): (OrderCancelledV1, "The order was cancelled by the resident or the centre."),
        ("points_credited", 1): (PointsCreditedV1, "Service hours and points were credited to a volunteer."),
        ("points_redeemed", 1): (PointsRedeemedV1, "A volunteer redeemed points for a reward."),
    }
)
