"""The dispatch service as nameko runs it: events in, the staff API, deadline timers, performance figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from dispatch import handlers
from dispatch.adapters.metrics import PerformanceGauges
from dispatch.adapters.orm import metadata
from dispatch.adapters.reference import LiveReference
from dispatch.adapters.repository import DispatchUnitOfWork
from dispatch.domain.deadlines import CST
from dispatch.domain.errors import (
    CannotEscalate,
    CaseNotFound,
    InvalidInput,
    InvalidTransition,
    NoHandler,
    NotAllowed,
    UnknownUnit,
)
from dispatch.domain.model import Case
from dispatch.domain.performance import CSV_COLUMNS
from gridlink.runtime.auth import TokenError, bearer_token, verify_token
from gridlink.runtime.dependencies import LogContext, StaffAuth, Storage
from gridlink.runtime.entrypoints import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    event_consumer,
    http,
    json_response,
    parse_json_body,
)
from gridlink.runtime.ops import OpsEndpoints

# One per process: the timer scanner and the workers read the same, reloading copy of the district's data.
REFERENCE = LiveReference()
TIMER_KINDS = ("case_due_soon", "case_overdue", "case_escalation", "evaluation_timeout")
STAFF_ROLES = ("grid_worker", "community_operator", "sub_centre_operator", "district_operator", "department")


def _on_timer(uow, timer):
    return handlers.on_timer(uow, timer, REFERENCE.current())


class LiveReferenceProvider(DependencyProvider):
    """`self.reference`: the district data as of now (re-read when its files change)."""

    def setup(self):
        REFERENCE.data_dir = self.container.config["GRIDLINK"].data_dir
        REFERENCE.current()  # fail at start, not at the first report, when the files are broken

    def get_dependency(self, worker_ctx):
        return REFERENCE.current()


class PublicReads(DependencyProvider):
    """Whether case reads without a token are allowed (DISPATCH_PUBLIC_READS, on by default for local runs)."""

    def setup(self):
        raw = self.container.config["GRIDLINK"].extra.get("DISPATCH_PUBLIC_READS", "true")
        self.value = raw.lower() in ("1", "true", "yes")

    def get_dependency(self, worker_ctx):
        return self.value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def case_view(case: Case, with_history: bool = True) -> dict:
    view = {
        "case_id": case.case_id,
        "report_id": case.report_id,
        "tracking_code": case.tracking_code,
        "correlation_id": case.correlation_id,
        "state": case.state,
        "category": case.category_code,
        "urgency": case.urgency,
        "handling_class": case.handling_class,
        "grid_code": case.grid_code,
        "tier": case.tier,
        "unit_code": case.unit_code,
        "assignee_id": case.assignee_id,
        "assignee_role": case.assignee_role,
        "supervisor_id": case.supervisor_id,
        "acceptance_deadline_at": _iso(case.acceptance_deadline_at),
        "deadline_at": _iso(case.deadline_at),
        "opened_at": case.opened_at.isoformat(),
        "resolution": case.resolution,
        "rating": case.rating,
        "reopen_count": case.reopen_count,
        "outcome": case.outcome,
        "closed_at": _iso(case.closed_at),
    }
    if with_history:
        view["history"] = [
            {
                "at": h.at.isoformat(),
                "action": h.action,
                "from_state": h.from_state,
                "to_state": h.to_state,
                "actor": h.actor,
                "reason": h.reason,
            }
            for h in case.history
        ]
        view["supervisions"] = [
            {
                "supervision_id": s.supervision_id,
                "stage": s.stage,
                "unit_code": s.unit_code,
                "assignee_id": s.assignee_id,
                "supervisor_id": s.supervisor_id,
                "deadline_at": s.deadline_at.isoformat(),
                "opened_at": s.opened_at.isoformat(),
            }
            for s in case.supervisions
        ]
    return view


def _day(raw: str | None, name: str) -> datetime:
    """A local (CST) calendar day, as the instant it begins."""
    if not raw:
        raise ApiError(f"{name} is required, as YYYY-MM-DD")
    try:
        return datetime.combine(date.fromisoformat(raw), time(0), CST).astimezone(UTC)
    except ValueError:
        raise ApiError(f"{name} must be a date, YYYY-MM-DD; got {raw!r}") from None


def _text(body: dict, name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(f"{name} is required (a non-empty string)")
    return value


class DispatchService(OpsEndpoints):
    name = "dispatch"

    storage = Storage(metadata, DispatchUnitOfWork, timers=dict.fromkeys(TIMER_KINDS, _on_timer))
    reference = LiveReferenceProvider()
    gauges = PerformanceGauges()
    auth = StaffAuth()
    public_reads = PublicReads()
    log_context = LogContext()

    http_errors = {
        CaseNotFound: NotFound,
        NotAllowed: Forbidden,
        InvalidTransition: Conflict,
        CannotEscalate: Conflict,
        UnknownUnit: Unprocessable,
        NoHandler: Unprocessable,
        InvalidInput: ApiError,
    }

    # ---- the bus --------------------------------------------------------------------------------------------

    @event_consumer("intake", "report_accepted", batch=True)
    def on_report_accepted(self, events):
        return self.storage.handle_all(events, partial(handlers.open_case, ref=self.reference))

    @event_consumer("mediation", "agreement_reached")
    def on_agreement_reached(self, event):
        return self.storage.handle(event, handlers.on_outcome)

    @event_consumer("mediation", "mediation_failed")
    def on_mediation_failed(self, event):
        return self.storage.handle(event, handlers.on_outcome)

    @event_consumer("mediation", "mediation_transferred")
    def on_mediation_transferred(self, event):
        return self.storage.handle(event, handlers.on_outcome)

    @event_consumer("volunteer", "order_completed")
    def on_order_completed(self, event):
        return self.storage.handle(event, handlers.on_outcome)

    @event_consumer("volunteer", "order_rated")
    def on_order_rated(self, event):
        return self.storage.handle(event, handlers.on_outcome)

    # ---- reads ----------------------------------------------------------------------------------------------

    def _reader(self, request):
        """The signed-in reader, or None for an anonymous read where public reads are on (DISPATCH_PUBLIC_READS)."""
        if request.headers.get("Authorization"):
            try:
                return verify_token(self.auth.secret, bearer_token(request.headers.get("Authorization")))
            except TokenError as exc:
                raise Unauthorized(str(exc)) from None
        if self.public_reads:
            return None
        raise Unauthorized("send a staff token: Authorization: Bearer <token>")

    @http("GET", "/cases/<string:case_id>")
    def get_case(self, request, case_id):
        who = self._reader(request)
        return json_response(case_view(handlers.get_case(self.storage.uow(), case_id, who)))

    @http("GET", "/cases")
    def list_cases(self, request):
        who = self._reader(request)
        try:
            limit = min(int(request.args.get("limit", 100)), 500)
        except ValueError:
            raise ApiError("limit must be a whole number") from None
        scope = None
        if who is not None and who.role != "admin":
            # A department sees what it holds; everyone else the cases on the grids under their unit.
            scope = ("unit_code", who.unit) if who.role == "department" else ("grid_code", who.unit)
        cases = handlers.list_cases(
            self.storage.uow(),
            tracking_code=request.args.get("tracking_code"),
            grid_code=request.args.get("grid_code"),
            state=request.args.get("state"),
            scope=scope,
            limit=limit,
        )
        return json_response({"cases": [case_view(c, with_history=False) for c in cases]})

    @http("GET", "/organisation")
    def organisation(self, request):
        ref = self.reference
        org = ref.organisation
        return json_response(
            {
                "district": {"code": org.district_code, "name": org.district_name, "centre": org.centre.name},
                "sub_centres": [{"code": s.code, "name": s.name} for s in org.sub_centres],
                "departments": [{"code": d.code, "name": d.name} for d in org.departments],
                "headcounts": ref.headcounts,
            }
        )

    # ---- transitions (staff) --------------------------------------------------------------------------------

    def _body(self, request) -> dict:
        return parse_json_body(request) if request.data else {}

    @http("POST", "/cases/<string:case_id>/accept")
    def accept(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        return json_response(case_view(handlers.accept(self.storage.uow(), case_id, who)))

    @http("POST", "/cases/<string:case_id>/start")
    def start(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        note = _text(self._body(request), "note", required=False)
        return json_response(case_view(handlers.start(self.storage.uow(), case_id, who, note)))

    @http("POST", "/cases/<string:case_id>/resolve")
    def resolve(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        resolution = _text(self._body(request), "resolution")
        return json_response(case_view(handlers.resolve(self.storage.uow(), case_id, who, resolution, self.reference)))

    @http("POST", "/cases/<string:case_id>/return")
    def return_case(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        reason = _text(self._body(request), "reason")
        return json_response(case_view(handlers.return_case(self.storage.uow(), case_id, who, reason, self.reference)))

    @http("POST", "/cases/<string:case_id>/redispatch")
    def redispatch(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        body = self._body(request)
        unit = _text(body, "unit_code")
        reason = _text(body, "reason", required=False)
        return json_response(
            case_view(handlers.redispatch(self.storage.uow(), case_id, who, unit, reason, self.reference))
        )

    @http("POST", "/cases/<string:case_id>/escalate")
    def escalate(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        reason = _text(self._body(request), "reason")
        return json_response(case_view(handlers.escalate(self.storage.uow(), case_id, who, reason, self.reference)))

    @http("POST", "/cases/<string:case_id>/transfer")
    def transfer(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        body = self._body(request)
        department, reason = _text(body, "department"), _text(body, "reason")
        return json_response(
            case_view(handlers.transfer(self.storage.uow(), case_id, who, department, reason, self.reference))
        )

    @http("POST", "/cases/<string:case_id>/suspend")
    def suspend(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        reason = _text(self._body(request), "reason")
        return json_response(case_view(handlers.suspend(self.storage.uow(), case_id, who, reason)))

    @http("POST", "/cases/<string:case_id>/resume")
    def resume(self, request, case_id):
        who = self.auth.require(request, *STAFF_ROLES)
        reason = _text(self._body(request), "reason", required=False)
        return json_response(case_view(handlers.resume(self.storage.uow(), case_id, who, self.reference, reason)))

    @http("POST", "/cases/<string:case_id>/supervise")
    def supervise(self, request, case_id):
        who = self.auth.require(request, "community_operator", "sub_centre_operator", "district_operator")
        reason = _text(self._body(request), "reason")
        return json_response(case_view(handlers.press(self.storage.uow(), case_id, who, reason)))

    # ---- the resident's rating ------------------------------------------------------------------------------

    @http("POST", "/evaluations")
    def evaluate(self, request):
        """The reporter rates the resolution, naming the case by the tracking code on their receipt."""
        body = parse_json_body(request)
        tracking_code, rating = _text(body, "tracking_code"), _text(body, "rating")
        comment = _text(body, "comment", required=False)
        case = handlers.evaluate(self.storage.uow(), tracking_code, rating, comment, self.reference)
        return json_response({"tracking_code": case.tracking_code, "state": case.state, "rating": case.rating})

    # ---- performance ----------------------------------------------------------------------------------------

    @http("GET", "/performance")
    def performance(self, request):
        who = self.auth.require(request, *STAFF_ROLES)
        # Local calendar days, both included: from=2026-11-01&to=2026-11-30 is November.
        start, end = _day(request.args.get("from"), "from"), _day(request.args.get("to"), "to") + timedelta(days=1)
        if end <= start:
            raise ApiError("to must not be before from")
        level = request.args.get("level", "grid")
        rows = handlers.performance_report(self.storage.uow(), level, start, end, who)
        fmt = request.args.get("format", "json")
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow(row.as_dict())
            return Response(out.getvalue(), status=200, mimetype="text/csv")
        if fmt != "json":
            raise ApiError("format must be json or csv")
        return json_response(
            {
                "level": level,
                "from": request.args["from"],
                "to": request.args["to"],
                "units": [r.as_dict() for r in rows],
            }
        )
