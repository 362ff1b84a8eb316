"""The read model in and out of the database: recorded events, case summaries and the console's action log.

`scope` is an organisation-code prefix (a sub-centre's 9 digits, a community's 12…): a query with a scope returns
only what lies inside it; None means the whole district.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import TextClause, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from console.adapters.orm import actions, cases, events
from console.domain.cases import OPEN_STATES, CaseSummary, RecordedEvent
from console.domain.figures import CaseTally
from gridlink.contracts import Envelope, contract_for
from gridlink.runtime.db import UnitOfWork, as_utc, insert_all, numbered, update_all, upsert

_CASE_FIELDS = [f.name for f in fields(CaseSummary)]
_TIMES = [c.name for c in cases.columns if c.type.python_type is datetime]

# The statements of recording an event, built once: each execution only binds its values, and SQLAlchemy finds
# the compiled form by a cache key it no longer has to work out from a freshly built statement. (An event alone is
# stored by `insert_all`: `insert(events)` would read back its seq, which keeps it off the session's direct path.)
# A newer event of a known case and the columns it changed, in one statement (PostgreSQL runs an INSERT inside a
# WITH even though nothing reads it): most events only move a case along, and each statement saved is a round
# trip and SQLAlchemy's per-execution work. The event's values are bound as event_<column>; the case's as now.
_EVENT_VALUES = {c.name: bindparam(f"event_{c.name}") for c in events.columns if c.name != "seq"}
_EVENTS_OF = select(events).where(events.c.correlation_id == bindparam("key")).order_by(events.c.seq)
_FILL_GRID = (
    update(events)
    .where(events.c.correlation_id == bindparam("key"), events.c.grid_code.is_(None))
    .values(grid_code=bindparam("grid"))
)
_CASE = select(cases).where(cases.c.correlation_id == bindparam("key"))
_CASE_FOR_UPDATE = _CASE.with_for_update()
# In one order, so that two workers locking overlapping sets of cases wait for each other rather than deadlock.
_CASES_FOR_UPDATE = (
    select(cases)
    .where(cases.c.correlation_id.in_(bindparam("keys", expanding=True)))
    .order_by(cases.c.correlation_id)
    .with_for_update()
)
# Sets the columns the parameters name: what changed (see `CaseRepository.update`).
_UPDATE_CASE = update(cases).where(cases.c.correlation_id == bindparam("key"))
_ADD_EVENT_AND_UPDATE_CASE = _UPDATE_CASE.add_cte(insert(events).values(_EVENT_VALUES).cte("recorded"))
# Cached text (a dialect's ON CONFLICT insert is compiled afresh on every execution; see `upsert`).
_ADD_CASE = upsert(cases, ("correlation_id",))


@cache
def _add_blank(rows: int) -> TextClause:
    """`rows` blank cases at once, returning the ids inserted; one cached statement per batch size."""
    return upsert(cases, ("correlation_id",), rows=rows, returning=("correlation_id",))


class EventRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, envelope: Envelope, grid_code: str | None, now: datetime, case_changes: dict | None = None) -> None:
        """Store the event; with `case_changes` (see `CaseRepository.changes`), also write them to its case."""
        values = _event_values(envelope, grid_code, now)
        if case_changes and self.session.get_bind().dialect.name == "postgresql":
            event_values = {f"event_{name}": value for name, value in values.items()}
            self.session.execute(_ADD_EVENT_AND_UPDATE_CASE, {**event_values, **case_changes})
            return
        insert_all(self.session, events, [values])
        if case_changes:
            self.session.execute(_UPDATE_CASE, case_changes)

    def add_all(self, arrived: list[tuple[Envelope, str | None]], now: datetime) -> None:
        """Store several events (each with its grid code) in one statement."""
        insert_all(self.session, events, [_event_values(envelope, grid_code, now) for envelope, grid_code in arrived])

    def for_correlation(self, correlation_id: str) -> list[RecordedEvent]:
        return [_event(row) for row in self.session.execute(_EVENTS_OF, {"key": correlation_id}).mappings()]

    def fill_grid(self, correlation_id: str, grid_code: str) -> None:
        """Events that arrived before the report learn its grid, so scoped boards show them."""
        self.session.execute(_FILL_GRID, {"key": correlation_id, "grid": grid_code})

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

    def get(self, correlation_id: str) -> CaseSummary | None:
        row = self.session.execute(_CASE, {"key": correlation_id}).mappings().first()
        return _case(row) if row else None

    def get_for_update(self, correlation_id: str) -> CaseSummary | None:
        """The case, locked until commit so that two of its events handled at once by two workers fold one after
        the other. No row means no lock: `add` then tells whether another worker created the case meanwhile.
        SQLite needs no lock: it admits one writer at a time, and the inbox row was written before this read."""
        row = self.session.execute(_CASE_FOR_UPDATE, {"key": correlation_id}).mappings().first()
        return _case(row) if row else None

    def all_for_update(self, correlation_ids: list[str]) -> dict[str, CaseSummary]:
        """`get_for_update` of several cases in one statement: those that exist, by correlation id."""
        rows = self.session.execute(_CASES_FOR_UPDATE, {"keys": correlation_ids}).mappings()
        return {row["correlation_id"]: _case(row) for row in rows}

    def add(self, case: CaseSummary) -> bool:
        """Insert a new case; False, and nothing written, when a case with its correlation_id exists already."""
        return self.session.execute(_ADD_CASE, _row(case)).rowcount == 1

    def add_blank(self, correlation_ids: list[str]) -> set[str]:
        """Insert a blank case (`CaseSummary(correlation_id)`, as a fold starts from) for each id that has none, in
        one statement and in the order given; the ids it inserted. An id another worker is inserting at that moment
        waits for it to commit, and is then found, not inserted."""
        rows = [_row(CaseSummary(key)) for key in correlation_ids]
        params = numbered(rows) if len(rows) > 1 else rows[0]
        return set(self.session.execute(_add_blank(len(rows)), params).scalars())

    def update(self, case: CaseSummary, stored: CaseSummary) -> None:
        self.update_all([(case, stored)])

    def update_all(self, updates: list[tuple[CaseSummary, CaseSummary]]) -> None:
        """`update` of several (case, stored) pairs, each case once. On PostgreSQL the cases that changed the same
        columns are written in one statement: in a batch most change only `last_event_at` (a notification each),
        and each statement saved is a round trip. SQLite takes a statement a case."""
        alike: dict[tuple[str, ...], list[dict]] = {}
        for case, stored in updates:
            changes = self.changes(case, stored)
            if changes:
                alike.setdefault(tuple(name for name in changes if name != "key"), []).append(changes)
        together = self.session.get_bind().dialect.name == "postgresql"
        for columns, rows in alike.items():
            if together and len(rows) > 1:
                keyed = [{"_correlation_id": row.pop("key"), **row} for row in rows]
                update_all(self.session, cases, "correlation_id", columns, keyed)
            else:
                for row in rows:
                    self.session.execute(_UPDATE_CASE, row)

    @staticmethod
    def changes(case: CaseSummary, stored: CaseSummary) -> dict | None:
        """What differs from `stored`, the row as read under its lock, as the parameters of an update (None: nothing):
        most events move only a field or two (a notification only `last_event_at`), and binding all thirty for each
        costs more than the comparison."""
        values = {name: value for name, value in _row(case).items() if value != getattr(stored, name)}
        return {**values, "key": case.correlation_id} if values else None

    def find(
        self,
        scope: str | None,
        grid_code: str | None = None,
        open_only: bool = False,
        attention_only: bool = False,
        limit: int | None = None,
        reported: tuple[datetime, datetime] | None = None,
    ) -> list[CaseSummary]:
        """Cases in scope, newest first; `reported`: only those reported from its first moment to before its
        second."""
        query = _scoped(select(cases), cases.c.grid_code, scope)
        if grid_code:
            query = query.where(cases.c.grid_code == grid_code)
        if open_only:
            query = query.where(cases.c.state.in_(OPEN_STATES))
        if attention_only:
            query = query.where(cases.c.overdue.is_(True) | cases.c.due_soon.is_(True))
        if reported is not None:
            query = query.where(cases.c.reported_at >= reported[0], cases.c.reported_at < reported[1])
        query = query.order_by(cases.c.reported_at.desc())
        if limit:
            query = query.limit(limit)
        return [_case(row) for row in self.session.execute(query).mappings()]

    def tallies(self, scope: str | None) -> list[CaseTally]:
        """The cases in scope, counted by what the map shows of them, one row per kind: the database counts."""
        alike = (cases.c.grid_code, cases.c.state, cases.c.overdue, cases.c.due_soon, cases.c.rating)
        query = _scoped(select(*alike, func.count()), cases.c.grid_code, scope).group_by(*alike)
        return [CaseTally(*row) for row in self.session.execute(query)]


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


def _event_values(envelope: Envelope, grid_code: str | None, now: datetime) -> dict:
    return {
        "event_id": envelope.event_id,
        "type": envelope.type,
        "version": envelope.version,
        "source": envelope.source,
        "correlation_id": envelope.correlation_id,
        "occurred_at": envelope.occurred_at,
        "received_at": now,
        "grid_code": grid_code,
        # Stored as it arrived: the payload passed its contract then, so it is not validated again.
        "payload": json.dumps(
            contract_for(envelope.type, envelope.version).serialise(envelope.payload), ensure_ascii=False
        ),
    }


def _row(case: CaseSummary) -> dict:
    return {name: getattr(case, name) for name in _CASE_FIELDS}


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
