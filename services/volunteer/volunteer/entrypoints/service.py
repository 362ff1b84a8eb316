"""The volunteer service as nameko runs it."""

from gridlink.runtime.dependencies import LogContext, Storage
from gridlink.runtime.entrypoints import NotFound, event_consumer, http, json_response
from gridlink.runtime.ops import OpsEndpoints
from volunteer import handlers
from volunteer.adapters.orm import metadata
from volunteer.adapters.repository import VolunteerUnitOfWork
from volunteer.domain.errors import OrderNotFound
from volunteer.domain.model import Order


def order_view(o: Order) -> dict:
    return {
        "order_id": o.order_id,
        "case_id": o.case_id,
        "tracking_code": o.tracking_code,
        "correlation_id": o.correlation_id,
        "service": o.service_code,
        "status": o.status,
        "grid_code": o.grid_code,
        "created_at": o.created_at.isoformat(),
    }


class VolunteerService(OpsEndpoints):
    name = "volunteer"

    storage = Storage(metadata, VolunteerUnitOfWork)
    log_context = LogContext()

    http_errors = {OrderNotFound: NotFound}

    @event_consumer("dispatch", "case_referred_to_volunteers")
    def on_case_referred(self, event):
        return self.storage.handle(event, handlers.create_order)

    @http("GET", "/orders/<string:order_id>")
    def get_order(self, request, order_id):
        return json_response(order_view(handlers.get_order(self.storage.uow(), order_id)))

    @http("GET", "/orders")
    def list_orders(self, request):
        return json_response({"orders": [order_view(o) for o in handlers.list_orders(self.storage.uow())]})
