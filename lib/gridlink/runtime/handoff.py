"""The hand-off from a committing unit of work to its own process's outbox relay.

A unit of work inserts its outbox rows already leased to this process's relay (`claimed_by`, `claim_expires_at`),
and after its commit puts the committed rows here. The relay publishes them without a claim transaction, and marks
them in one. If the process dies between commit and publish, the rows are still leased in the table: once the short
lease expires, any replica's periodic poll claims and publishes them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Committed:
    """An outbox row as its unit of work committed it, leased to this process until `lease_expires_at`."""

    event_id: str
    event_type: str
    exchange: str
    correlation_id: str
    body: str
    created_at: datetime
    lease_expires_at: datetime


class OutboxHandoff:
    """An in-process queue of committed rows, from units of work (any green thread) to the relay (one)."""

    def __init__(self, owner: str, lease: timedelta = timedelta(seconds=10), wake: Callable[[], None] = lambda: None):
        # Short, so a crashed process's rows wait little for another replica's poll; long enough that the relay,
        # woken at once by the commit, publishes well within it (see `usable`).
        self.owner = owner
        self.lease = lease
        self._wake = wake
        self._rows: deque[Committed] = deque()

    def put(self, rows: Iterable[Committed]) -> None:
        self._rows.extend(rows)
        self._wake()

    def take(self, limit: int) -> list[Committed]:
        rows: list[Committed] = []
        while len(rows) < limit and self._rows:
            rows.append(self._rows.popleft())
        return rows

    def __len__(self) -> int:
        return len(self._rows)

    def usable(self, row: Committed, now: datetime) -> bool:
        """Whether at least half the lease is left: then no other replica's poll can claim the row while this relay
        publishes it, even with a slow confirm or clocks a little apart. A row past that is left to the poll."""
        return row.lease_expires_at - now >= self.lease / 2
