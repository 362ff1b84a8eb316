"""The dispatch service as nameko runs it."""

from functools import partial

from dispatch import handlers
from dispatch.adapters.orm import metadata
from dispatch.adapters.reference import load_reference
from dispatch.adapters.repository import DispatchUnitOfWork
from dispatch.domain.errors import CaseNotFound
from dispatch.domain.model import Case
from gridlink.runtime.dependencies import LogContext, Reference, Storage
from gridlink.runtime.entrypoints import ApiError, NotFound, event_consumer, http, json_response
from gridlink.runtime.ops import OpsEndpoints


def case_view(case: Case, with_history: bool = True) -> dict:
    view = {
        "case_id": case.case_id,
        "report_id": case.report_id,
        "tracking_code": case.tracking_code,
        "correlation_id": case.correlation_id,
        "state": case.state,
        "category": case.category_code,
        "urgency": case.urgency,
        "grid_code": case.grid_code,
        "tier": case.tier,
        "unit_code": case.unit_code,
        "assignee_id": case.assignee_id,
        "assignee_role": case.assignee_role,
        "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
        "opened_at": case.opened_at.isoformat(),
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
    return view


class DispatchService(OpsEndpoints):
    name = "dispatch"

    storage = Storage(metadata, DispatchUnitOfWork)
    reference = Reference(load_reference)
    log_context = LogContext()

    http_errors = {CaseNotFound: NotFound}

    @event_consumer("intake", "report_accepted")
    def on_report_accepted(self, event):
        return self.storage.handle(event, partial(handlers.open_case, ref=self.reference))

    @http("GET", "/cases/<string:case_id>")
    def get_case(self, request, case_id):
        return json_response(case_view(handlers.get_case(self.storage.uow(), case_id)))

    @http("GET", "/cases")
    def list_cases(self, request):
        try:
            limit = min(int(request.args.get("limit", 100)), 500)
        except ValueError:
            raise ApiError("limit must be a whole number") from None
        cases = handlers.list_cases(
            self.storage.uow(),
            tracking_code=request.args.get("tracking_code"),
            grid_code=request.args.get("grid_code"),
            limit=limit,
        )
        return json_response({"cases": [case_view(c, with_history=False) for c in cases]})
