"""Dispute cases, their parties, sessions and bookings, and the audit of confidential reads, in and out of the
database as domain objects."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from gridlink.runtime.db import UnitOfWork, as_utc
from mediation.adapters.orm import bookings, confidential_reads, disputes, parties, sessions
from mediation.domain.errors import BookingConflict
from mediation.domain.model import DisputeCase, Party, Stint
from mediation.domain.sessions import Session

_COLUMNS = [c.name for c in disputes.columns]
_JSON_COLUMNS = ("path", "agreement", "history")
_STINT_TIMES = ("referred_at", "due_at", "accepted_at", "ended_at")


def _dump_stint(stint: Stint) -> dict[str, Any]:
    values = asdict(stint)
    for name in _STINT_TIMES:
        values[name] = values[name].isoformat() if values[name] else None
    return values


def _load_stint(values: dict[str, Any]) -> Stint:
    for name in _STINT_TIMES:
        values[name] = datetime.fromisoformat(values[name]) if values[name] else None
    return Stint(**values)


def _row_of(dispute: DisputeCase) -> dict[str, Any]:
    row = {c: getattr(dispute, c) for c in _COLUMNS if c not in _JSON_COLUMNS}
    row["path"] = json.dumps([_dump_stint(s) for s in dispute.path], ensure_ascii=False)
    row["agreement"] = json.dumps(dispute.agreement, ensure_ascii=False) if dispute.agreement else None
    row["history"] = json.dumps(dispute.history, ensure_ascii=False, default=str)
    return row


class DisputeRepository:
    def __init__(self, session: DbSession):
        self.session = session

    def add(self, dispute: DisputeCase) -> None:
        self.session.execute(insert(disputes).values(**_row_of(dispute)))
        self._save_parties(dispute)

    def save(self, dispute: DisputeCase) -> None:
        row = _row_of(dispute)
        self.session.execute(update(disputes).where(disputes.c.dispute_id == dispute.dispute_id).values(**row))
        self._save_parties(dispute)

    def _save_parties(self, dispute: DisputeCase) -> None:
        for seq, party in enumerate(dispute.parties, start=1):
            values = {f.name: getattr(party, f.name) for f in fields(Party)}
            done = self.session.execute(
                update(parties).where(parties.c.party_id == party.party_id).values(**values, seq=seq)
            )
            if done.rowcount == 0:
                self.session.execute(insert(parties).values(**values, dispute_id=dispute.dispute_id, seq=seq))

    def get(self, dispute_id: str, for_update: bool = False) -> DisputeCase | None:
        return self._one(disputes.c.dispute_id == dispute_id, for_update)

    def by_case(self, case_id: str) -> DisputeCase | None:
        return self._one(disputes.c.case_id == case_id)

    def find(self, ref: str, for_update: bool = False) -> DisputeCase | None:
        """By dispute id, dispatch case id or case code: whichever the caller has."""
        return (
            self._one(disputes.c.dispute_id == ref, for_update)
            or self._one(disputes.c.case_id == ref, for_update)
            or self._one(disputes.c.case_code == ref, for_update)
        )

    def party_by_key(self, key_hash: str) -> tuple[str, str] | None:
        row = self.session.execute(
            select(parties.c.dispute_id, parties.c.party_id).where(parties.c.key_hash == key_hash)
        ).first()
        return (row.dispute_id, row.party_id) if row else None

    def list(self, limit: int = 100, state: str | None = None, channel: str | None = None) -> list[DisputeCase]:
        query = select(disputes).order_by(disputes.c.opened_at.desc()).limit(limit)
        if state:
            query = query.where(disputes.c.state == state)
        if channel:
            query = query.where(disputes.c.channel_code == channel)
        return [self._load(r) for r in self.session.execute(query).mappings()]

    def _one(self, condition, for_update: bool = False) -> DisputeCase | None:
        query = select(disputes).where(condition)
        if for_update:
            query = query.with_for_update()
        row = self.session.execute(query).mappings().first()
        return self._load(row) if row else None

    def _load(self, row) -> DisputeCase:
        values = dict(row)
        values["opened_at"] = as_utc(values["opened_at"])
        values["deadline_at"] = as_utc(values["deadline_at"])
        values["path"] = [_load_stint(s) for s in json.loads(values["path"])]
        values["agreement"] = json.loads(values["agreement"]) if values["agreement"] else None
        values["history"] = json.loads(values["history"])
        party_rows = self.session.execute(
            select(parties).where(parties.c.dispute_id == values["dispute_id"]).order_by(parties.c.seq)
        ).mappings()
        values["parties"] = [
            Party(**{f.name: r[f.name] for f in fields(Party)} | {"consent_at": as_utc(r["consent_at"])})
            for r in party_rows
        ]
        return DisputeCase(**values)


_SESSION_FIELDS = [f.name for f in fields(Session) if f.name != "events"]


class SessionRepository:
    def __init__(self, session: DbSession):
        self.session = session

    def add(self, booked: Session, slot_minutes: int) -> None:
        """Insert the session and every slot it occupies. The slots' primary key refuses a double booking even when
        two replicas check at the same instant; that refusal becomes a BookingConflict (the unit of work is then
        rolled back as a whole)."""
        values = {f: getattr(booked, f) for f in _SESSION_FIELDS}
        values["attendance"] = json.dumps(booked.attendance)
        self.session.execute(insert(sessions).values(**values))
        slots = booked.slots(slot_minutes)
        try:
            if slots:
                self.session.execute(
                    insert(bookings),
                    [{"resource": r, "slot_start": at, "session_id": booked.session_id} for r, at in slots],
                )
            self.session.flush()
        except IntegrityError:
            raise BookingConflict("the room or the mediator was booked for that time a moment ago") from None

    def conflicts(self, candidate: Session, slot_minutes: int) -> list[str]:
        """Which of the candidate's resources are already booked for part of its time (the friendly check)."""
        taken = set()
        for resource, at in candidate.slots(slot_minutes):
            hit = self.session.execute(
                select(bookings.c.session_id).where(and_(bookings.c.resource == resource, bookings.c.slot_start == at))
            ).first()
            if hit:
                taken.add(resource)
        return sorted(taken)

    def save(self, booked: Session) -> None:
        self.session.execute(
            update(sessions)
            .where(sessions.c.session_id == booked.session_id)
            .values(state=booked.state, attendance=json.dumps(booked.attendance), minutes=booked.minutes)
        )

    def get(self, session_id: str) -> Session | None:
        row = self.session.execute(select(sessions).where(sessions.c.session_id == session_id)).mappings().first()
        return _load_session(row) if row else None

    def of_dispute(self, dispute_id: str) -> list[Session]:
        rows = self.session.execute(
            select(sessions).where(sessions.c.dispute_id == dispute_id).order_by(sessions.c.starts_at)
        ).mappings()
        return [_load_session(r) for r in rows]


