"""mediation's service layer: load, call the domain, commit. No HTTP and no nameko here.

Every command takes the time as `now`, so tests drive it with a clock they control, and the district's reference
data as `ref`. After each change `_commit` saves the case, writes its events to the outbox and re-arms its timers
(warning before the limit, overdue at it, the follow-up visit) in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from gridlink.contracts import Envelope
from gridlink.runtime.timers import Timer
from mediation.adapters.reference import MediationReference
from mediation.adapters.repository import MediationUnitOfWork
from mediation.domain.errors import (
    AccessDenied,
    BookingConflict,
    DisputeNotFound,
    MediationError,
    SessionNotFound,
    UnknownReference,
)
from mediation.domain.model import DisputeCase, Reader
from mediation.domain.sessions import Session, plan_session

log = logging.getLogger(__name__)

WARNING, OVERDUE, FOLLOW_UP = "mediation_warning", "mediation_overdue", "mediation_follow_up"
PARTNER_PREFIX = "partner."


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _ref_or_default(ref: MediationReference | None) -> MediationReference:
    if ref is not None:
        return ref
    from gridlink.refdata.reading import DEFAULT_DATA_DIR
    from mediation.adapters.reference import load_reference

    return load_reference(DEFAULT_DATA_DIR)


def _commit(uow: MediationUnitOfWork, dispute: DisputeCase, ref: MediationReference, new: bool = False) -> None:
    _stage(uow, dispute, ref, new)
    uow.commit()


def _stage(uow: MediationUnitOfWork, dispute: DisputeCase, ref: MediationReference, new: bool = False) -> None:
    (uow.disputes.add if new else uow.disputes.save)(dispute)
    for event_type, payload in dispute.events:
        uow.publish(event_type, payload, correlation_id=dispute.correlation_id)
    dispute.events.clear()
    _arm_timers(uow, dispute, ref)


def _arm_timers(uow: MediationUnitOfWork, dispute: DisputeCase, ref: MediationReference) -> None:
    """Timers follow the running deadline; moving one re-arms it, and a concluded case has none."""
    key = dispute.dispute_id
    if dispute.state in ("referred", "accepted"):
        stint = dispute.stint
        channel = ref.catalogue.channel(dispute.channel_code)
        payload = {"dispute_id": key, "seq": stint.seq, "due_at": stint.due_at.isoformat()}
        warn_at = stint.due_at - timedelta(days=channel.warn_before_days)
        if warn_at > stint.referred_at:
            uow.schedule(WARNING, key, warn_at, payload, correlation_id=dispute.correlation_id)
        else:
            uow.cancel_timer(WARNING, key)
        uow.schedule(OVERDUE, key, stint.due_at, payload, correlation_id=dispute.correlation_id)
    else:
        uow.cancel_timer(WARNING, key)
        uow.cancel_timer(OVERDUE, key)
    if dispute.state == "agreed" and dispute.agreement:
        due = datetime.fromisoformat(dispute.agreement["follow_up_due_at"])
        uow.schedule(FOLLOW_UP, key, due, {"dispute_id": key}, correlation_id=dispute.correlation_id)
    elif dispute.state == "closed":
        uow.cancel_timer(FOLLOW_UP, key)


def _load(uow: MediationUnitOfWork, ref_id: str, for_update: bool = True) -> DisputeCase:
    dispute = uow.disputes.find(ref_id, for_update=for_update)
    if dispute is None:
        raise DisputeNotFound(f"no dispute case {ref_id!r}")
    return dispute


# ---- from the bus ------------------------------------------------------------------------------------------------


def open_dispute(
    uow: MediationUnitOfWork, event: Envelope, now: datetime | None = None, ref: MediationReference | None = None
) -> None:
    """case_referred_to_mediation → a dispute case in its first channel, with that channel's time limit."""
    ref = _ref_or_default(ref)
    referral = event.payload
    if uow.disputes.by_case(referral["case_id"]) is None:
        channel = ref.catalogue.first_channel(referral["category_code"])
        dispute = DisputeCase.open_from_referral(
            referral, channel, event.correlation_id, now or datetime.now(UTC), ref.catalogue, ref.calendar
        )
        _commit(uow, dispute, ref, new=True)
        return
    uow.commit()


ANSWERS_AFTER_ACCEPTANCE = ("partner_session_scheduled", "partner_outcome_reported")


class AnswerArrivedEarly(RuntimeError):
    """Not a MediationError on purpose: it must reach the runtime, which retries the message with backoff."""


