"""The outbox relay: claims pending rows, publishes them with confirms, and marks them sent.

Rows are claimed with a lease (`claimed_by`, `claim_expires_at`) under `FOR UPDATE SKIP LOCKED`, then published
outside any transaction. Two replicas never publish the same row at once; a replica that dies mid-batch leaves
its lease to expire and another publishes the rest. A publish that succeeded but was not marked (death in between)
is sent again, which consumers absorb because they are idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.orm import sessionmaker

from gridlink.runtime import metrics
from gridlink.runtime.bus import Bus, UndeliverableMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    oldest_age_seconds: float


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker,
        outbox: Table,
        bus: Bus,
        owner: str,
        batch: int = 200,
        lease: timedelta = timedelta(seconds=30),
    ):
        self.session_factory = session_factory
        self.outbox = outbox
        self.bus = bus
        self.owner = owner
        self.batch = batch
        self.lease = lease

    def _claim(self) -> list:
        now = datetime.now(UTC)
        t = self.outbox
        with self.session_factory() as session, session.begin():
            due = (
                select(t.c.id)
                .where(t.c.published_at.is_(None))
                .where(or_(t.c.claim_expires_at.is_(None), t.c.claim_expires_at < now))
                .order_by(t.c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            ids = list(session.scalars(due))
            if not ids:
                return []
            session.execute(
                update(t)
                .where(t.c.id.in_(ids))
                .values(claimed_by=self.owner, claim_expires_at=now + self.lease, attempts=t.c.attempts + 1)
            )
        with self.session_factory() as session:
            rows = session.execute(
                select(t.c.id, t.c.event_id, t.c.event_type, t.c.exchange, t.c.correlation_id, t.c.body, t.c.created_at)
                .where(and_(t.c.id.in_(ids), t.c.claimed_by == self.owner, t.c.published_at.is_(None)))
                .order_by(t.c.id)
            ).all()
        return rows

    def _mark(self, ids: list[int], unroutable: bool = False) -> None:
        if not ids:
            return
        with self.session_factory() as session, session.begin():
            session.execute(
                update(self.outbox)
                .where(self.outbox.c.id.in_(ids))
                .values(published_at=datetime.now(UTC), unroutable=unroutable, claimed_by=None, claim_expires_at=None)
            )

    def _release(self, row_id: int, error: str) -> None:
        """Give a failed row back soon rather than at lease expiry, with the error kept for the operator."""
        with self.session_factory() as session, session.begin():
            session.execute(
                update(self.outbox)
                .where(self.outbox.c.id == row_id)
                .values(claim_expires_at=datetime.now(UTC) + timedelta(seconds=2), last_error=error[:2000])
            )

    def relay_once(self) -> int:
        """Publish one batch; returns how many rows were handled. Stops at the first broker failure."""
        rows = self._claim()
        sent: list[int] = []
        unroutable: list[int] = []
        try:
            for row in rows:
                try:
                    self.bus.publish_event(
                        row.exchange, row.event_type, row.body.encode("utf-8"), row.event_id, row.correlation_id
                    )
                except UndeliverableMessage:
                    # No queue is bound for this type: nobody subscribes yet. Kept as a row, counted and logged.
                    log.warning(
                        "event unroutable: no queue bound",
                        extra={"fields": {"event_type": row.event_type, "event_id": row.event_id}},
                    )
                    metrics.OUTBOX_UNROUTABLE.labels(row.event_type).inc()
                    unroutable.append(row.id)
                    continue
                except Exception as exc:
                    log.warning(
                        "publish failed; will retry",
                        extra={"fields": {"event_type": row.event_type, "error": repr(exc)}},
                    )
                    self._release(row.id, repr(exc))
                    metrics.OUTBOX_PUBLISH_FAILURES.inc()
                    break
                sent.append(row.id)
                metrics.OUTBOX_PUBLISHED.labels(row.event_type).inc()
                created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
                metrics.OUTBOX_LAG.observe(max(0.0, (datetime.now(UTC) - created).total_seconds()))
        finally:
            self._mark(sent)
            self._mark(unroutable, unroutable=True)
        return len(sent) + len(unroutable)

    def stats(self) -> OutboxStats:
        t = self.outbox
        with self.session_factory() as session:
            count, oldest = session.execute(
                select(func.count(t.c.id), func.min(t.c.created_at)).where(t.c.published_at.is_(None))
            ).one()
        if oldest is None:
            return OutboxStats(0, 0.0)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return OutboxStats(count, max(0.0, (datetime.now(UTC) - oldest).total_seconds()))