def _load_session(row) -> Session:
    values = {f: row[f] for f in _SESSION_FIELDS}
    for name in ("starts_at", "ends_at", "scheduled_at"):
        values[name] = as_utc(values[name])
    values["attendance"] = json.loads(values["attendance"])
    return Session(**values)


class AuditRepository:
    def __init__(self, session: DbSession):
        self.session = session

    def record_read(
        self, dispute_id: str, record: str, reader: str, role: str, granted: bool, remote_addr: str | None, at: datetime
    ) -> None:
        self.session.execute(
            insert(confidential_reads).values(
                dispute_id=dispute_id,
                record=record,
                reader=reader,
                reader_role=role,
                granted=granted,
                remote_addr=remote_addr,
                at=at,
            )
        )

    def reads_of(self, dispute_id: str) -> list[dict[str, Any]]:
        rows = self.session.execute(
            select(confidential_reads)
            .where(confidential_reads.c.dispute_id == dispute_id)
            .order_by(confidential_reads.c.id)
        ).mappings()
        return [{**dict(r), "at": as_utc(r["at"]).isoformat()} for r in rows]


class MediationUnitOfWork(UnitOfWork):
    disputes: DisputeRepository
    sessions: SessionRepository
    audit: AuditRepository

    def _open_repositories(self, session: DbSession) -> None:
        self.disputes = DisputeRepository(session)
        self.sessions = SessionRepository(session)
        self.audit = AuditRepository(session)
