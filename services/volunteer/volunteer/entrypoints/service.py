"""The volunteer service as nameko runs it: dispatch's referrals in; the resident, volunteer and coordinator API;
the answer, reminder and confirmation timers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gridlink.contracts.events.fields import grid_code
from gridlink.runtime.dependencies import LogContext, Reference, StaffAuth, Storage
from gridlink.runtime.entrypoints import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    event_consumer,
    http,
    json_response,
    parse_json_body,
)
from gridlink.runtime.ops import OpsEndpoints
from volunteer import handlers
from volunteer.adapters.orm import metadata
from volunteer.adapters.reference import VolunteerReference, load_reference
from volunteer.adapters.repository import VolunteerUnitOfWork
from volunteer.domain.errors import (
    InsufficientPoints,
    InvalidTransition,
    NotAllowed,
    NotEligible,
    OrderNotFound,
    OrderTaken,
    OutOfStock,
    RequestReused,
    UnknownReward,
    UnknownService,
    UnknownTeam,
    UnknownVolunteer,
)
from volunteer.domain.model import STATUSES, Order

STAFF = (handlers.COORDINATOR, handlers.VOLUNTEER)


class _Shared:
    """The reference data the timer handlers use: the same copy the workers get, set when the service starts."""

    value: VolunteerReference | None = None


SHARED = _Shared()


class SharedReference(Reference):
    def setup(self):
        super().setup()
        SHARED.value = self.value


def _timer(handler):
    return lambda uow, timer: handler(uow, timer, SHARED.value, handlers.utcnow)


TIMERS = {
    handlers.ACCEPT_TIMER: _timer(handlers.on_answer_due),
    handlers.REMINDER_TIMER: _timer(handlers.on_reminder_due),
    handlers.CONFIRM_TIMER: _timer(handlers.on_confirm_due),
}


# --- request bodies -----------------------------------------------------------------------------------------------


class _Body(Schema):
    class Meta:
        unknown = "raise"


class PlaceOrder(_Body):
    service_code = fields.String(required=True)
    grid_code = grid_code(required=True)
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    scheduled_at = fields.AwareDateTime(load_default=None, allow_none=True)


class Review(_Body):
    approve = fields.Boolean(required=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    scheduled_at = fields.AwareDateTime(load_default=None, allow_none=True)


class Dispatch(_Body):
    mode = fields.String(required=True, validate=validate.OneOf(("auto", "volunteer", "team", "claim")))
    volunteer_id = fields.String(load_default=None, allow_none=True)
    team_code = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _needs(self, data, **kwargs):
        if data["mode"] == "volunteer" and not data.get("volunteer_id"):
            raise ValidationError("mode volunteer needs volunteer_id", "volunteer_id")
        if data["mode"] == "team" and not data.get("team_code"):
            raise ValidationError("mode team needs team_code", "team_code")


class Decline(_Body):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class Complete(_Body):
    hours = fields.Decimal(required=True, validate=validate.Range(min=0, max=24, min_inclusive=False))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    photo_urls = fields.List(
        fields.Url(schemes={"http", "https"}), required=True, validate=validate.Length(min=1, max=9)
    )


class Rate(_Body):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    token = fields.String(load_default=None, allow_none=True)


class Cancel(_Body):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    token = fields.String(load_default=None, allow_none=True)


class Redeem(_Body):
    request_id = fields.String(required=True, validate=validate.Length(min=8, max=64))


def body(request, schema: type[Schema]) -> dict:
    return schema().load(parse_json_body(request))


# --- views --------------------------------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def order_view(o: Order) -> dict:
    """What anyone who knows the order's id may see: where it stands, nothing about the people."""
    return {
        "order_id": o.order_id,
        "case_id": o.case_id,
        "tracking_code": o.tracking_code,
        "correlation_id": o.correlation_id,
        "service": o.service_code,
        "status": o.status,
        "grid_code": o.grid_code,
        "origin": o.origin,
        "scheduled_at": _time(o.scheduled_at),
        "created_at": o.created_at.isoformat(),
        "updated_at": _time(o.updated_at),
    }


def staff_order_view(o: Order, steps: list | None = None) -> dict:
    view = {
        **order_view(o),
        "description": o.description,
        "community_code": o.community_code,
        "mode": o.mode,
        "volunteer_id": o.volunteer_id,
        "team_code": o.team_code,
        "accept_by": _time(o.accept_by),
        "attempts": o.attempts,
        "excluded": o.excluded,
        "confirmed_at": _time(o.confirmed_at),
        "completed_at": _time(o.completed_at),
        "hours": str(o.hours) if o.hours is not None else None,
        "note": o.note,
        "photo_urls": o.photo_urls,
        "rating": o.rating,
        "comment": o.comment,
    }
    if steps is not None:
        view["history"] = [
            {"at": s.at.isoformat(), "status": s.status, "actor": s.actor, "note": s.note} for s in steps
        ]
    return view


