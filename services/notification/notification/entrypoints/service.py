"""The notification service as nameko runs it."""

from gridlink.runtime.dependencies import LogContext, Storage
from gridlink.runtime.entrypoints import event_consumer, http, json_response
from gridlink.runtime.ops import OpsEndpoints
from notification import handlers
from notification.adapters.orm import metadata
from notification.adapters.repository import NotificationUnitOfWork
from notification.domain.model import Message


def message_view(m: Message) -> dict:
    return {
        "message_id": m.message_id,
        "recipient_id": m.recipient_id,
        "channel": m.channel,
        "template": m.template_code,
        "body": m.body,
        "status": m.status,
        "correlation_id": m.correlation_id,
        "trigger_event_id": m.trigger_event_id,
        "created_at": m.created_at.isoformat(),
        "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
    }


class NotificationService(OpsEndpoints):
    name = "notification"

    storage = Storage(metadata, NotificationUnitOfWork)
    log_context = LogContext()

    @event_consumer("dispatch", "case_assigned")
    def on_case_assigned(self, event):
        return self.storage.handle(event, handlers.notify)

    @http("GET", "/inbox/<string:recipient_id>")
    def get_inbox(self, request, recipient_id):
        messages = handlers.inbox(self.storage.uow(), recipient_id)
        return json_response({"recipient_id": recipient_id, "messages": [message_view(m) for m in messages]})
