"""The console service as nameko runs it: it records the bus into its read model and serves the command centre."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from console import handlers
from console.adapters.dispatch import DispatchClient
from console.adapters.notification import NotificationClient
from console.adapters.orm import metadata
from console.adapters.reference import load_reference
from console.adapters.repository import ConsoleUnitOfWork
from console.config import dispatch_url, notification_url
from console.domain.access import NotAllowed, UnknownAction
from console.domain.cases import CaseSummary, RecordedEvent, describe
from console.domain.figures import BadQuery, Period, performance_csv
from console.domain.mapview import project
from console.domain.messages import CaseMessage
from console.entrypoints import pages
from console.entrypoints.web import (
    ACTIONS,
    ConsoleAuth,
    Viewer,
    event_stream,
    html_response,
    login_cookie,
    redirect,
    static_file,
    stream_response,
)
from gridlink.runtime.dependencies import LogContext, Reference, Storage
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
from gridlink.runtime.ops import OpsEndpoints
from gridlink.runtime.retired import RetiredQueues


class StaffApi(DependencyProvider):
    """Another service's staff HTTP API, its client built once from the setting that says where it answers."""

    def __init__(self, client, url):
        self.client_class, self.url = client, url

    def setup(self):
        self.client = self.client_class(self.url(self.container.config["GRIDLINK"]))

    def get_dependency(self, worker_ctx):
        return self.client


def _recorder(source: str, event_type: str):
    # Batched: the read model's cost is mostly per transaction, not per event, and a burst of reports brings many
    # events of a kind at once. Lingering: nobody waits on the read model within a fraction of a second (the live
    # board refreshes every 0.5 s), so a batch waits up to EVENT_LINGER for more to join it.
    @event_consumer(source, event_type, batch=True, linger=True)
    def consume(self, events):
        return self.storage.handle_all(events, handlers.record_events, together=True)

    consume.__name__ = f"on_{event_type}"
    return consume


def case_json(case: CaseSummary, ref) -> dict:
    view = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(case).items()}
    view["grid_name"] = ref.unit_name(case.grid_code)
    return view


def message_json(message: CaseMessage) -> dict:
    return {
        "at": message.at.isoformat() if message.at else None,
        "local_time": pages.local_time(message.at),
        "recipient_id": message.recipient_id,
        "channel": message.channel,
        "template": message.template,
        "status": message.status,
        "status_reason": message.status_reason,
    }


def event_json(event: RecordedEvent, ref) -> dict:
    return {
        "seq": event.seq,
        "event_id": event.event_id,
        "type": event.type,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "occurred_at": event.occurred_at.isoformat(),
        "local_time": pages.local_time(event.occurred_at),
        "grid_code": event.grid_code,
        "grid_name": ref.unit_name(event.grid_code),
        "tracking_code": event.payload.get("tracking_code"),
        "line": describe(event),
    }


def _int_arg(request, name: str, default: int, header: str | None = None) -> int:
    raw = (request.headers.get(header) if header else None) or request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(f"{name} must be a whole number, not {raw!r}") from None


def _today() -> datetime:
    return datetime.now(UTC) + timedelta(hours=8)


