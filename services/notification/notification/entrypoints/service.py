"""The notification service as nameko runs it: one consumer per (source, event type), delivery timers, and HTTP."""

from __future__ import annotations

import hmac
from functools import partial

from gridlink.runtime.dependencies import LogContext, StaffAuth, Storage
from gridlink.runtime.entrypoints import (
    ApiError,
    Forbidden,
    NotFound,
    Unauthorized,
    event_consumer,
    http,
    json_response,
    parse_json_body,
)
from gridlink.runtime.gathering import Gatherer, concurrently
from gridlink.runtime.ops import OpsEndpoints
from notification import handlers
from notification.adapters.orm import metadata
from notification.adapters.providers import build_providers
from notification.adapters.reference import load_reference
from notification.adapters.repository import NotificationUnitOfWork
from notification.config import channel_config
from notification.domain.errors import InvalidPreferences, InvalidReceipt, MessageNotFound, UnknownTemplate
from notification.domain.model import Message

READERS = ("grid_worker", "community_operator", "sub_centre_operator", "district_operator", "department")
RECEIPT_TOKEN_HEADER = "X-Receipt-Token"


class NotificationStorage(Storage):
    """The runtime's Storage, plus the notifier (rules, templates, providers) its delivery timers need."""

    def setup(self):
        settings = self.container.config["GRIDLINK"]
        config = channel_config(settings)
        self.receipt_token = config.receipt_token
        self.notifier = handlers.Notifier(load_reference(settings.data_dir), build_providers(config))
        self.timer_handlers = self.notifier.timers()
        super().setup()
        # Delivery passes handed off after a commit run here, beside the workers, in groups (each group's outcomes
        # saved in one transaction), at most as many groups at once as the service has workers. Handing off waits
        # while four times that many passes are queued: back-pressure on the consumers, not a growing queue.
        self.passes = Gatherer(
            partial(handlers.deliver_handed_off, self.notifier), settings.max_workers, 4 * settings.max_workers
        )
        self.notifier.new_uow = self.database.uow
        self.notifier.background = self.passes.put
        self.notifier.concurrently = concurrently

    def stop(self):
        self.passes.wait()  # a pass cut short would wait for its timer (a send lease) to be tried again
        self.passes.close()
        super().stop()

    def kill(self):
        # Killed, not stopped: no waiting on providers. The passes cut short are tried again by their timers.
        self.passes.close()
        super().stop()

    def get_dependency(self, worker_ctx):
        store = super().get_dependency(worker_ctx)
        store.notifier = self.notifier
        store.receipt_token = self.receipt_token
        return store


def message_view(m: Message, attempts: list[dict] | None = None) -> dict:
    view = {
        "message_id": m.message_id,
        "recipient_id": m.recipient_id,
        "channel": m.channel,
        "template": m.template_code,
        "category": m.category,
        "priority": m.priority,
        "title": m.title,
        "body": m.body,
        "status": m.status,
        "status_reason": m.status_reason,
        "correlation_id": m.correlation_id,
        "trigger_event_id": m.trigger_event_id,
        "created_at": m.created_at.isoformat(),
        "due_at": m.due_at.isoformat() if m.due_at else None,
        "sent_at": m.sent_at.isoformat() if m.sent_at else None,
        "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
        "provider": m.provider,
        "attempt_count": m.attempts,
        "merged_into": m.merged_into,
    }
    if attempts is not None:
        view["attempts"] = attempts
    return view


