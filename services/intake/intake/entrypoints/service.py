"""The intake service as nameko runs it: the native JSON API, Open311 GeoReport v2, IoT alarms, partner referrals
from the bus, and dispatch's lifecycle events for the Open311 read model."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from marshmallow import EXCLUDE, ValidationError
from nameko.extensions import DependencyProvider

from gridlink.contracts import Envelope, InvalidEvent
from gridlink.contracts.envelope import EnvelopeSchema
from gridlink.contracts.events.intake import CONSUMES, PARTNER_EXCHANGE
from gridlink.runtime.dependencies import LogContext, Reference, StaffAuth, Storage
from gridlink.runtime.entrypoints import (
    ApiError,
    EventConsumer,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    event_consumer,
    json_response,
    parse_json_body,
)
from gridlink.runtime.ops import OpsEndpoints
from intake import handlers
from intake.adapters.orm import metadata
from intake.adapters.reference import load_api_clients, load_reference
from intake.adapters.repository import IntakeUnitOfWork
from intake.config import retention_days
from intake.domain.commands import ReceiveAlarm, SubmitReport
from intake.domain.errors import (
    InvalidAttributes,
    OutsideDistrict,
    OutsideScope,
    ReportNotFound,
    UnknownAddress,
    UnknownAlarmType,
    UnknownCategory,
    UnknownDevice,
)
from intake.domain.model import Report, Reporter, mask_phone, redact_personal
from intake.entrypoints import open311
from intake.entrypoints.limits import RateLimiter
from intake.entrypoints.open311 import IntakeHttp, Open311Http, TooManyRequests, render
from intake.entrypoints.schemas import AlarmBatchSchema, ReportRequestSchema

OPEN311 = "/open311/v2"
# Who may report on which staff channel, over the native API (the resident channels need no token).
STAFF_CHANNELS = {
    "patrol": ("grid_worker",),
    "hotline": ("community_operator", "sub_centre_operator", "district_operator"),
    "walk_in": ("community_operator", "sub_centre_operator", "district_operator"),
    "partner": ("department",),
}

http = IntakeHttp.decorator
open311_http = Open311Http.decorator

# Built once: a schema's construction copies its declared fields, which cost more than checking a request.
REPORT_REQUEST = ReportRequestSchema()
ALARM_BATCH = AlarmBatchSchema()


def report_view(report: Report) -> dict:
    p = report.placement
    return {
        "report_id": report.report_id,
        "tracking_code": report.tracking_code,
        "status": report.status,
        "channel": report.channel,
        "category": report.category_code,
        "urgency": report.urgency,
        "description": redact_personal(report.description),
        **p.located(),
        "reporter_phone": mask_phone(report.reporter_phone),
        "submitted_at": report.submitted_at.isoformat(),
        "classification_confidence": report.confidence,
        "needs_triage": report.needs_triage,
        "duplicate_of": report.duplicate_of,
        "co_reporters": report.co_reporters,
        "public_status": report.public_status,
    }


class PartnerReferralConsumer(EventConsumer):
    """Partner referrals are commands in the common envelope on `partners.events`; the envelope's source is the
    partner's department code. Validated against intake's CONSUMES contract, retried and dead-lettered like events."""

    def handle_message(self, body, message):
        try:
            envelope = _partner_envelope(body, self.event_type)
        except InvalidEvent as exc:
            self.park(message, "invalid", str(exc))
            return
        self._spawn(envelope, message, time.perf_counter())


def _partner_envelope(body, event_type: str) -> Envelope:
    if not isinstance(body, dict):
        raise InvalidEvent(f"body is not a JSON object but {type(body).__name__}")
    try:
        data = EnvelopeSchema().load(body)
    except ValidationError as exc:
        raise InvalidEvent("envelope does not match the contract", exc.messages) from exc
    contract = CONSUMES.get((data["type"], data["version"]))
    if data["type"] != event_type or contract is None:
        raise InvalidEvent(f"{data['type']} v{data['version']} is not a partner command intake takes")
    try:
        payload = contract[0](unknown=EXCLUDE).load(data["payload"])
    except ValidationError as exc:
        raise InvalidEvent(f"{data['type']}: payload does not match the contract", exc.messages) from exc
    return Envelope(
        str(data["event_id"]),
        data["type"],
        data["version"],
        data["occurred_at"],
        data["source"],
        data["correlation_id"],
        data["causation_id"],
        payload,
    )


class ApiClients(DependencyProvider):
    """Open311 API keys and the rate limits (per key, per client address), shared by the process's workers."""

    def setup(self):
        settings = self.container.config["GRIDLINK"]
        self.clients, self.per_address = load_api_clients(settings.data_dir)
        self.per_address = int(settings.extra.get("INTAKE_RATE_PER_ADDRESS", self.per_address))
        self.per_key = settings.extra.get("INTAKE_RATE_PER_KEY")
        self.limiter = RateLimiter()

    def get_dependency(self, worker_ctx):
        return self

    def throttle(self, request) -> None:
        address = request.remote_addr or "unknown"
        if not self.limiter.allow(f"addr:{address}", self.per_address):
            raise TooManyRequests(f"too many requests from {address}; at most {self.per_address} a minute")

    def client(self, api_key: str | None):
        """The client an Open311 api_key belongs to: 403 without one or with a wrong one, 429 over its limit."""
        if not api_key:
            raise Forbidden("api_key is required")
        client = self.clients.get(hashlib.sha256(api_key.encode()).hexdigest())
        if client is None:
            raise Forbidden("api_key is not valid")
        limit = int(self.per_key) if self.per_key else client.per_minute
        if not self.limiter.allow(f"key:{client.client}", limit):
            raise TooManyRequests(f"api_key of {client.client} is over its limit of {limit} requests a minute")
        return client


