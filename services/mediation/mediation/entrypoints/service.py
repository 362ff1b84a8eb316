"""The mediation service as nameko runs it: dispatch's referrals and partners' answers from the bus, the staff and
party API over HTTP, and the deadline timers."""

from __future__ import annotations

from functools import partial

from gridlink.contracts.events import partners
from gridlink.runtime.auth import TokenError, bearer_token
from gridlink.runtime.dependencies import LogContext, Reference, StaffAuth, Storage
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
from mediation import handlers
from mediation.adapters.orm import metadata
from mediation.adapters.reference import load_reference
from mediation.adapters.repository import MediationUnitOfWork
from mediation.domain.errors import (
    AccessDenied,
    BookingConflict,
    ConsentMissing,
    DisputeNotFound,
    ExtensionRefused,
    InvalidRequest,
    NotEligible,
    NotFromThisPartner,
    SessionNotFound,
    UnknownChannel,
    UnknownReference,
    WindowClosed,
    WrongState,
)
from mediation.domain.model import Reader
from mediation.entrypoints import schemas
from mediation.entrypoints.clock import Clock
from mediation.entrypoints.views import dispute_view, record_view, session_view

STAFF_ROLES = ("mediator", "department", "district_operator")


class MediationService(OpsEndpoints):
    name = "mediation"

    storage = Storage(metadata, MediationUnitOfWork, timers=handlers.TIMER_HANDLERS)
    reference = Reference(load_reference)
    auth = StaffAuth()
    clock = Clock()
    log_context = LogContext()

    http_errors = {
        DisputeNotFound: NotFound,
        SessionNotFound: NotFound,
        UnknownChannel: Unprocessable,
        UnknownReference: Unprocessable,
        InvalidRequest: ApiError,
        NotEligible: Unprocessable,
        WrongState: Conflict,
        ExtensionRefused: Unprocessable,
        BookingConflict: Conflict,
        ConsentMissing: Conflict,
        WindowClosed: Unprocessable,
        AccessDenied: Forbidden,
        NotFromThisPartner: Forbidden,
    }

    @event_consumer("dispatch", "case_referred_to_mediation")
    def on_case_referred(self, event):
        return self.storage.handle(event, partial(handlers.open_dispute, now=self.clock(), ref=self.reference))

    # ---- public: status, codes, dates and the path; never statements ---------------------------------------------

    @http("GET", "/disputes/<string:dispute_id>")
    def get_dispute(self, request, dispute_id):
        return json_response(dispute_view(handlers.get_dispute(self.storage.uow(), dispute_id)))

    @http("GET", "/disputes")
    def list_disputes(self, request):
        limit = request.args.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            raise ApiError("limit is a whole number from 1 to 500")
        found = handlers.list_disputes(
            self.storage.uow(), int(limit), request.args.get("state"), request.args.get("channel")
        )
        return json_response({"disputes": [dispute_view(d) for d in found]})

    @http("GET", "/channels")
    def channels(self, request):
        catalogue = self.reference.catalogue
        return json_response(
            {
                "channels": [
                    {
                        "code": c.code,
                        "name": c.name,
                        "partner": c.partner,
                        "limit": {"days": c.limit_days, "unit": c.limit_unit},
                        "respond": {"days": c.respond.days, "unit": c.respond.unit} if c.respond else None,
                        "extension": vars(c.extension) if c.extension else None,
                        "dispute_types": sorted(c.eligibility.dispute_types),
                        "room_code": c.room_code,
                    }
                    for c in catalogue.channels.values()
                ]
            }
        )

    # ---- staff ---------------------------------------------------------------------------------------------------

    def _staff(self, request, *roles: str) -> Reader:
        who = self.auth.require(request, *(roles or STAFF_ROLES))
        return Reader("staff", who.user_id, who.role, who.unit)

    def _body(self, request, schema):
        return schema().load(parse_json_body(request) if request.data else {})

    @http("POST", "/disputes")
    def open_walk_in(self, request):
        who = self._staff(request, "mediator", "district_operator")
        body = self._body(request, schemas.WalkInIn)
        dispute, keys = handlers.open_walk_in(self.storage.uow(), body, self.clock(), who.user_id, self.reference)
        return json_response({**dispute_view(dispute), "party_keys": keys}, 201)

    @http("POST", "/disputes/<string:ref>/parties")
    def add_parties(self, request, ref):
        who = self._staff(request)
        body = self._body(request, schemas.PartiesIn)
        dispute, keys = handlers.add_parties(
            self.storage.uow(), ref, body["parties"], self.clock(), who, self.reference
        )
        return json_response({**dispute_view(dispute), "party_keys": keys}, 201)

    def _command(self, request, ref, action, schema, status=200):
        who = self._staff(request)
        args = self._body(request, schema)
        dispute = handlers.command(self.storage.uow(), ref, self.clock(), who, self.reference, action, **args)
        return json_response(dispute_view(dispute), status)

    @http("POST", "/disputes/<string:ref>/accept")
    def accept(self, request, ref):
        return self._command(request, ref, "accept", schemas.AcceptIn)

    @http("POST", "/disputes/<string:ref>/decline")
    def decline(self, request, ref):
        return self._command(request, ref, "decline", schemas.ReasonIn)

    @http("POST", "/disputes/<string:ref>/transfer")
    def transfer(self, request, ref):
        return self._command(request, ref, "transfer", schemas.TransferIn)

    @http("POST", "/disputes/<string:ref>/extensions")
    def extend(self, request, ref):
        return self._command(request, ref, "extend", schemas.ExtendIn, 201)

    @http("POST", "/disputes/<string:ref>/mediator")
    def assign(self, request, ref):
        return self._command(request, ref, "assign", schemas.AssignIn)

    @http("POST", "/disputes/<string:ref>/consents")
    def consent(self, request, ref):
        return self._command(request, ref, "consent", schemas.ConsentIn, 201)

    @http("POST", "/disputes/<string:ref>/agreement")
    def agreement(self, request, ref):
        return self._command(request, ref, "agreement", schemas.AgreementIn, 201)

    @http("POST", "/disputes/<string:ref>/failure")
    def failure(self, request, ref):
        return self._command(request, ref, "fail", schemas.ReasonIn)

    @http("POST", "/disputes/<string:ref>/withdrawal")
    def withdrawal(self, request, ref):
        return self._command(request, ref, "withdraw", schemas.ReasonIn)

    @http("POST", "/disputes/<string:ref>/judicial-confirmation")
    def judicial_confirmation(self, request, ref):
        return self._command(request, ref, "judicial_confirmation", schemas.EmptyIn, 201)

    @http("POST", "/disputes/<string:ref>/follow-up")
    def follow_up(self, request, ref):
        return self._command(request, ref, "follow_up", schemas.FollowUpIn, 201)

    @http("POST", "/disputes/<string:ref>/sessions")
    def schedule_session(self, request, ref):
        who = self._staff(request, "mediator", "department")
        body = self._body(request, schemas.SessionIn)
        session = handlers.schedule_session(self.storage.uow(), ref, body, self.clock(), who, self.reference)
        return json_response(session_view(session, with_minutes=False), 201)

    @http("POST", "/sessions/<string:session_id>/record")
    def record_session(self, request, session_id):
        who = self._staff(request, "mediator", "department")
        body = self._body(request, schemas.SessionRecordIn)
        session = handlers.record_session(self.storage.uow(), session_id, body, self.clock(), who, self.reference)
        return json_response(session_view(session, with_minutes=False))

    # ---- confidential: the case's mediator, the channel's staff, the parties; every read audited -----------------

    def _reader(self, request) -> Reader:
        party_key = request.headers.get("X-Party-Key")
        if party_key:
            reader = handlers.party_reader(self.storage.uow(), party_key)
            if reader is None:
                raise Unauthorized("the party key is not known")
            return reader
        try:
            bearer_token(request.headers.get("Authorization"))
        except TokenError as exc:
            raise Unauthorized(f"{exc}; a party sends X-Party-Key instead") from None
        who = self.auth.require(request)
        return Reader("staff", who.user_id, who.role, who.unit)

    @http("GET", "/disputes/<string:ref>/record", audit=True)
    def read_record(self, request, ref):
        reader = self._reader(request)
        dispute, sessions = handlers.read_record(
            self.storage.uow(), ref, reader, self.clock(), request.remote_addr, self.reference
        )
        return json_response(record_view(dispute, sessions, reader))

    @http("GET", "/disputes/<string:ref>/audit")
    def audit(self, request, ref):
        self.auth.require(request, "district_operator")
        return json_response({"reads": handlers.audit_of(self.storage.uow(), ref)})


def _partner_consumer(source: str, event_type: str):
    def consume(self, event):
        return self.storage.handle(event, partial(handlers.on_partner_event, now=self.clock(), ref=self.reference))

    consume.__name__ = f"on_{source.replace('.', '_')}_{event_type}"
    return event_consumer(source, event_type)(consume)


# One consumer per partner department and answer type: each department publishes to its own exchange.
for _source in partners.SOURCES:
    for _event_type, _version in partners.EVENTS:
        _consumer = _partner_consumer(_source, _event_type)
        setattr(MediationService, _consumer.__name__, _consumer)
