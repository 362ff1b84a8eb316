"""Whether anyone listens to an event type published only for whoever binds it (a contract's `NO_CONSUMER_NEEDED`:
notification's `message_sent`, 4–5 a report, which no GridLink service consumes).

Writing, relaying and publishing such events while no queue is bound to them was about a fifth of a report's CPU in
full drains (docs/performance.md, fourteenth round). Only the broker knows whether a queue is bound, and it says so
on a `mandatory` publish by returning the message. So the relay publishes these types `mandatory`; when one comes
back, this process writes no more of that type for `probe_seconds`, then writes the next ones again, which probe
once more. While a queue is bound, nothing comes back and every event is written.

The price: a queue bound while its type is unheard gets that type's events from the next probe on, at most
`probe_seconds` later (a partner's queues are bound when it is set up, not per message). A deployment that needs
every one of them from the moment a queue is bound sets `EVENTS_UNHEARD_PROBE_SECONDS=0`: every one is then written
and published without `mandatory`, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gridlink.contracts import needs_consumer


class Audience:
    def __init__(self, probe_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.probe_seconds = probe_seconds
        self._clock = clock
        self._unheard_until: dict[str, float] = {}  # event type -> when to write (and so probe) again

    def wanted(self, event_type: str) -> bool:
        """Whether to write an event of this type now: always for a type that needs a consumer."""
        until = self._unheard_until.get(event_type)
        if until is None:
            return True
        if self._clock() < until:
            return False
        del self._unheard_until[event_type]  # time to probe again
        return True

    def mandatory(self, event_type: str) -> bool:
        """Whether to publish it `mandatory`, so that the broker returns it when no queue is bound."""
        return needs_consumer(event_type) or self.probe_seconds > 0

    def returned(self, event_type: str) -> bool:
        """The broker returned an event of this type (no queue bound). True when that is an answer to a probe (a
        type published for whoever binds it, now unheard for a while), False when it is a fault to report."""
        if needs_consumer(event_type):
            return False
        if self.probe_seconds > 0:
            self._unheard_until[event_type] = self._clock() + self.probe_seconds
        return True

    def routed(self, event_type: str) -> None:
        """The broker routed an event of this type to a queue: someone listens, so every one is written."""
        self._unheard_until.pop(event_type, None)
