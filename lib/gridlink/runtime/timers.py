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
from typing import Any

from sqlalchemy import Table, and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from gridlink.runtime import metrics

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


def schedule(
    session: Session,
    table: Table,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any],
    correlation_id: str | None = None,
) -> None:
    """Set (or move) the timer `kind`/`key`. Moving a fired timer re-arms it."""
    values = {
        "due_at": due_at,
        "payload": json.dumps(payload, ensure_ascii=False, default=str),
        "correlation_id": correlation_id,
        "fired_at": None,
        "claimed_by": None,
        "claim_expires_at": None,
        "attempts": 0,
        "last_error": None,
    }
    updated = session.execute(update(table).where(table.c.kind == kind, table.c.key == key).values(**values))
    if updated.rowcount == 0:
        session.execute(insert(table).values(kind=kind, key=key, **values))


def cancel(session: Session, table: Table, kind: str, key: str) -> None:
    session.execute(delete(table).where(table.c.kind == kind, table.c.key == key, table.c.fired_at.is_(None)))


TimerHandler = Callable[[Any, Timer], None]


class TimerScanner:
    def __init__(self, database, handlers: dict[str, TimerHandler], owner: str, batch: int = 100):
        self.database = database
        self.table: Table = database.metadata.tables["timers"]
        self.handlers = handlers
        self.owner = owner
        self.batch = batch
        self.lease = timedelta(seconds=60)

    def _claim(self, now: datetime) -> list[int]:
        t = self.table
        with self.database.session_factory() as session, session.begin():
            due = (
                select(t.c.id)
                .where(t.c.fired_at.is_(None), t.c.due_at <= now, t.c.kind.in_(list(self.handlers)))
                .where(or_(t.c.claim_expires_at.is_(None), t.c.claim_expires_at < now))
                .order_by(t.c.due_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            ids = list(session.scalars(due))
            if ids:
                session.execute(
                    update(t)
                    .where(t.c.id.in_(ids))
                    .values(claimed_by=self.owner, claim_expires_at=now + self.lease, attempts=t.c.attempts + 1)
                )
        return ids

    def fire_due(self, now: datetime | None = None) -> int:
        """Fire every due timer this replica can claim; returns how many fired."""
        now = now or datetime.now(UTC)
        fired = 0
        for timer_id in self._claim(now):
            if self._fire(timer_id, now):
                fired += 1
        return fired

    def _fire(self, timer_id: int, now: datetime) -> bool:
        t = self.table
        try:
            with self.database.uow() as uow:
                row = (
                    uow.session.execute(
                        select(t)
                        .where(and_(t.c.id == timer_id, t.c.fired_at.is_(None), t.c.claimed_by == self.owner))
                        .with_for_update()
                    )
                    .mappings()
                    .first()
                )
                if row is None:
                    return False  # re-armed or cancelled since the claim
                timer = Timer(
                    id=row["id"],
                    kind=row["kind"],
                    key=row["key"],
                    due_at=row["due_at"] if row["due_at"].tzinfo else row["due_at"].replace(tzinfo=UTC),
                    payload=json.loads(row["payload"]),
                    correlation_id=row["correlation_id"],
                    attempts=row["attempts"],
                )
                # Marked fired in the handler's own transaction: the effect and the mark commit together.
                uow.session.execute(update(t).where(t.c.id == timer_id).values(fired_at=now, claimed_by=None))
                self.handlers[timer.kind](uow, timer)
            metrics.TIMERS_FIRED.labels(timer.kind).inc()
            return True
        except Exception as exc:
            log.exception("timer handler failed; will retry", extra={"fields": {"timer_id": timer_id}})
            metrics.TIMER_FAILURES.inc()
            self._release(timer_id, repr(exc), now)
            return False

    def _release(self, timer_id: int, error: str, now: datetime) -> None:
        t = self.table
        with self.database.session_factory() as session, session.begin():
            attempts = session.execute(select(t.c.attempts).where(t.c.id == timer_id)).scalar_one_or_none() or 1
            backoff = min(timedelta(seconds=2**attempts), MAX_BACKOFF)
            session.execute(
                update(t).where(t.c.id == timer_id).values(claim_expires_at=now + backoff, last_error=error[:2000])
            )
