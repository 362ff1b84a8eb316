"""Rate limits for intake's public endpoints: a token bucket per API key and per client address.

The buckets live in the process, so each replica limits on its own; behind N replicas a client gets at most N
times its allowance, which is enough to stop a runaway client without a shared store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000):
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, last refill)
        self._lock = threading.Lock()

    def allow(self, name: str, per_minute: int) -> bool:
        """Take one token from `name`'s bucket (capacity `per_minute`, refilled continuously)."""
        if per_minute <= 0:
            return True
        now = self.clock()
        with self._lock:
            if len(self._buckets) >= self.max_buckets:
                self._buckets.clear()  # a flood of addresses must not grow memory without bound
            tokens, last = self._buckets.get(name, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60.0)
            allowed = tokens >= 1.0
            self._buckets[name] = (tokens - 1.0 if allowed else tokens, now)
            return allowed