def on_partner_event(uow: MediationUnitOfWork, event: Envelope, now: datetime, ref: MediationReference) -> None:
    """A partner department's answer. One it cannot apply is refused with a reason the partner can read, and
    acknowledged: retrying would not make a stale or foreign answer right."""
    partner = event.source.removeprefix(PARTNER_PREFIX)
    try:
        # A savepoint: a refused answer undoes its own changes but keeps the inbox row, so it is not retried.
        with uow.session.begin_nested():
            _apply_partner_event(uow, event, partner, now, ref)
    except MediationError as exc:
        log.warning("partner answer refused", extra={"fields": {"partner": partner, "reason": str(exc)}})
        uow.publish(
            "partner_reply_rejected",
            {
                "event_id": event.event_id,
                "partner_code": partner,
                "event_type": event.type,
                "dispute_id": event.payload.get("dispute_id"),
                "reason": str(exc)[:1000],
            },
        )
    uow.commit()


def _apply_partner_event(uow, event: Envelope, partner: str, now: datetime, ref: MediationReference) -> None:
    body = event.payload
    by = f"{PARTNER_PREFIX}{partner}"
    if event.type == "partner_dispute_filed":
        dispute = DisputeCase.open_walk_in(
            category_code=body["category_code"],
            dispute_type=body["dispute_type"],
            description=body["summary"],
            channel=_centre_channel(ref, body["channel_code"]),
            now=now,
            by=by,
            amount_yuan=body["amount_yuan"],
            source=by,
            correlation_id=event.correlation_id,
            calendar=ref.calendar,
        )
        dispute.stint.partner_ref = body["partner_case_ref"]
        for party in body["parties"]:
            dispute.add_party(party["role"], party["name"], now, by)
        _stage(uow, dispute, ref, new=True)
        return
    dispute = _load(uow, body["dispute_id"])
    channel = ref.catalogue.channel(dispute.channel_code)
    dispute.check_partner(partner, body["referral_id"], channel)
    if event.type in ANSWERS_AFTER_ACCEPTANCE and dispute.state == "referred":
        # Each answer type has its own queue, so a session or an outcome can overtake the acceptance sent before
        # it. That is not a wrong answer but an early one: raise, and the runtime retries it after a delay.
        raise AnswerArrivedEarly(f"{event.type} for {dispute.dispute_id} arrived before the referral's acceptance")
    if event.type == "partner_referral_accepted":
        dispute.accept(channel, now, by, ref.calendar, partner_ref=body["partner_case_ref"])
    elif event.type == "partner_referral_declined":
        dispute.decline(body["reason"], now, by)
    elif event.type == "partner_session_scheduled":
        session = plan_session(
            dispute,
            ref.catalogue,
            set(ref.rooms),
            starts_at=body["starts_at"],
            ends_at=body["ends_at"],
            online=body["online"],
            now=now,
            room_code=None,
            partner_ref=body["session_ref"],
        )
        uow.sessions.add(session, ref.catalogue.slot_minutes)
        for event_type, payload in session.events:
            uow.publish(event_type, payload, correlation_id=dispute.correlation_id)
        dispute._log(now, by, "session_scheduled", session_id=session.session_id, location=body["location"])
    elif event.type == "partner_outcome_reported":
        if body["outcome"] == "agreement":
            due_on = body["performance_due_on"] or (now + timedelta(days=30)).date()
            dispute.reach_agreement(
                f"{ref.catalogue.partners[partner]} 调解协议 {body['agreement_ref'] or ''}".strip(),
                [],
                now,
                by,
                ref.calendar,
                follow_up_on=due_on,
            )
        elif body["outcome"] == "failed":
            dispute.fail(body["reason"] or "调解不成", now, by)
        else:
            dispute.withdraw(body["reason"] or "当事人撤回", now, by)
    elif event.type == "partner_transfer_requested":
        dispute.transfer(ref.catalogue.channel(body["to_channel_code"]), body["reason"], now, by, ref.calendar)
    _stage(uow, dispute, ref)


def _centre_channel(ref: MediationReference, code: str):
    channel = ref.catalogue.channel(code)
    if channel.partner:
        raise UnknownReference(f"{code} is a partner's channel; a partner files with a channel of the centre")
    return channel


