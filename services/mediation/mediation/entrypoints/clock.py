"""The service's clock as a dependency, so tests can run the whole service at a time they choose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from nameko.extensions import DependencyProvider


def system_now() -> datetime:
    return datetime.now(UTC)


class Clock(DependencyProvider):
    """`self.clock()` → the current time (aware, UTC). A test passes its own callable."""

    def __init__(self, now: Callable[[], datetime] = system_now):
        self.now = now

    def get_dependency(self, worker_ctx) -> Callable[[], datetime]:
        return self.now
