"""Housekeeping of the runtime's own tables, which every service's database holds and nothing else trims.

The guarantees need each row for a while, not for ever:

- a published outbox row, only until its mark lands (a lease of seconds) and while someone may look into it;
- an inbox row (`processed_events`), only while the same event may arrive again: broker redeliveries, the
  relay's re-sends after a lost mark, and retries all come within minutes or hours. A dead-lettered event was
  never recorded as handled, so replaying it later needs no row;
- a fired timer, not at all once fired; it is kept for the record like the rest.

Left alone, the three grow with every report for as long as the platform runs (about 8 outbox rows and 12 inbox
rows a report across the services), and with them the database's size, its backups and its vacuums. `prune`
deletes the rows past the retention period in batches, each its own short transaction, so that no lock is held
long and a large first pruning does not bloat one transaction; rows still needed (unpublished, unfired) are never
touched, whatever their age.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import MetaData, delete, select, tuple_

from gridlink.runtime import metrics

log = logging.getLogger(__name__)

BATCH = 5000


def _expired(metadata: MetaData, cutoff: datetime, batch: int) -> dict[str, object]:
    """Per table, a DELETE of at most `batch` rows past the cutoff that no guarantee needs any more."""
    outbox, inbox, timers = (metadata.tables[name] for name in ("outbox", "processed_events", "timers"))
    old_outbox = select(outbox.c.id).where(outbox.c.published_at < cutoff).limit(batch)
    old_inbox = select(inbox.c.consumer, inbox.c.event_id).where(inbox.c.processed_at < cutoff).limit(batch)
    old_timers = select(timers.c.id).where(timers.c.fired_at < cutoff).limit(batch)
    return {
        "outbox": delete(outbox).where(outbox.c.id.in_(old_outbox.scalar_subquery())),
        "processed_events": delete(inbox).where(tuple_(inbox.c.consumer, inbox.c.event_id).in_(old_inbox)),
        "timers": delete(timers).where(timers.c.id.in_(old_timers.scalar_subquery())),
    }


def prune(database, now: datetime, keep: timedelta, batch: int = BATCH) -> dict[str, int]:
    """Delete the published outbox rows, inbox rows and fired timers older than `keep`; the rows deleted per
    table."""
    pruned = {}
    for table, statement in _expired(database.metadata, now - keep, batch).items():
        pruned[table] = 0
        while True:
            with database.engine.begin() as conn:
                deleted = conn.execute(statement).rowcount
            pruned[table] += deleted
            if deleted < batch:
                break
        metrics.PRUNED_ROWS.labels(table).inc(pruned[table])
    if any(pruned.values()):
        log.info("runtime tables pruned", extra={"fields": {**pruned, "older_than_days": keep / timedelta(days=1)}})
    return pruned
