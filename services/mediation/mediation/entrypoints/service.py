"""The mediation service as nameko runs it."""

from gridlink.runtime.dependencies import LogContext, Storage
from gridlink.runtime.entrypoints import NotFound, event_consumer, http, json_response
from gridlink.runtime.ops import OpsEndpoints
from mediation import handlers
from mediation.adapters.orm import metadata
from mediation.adapters.repository import MediationUnitOfWork
from mediation.domain.errors import DisputeNotFound
from mediation.domain.model import DisputeCase


def dispute_view(d: DisputeCase) -> dict:
    return {
        "dispute_id": d.dispute_id,
        "case_code": d.case_code,
        "case_id": d.case_id,
        "tracking_code": d.tracking_code,
        "correlation_id": d.correlation_id,
        "category": d.category_code,
        "channel": d.channel_code,
        "state": d.state,
        "grid_code": d.grid_code,
        "opened_at": d.opened_at.isoformat(),
        "deadline_at": d.deadline_at.isoformat(),
    }


class MediationService(OpsEndpoints):
    name = "mediation"

    storage = Storage(metadata, MediationUnitOfWork)
    log_context = LogContext()

    http_errors = {DisputeNotFound: NotFound}

    @event_consumer("dispatch", "case_referred_to_mediation")
    def on_case_referred(self, event):
        return self.storage.handle(event, handlers.open_dispute)

    @http("GET", "/disputes/<string:dispute_id>")
    def get_dispute(self, request, dispute_id):
        return json_response(dispute_view(handlers.get_dispute(self.storage.uow(), dispute_id)))

    @http("GET", "/disputes")
    def list_disputes(self, request):
        return json_response({"disputes": [dispute_view(d) for d in handlers.list_disputes(self.storage.uow())]})