def candidate_view(c) -> dict:
    return {
        "volunteer_id": c.volunteer_id,
        "name": c.name,
        "team_code": c.team_code,
        "score": c.score,
        "distance_km": c.distance_km,
        "load": c.load,
        "parts": c.parts,
    }


def _money_tree(value):
    """Decimals as strings all the way down: JSON numbers would lose their exactness in many clients."""
    if isinstance(value, dict):
        return {k: _money_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_money_tree(v) for v in value]
    return str(value) if isinstance(value, Decimal) else value


class VolunteerService(OpsEndpoints):
    name = "volunteer"

    storage = Storage(metadata, VolunteerUnitOfWork, timers=TIMERS)
    reference = SharedReference(load_reference)
    auth = StaffAuth()
    log_context = LogContext()

    http_errors = {
        OrderNotFound: NotFound,
        UnknownVolunteer: NotFound,
        UnknownReward: NotFound,
        UnknownTeam: ApiError,
        UnknownService: ApiError,
        NotAllowed: Forbidden,
        InvalidTransition: Conflict,
        OrderTaken: Conflict,
        RequestReused: Conflict,
        OutOfStock: Conflict,
        NotEligible: Unprocessable,
        InsufficientPoints: Unprocessable,
    }

    @event_consumer("dispatch", "case_referred_to_volunteers")
    def on_case_referred(self, event):
        return self.storage.handle(event, handlers.create_order)

    # --- residents (点单, follow, rate, cancel) ---------------------------------------------------------------------

    @http("POST", "/orders")
    def place_order(self, request):
        data = body(request, PlaceOrder)
        order, token = handlers.place_order(
            self.storage.uow(),
            self.reference,
            data["service_code"],
            data["description"],
            data["grid_code"],
            data["scheduled_at"],
            handlers.utcnow(),
        )
        return json_response({**order_view(order), "resident_token": token}, 201)

    @http("GET", "/orders/<string:order_id>")
    def get_order(self, request, order_id):
        if request.headers.get("Authorization"):
            who = self.auth.require(request, *STAFF)
            order, steps = handlers.order_for(self.storage.uow(), order_id, who)
            return json_response(staff_order_view(order, steps))
        return json_response(order_view(handlers.get_order(self.storage.uow(), order_id)))

    @http("POST", "/orders/<string:order_id>/rating")
    def rate(self, request, order_id):
        data = body(request, Rate)
        who = self.auth.require(request, handlers.COORDINATOR) if request.headers.get("Authorization") else None
        order = handlers.rate(
            self.storage.uow(),
            self.reference,
            order_id,
            data["rating"],
            data["comment"],
            handlers.utcnow(),
            token=data["token"],
            who=who,
        )
        return json_response(order_view(order))

    @http("POST", "/orders/<string:order_id>/cancel")
    def cancel(self, request, order_id):
        data = body(request, Cancel)
        who = self.auth.require(request, handlers.COORDINATOR) if request.headers.get("Authorization") else None
        order = handlers.cancel(
            self.storage.uow(), order_id, data["reason"], handlers.utcnow(), token=data["token"], who=who
        )
        return json_response(order_view(order))

    # --- staff: lists, review, matching, dispatch -----------------------------------------------------------------

    @http("GET", "/orders")
    def list_orders(self, request):
        who = self.auth.require(request, *STAFF)
        status = request.args.get("status")
        if status is not None and status not in STATUSES:
            raise ApiError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        try:
            limit = int(request.args.get("limit", 100))
        except ValueError:
            raise ApiError("limit must be a whole number") from None
        if not 1 <= limit <= 500:
            raise ApiError("limit must be between 1 and 500")
        orders = handlers.list_orders(self.storage.uow(), who, status, limit)
        return json_response({"orders": [staff_order_view(o) for o in orders]})

    @http("GET", "/claimable")
    def claimable(self, request):
        who = self.auth.require(request, handlers.VOLUNTEER)
        orders = handlers.claimable(self.storage.uow(), self.reference, who)
        return json_response({"orders": [staff_order_view(o) for o in orders]})

    @http("POST", "/orders/<string:order_id>/review")
    def review(self, request, order_id):
        who = self.auth.require(request, handlers.COORDINATOR)
        data = body(request, Review)
        order = handlers.review(
            self.storage.uow(),
            self.reference,
            order_id,
            who,
            data["approve"],
            data["reason"],
            data["scheduled_at"],
            handlers.utcnow(),
        )
        return json_response(staff_order_view(order))

    @http("GET", "/orders/<string:order_id>/candidates")
    def candidates(self, request, order_id):
        who = self.auth.require(request, handlers.COORDINATOR)
        order, ranked = handlers.candidates(
            self.storage.uow(), self.reference, order_id, who, request.args.get("team_code")
        )
        limit = 20
        return json_response(
            {
                "order_id": order.order_id,
                "candidates": [candidate_view(c) for c in ranked[:limit]],
                "total": len(ranked),
            }
        )

    @http("POST", "/orders/<string:order_id>/dispatch")
    def dispatch(self, request, order_id):
        who = self.auth.require(request, handlers.COORDINATOR)
        data = body(request, Dispatch)
        order = handlers.dispatch(
            self.storage.uow(),
            self.reference,
            order_id,
            who,
            data["mode"],
            handlers.utcnow(),
            volunteer_id=data["volunteer_id"],
            team_code=data["team_code"],
        )
        return json_response(staff_order_view(order))

    @http("POST", "/orders/<string:order_id>/no-show")
    def no_show(self, request, order_id):
        who = self.auth.require(request, handlers.COORDINATOR)
        order = handlers.no_show(self.storage.uow(), self.reference, order_id, who, handlers.utcnow())
        return json_response(staff_order_view(order))

    # --- volunteers (接单, confirm, serve, complete) ------------------------------------------------------------------

    def _volunteer_step(self, request, order_id, step, *args):
        who = self.auth.require(request, handlers.VOLUNTEER)
        order = step(self.storage.uow(), self.reference, order_id, who, *args)
        return json_response(staff_order_view(order))

    @http("POST", "/orders/<string:order_id>/accept")
    def accept(self, request, order_id):
        return self._volunteer_step(request, order_id, handlers.accept, handlers.utcnow())

    @http("POST", "/orders/<string:order_id>/claim")
    def claim(self, request, order_id):
        return self._volunteer_step(request, order_id, handlers.claim, handlers.utcnow())

    @http("POST", "/orders/<string:order_id>/decline")
    def decline(self, request, order_id):
        self.auth.require(request, handlers.VOLUNTEER)
        reason = body(request, Decline)["reason"]
        return self._volunteer_step(request, order_id, handlers.decline, reason, handlers.utcnow())

    @http("POST", "/orders/<string:order_id>/confirm")
    def confirm(self, request, order_id):
        return self._volunteer_step(request, order_id, handlers.confirm, handlers.utcnow())

    @http("POST", "/orders/<string:order_id>/start")
    def start(self, request, order_id):
        return self._volunteer_step(request, order_id, handlers.start, handlers.utcnow())

    @http("POST", "/orders/<string:order_id>/complete")
    def complete(self, request, order_id):
        self.auth.require(request, handlers.VOLUNTEER)
        data = body(request, Complete)
        return self._volunteer_step(
            request, order_id, handlers.complete, data["hours"], data["note"], data["photo_urls"], handlers.utcnow()
        )

    # --- points -------------------------------------------------------------------------------------------------------

    @http("GET", "/rewards")
    def rewards(self, request):
        return json_response(
            {
                "rewards": [
                    {
                        "code": r.code,
                        "name": r.name,
                        "name_en": r.name_en,
                        "points": str(r.points),
                        "stock": stock,
                        "redeemed": redeemed,
                    }
                    for r, stock, redeemed in handlers.rewards(self.storage.uow(), self.reference)
                ]
            }
        )

    @http("POST", "/rewards/<string:reward_code>/redemptions")
    def redeem(self, request, reward_code):
        who = self.auth.require(request, handlers.VOLUNTEER)
        data = body(request, Redeem)
        result = handlers.redeem(
            self.storage.uow(), self.reference, who, reward_code, data["request_id"], handlers.utcnow()
        )
        t = result.transaction
        return json_response(
            {
                "transaction_id": t.transaction_id,
                "volunteer_id": t.volunteer_id,
                "reward_code": t.reward_code,
                "points": str(-t.amount(f"volunteer:{t.volunteer_id}", "points")),
                "points_balance": str(result.points_balance),
                "replayed": result.replayed,
            },
            200 if result.replayed else 201,
        )

    @http("GET", "/volunteers/<string:volunteer_id>/statement")
    def statement(self, request, volunteer_id):
        who = self.auth.require(request, *STAFF)
        result = handlers.statement(self.storage.uow(), self.reference, volunteer_id, who)
        v = result["volunteer"]
        return json_response(
            _money_tree(
                {
                    "volunteer_id": v.volunteer_id,
                    "name": v.name,
                    "team_code": v.team_code,
                    "balances": result["balances"],
                    "lines": [
                        {
                            "at": line.at.isoformat(),
                            "kind": line.kind,
                            "unit": line.unit,
                            "amount": line.amount,
                            "balance": line.balance,
                            "order_id": line.order_id,
                            "reward_code": line.reward_code,
                            "memo": line.memo,
                            "transaction_id": line.transaction_id,
                        }
                        for line in result["lines"]
                    ],
                }
            )
        )

    @http("GET", "/stats")
    def stats(self, request):
        who = self.auth.require(request, handlers.COORDINATOR)
        return json_response(_money_tree(handlers.stats(self.storage.uow(), self.reference, who)))

    @http("GET", "/ledger/audit")
    def audit(self, request):
        self.auth.require(request, handlers.COORDINATOR)
        return json_response(_money_tree(handlers.audit(self.storage.uow())))