def on_timer(uow: MediationUnitOfWork, timer: Timer) -> None:
    """A warning, overdue or follow-up timer fired; the time it was due is the time it speaks for."""
    dispute = uow.disputes.get(timer.payload["dispute_id"], for_update=True)
    if dispute is None:
        uow.commit()
        return
    if timer.kind == FOLLOW_UP:
        spoke = dispute.follow_up_due(timer.due_at)
    else:
        kind = "warning" if timer.kind == WARNING else "overdue"
        spoke = dispute.deadline_reached(
            kind, timer.payload["seq"], datetime.fromisoformat(timer.payload["due_at"]), timer.due_at
        )
    if spoke:
        uow.disputes.save(dispute)
        for event_type, payload in dispute.events:
            uow.publish(event_type, payload, correlation_id=dispute.correlation_id)
    uow.commit()


TIMER_HANDLERS = {WARNING: on_timer, OVERDUE: on_timer, FOLLOW_UP: on_timer}


# ---- staff commands ----------------------------------------------------------------------------------------------


def open_walk_in(uow: MediationUnitOfWork, body: dict, now: datetime, by: str, ref: MediationReference):
    """A walk-in at the centre: the dispute, its parties, and each party's access key (shown once)."""
    catalogue = ref.catalogue
    channel = _centre_channel(ref, body.get("channel_code") or catalogue.first_channel(body["category_code"]).code)
    dispute_type = body.get("dispute_type") or catalogue.dispute_type_of(body["category_code"])
    if dispute_type not in catalogue.dispute_types:
        raise UnknownReference(f"no dispute type {dispute_type!r}; one of {', '.join(catalogue.dispute_types)}")
    with uow:
        dispute = DisputeCase.open_walk_in(
            category_code=body["category_code"],
            dispute_type=dispute_type,
            description=body["description"],
            channel=channel,
            now=now,
            by=by,
            amount_yuan=body.get("amount_yuan"),
            known_on=body.get("known_on"),
            grid_code=body.get("grid_code"),
            community_code=body.get("community_code"),
            calendar=ref.calendar,
        )
        keys = _add_parties(dispute, body.get("parties", []), now, by)
        _commit(uow, dispute, ref, new=True)
    return dispute, keys


def _add_parties(dispute: DisputeCase, raw: list[dict], now: datetime, by: str) -> dict[str, str]:
    keys = {}
    for item in raw:
        key = secrets.token_urlsafe(24)
        party = dispute.add_party(
            item["role"], item["name"], now, by, item.get("phone"), item.get("email"), key_hash=hash_key(key)
        )
        keys[party.party_id] = key
    return keys


def add_parties(uow, ref_id: str, raw: list[dict], now: datetime, who: Reader, ref: MediationReference):
    with uow:
        dispute = _load(uow, ref_id)
        _require_actor(dispute, who, ref, operators=True)
        keys = _add_parties(dispute, raw, now, who.user_id)
        _commit(uow, dispute, ref)
    return dispute, keys


def command(uow, ref_id: str, now: datetime, who: Reader, ref: MediationReference, action: str, **args: Any):
    """Run one step of the case (accept, decline, transfer, extend, assign, consent, agreement, failure,
    withdrawal, judicial confirmation, follow-up) as `who`, after checking they act for its channel."""
    operators = action in ("transfer", "assign", "consent", "follow_up", "withdraw")
    with uow:
        dispute = _load(uow, ref_id)
        _require_actor(dispute, who, ref, operators=operators)
        channel = ref.catalogue.channel(dispute.channel_code)
        by = who.user_id
        if action == "accept":
            dispute.accept(channel, now, by, ref.calendar, partner_ref=args.get("partner_ref"))
        elif action == "decline":
            dispute.decline(args["reason"], now, by)
        elif action == "transfer":
            dispute.transfer(ref.catalogue.channel(args["to_channel_code"]), args["reason"], now, by, ref.calendar)
        elif action == "extend":
            dispute.extend(
                channel,
                args["days"],
                now,
                by,
                approved_by=args.get("approved_by"),
                approval_ref=args.get("approval_ref"),
                consenting_party_ids=args.get("consenting_party_ids", ()),
                calendar=ref.calendar,
            )
        elif action == "assign":
            mediator = ref.catalogue.mediators.get(args["mediator_id"])
            if mediator is None or channel.code not in mediator.channels:
                raise UnknownReference(f"no mediator {args['mediator_id']!r} serves {channel.code}")
            dispute.assign_mediator(mediator.mediator_id, now, by)
        elif action == "consent":
            dispute.record_consent(args["party_id"], args["online"], now, by)
        elif action == "agreement":
            dispute.reach_agreement(args["terms"], args["obligations"], now, by, ref.calendar)
        elif action == "fail":
            dispute.fail(args["reason"], now, by)
        elif action == "withdraw":
            dispute.withdraw(args["reason"], now, by)
        elif action == "judicial_confirmation":
            dispute.request_judicial_confirmation(now, by)
        elif action == "follow_up":
            dispute.record_follow_up(args["honoured"], args["satisfaction"], args.get("notes", ""), now, by)
        else:
            raise ValueError(f"unknown action {action}")
        _commit(uow, dispute, ref)
    return dispute