class NotificationService(OpsEndpoints):
    name = "notification"

    storage = NotificationStorage(metadata, NotificationUnitOfWork)
    auth = StaffAuth()
    log_context = LogContext()
    http_errors = {
        MessageNotFound: NotFound,
        InvalidPreferences: ApiError,
        InvalidReceipt: ApiError,
        UnknownTemplate: ApiError,
    }

    def _on(self, events):
        return self.storage.handle_all(
            events, partial(handlers.on_events, notifier=self.storage.notifier), together=True
        )

    # One consumer per (source, event type); what each becomes is in notification-rules.json.
    @event_consumer("dispatch", "case_assigned", batch=True)
    def on_case_assigned(self, events):
        return self._on(events)

    @event_consumer("dispatch", "case_accepted", batch=True)
    def on_case_accepted(self, events):
        return self._on(events)

    @event_consumer("dispatch", "case_due_soon", batch=True)
    def on_case_due_soon(self, events):
        return self._on(events)

    @event_consumer("dispatch", "case_overdue", batch=True)
    def on_case_overdue(self, events):
        return self._on(events)

    @event_consumer("dispatch", "case_escalated", batch=True)
    def on_case_escalated(self, events):
        return self._on(events)

    @event_consumer("dispatch", "case_resolved", batch=True)
    def on_case_resolved(self, events):
        return self._on(events)

    @event_consumer("dispatch", "case_evaluated", batch=True)
    def on_case_evaluated(self, events):
        return self._on(events)

    # The reporter's receipt can wait a fifth of a second for its batch; the grid worker's assignment cannot.
    @event_consumer("intake", "report_accepted", batch=True, linger=True)
    def on_report_accepted(self, events):
        return self._on(events)

    @event_consumer("intake", "reporter_contact_registered", batch=True)
    def on_reporter_contact_registered(self, events):
        return self._on(events)

    @event_consumer("mediation", "party_contact_registered", batch=True)
    def on_party_contact_registered(self, events):
        return self._on(events)

    @event_consumer("mediation", "session_scheduled", batch=True)
    def on_session_scheduled(self, events):
        return self._on(events)

    @event_consumer("volunteer", "order_dispatched", batch=True)
    def on_order_dispatched(self, events):
        return self._on(events)

    @http("GET", "/inbox/<string:recipient_id>")
    def get_inbox(self, request, recipient_id):
        messages = handlers.inbox(self.storage.uow(), recipient_id)
        return json_response({"recipient_id": recipient_id, "messages": [message_view(m) for m in messages]})

    @http("GET", "/cases/<string:correlation_id>/messages")
    def get_case_messages(self, request, correlation_id):
        """Every message a case (a report's correlation id) caused, with its status and delivery attempts."""
        who = self.auth.require(request, *READERS)
        found = handlers.case_messages(self.storage.uow(), correlation_id)
        if not found:
            raise NotFound(f"no messages for {correlation_id}")
        visible = [(m, a) for m, a in found if who.covers(m.scope_code)]
        if not visible:
            raise Forbidden(f"the messages of {correlation_id} are outside unit {who.unit}")
        counts: dict[str, int] = {}
        for m, _ in visible:
            counts[m.status] = counts.get(m.status, 0) + 1
        return json_response(
            {
                "correlation_id": correlation_id,
                "statuses": counts,
                "messages": [message_view(m, a) for m, a in visible],
            }
        )

    @http("GET", "/messages/<string:message_id>")
    def get_message(self, request, message_id):
        who = self.auth.require(request, *READERS)
        found, attempts = handlers.message(self.storage.uow(), message_id)
        if not who.covers(found.scope_code):
            raise Forbidden(f"message {message_id} is outside unit {who.unit}")
        return json_response(message_view(found, attempts))

    @http("POST", "/receipts/<string:provider>")
    def post_receipts(self, request, provider):
        """Delivery receipts a provider calls back with; the shared token proves it is the provider."""
        token = request.headers.get(RECEIPT_TOKEN_HEADER, "")
        if not hmac.compare_digest(token.encode(), self.storage.receipt_token.encode()):
            raise Unauthorized(f"a valid {RECEIPT_TOKEN_HEADER} header is required")
        body = parse_json_body(request) if not request.data.lstrip().startswith(b"[") else _json_list(request)
        result = handlers.apply_receipts(self.storage.uow(), provider, body, self.storage.notifier)
        return json_response(result)

    @http("PUT", "/recipients/<string:recipient_id>/preferences")
    def put_preferences(self, request, recipient_id):
        self._require_self(request, recipient_id)
        saved = handlers.set_preferences(
            self.storage.uow(), recipient_id, parse_json_body(request), self.storage.notifier.ref
        )
        return json_response({"recipient_id": recipient_id, "preferences": saved})

    @http("PUT", "/recipients/<string:recipient_id>/contact")
    def put_contact(self, request, recipient_id):
        self._require_self(request, recipient_id)
        return json_response(handlers.set_contact(self.storage.uow(), recipient_id, parse_json_body(request)))

    def _require_self(self, request, recipient_id: str) -> None:
        who = self.auth.require(request)
        if who.user_id != recipient_id and who.role != "admin":
            raise Forbidden(f"{who.user_id} may change only their own settings, not {recipient_id}'s")


def _json_list(request) -> list:
    import json

    try:
        body = json.loads(request.get_data(as_text=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(f"the request body is not valid JSON: {exc}") from None
    return body