class IntakeService(OpsEndpoints):
    name = "intake"

    storage = Storage(metadata, IntakeUnitOfWork, timers={handlers.PURGE_REPORTER: handlers.purge_reporter})
    reference = Reference(load_reference)
    api = ApiClients()
    auth = StaffAuth()
    log_context = LogContext()

    http_errors = {
        ReportNotFound: NotFound,
        UnknownCategory: ApiError,
        UnknownAddress: ApiError,
        InvalidAttributes: ApiError,
        UnknownAlarmType: ApiError,
        UnknownDevice: Unauthorized,
        OutsideScope: Forbidden,
        OutsideDistrict: Unprocessable,
    }

    # Native JSON API: residents' apps, and staff channels with a token

    @http("POST", "/reports", committed_status=201)
    def post_report(self, request):
        self.api.throttle(request)
        data = REPORT_REQUEST.load(parse_json_body(request))
        reporter = data.pop("reporter") or {}
        scope = None
        if data["channel"] == "iot":
            raise ApiError("sensors send alarms to POST /iot/alarms")
        if data["channel"] in STAFF_CHANNELS:
            who = self.auth.require(request, *STAFF_CHANNELS[data["channel"]])
            scope = None if who.role == "admin" else who.unit
            reporter = {**reporter, "role": reporter.get("role") or who.role}
        cmd = SubmitReport(
            channel=data["channel"],
            category_code=data["category"],
            description=data["description"],
            lat=data["lat"],
            long=data["long"],
            address_id=data["address_id"],
            address=data["address"],
            reporter=Reporter(**{k: reporter.get(k) for k in ("name", "phone", "email", "wechat_openid", "role")}),
            urgency=data["urgency"],
            media_urls=tuple(data["photo_urls"]),
            involved=data["involved"],
            scope_unit=scope,
            link_duplicates=data["link_duplicates"],
        )
        submitted = handlers.submit_report(self.storage.uow(), self.reference, cmd)
        report = submitted.report
        return json_response(report_view(report), 201, {"Location": f"/reports/{report.report_id}"})

    @http("GET", "/reports/<string:report_id>")
    def get_report(self, request, report_id):
        self.api.throttle(request)
        return json_response(report_view(handlers.get_report(self.storage.uow(), report_id)))

    @http("POST", "/iot/alarms", committed_status=200)
    def post_alarms(self, request):
        """A device's batch of alarms, authenticated by the device's own id and key."""
        self.api.throttle(request)
        device = self.reference.sensors.authenticate(
            request.headers.get("X-Device-Id"), request.headers.get("X-Device-Key")
        )
        batch = ALARM_BATCH.load(parse_json_body(request))
        now = datetime.now(UTC)
        late = [a["alarm_id"] for a in batch["alarms"] if a["occurred_at"] > now + timedelta(minutes=5)]
        if late:
            raise ApiError("alarms from the future (check the device clock)", {"occurred_at": late})
        alarms = [
            ReceiveAlarm(device.device_id, a["alarm_id"], a["type"], a["occurred_at"].astimezone(UTC), a["description"])
            for a in batch["alarms"]
        ]
        outcomes = handlers.receive_alarms(self.storage.uow(), self.reference, device, alarms, now)
        return json_response({"device_id": device.device_id, "results": [vars(o) for o in outcomes]})

    # Open311 GeoReport v2

    @open311_http("GET", f"{OPEN311}/discovery.<string:fmt>")
    def open311_discovery(self, request, fmt):
        base = request.host_url.rstrip("/") + OPEN311
        return render(open311.check_format(fmt), "discovery", open311.discovery_view(self.reference, base))

    @open311_http("GET", f"{OPEN311}/services.<string:fmt>")
    def open311_services(self, request, fmt):
        fmt = open311.check_format(fmt)
        open311.check_jurisdiction(self.reference, request.args)
        ref = self.reference
        services = [open311.service_view(ref, code) for group in ref.groups.values() for code in group.categories]
        return render(fmt, "services", services)

    @open311_http("GET", f"{OPEN311}/services/<string:code>.<string:fmt>")
    def open311_service(self, request, code, fmt):
        fmt = open311.check_format(fmt)
        open311.check_jurisdiction(self.reference, request.args)
        if code not in self.reference.categories:
            raise NotFound(f"unknown service_code {code!r}")
        return render(fmt, "service_definition", open311.definition_view(self.reference, code))

    @open311_http("POST", f"{OPEN311}/requests.<string:fmt>", committed_status=201)
    def open311_post_request(self, request, fmt):
        fmt = open311.check_format(fmt)
        self.api.throttle(request)
        client = self.api.client(request.form.get("api_key"))
        open311.check_jurisdiction(self.reference, request.form)
        data = open311.parse_post(request.form)
        if data["service_code"] not in self.reference.categories:
            raise NotFound(f"unknown service_code {data['service_code']!r}")
        name = " ".join(part for part in (data["last_name"], data["first_name"]) if part) or None
        cmd = SubmitReport(
            channel="open311",
            category_code=data["service_code"],
            description=data["description"] or self.reference.categories[data["service_code"]].name,
            lat=data["lat"],
            long=data["long"],
            address_id=data["address_id"],
            address=data["address_string"],
            reporter=Reporter(name=name, phone=data["phone"], email=data["email"]),
            media_urls=(data["media_url"],) if data["media_url"] else (),
            attributes=data["attributes"],
            client=client.client,
        )
        submitted = handlers.submit_report(self.storage.uow(), self.reference, cmd)
        answer = submitted.answer
        notice = "已与此前的同一问题合并" if submitted.original else "已受理，已派遣到所在网格"
        body = [
            {
                "service_request_id": answer.report_id,
                "token": submitted.report.tracking_code,
                "service_notice": notice,
                "account_id": data["account_id"],
            }
        ]
        return render(fmt, "service_requests", body, 201)

    @open311_http("GET", f"{OPEN311}/requests.<string:fmt>")
    def open311_requests(self, request, fmt):
        fmt = open311.check_format(fmt)
        self.api.throttle(request)
        open311.check_jurisdiction(self.reference, request.args)
        query = open311.request_query(request.args, datetime.now(UTC))
        found = handlers.find_requests(self.storage.uow(), query)
        return render(fmt, "service_requests", [open311.request_view(self.reference, r) for r in found])

    @open311_http("GET", f"{OPEN311}/requests/<string:request_id>.<string:fmt>")
    def open311_request(self, request, request_id, fmt):
        fmt = open311.check_format(fmt)
        self.api.throttle(request)
        open311.check_jurisdiction(self.reference, request.args)
        report = handlers.get_report(self.storage.uow(), request_id)
        if report.duplicate_of:
            report = handlers.get_report(self.storage.uow(), report.duplicate_of)
        return render(fmt, "service_requests", [open311.request_view(self.reference, report)])

    @open311_http("GET", f"{OPEN311}/tokens/<string:token>.<string:fmt>")
    def open311_token(self, request, token, fmt):
        fmt = open311.check_format(fmt)
        self.api.throttle(request)
        open311.check_jurisdiction(self.reference, request.args)
        report = handlers.get_report(self.storage.uow(), token)
        body = [{"service_request_id": report.duplicate_of or report.report_id, "token": report.tracking_code}]
        return render(fmt, "service_requests", body)

    @open311_http("GET", f"{OPEN311}/servicerequestupdates.<string:fmt>")
    def open311_updates(self, request, fmt):
        fmt = open311.check_format(fmt)
        self.api.throttle(request)
        open311.check_jurisdiction(self.reference, request.args)
        ids = open311.id_list(request.args, "service_request_id")
        start, end = open311.date_range(request.args, datetime.now(UTC)) if not ids else (None, None)
        page, page_size = open311.page_of(request.args)
        rows = handlers.find_updates(self.storage.uow(), ids, start, end, page, page_size)
        return render(fmt, "service_request_updates", [open311.update_view(row) for row in rows])

    # Dispatch's case lifecycle, as the public sees it. Lingering batches: a resident reading the status a fifth of
    # a second later than it changed cannot tell, and a trickle then costs a few transactions, not one per event.

    def _progress(self, events):
        retention = timedelta(days=retention_days(self.storage.settings))
        return self.storage.handle_all(
            events, partial(handlers.record_cases_progress, ref=self.reference, retention=retention), together=True
        )

    @event_consumer("dispatch", "case_assigned", batch=True, linger=True)
    def on_case_assigned(self, events):
        return self._progress(events)

    @event_consumer("dispatch", "case_accepted", batch=True, linger=True)
    def on_case_accepted(self, events):
        return self._progress(events)

    @event_consumer("dispatch", "case_returned", batch=True, linger=True)
    def on_case_returned(self, events):
        return self._progress(events)

    @event_consumer("dispatch", "case_escalated", batch=True, linger=True)
    def on_case_escalated(self, events):
        return self._progress(events)

    @event_consumer("dispatch", "case_resolved", batch=True, linger=True)
    def on_case_resolved(self, events):
        return self._progress(events)

    @event_consumer("dispatch", "case_closed", batch=True, linger=True)
    def on_case_closed(self, events):
        return self._progress(events)

    @PartnerReferralConsumer.decorator(PARTNER_EXCHANGE, "referral_submitted")
    def on_partner_referral(self, event):
        return self.storage.handle(event, partial(handlers.accept_referral, ref=self.reference))
