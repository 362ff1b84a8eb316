"""The outbox relay: publishes pending rows with confirms, and marks them sent.

Rows its own process committed are handed to it in process, already leased (`handoff.py`): they are published
without a claim, and marked in one transaction. The periodic poll (`relay_once`) serves the rest: rows whose
process died before publishing them, and rows written without a hand-off. It claims them with a lease
(`claimed_by`, `claim_expires_at`) under `FOR UPDATE SKIP LOCKED`. Either way rows are published outside any
transaction, as one batch whose confirms are awaited together.

Two replicas never publish the same row at once; a replica that dies mid-batch leaves its lease to expire and
another publishes the rest. A publish that succeeded but was not marked (death in between) is sent again, which
consumers absorb because they are idempotent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ARRAY, Table, any_, bindparam, func, select, update
from sqlalchemy.orm import sessionmaker

from gridlink.runtime import metrics
from gridlink.runtime.audience import Audience
from gridlink.runtime.bus import Bus
from gridlink.runtime.confirms import SENT, UNROUTABLE, Outgoing
from gridlink.runtime.handoff import OutboxHandoff
from gridlink.runtime.leases import claim_due

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
        handoff: OutboxHandoff | None = None,
        mark_delay: float = 0.0,
        audience: Audience | None = None,
    ):
        self.session_factory = session_factory
        self.outbox = outbox
        self.bus = bus
        self.owner = owner
        self.batch = batch
        self.lease = lease
        self.handoff = handoff
        # Sent rows are marked at most `mark_delay` seconds late, several batches in one transaction (see `mark`).
        self.mark_delay = mark_delay
        # Learns from each publish whether anyone listens to the types published for whoever binds them.
        self.audience = audience or Audience(0)
        self._unmarked: dict[bool, list[str]] = {False: [], True: []}  # unroutable? -> event ids
        self._unroutable_logged: set[str] = set()  # event types already logged as unroutable
        self._unmarked_since: float | None = None
        t = outbox
        # Built once: these run for every batch, and SQLAlchemy then reuses their cache keys and compiled forms.
        self._claim_rows = claim_due(
            t,
            t.c.published_at.is_(None),
            t.c.id,
            (t.c.id, t.c.event_id, t.c.event_type, t.c.exchange, t.c.correlation_id, t.c.body, t.c.created_at),
        )
        # By event_id, which is unique (indexed), so handed-off rows need not know their id. On PostgreSQL as one
        # array for any number of ids: the SQL is then the same for every batch, and the session sends it straight
        # to the driver. An expanding IN is new SQL for each length, which the lean session plans one by one, but a
        # batch may have any of OUTBOX_RELAY_BATCH (200) lengths, more than the plans it keeps per statement.
        if session_factory.kw["bind"].dialect.name == "postgresql":
            handled = t.c.event_id == any_(bindparam("event_ids", type_=ARRAY(t.c.event_id.type)))
        else:
            handled = t.c.event_id.in_(bindparam("event_ids", expanding=True))
        self._mark_rows = (
            update(t)
            .where(handled)
            .values(
                published_at=bindparam("now"),
                unroutable=bindparam("unroutable"),
                claimed_by=None,
                claim_expires_at=None,
            )
        )
        self._release_rows = (
            update(t).where(handled).values(claim_expires_at=bindparam("retry_at"), last_error=bindparam("error"))
        )

    def _claim(self) -> list:
        """Lease up to `batch` due rows and read them back, in one statement and one transaction."""
        now = datetime.now(UTC)
        with self.session_factory() as session, session.begin():
            rows = session.execute(
                self._claim_rows, {"now": now, "batch": self.batch, "owner": self.owner, "expires": now + self.lease}
            ).all()
        return sorted(rows, key=lambda row: row.id)

    def mark(self, force: bool = True) -> None:
        """Mark the published rows not marked yet (sent, or unroutable), in one transaction.

        Unless `force`d, only once the oldest has waited `mark_delay` or a batch's worth has gathered: at moderate
        load each commit is published on its own, and a transaction to mark each would double the relay's cost.
        A crash before the mark re-sends those events after their lease, which idempotent consumers absorb, as for
        any crash between publish and mark.
        """
        count = len(self._unmarked[False]) + len(self._unmarked[True])
        if not count:
            return
        if not force and count < self.batch and time.monotonic() - self._unmarked_since < self.mark_delay:
            return
        unmarked, since = self._unmarked, self._unmarked_since
        self._unmarked, self._unmarked_since = {False: [], True: []}, None
        now = datetime.now(UTC)
        try:
            with self.session_factory() as session, session.begin():
                for is_unroutable, event_ids in unmarked.items():
                    if event_ids:
                        params = {"event_ids": event_ids, "now": now, "unroutable": is_unroutable}
                        session.execute(self._mark_rows, params)
        except Exception:
            # Kept for the next pass (the database was unavailable, say): marked then, before their lease runs
            # out, they are not sent a second time.
            for is_unroutable, event_ids in unmarked.items():
                self._unmarked[is_unroutable][:0] = event_ids
            self._unmarked_since = since
            raise

    def mark_due_in(self) -> float | None:
        """Seconds until the unmarked rows are due to be marked; None when there are none."""
        if self._unmarked_since is None:
            return None
        return max(0.0, self._unmarked_since + self.mark_delay - time.monotonic())

    def _release_many(self, event_ids: list[str], error: str) -> None:
        """Give failed rows back soon rather than at lease expiry, with the error kept for the operator."""
        if not event_ids:
            return
        with self.session_factory() as session, session.begin():
            session.execute(
                self._release_rows,
                {
                    "event_ids": event_ids,
                    "retry_at": datetime.now(UTC) + timedelta(seconds=2),
                    "error": error[:2000],
                },
            )

    def relay_handed_off(self) -> int:
        """Publish up to `batch` rows handed off by this process's committed units of work, with no claim.

        Returns how many were handled (sent, or marked unroutable). A row with too little of its lease left is
        skipped: the poll (this replica's or another's) claims it once the lease has expired.
        """
        if self.handoff is None:
            return 0
        now = datetime.now(UTC)
        rows = [row for row in self.handoff.take(self.batch) if self.handoff.usable(row, now)]
        return self._publish(rows)

    def relay_once(self) -> int:
        """Claim one batch of due rows and publish it; returns how many rows were handled (sent, or unroutable)."""
        return self._publish(self._claim())

    def _publish(self, rows: list) -> int:
        """Publish `rows` (anything with the outbox columns as attributes) and record each one's outcome.

        The whole batch is published, then its confirms awaited together (`Bus.publish_batch`); each row's own
        outcome decides whether it is marked sent, marked unroutable, or released for the next pass.
        """
        if not rows:
            return 0
        outcomes, error = self.bus.publish_batch(
            [
                Outgoing(
                    r.exchange,
                    r.event_type,
                    r.body.encode("utf-8"),
                    r.event_id,
                    r.correlation_id,
                    mandatory=self.audience.mandatory(r.event_type),
                )
                for r in rows
            ]
        )
        sent: list[str] = []
        unroutable: list[str] = []
        failed: list[str] = []
        now = datetime.now(UTC)
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome == SENT:
                self.audience.routed(row.event_type)
                sent.append(row.event_id)
                metrics.OUTBOX_PUBLISHED.labels(row.event_type).inc()
                created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
                metrics.OUTBOX_LAG.observe(max(0.0, (now - created).total_seconds()))
            elif outcome == UNROUTABLE and self.audience.returned(row.event_type):
                unroutable.append(row.event_id)  # a probe's answer: nobody binds it now, which is no fault
            elif outcome == UNROUTABLE:
                # No queue is bound for this type: nobody subscribes (yet, or any more: a deprecated type). Kept
                # as a row and counted; logged once per type, as a line per event would flood the log.
                if row.event_type not in self._unroutable_logged:
                    self._unroutable_logged.add(row.event_type)
                    log.warning(
                        "event unroutable: no queue bound (further ones of this type are only counted)",
                        extra={"fields": {"event_type": row.event_type, "event_id": row.event_id}},
                    )
                metrics.OUTBOX_UNROUTABLE.labels(row.event_type).inc()
                unroutable.append(row.event_id)
            else:
                failed.append(row.event_id)
        if failed:
            reason = error or "the broker refused the message (nack)"
            log.warning(
                "publish failed; will retry",
                extra={"fields": {"events": len(failed), "error": reason}},
            )
            metrics.OUTBOX_PUBLISH_FAILURES.inc(len(failed))
        if sent or unroutable:
            if self._unmarked_since is None:
                self._unmarked_since = time.monotonic()
            self._unmarked[False] += sent
            self._unmarked[True] += unroutable
        self.mark(force=False)
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
