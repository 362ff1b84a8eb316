"""The outbox relay: claims pending rows, publishes them with confirms, and marks them sent.

Rows are claimed with a lease (`claimed_by`, `claim_expires_at`) under `FOR UPDATE SKIP LOCKED`, then published
outside any transaction, as one batch whose confirms are awaited together. Two replicas never publish the same
row at once; a replica that dies mid-batch leaves its lease to expire and another publishes the rest. A publish
that succeeded but was not marked (death in between) is sent again, which consumers absorb because they are
idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.orm import sessionmaker

from gridlink.runtime import metrics
from gridlink.runtime.bus import Bus
from gridlink.runtime.confirms import SENT, UNROUTABLE, Outgoing

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
        """Lease up to `batch` due rows and read them back, in one statement and one transaction."""
        now = datetime.now(UTC)
        t = self.outbox
        due = (
            select(t.c.id)
            .where(t.c.published_at.is_(None))
            .where(or_(t.c.claim_expires_at.is_(None), t.c.claim_expires_at < now))
            .order_by(t.c.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        with self.session_factory() as session, session.begin():
            rows = session.execute(
                update(t)
                .where(t.c.id.in_(due))
                .values(claimed_by=self.owner, claim_expires_at=now + self.lease, attempts=t.c.attempts + 1)
                .returning(
                    t.c.id, t.c.event_id, t.c.event_type, t.c.exchange, t.c.correlation_id, t.c.body, t.c.created_at
                )
            ).all()
        return sorted(rows, key=lambda row: row.id)

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
        self._release_many([row_id], error)

    def _release_many(self, ids: list[int], error: str) -> None:
        """Give failed rows back soon rather than at lease expiry, with the error kept for the operator."""
        if not ids:
            return
        with self.session_factory() as session, session.begin():
            session.execute(
                update(self.outbox)
                .where(self.outbox.c.id.in_(ids))
                .values(claim_expires_at=datetime.now(UTC) + timedelta(seconds=2), last_error=error[:2000])
            )

    def relay_once(self) -> int:
        """Publish one batch; returns how many rows were handled (sent, or marked unroutable).

        The whole batch is published, then its confirms awaited together (`Bus.publish_batch`); each row's own
        outcome decides whether it is marked sent, marked unroutable, or released for the next pass.
        """
        rows = self._claim()
        if not rows:
            return 0
        outcomes, error = self.bus.publish_batch(
            [Outgoing(r.exchange, r.event_type, r.body.encode("utf-8"), r.event_id, r.correlation_id) for r in rows]
        )
        sent: list[int] = []
        unroutable: list[int] = []
        failed: list[int] = []
        now = datetime.now(UTC)
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome == SENT:
                sent.append(row.id)
                metrics.OUTBOX_PUBLISHED.labels(row.event_type).inc()
                created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
                metrics.OUTBOX_LAG.observe(max(0.0, (now - created).total_seconds()))
            elif outcome == UNROUTABLE:
                # No queue is bound for this type: nobody subscribes yet. Kept as a row, counted and logged.
                log.warning(
                    "event unroutable: no queue bound",
                    extra={"fields": {"event_type": row.event_type, "event_id": row.event_id}},
                )
                metrics.OUTBOX_UNROUTABLE.labels(row.event_type).inc()
                unroutable.append(row.id)
            else:
                failed.append(row.id)
        if failed:
            reason = error or "the broker refused the message (nack)"
            log.warning(
                "publish failed; will retry",
                extra={"fields": {"events": len(failed), "error": reason}},
            )
            metrics.OUTBOX_PUBLISH_FAILURES.inc(len(failed))
        self._mark(sent)
        self._mark(unroutable, unroutable=True)
        self._release_many(failed, error or "nacked by the broker")
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
