"""Mediation sessions: in a function room of the centre or online, on a half-hour grid so that bookings can be
checked slot by slot, by the domain for a clear answer and by a unique index in the database as the guarantee."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mediation.domain.channels import Catalogue
from mediation.domain.errors import InvalidRequest, UnknownReference, WrongState
from mediation.domain.model import DisputeCase

MAX_LENGTH = timedelta(hours=8)


@dataclass
class Session:
    session_id: str
    dispute_id: str
    channel_code: str
    starts_at: datetime
    ends_at: datetime
    online: bool
    room_code: str | None
    mediator_id: str | None
    state: str  # scheduled | held | cancelled
    scheduled_at: datetime
    attendance: dict[str, bool] = field(default_factory=dict)
    minutes: str | None = None
    partner_ref: str | None = None
    events: list[tuple[str, dict]] = field(default_factory=list)

    def slots(self, slot_minutes: int) -> list[tuple[str, datetime]]:
        """Every (resource, slot start) this session occupies: its room and its mediator, slot by slot."""
        step = timedelta(minutes=slot_minutes)
        resources = [
            r
            for r in (
                f"room:{self.room_code}" if self.room_code else None,
                f"mediator:{self.mediator_id}" if self.mediator_id else None,
            )
            if r
        ]
        taken, at = [], self.starts_at
        while at < self.ends_at:
            taken.extend((resource, at) for resource in resources)
            at += step
        return taken

    def record(self, attendance: dict[str, bool], minutes: str, dispute: DisputeCase) -> None:
        if self.state != "scheduled":
            raise WrongState(f"session {self.session_id} is {self.state}")
        for party_id in attendance:
            dispute.party(party_id)
        if not minutes or not minutes.strip():
            raise InvalidRequest("a held session needs its minutes")
        self.attendance, self.minutes, self.state = dict(attendance), minutes.strip(), "held"


def plan_session(
    dispute: DisputeCase,
    catalogue: Catalogue,
    rooms: set[str],
    *,
    starts_at: datetime,
    ends_at: datetime,
    online: bool,
    now: datetime,
    room_code: str | None = None,
    mediator_id: str | None = None,
    partner_ref: str | None = None,
) -> Session:
    """Check a session request against the case, the channel, the rooms and the clock; conflicts are checked by the
    caller against the bookings already made."""
    if dispute.state != "accepted":
        raise WrongState(f"dispute {dispute.case_code} is {dispute.state}; sessions need an accepted case")
    channel = catalogue.channel(dispute.channel_code)
    step = timedelta(minutes=catalogue.slot_minutes)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidRequest("give session times with their UTC offset, e.g. 2026-12-01T09:00:00+08:00")
    if ends_at <= starts_at:
        raise InvalidRequest("a session ends after it starts")
    if ends_at - starts_at > MAX_LENGTH:
        raise InvalidRequest("a session lasts at most 8 hours")
    if starts_at <= now:
        raise InvalidRequest("a session is booked for a time still to come")
    for moment in (starts_at, ends_at):
        if (moment - datetime(2000, 1, 1, tzinfo=moment.tzinfo)) % step:
            raise InvalidRequest(f"sessions start and end on the {catalogue.slot_minutes}-minute grid")
    if partner_ref is None:
        if channel.partner:
            raise WrongState(f"{channel.code} is run by {channel.partner}; it schedules its own sessions")
        if mediator_id is None:
            raise InvalidRequest("an in-centre session needs its mediator")
        mediator = catalogue.mediators.get(mediator_id)
        if mediator is None:
            raise UnknownReference(f"no mediator {mediator_id!r}")
        if channel.code not in mediator.channels:
            raise InvalidRequest(f"mediator {mediator_id} does not serve {channel.code}")
    if online:
        dispute.require_online_consent()
        room_code = catalogue.online_room if partner_ref is None else room_code
    elif partner_ref is None:
        room_code = room_code or channel.room_code
        if room_code not in rooms:
            raise UnknownReference(f"no function room {room_code!r} in the centre")
    session = Session(
        session_id=str(uuid.uuid4()),
        dispute_id=dispute.dispute_id,
        channel_code=channel.code,
        starts_at=starts_at,
        ends_at=ends_at,
        online=online,
        room_code=room_code,
        mediator_id=mediator_id,
        state="scheduled",
        scheduled_at=now,
        partner_ref=partner_ref,
    )
    session.events.append(
        (
            "session_scheduled",
            {
                "dispute_id": dispute.dispute_id,
                "case_code": dispute.case_code,
                "case_id": dispute.case_id,
                "channel_code": channel.code,
                "session_id": session.session_id,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "online": online,
                "room_code": room_code,
                "mediator_id": mediator_id,
                "party_recipient_ids": [p.recipient_id for p in dispute.parties],
            },
        )
    )
    return session
