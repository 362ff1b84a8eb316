"""The read model in and out of the database: recorded events, case summaries and the console's action log.

`scope` is an organisation-code prefix (a sub-centre's 9 digits, a community's 12…): a query with a scope returns
only what lies inside it; None means the whole district.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from console.adapters.orm import actions, cases, events
from console.domain.cases import OPEN_STATES, CaseSummary, RecordedEvent
from gridlink.contracts import Envelope, contract_for
from gridlink.runtime.db import UnitOfWork, as_utc

_CASE_FIELDS = [f.name for f in fields(CaseSummary)]
_TIMES = [c.name for c in cases.columns if c.type.python_type is datetime]


class EventRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, envelope: Envelope, grid_code: str | None, now: datetime) -> None:
        wire = contract_for(envelope.type, envelope.version).dump(envelope.payload)
        self.session.execute(
            insert(events).values(
                event_id=envelope.event_id,
                type=envelope.type,
                version=envelope.version,
                source=envelope.source,
                correlation_id=envelope.correlation_id,
                occurred_at=envelope.occurred_at,
                received_at=now,
                grid_code=grid_code,
                payload=json.dumps(wire, ensure_ascii=False),
            )
        )

    def for_correlation(self, correlation_id: str) -> list[RecordedEvent]:
        query = select(events).where(events.c.correlation_id == correlation_id).order_by(events.c.seq)
        return [_event(row) for row in self.session.execute(query).mappings()]

    def fill_grid(self, correlation_id: str, grid_code: str) -> None:
        """Events that arrived before the report learn its grid, so scoped boards show them."""
        self.session.execute(
            update(events)
            .where(events.c.correlation_id == correlation_id, events.c.grid_code.is_(None))
            .values(grid_code=grid_code)
        )

    def since(self, after_seq: int, scope: str | None, limit: int = 200) -> list[RecordedEvent]:
        query = select(events).where(events.c.seq > after_seq)
        query = _scoped(query, events.c.grid_code, scope).order_by(events.c.seq).limit(limit)
        return [_event(row) for row in self.session.execute(query).mappings()]

    def recent(self, scope: str | None, limit: int = 50) -> list[RecordedEvent]:
        query = _scoped(select(events), events.c.grid_code, scope).order_by(events.c.seq.desc()).limit(limit)
        return [_event(row) for row in self.session.execute(query).mappings()]

    def last_seq(self) -> int:
        return self.session.execute(select(func.max(events.c.seq))).scalar() or 0


class CaseRepository:
    def __init__(self, session: Session):
        self.session = session

    def lock(self, correlation_id: str) -> None:
        """Serialise the refolds of one case until commit, so two of its events handled at once by two workers
        cannot each miss the other. SQLite needs nothing: it admits one writer at a time, and the event's insert
        comes before the read of the case's events."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"case:{correlation_id}"}
            )

    def save(self, case: CaseSummary) -> None:
        values = {name: getattr(case, name) for name in _CASE_FIELDS}
        exists = self.session.execute(
            select(cases.c.correlation_id).where(cases.c.correlation_id == case.correlation_id)
        ).first()
        if exists:
            self.session.execute(update(cases).where(cases.c.correlation_id == case.correlation_id).values(**values))
        else:
            self.session.execute(insert(cases).values(**values))

    def get(self, correlation_id: str) -> CaseSummary | None:
        row = self.session.execute(select(cases).where(cases.c.correlation_id == correlation_id)).mappings().first()
        return _case(row) if row else None

    def find(
        self,
        scope: str | None,
        grid_code: str | None = None,
        open_only: bool = False,
        attention_only: bool = False,
        limit: int | None = None,
    ) -> list[CaseSummary]:
        query = _scoped(select(cases), cases.c.grid_code, scope)
        if grid_code:
            query = query.where(cases.c.grid_code == grid_code)
        if open_only:
            query = query.where(cases.c.state.in_(OPEN_STATES))
        if attention_only:
            query = query.where(cases.c.overdue.is_(True) | cases.c.due_soon.is_(True))
        query = query.order_by(cases.c.reported_at.desc())
        if limit:
            query = query.limit(limit)
        return [_case(row) for row in self.session.execute(query).mappings()]


class ActionRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, **values) -> None:
        self.session.execute(insert(actions).values(**values))

    def for_correlation(self, correlation_id: str) -> list[dict]:
        query = select(actions).where(actions.c.correlation_id == correlation_id).order_by(actions.c.id)
        rows = [dict(r) for r in self.session.execute(query).mappings()]
        for row in rows:
            row["at"] = as_utc(row["at"])
        return rows


def _scoped(query, column, scope: str | None):
    return query if scope is None else query.where(column.startswith(scope, autoescape=True))


def _event(row) -> RecordedEvent:
    payload = contract_for(row["type"], row["version"]).load(json.loads(row["payload"]))
    return RecordedEvent(
        seq=row["seq"],
        event_id=row["event_id"],
        type=row["type"],
        source=row["source"],
        correlation_id=row["correlation_id"],
        occurred_at=as_utc(row["occurred_at"]),
        payload=payload,
        grid_code=row["grid_code"],
    )


def _case(row) -> CaseSummary:
    values = {name: row[name] for name in _CASE_FIELDS}
    for name in _TIMES:
        values[name] = as_utc(values[name])
    return CaseSummary(**values)


class ConsoleUnitOfWork(UnitOfWork):
    events: EventRepository
    cases: CaseRepository
    actions: ActionRepository

    def _open_repositories(self, session: Session) -> None:
        self.events = EventRepository(session)
        self.cases = CaseRepository(session)
        self.actions = ActionRepository(session)


def utcnow() -> datetime:
    return datetime.now(UTC)