class ConsoleService(OpsEndpoints):
    name = "console"

    storage = Storage(metadata, ConsoleUnitOfWork)
    reference = Reference(load_reference)
    auth = ConsoleAuth()
    dispatch = StaffApi(DispatchClient, dispatch_url)
    notification = StaffApi(NotificationClient, notification_url)
    # The queue of the `message_sent` handler the console had until the case view read messages from notification.
    retired = RetiredQueues("evt-notification-message_sent--console.on_message_sent")
    log_context = LogContext()

    http_errors = {
        handlers.CaseNotFound: NotFound,
        handlers.GridNotFound: NotFound,
        BadQuery: ApiError,
        UnknownAction: NotFound,
        NotAllowed: Forbidden,
    }

    # The subscription table: every event the console records (see console.domain.cases.CONSUMED). Not
    # notification's `message_sent`: the case view reads a case's messages from notification (`notification`).
    on_report_accepted = _recorder("intake", "report_accepted")
    on_case_assigned = _recorder("dispatch", "case_assigned")
    on_case_accepted = _recorder("dispatch", "case_accepted")
    on_case_returned = _recorder("dispatch", "case_returned")
    on_case_escalated = _recorder("dispatch", "case_escalated")
    on_case_due_soon = _recorder("dispatch", "case_due_soon")
    on_case_overdue = _recorder("dispatch", "case_overdue")
    on_case_resolved = _recorder("dispatch", "case_resolved")
    on_case_evaluated = _recorder("dispatch", "case_evaluated")
    on_case_closed = _recorder("dispatch", "case_closed")
    on_case_started = _recorder("dispatch", "case_started")
    on_case_suspended = _recorder("dispatch", "case_suspended")
    on_case_resumed = _recorder("dispatch", "case_resumed")
    on_case_transferred = _recorder("dispatch", "case_transferred")
    on_case_supervised = _recorder("dispatch", "case_supervised")
    on_case_reopened = _recorder("dispatch", "case_reopened")
    on_case_referred_to_mediation = _recorder("dispatch", "case_referred_to_mediation")
    on_case_referred_to_volunteers = _recorder("dispatch", "case_referred_to_volunteers")
    on_dispute_case_opened = _recorder("mediation", "dispute_case_opened")
    on_session_scheduled = _recorder("mediation", "session_scheduled")
    on_agreement_reached = _recorder("mediation", "agreement_reached")
    on_mediation_failed = _recorder("mediation", "mediation_failed")
    on_mediation_transferred = _recorder("mediation", "mediation_transferred")
    on_order_created = _recorder("volunteer", "order_created")
    on_order_dispatched = _recorder("volunteer", "order_dispatched")
    on_order_completed = _recorder("volunteer", "order_completed")
    on_order_rated = _recorder("volunteer", "order_rated")
    on_message_failed = _recorder("notification", "message_failed")

    # --- signing in -------------------------------------------------------------------------------------------

    @http("GET", "/")
    def home(self, request):
        return redirect("/map" if self.auth.viewer_or_none(request) else "/login")

    @http("GET", "/login")
    def login_form(self, request):
        return html_response(pages.login_page())

    @http("POST", "/login")
    def login(self, request):
        token = (request.form.get("token") or "").strip()
        if not token:
            return html_response(pages.login_page("paste your staff token"), 400)
        try:
            viewer = self.auth.check(token)
        except (Unauthorized, Forbidden) as exc:
            return html_response(pages.login_page(exc.description), exc.status)
        return login_cookie(redirect("/board"), viewer, secure=request.scheme == "https")

    @http("POST", "/logout")
    def logout(self, request):
        response = redirect("/login")
        response.delete_cookie("gridlink_console", path="/")
        return response

    @http("GET", "/static/<path:name>")
    def static(self, request, name):
        return static_file(name)

    # --- pages ------------------------------------------------------------------------------------------------

    def _page_viewer(self, request) -> Viewer | None:
        return self.auth.viewer_or_none(request)

    @http("GET", "/map")
    def map_page(self, request):
        viewer = self._page_viewer(request)
        if viewer is None:
            return redirect("/login")
        metric = request.args.get("metric") or "open"
        sub_centre = request.args.get("sub_centre") or None
        stats = handlers.grid_map(self.storage.uow(), viewer.scope, metric)
        view = project(self._grids_shown(viewer, sub_centre))
        return html_response(pages.map_page(viewer, self.reference, view, stats, metric, sub_centre))

    def _grids_shown(self, viewer: Viewer, sub_centre: str | None):
        if sub_centre and sub_centre not in self.reference.sub_centres:
            raise ApiError(f"no sub-centre {sub_centre!r}")
        return [
            g
            for g in self.reference.grids
            if handlers.in_scope(viewer.scope, g.code) and (sub_centre is None or g.sub_centre_code == sub_centre)
        ]

    @http("GET", "/board")
    def board_page(self, request):
        viewer = self._page_viewer(request)
        if viewer is None:
            return redirect("/login")
        events, last_seq = handlers.board(self.storage.uow(), viewer.scope)
        return html_response(pages.board_page(viewer, self.reference, events, last_seq))

    @http("GET", "/cases/<string:key>")
    def case_page(self, request, key):
        viewer = self._page_viewer(request)
        if viewer is None:
            return redirect("/login")
        view, log = handlers.timeline(self.storage.uow(), key, viewer.scope, self.notification, viewer.token)
        return html_response(pages.case_page(viewer, self.reference, view, log))

    @http("GET", "/supervision")
    def supervision_page(self, request):
        viewer = self._page_viewer(request)
        if viewer is None:
            return redirect("/login")
        board = handlers.supervision(self.storage.uow(), viewer.scope)
        return html_response(pages.supervision_page(viewer, self.reference, board))

    def _report(self, request, viewer: Viewer):
        level = request.args.get("level") or "sub_centre"
        period = Period.parse(request.args.get("from"), request.args.get("to"), _today().date())
        return level, period, handlers.performance(self.storage.uow(), self.reference, viewer.scope, level, period)

    @http("GET", "/reports")
    def reports_page(self, request):
        viewer = self._page_viewer(request)
        if viewer is None:
            return redirect("/login")
        level, period, rows = self._report(request, viewer)
        return html_response(pages.reports_page(viewer, rows, level, period))

    @http("GET", "/reports.csv")
    def reports_csv(self, request):
        viewer = self.auth.viewer(request)
        level, period, rows = self._report(request, viewer)
        name = f"gridlink-performance-{level}-{period.start}-{period.end}.csv"
        return Response(
            performance_csv(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # --- JSON for the pages' scripts and for anyone else ------------------------------------------------------

    @http("GET", "/api/map")
    def api_map(self, request):
        viewer = self.auth.viewer(request)
        metric = request.args.get("metric") or "open"
        stats = handlers.grid_map(self.storage.uow(), viewer.scope, metric)
        return json_response(
            {
                "metric": metric,
                "grids": {
                    code: {**vars(f), "satisfaction": f.satisfaction, "level": f.level(metric)}
                    for code, f in stats.items()
                },
            }
        )

    @http("GET", "/api/grids/<string:code>")
    def api_grid(self, request, code):
        viewer = self.auth.viewer(request)
        detail = handlers.grid_detail(self.storage.uow(), self.reference, code, viewer.scope)
        return json_response(
            {
                "code": detail.code,
                "name": detail.name,
                "cases": [case_json(c, self.reference) for c in detail.cases],
                "staff": [{"staff_id": s.staff_id, "name": s.name, "role": s.role} for s in detail.staff],
            }
        )

    @http("GET", "/api/cases/<string:key>")
    def api_case(self, request, key):
        viewer = self.auth.viewer(request)
        view, log = handlers.timeline(self.storage.uow(), key, viewer.scope, self.notification, viewer.token)
        return json_response(
            {
                "case": case_json(view.case, self.reference),
                "events": [event_json(ev, self.reference) for ev in view.events],
                "messages": [message_json(m) for m in view.messages.messages],
                "messages_unavailable": view.messages.unavailable,
                "actions": log,
            }
        )

    @http("GET", "/api/board")
    def api_board(self, request):
        viewer = self.auth.viewer(request)
        events, last_seq = handlers.board(self.storage.uow(), viewer.scope, min(_int_arg(request, "limit", 50), 500))
        return json_response({"last_seq": last_seq, "events": [event_json(ev, self.reference) for ev in events]})

    @http("GET", "/api/supervision")
    def api_supervision(self, request):
        viewer = self.auth.viewer(request)
        board = handlers.supervision(self.storage.uow(), viewer.scope)
        return json_response(
            {
                kind: {tier: [case_json(c, self.reference) for c in cases] for tier, cases in lists.items()}
                for kind, lists in (("overdue", board.overdue), ("due_soon", board.due_soon))
            }
        )

    @http("GET", "/api/reports")
    def api_reports(self, request):
        viewer = self.auth.viewer(request)
        level, period, rows = self._report(request, viewer)
        return json_response(
            {"level": level, "from": str(period.start), "to": str(period.end), "units": [r.row() for r in rows]}
        )

    @http("POST", "/api/cases/<string:key>/actions/<string:action>")
    def api_act(self, request, key, action):
        viewer = self.auth.viewer(request)
        reason = str(parse_json_body(request).get("reason") or "").strip()
        if not reason or len(reason) > 500:
            raise ApiError("give a reason of 1 to 500 characters")
        answer = handlers.act(
            self.storage.uow(),
            self.dispatch,
            key=key,
            action=action,
            reason=reason,
            user_id=viewer.principal.user_id,
            role=viewer.principal.role,
            token=viewer.token,
            scope=viewer.scope,
        )
        ACTIONS.labels(action, str(answer.status)).inc()
        if answer.status == 0:
            return json_response({"error": {"code": "dispatch_unavailable", **answer.body["error"]}}, 503)
        # dispatch's own verdict (200, 403, 409…) is what the person needs to see.
        return json_response({"dispatch_status": answer.status, "dispatch": answer.body}, answer.status)

    @http("GET", "/stream")
    def stream(self, request):
        viewer = self.auth.viewer(request)
        # A reconnecting EventSource sends the last id it saw; it wins over the page's starting point.
        after = _int_arg(request, "after", -1, header="Last-Event-ID")
        database = self.storage.database
        if after < 0:
            _, after = handlers.board(database.uow(), viewer.scope, limit=1)
        fetch = partial(lambda scope, seq: handlers.events_since(database.uow(), seq, scope), viewer.scope)
        ref = self.reference
        return stream_response(
            request, event_stream(fetch, lambda ev: event_json(ev, ref), after, until=viewer.principal.expires_at)
        )