def _require_actor(dispute: DisputeCase, who: Reader, ref: MediationReference, operators: bool = False) -> None:
    if who.role == "admin" or (operators and who.role == "district_operator"):
        return
    if not dispute.may_read(who, ref.catalogue.channel(dispute.channel_code)):
        raise AccessDenied(f"{who.user_id} ({who.role}) does not act for channel {dispute.channel_code}")


def schedule_session(uow, ref_id: str, body: dict, now: datetime, who: Reader, ref: MediationReference) -> Session:
    with uow:
        dispute = _load(uow, ref_id)
        _require_actor(dispute, who, ref)
        session = plan_session(
            dispute,
            ref.catalogue,
            set(ref.rooms),
            starts_at=body["starts_at"],
            ends_at=body["ends_at"],
            online=body.get("online", False),
            now=now,
            room_code=body.get("room_code"),
            mediator_id=body.get("mediator_id") or dispute.mediator_id,
        )
        taken = uow.sessions.conflicts(session, ref.catalogue.slot_minutes)
        if taken:
            raise BookingConflict(f"already booked for part of that time: {', '.join(taken)}")
        uow.sessions.add(session, ref.catalogue.slot_minutes)
        for event_type, payload in session.events:
            uow.publish(event_type, payload, correlation_id=dispute.correlation_id)
        dispute._log(now, who.user_id, "session_scheduled", session_id=session.session_id, online=session.online)
        uow.disputes.save(dispute)
        uow.commit()
    return session


def record_session(uow, session_id: str, body: dict, now: datetime, who: Reader, ref: MediationReference) -> Session:
    with uow:
        session = uow.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id!r}")
        dispute = _load(uow, session.dispute_id)
        if who.user_id != session.mediator_id:
            _require_actor(dispute, who, ref)
        session.record(body["attendance"], body["minutes"], dispute)
        uow.sessions.save(session)
        dispute._log(now, who.user_id, "session_held", session_id=session_id)
        uow.disputes.save(dispute)
        uow.commit()
    return session


# ---- reads -------------------------------------------------------------------------------------------------------


def get_dispute(uow: MediationUnitOfWork, dispute_id: str) -> DisputeCase:
    with uow:
        dispute = uow.disputes.find(dispute_id)
    if dispute is None:
        raise DisputeNotFound(f"no dispute case {dispute_id!r}")
    return dispute


def list_disputes(
    uow: MediationUnitOfWork, limit: int = 100, state: str | None = None, channel: str | None = None
) -> list[DisputeCase]:
    with uow:
        return uow.disputes.list(limit, state, channel)


def party_reader(uow: MediationUnitOfWork, key: str) -> Reader | None:
    with uow:
        found = uow.disputes.party_by_key(hash_key(key))
    return Reader("party", f"party:{found[1]}", "party", None, found[1]) if found else None


def read_record(uow, ref_id: str, who: Reader, now: datetime, remote_addr: str | None, ref: MediationReference):
    """The confidential record (statement, parties, sessions with minutes, agreement, history). Every attempt is
    audited, the refused ones too, before the answer is given."""
    with uow:
        dispute = _load(uow, ref_id, for_update=False)
        granted = dispute.may_read(who, ref.catalogue.channel(dispute.channel_code))
        uow.audit.record_read(
            dispute.dispute_id, "record", who.user_id, who.role or who.kind, granted, remote_addr, now
        )
        uow.commit()
        if not granted:
            raise AccessDenied(f"{who.user_id} may not read the record of {dispute.case_code}")
        return dispute, uow.sessions.of_dispute(dispute.dispute_id)


def audit_of(uow, ref_id: str) -> list[dict]:
    with uow:
        dispute = _load(uow, ref_id, for_update=False)
        return uow.audit.reads_of(dispute.dispute_id)
