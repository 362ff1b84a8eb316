"""Durable timers: deadlines, reminders, delayed retries and quiet hours are rows, not sleeping threads.

A unit of work schedules a timer in the same transaction as the change that needs it. A scanner in every replica
claims due rows under `FOR UPDATE SKIP LOCKED` with a lease, and fires each in its own unit of work that also marks
it fired, so a timer's effect happens once even with several replicas, and survives restarts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import groupby
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from gridlink.runtime import metrics
from gridlink.runtime.db import as_utc, numbered, upsert
from gridlink.runtime.leases import claim_due

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    correlation_id: str | None
    attempts: int


def timer_row(
    kind: str, key: str, due_at: datetime, payload: dict[str, Any], correlation_id: str | None = None
) -> dict[str, Any]:
    """The row that sets (or moves) the timer `kind`/`key`. Moving a fired timer re-arms it."""
    return {
        "kind": kind,
        "key": key,
        "due_at": due_at,
        "payload": json.dumps(payload, ensure_ascii=False, default=str),
        "correlation_id": correlation_id,
        "fired_at": None,
        "claimed_by": None,
        "claim_expires_at": None,
        "attempts": 0,
        "last_error": None,
    }


def write(session: Session, table: Table, changes: list[tuple[str, dict[str, Any]]]) -> None:
    """Apply timer changes ("schedule" with a `timer_row`, "cancel" with kind and key) in their order, each run of
    schedules in one statement and each run of cancels in another. Within a run of schedules the last for a timer
    wins, as it would have one statement after another."""
    statements = _statements(table)
    for change, run in groupby(changes, key=lambda item: item[0]):
        params = [p for _, p in run]
        if change == "schedule":
            rows = list({(p["kind"], p["key"]): p for p in params}.values())
            if len(rows) == 1:
                session.execute(statements.schedule, rows[0])
            else:
                session.execute(_schedule_many(table, len(rows)), numbered(rows))
        elif len(params) == 1:
            session.execute(statements.cancel, params[0])
        else:
            session.execute(statements.cancel_many, {"keys": [(p["kind"], p["key"]) for p in params]})


@cache
def _schedule_many(table: Table, rows: int):
    return upsert(table, ("kind", "key"), _UPDATED, rows=rows)


# What a schedule sets on a timer that exists: everything but its identity.
_UPDATED = (
    "due_at",
    "payload",
    "correlation_id",
    "fired_at",
    "claimed_by",
    "claim_expires_at",
    "attempts",
    "last_error",
)


class _Statements:
    """The timer statements of one table, built once and executed with params dicts, so that SQLAlchemy reuses
    their cache keys and compiled forms (they run for most events a service consumes, and on every scan)."""

    def __init__(self, t: Table):
        # ON CONFLICT on the (kind, key) unique constraint: one statement where an UPDATE then an INSERT were two.
        self.schedule = upsert(t, ("kind", "key"), _UPDATED)
        self.cancel = delete(t).where(
            t.c.kind == bindparam("kind"), t.c.key == bindparam("key"), t.c.fired_at.is_(None)
        )
        self.cancel_many = delete(t).where(
            tuple_(t.c.kind, t.c.key).in_(bindparam("keys", expanding=True)), t.c.fired_at.is_(None)
        )
        self.claim = claim_due(
            t,
            and_(
                t.c.fired_at.is_(None), t.c.due_at <= bindparam("now"), t.c.kind.in_(bindparam("kinds", expanding=True))
            ),
            t.c.due_at,
            (t.c.id, t.c.due_at),
        )
        # Marked fired in the handler's own transaction (the effect and the mark commit together), and only while
        # this replica still holds the claim: a timer re-armed or cancelled since then matches nothing. The UPDATE
        # locks the row as the SELECT ... FOR UPDATE it replaces did.
        self.fire = (
            update(t)
            .where(t.c.id == bindparam("timer_id"), t.c.fired_at.is_(None), t.c.claimed_by == bindparam("owner"))
            .values(fired_at=bindparam("now"), claimed_by=None)
            .returning(t.c.kind, t.c.key, t.c.due_at, t.c.payload, t.c.correlation_id, t.c.attempts)
        )


@cache
def _statements(table: Table) -> _Statements:
    return _Statements(table)


TimerHandler = Callable[[Any, Timer], None]


class TimerScanner:
    def __init__(self, database, handlers: dict[str, TimerHandler], owner: str, batch: int = 100):
        self.database = database
        self.table: Table = database.metadata.tables["timers"]
        self.handlers = handlers
        self.owner = owner
        self.batch = batch
        self.lease = timedelta(seconds=60)
        self._statements = _statements(self.table)

    def _claim(self, now: datetime) -> list[int]:
        """Lease up to `batch` due timers in one statement; their ids, the earliest due first."""
        with self.database.session_factory() as session, session.begin():
            rows = session.execute(
                self._statements.claim,
                {
                    "now": now,
                    "kinds": list(self.handlers),
                    "batch": self.batch,
                    "owner": self.owner,
                    "expires": now + self.lease,
                },
            ).all()
        return [row.id for row in sorted(rows, key=lambda row: (as_utc(row.due_at), row.id))]

    def fire_due(self, now: datetime | None = None) -> int:
        """Fire every due timer this replica can claim; returns how many fired."""
        now = now or datetime.now(UTC)
        fired = 0
        for timer_id in self._claim(now):
            if self._fire(timer_id, now):
                fired += 1
        return fired

    def _fire(self, timer_id: int, now: datetime) -> bool:
        try:
            with self.database.uow() as uow:
                row = uow.session.execute(
                    self._statements.fire, {"timer_id": timer_id, "owner": self.owner, "now": now}
                ).first()
                if row is None:
                    return False  # re-armed or cancelled since the claim
                timer = Timer(
                    id=timer_id,
                    kind=row.kind,
                    key=row.key,
                    due_at=as_utc(row.due_at),
                    payload=json.loads(row.payload),
                    correlation_id=row.correlation_id,
                    attempts=row.attempts,
                )
                self.handlers[timer.kind](uow, timer)
            metrics.TIMERS_FIRED.labels(timer.kind).inc()
            return True
        except Exception as exc:
            log.exception("timer handler failed; will retry", extra={"fields": {"timer_id": timer_id}})
            metrics.TIMER_FAILURES.inc()
            self._release(timer_id, repr(exc), now)
            return False

    def lag_seconds(self, now: datetime | None = None) -> float:
        """How long the oldest due timer has waited to fire: 0 while the scanner keeps up. A timer backing off after
        its handler failed is left out (`gridlink_timer_failures_total` counts those)."""
        now = now or datetime.now(UTC)
        t = self.table
        backing_off = and_(t.c.last_error.is_not(None), t.c.claim_expires_at > now)
        with self.database.session_factory() as session:
            oldest = session.execute(
                select(func.min(t.c.due_at)).where(t.c.fired_at.is_(None), t.c.due_at <= now, ~backing_off)
            ).scalar()
        return max(0.0, (now - as_utc(oldest)).total_seconds()) if oldest is not None else 0.0

    def _release(self, timer_id: int, error: str, now: datetime) -> None:
        t = self.table
        with self.database.session_factory() as session, session.begin():
            attempts = session.execute(select(t.c.attempts).where(t.c.id == timer_id)).scalar_one_or_none() or 1
            backoff = min(timedelta(seconds=2**attempts), MAX_BACKOFF)
            session.execute(
                update(t).where(t.c.id == timer_id).values(claim_expires_at=now + backoff, last_error=error[:2000])
            )
